"""`sourcewise audit verify`: prove the audit trail has not been changed or cut."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sourcewise.core import audit


class Command(BaseCommand):
    help = "Check the audit trail's hash chain: every record present, none changed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args, **options) -> None:
        report = audit.verify()
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {report.checked} records verified."))
            return
        for problem in report.problems:
            self.stderr.write(f"audit: {problem}")
        raise CommandError(
            f"The audit trail was tampered with: {len(report.problems)} problem(s) in {report.checked} records."
        )
