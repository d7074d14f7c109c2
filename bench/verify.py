"""Compare a tool's check results with the generator's ground truth (expected.json)."""

from __future__ import annotations

import math
from typing import Any

# Always compared when expected.json names them; a tool that omits one is wrong.
REQUIRED = ("status", "failing_rows", "failing_groups", "value")
# Compared only when the tool reports them (the contract does not fix their presence).
OPTIONAL = ("total_rows",)


def engine_checks(document: dict) -> dict[str, dict]:
    """The engine's result document (expectations.md section 4), keyed by check id."""
    checks = {}
    for check in document.get("checks", []):
        observed = check.get("observed") or {}
        checks[check["id"]] = {
            "status": check.get("status"),
            "failing_rows": check.get("failing_rows"),
            "failing_groups": check.get("failing_groups"),
            "total_rows": check.get("total_rows"),
            "value": observed.get("value"),
            "observed": observed,
        }
    return checks


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, float) or isinstance(got, float):
        return got is not None and math.isclose(float(expected), float(got), rel_tol=1e-9)
    return expected == got


def mismatches(expected: dict[str, dict], got: dict[str, dict],
               only: set[str] | None = None) -> list[str]:
    """Every difference between expected and got, one line each; empty when they agree.

    `only` restricts the comparison to the checks a peer can express.
    """
    problems = []
    for check_id, want in expected.items():
        if only is not None and check_id not in only:
            continue
        have = got.get(check_id)
        if have is None:
            problems.append(f"{check_id}: missing from the result")
            continue
        for field in REQUIRED:
            if field in want and not _same(want[field], have.get(field)):
                problems.append(f"{check_id}: {field} {have.get(field)!r}, expected {want[field]!r}")
        for field in OPTIONAL:
            if field in want and have.get(field) is not None and not _same(want[field], have[field]):
                problems.append(f"{check_id}: {field} {have[field]!r}, expected {want[field]!r}")
        for key, value in (want.get("observed") or {}).items():
            reported = (have.get("observed") or {}).get(key)
            if reported is not None and not _same(value, reported):
                problems.append(f"{check_id}: observed.{key} {reported!r}, expected {value!r}")
    return problems
