"""The result of a run: one CheckResult per check and the JSON document of the contract (section 4)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from dataclasses import dataclass, field
from typing import Any

RESULT_VERSION = 1


def iso_utc(value: dt.datetime) -> str:
    """`2026-11-22T07:00:00Z`; naive timestamps are taken to be UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text + "Z"


def json_value(value: Any) -> Any:
    """A value fetched from a backend, as JSON can hold it."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return json_value(item())
    return str(value)


@dataclass
class CheckResult:
    """What one check found."""

    id: str
    name: str
    dataset: str
    kind: str
    severity: str
    status: str = "passed"  # passed | failed | warned | error
    total_rows: int | None = None
    failing_rows: int | None = None
    failing_ratio: float | None = None
    failing_groups: int | None = None
    observed: dict[str, Any] | None = None
    message: str = ""
    sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "warned")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "dataset": self.dataset,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "total_rows": self.total_rows,
            "failing_rows": self.failing_rows,
            "failing_ratio": self.failing_ratio,
            "failing_groups": self.failing_groups,
            "observed": json_value(self.observed),
            "message": self.message,
            "sample": [json_value(row) for row in self.sample],
        }


@dataclass
class SuiteResult:
    """What a run found; `status` is passed, failed or error."""

    suite: str
    backend: str
    as_of: dt.datetime
    started_at: dt.datetime
    duration_s: float = 0.0
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per check that ended in error

    @property
    def status(self) -> str:
        if any(c.status == "error" for c in self.checks):
            return "error"
        if any(c.status == "failed" for c in self.checks):
            return "failed"
        return "passed"

    @property
    def exit_code(self) -> int:
        return {"passed": 0, "failed": 1, "error": 2}[self.status]

    def check(self, check_id: str) -> CheckResult:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RESULT_VERSION,
            "suite": self.suite,
            "backend": self.backend,
            "status": self.status,
            "as_of": iso_utc(self.as_of),
            "started_at": iso_utc(self.started_at),
            "duration_s": round(self.duration_s, 3),
            "datasets": {k: dict(v) for k, v in self.datasets.items()},
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
