"""Background tasks of monitoring: they take ids and call services."""

from __future__ import annotations

from django_tasks import task


@task()
def run_check(run_id: int) -> str:
    """Check one delivery (the CheckRun `run_id`) against its suite version."""
    from sourcewise.monitoring import services

    return services.run_execute(run_id=run_id)
