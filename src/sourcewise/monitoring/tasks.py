"""Background tasks of monitoring: they take ids and call services."""

from __future__ import annotations

from django_tasks import task


@task()
def run_check(run_id: int) -> str:
    """Check one delivery (the CheckRun `run_id`) against its suite version."""
    from sourcewise.monitoring import services

    return services.run_execute(run_id=run_id)


@task()
def fetch_location(session_id: int) -> int | None:
    """Copy a registered object-store location (UploadSession `session_id`) in as a delivery."""
    from sourcewise.monitoring import services

    delivery = services.delivery_fetch(session_id=session_id)
    return delivery.pk if delivery else None
