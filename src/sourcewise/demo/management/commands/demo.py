"""`sourcewise demo`: load the demo organisations and print their logins (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from sourcewise.demo import story


class Command(BaseCommand):
    help = "Load the demo organisations, people and engagements; safe to run again."

    def handle(self, *args, **options) -> None:
        logins = story.load()
        self.stdout.write(self.style.SUCCESS("Demo loaded. Sign in at http://127.0.0.1:8000/login/ as:"))
        width = max(len(login.email) for login in logins)
        for login in logins:
            self.stdout.write(f"  {login.email.ljust(width)}  {login.name}: {login.role}")
        self.stdout.write(f"  password for every demo login: {story.DEMO_PASSWORD}")
