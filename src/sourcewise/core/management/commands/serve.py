"""`sourcewise serve`: migrate if needed, then run the web server and a task worker together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Apply migrations, then serve Sourcewise with a background task worker."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--workers", type=int, default=2, help="web server processes")
        parser.add_argument("--threads", type=int, default=4, help="threads per web process")
        parser.add_argument("--demo", action="store_true", help="load the demo organisations first")
        parser.add_argument("--no-worker", action="store_true", help="do not start a task worker")

    def handle(self, *args, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is migrated.")
        if options["demo"]:
            call_command("demo", stdout=self.stdout)
        worker = None
        if not options["no_worker"]:
            worker = subprocess.Popen([sys.executable, "-m", "sourcewise", "worker"])  # noqa: S603
            self.stdout.write(f"Task worker started (pid {worker.pid}).")
        address = f"{options['host']}:{options['port']}"
        self.stdout.write(self.style.SUCCESS(f"Sourcewise is serving at http://{address}/"))
        try:
            _Gunicorn(
                {
                    "bind": address,
                    "workers": options["workers"],
                    "threads": options["threads"],
                    "worker_class": "gthread",
                    "accesslog": "-",
                    "loglevel": "info" if settings.DEBUG else "warning",
                    "timeout": 120,
                }
            ).run()
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise CommandError(f"The web server stopped (exit {exc.code}).") from None
        finally:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()


def _Gunicorn(options: dict):  # noqa: N802 (a factory that reads like the class it builds)
    from gunicorn.app.base import BaseApplication

    from sourcewise.config.wsgi import application

    class Application(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return application

    return Application()
