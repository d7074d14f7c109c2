"""Periodic jobs: each installed Sourcewise app may list them in `<app>/periodic.py`.

    JOBS = [("monitoring.late_deliveries", 300, callable), ...]   # (name, interval_s, callable)

`sourcewise worker` runs `Scheduler.run_forever()` in a thread beside the task worker.
A job that raises is logged and tried again at its next interval; it never stops the others.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db import close_old_connections

logger = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    interval: float
    func: Callable[[], object]
    next_at: float = 0.0


def discover_jobs() -> list[Job]:
    """The JOBS of every installed Sourcewise app that has a periodic module."""
    jobs = []
    for config in apps.get_app_configs():
        if not config.name.startswith("sourcewise."):
            continue
        try:
            module = importlib.import_module(f"{config.name}.periodic")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.periodic":
                raise
            continue
        for name, interval, func in getattr(module, "JOBS", []):
            jobs.append(Job(str(name), float(interval), func))
    return jobs


class Scheduler:
    def __init__(self, jobs: list[Job] | None = None) -> None:
        self.jobs = discover_jobs() if jobs is None else jobs
        self.stopped = threading.Event()

    def run_due(self, now: float | None = None) -> list[str]:
        """Run every job whose time has come; the names of those that ran."""
        now = time.monotonic() if now is None else now
        ran = []
        for job in self.jobs:
            if now < job.next_at:
                continue
            job.next_at = now + job.interval
            close_old_connections()
            try:
                job.func()
            except Exception:  # one failing job must not stop the others
                logger.exception("Periodic job %s failed", job.name)
            ran.append(job.name)
        return ran

    def run_forever(self, tick: float = 1.0) -> None:
        while not self.stopped.is_set():
            self.run_due()
            self.stopped.wait(tick)
        close_old_connections()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="sourcewise-scheduler", daemon=True)
        thread.start()
        return thread
