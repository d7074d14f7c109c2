"""Jobs `sourcewise worker` runs on a schedule: (name, every N seconds, callable)."""

from __future__ import annotations

from sourcewise.resilience.reminders import send_reminders

# Hourly: a reminder is sent at most once a day per recipient (see reminders.py), so the
# hour only decides how soon after becoming due it goes out.
JOBS = [("resilience-reminders", 3600, send_reminders)]
