"""Periodic jobs of co-learning, run by `sourcewise worker`: (name, every seconds, function)."""

from sourcewise.colearning.services import send_reminders

JOBS = [("colearning-reminders", 3600, send_reminders)]
