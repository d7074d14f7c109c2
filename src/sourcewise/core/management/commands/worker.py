"""`sourcewise worker`: run queued background tasks until stopped, and the periodic jobs."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run background tasks (check runs, reminders) from the database queue, and periodic jobs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
        parser.add_argument("--max-tasks", type=int, default=None, help="stop after this many tasks")
        parser.add_argument("--no-scheduler", action="store_true",
                            help="do not run the apps' periodic jobs (late deliveries, reminders)")

    def handle(self, *args, **options) -> None:
        from sourcewise.core.scheduler import Scheduler

        scheduler = None
        if not options["no_scheduler"]:
            scheduler = Scheduler()
            scheduler.start()
        # No autoreload: a reload could stop a task half-way.
        argv = ["--interval", str(options["interval"]), "--no-startup-delay", "--no-reload"]
        if options["max_tasks"]:
            argv += ["--max-tasks", str(options["max_tasks"])]
        try:
            call_command("db_worker", *argv)
        finally:
            if scheduler is not None:
                scheduler.stopped.set()
