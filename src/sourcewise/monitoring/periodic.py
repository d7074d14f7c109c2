"""Monitoring's periodic jobs, run by `sourcewise worker`'s scheduler (see core.scheduler)."""

from __future__ import annotations


def _late_deliveries() -> int:
    from sourcewise.monitoring import services

    return len(services.late_deliveries_scan())


def _stale_runs() -> int:
    from sourcewise.monitoring import services

    return services.runs_recover_stale()


def _stale_fetches() -> int:
    from sourcewise.monitoring import services

    return services.fetches_recover_stale()


# (name, interval in seconds, callable)
JOBS = [
    ("monitoring.late_deliveries", 300, _late_deliveries),
    ("monitoring.stale_runs", 60, _stale_runs),
    ("monitoring.stale_fetches", 60, _stale_fetches),
]
