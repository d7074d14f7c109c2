"""Periodic jobs of the providers app, run by `sourcewise worker`: (name, every seconds, function)."""

from sourcewise.providers.notify import send_reminders

JOBS = [("providers-reminders", 3600, send_reminders)]
