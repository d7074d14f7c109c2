"""Background work of resilience: tasks take nothing but ids and call the services."""

from __future__ import annotations

from django_tasks import task

from sourcewise.resilience import reminders


@task()
def send_reminders() -> dict[str, int]:
    """Remind owners of unacknowledged incidents and overdue preventive controls."""
    return reminders.send_reminders()
