"""Periodic jobs of co-learning, run by `sourcewise worker`: (name, every seconds, function)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from sourcewise.colearning import services
from sourcewise.colearning.models import Idea


def send_reminders(now: dt.datetime | None = None) -> int:
    """Remind the client about on-hold ideas: on the revisit date, or every few days about a
    trigger (see services.reminder_due); how many reminders went out.

    Each idea is reminded in its own transaction, so one failing email leaves the others
    sent; an idea reminded by a concurrent run is skipped, not reminded twice.
    """
    now = now or timezone.now()
    due = list(Idea.objects.filter(services.reminder_due(now)).order_by("pk").values_list("pk", flat=True))
    return sum(1 for pk in due if services.idea_remind(idea_id=pk, now=now))


JOBS = [("colearning-reminders", 3600, send_reminders)]
