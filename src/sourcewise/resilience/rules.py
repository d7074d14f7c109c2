"""The brief's principles as rules: vague causes refused, severity from tolerance, similarity.

Plain functions without database writes, so services, pages and tests share one answer.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

# Answers that name no mechanism: refused when they are the whole cause.
VAGUE_ANSWERS = (
    "computer error", "system error", "system glitch", "glitch", "technical issue",
    "technical problem", "technical error", "it error", "it issue", "software error",
    "software problem", "human error", "bug", "unknown", "unknown error", "n/a", "na",
    "error", "mistake", "issue", "problem", "misc", "other", "tbd", "tbc",
)
# Shrugs that are refused unless the text goes on to explain the mechanism behind them.
SHRUGS = (
    "computer error", "system error", "system glitch", "glitch", "technical issue",
    "technical problem", "human error", "it error",
)
# A mechanism shorter than this many words cannot say what exactly went wrong.
MIN_MECHANISM_WORDS = 6
# A mechanism quoting a vague phrase must say more than this many words besides it.
VAGUE_EXTRA_WORDS = 8

WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset({
    "the", "and", "for", "with", "from", "was", "were", "are", "been", "this", "that", "not",
    "into", "than", "then", "our", "their", "its",
})
# Token-set (Jaccard) similarity at or above this makes two incidents "similar".
SIMILARITY_THRESHOLD = 0.5


def mechanism_problem(text: str) -> str | None:
    """Why a cause's mechanism is refused, or None if it names a specific mechanism."""
    clean = " ".join((text or "").split())
    if not clean:
        return "Say how exactly it went wrong: the mechanism is required."
    lowered = clean.lower().strip(" .!")
    words = WORD.findall(lowered)
    if lowered in VAGUE_ANSWERS:
        return (
            f'"{clean}" names no mechanism. Say what exactly failed: which system, step or '
            "data, and how (for example: the nightly export kept last month's segment list "
            "because its date filter used the wrong time zone)."
        )
    for phrase in SHRUGS:
        if re.search(rf"\b{re.escape(phrase)}\b", lowered) and (
            len(words) < VAGUE_EXTRA_WORDS + len(phrase.split())
        ):
            return (
                f'"{phrase}" is not a cause. Describe the mechanism behind it: what exactly '
                "failed, where, and why it was not caught."
            )
    if len(words) < MIN_MECHANISM_WORDS:
        return (
            f"{len(words)} words cannot say how it went wrong: describe the specific mechanism "
            f"in at least {MIN_MECHANISM_WORDS} words."
        )
    return None


def severity_for(affected: int, max_customers: int | None) -> str:
    """Severity from the number of affected customers against the plan's tolerance.

    At or over the tolerance: critical; half of it: high; a tenth: medium; less: low.
    Without a plan: medium when anyone is affected, else low.
    """
    if not max_customers:
        return "medium" if affected else "low"
    ratio = affected / max_customers
    if ratio >= 1:
        return "critical"
    if ratio >= 0.5:
        return "high"
    if ratio >= 0.1:
        return "medium"
    return "low"


SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def tokens(text: str) -> frozenset[str]:
    return frozenset(w for w in WORD.findall((text or "").lower()) if len(w) > 2 and w not in STOPWORDS)


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word sets (words of 3+ letters, no stopwords)."""
    ta, tb = tokens(a), tokens(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def fill_template(template: str, values: dict[str, Any]) -> str:
    """Replace {name} placeholders that are known; leave anything else as written."""
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def check_problems(check: Any) -> list[str]:
    """Problems of one expectation check, as the engine reports them (empty when valid).

    The engine validates whole suites, so the check is loaded inside a minimal suite
    that declares the datasets it names.
    """
    if isinstance(check, str):
        try:
            check = yaml.safe_load(check)
        except yaml.YAMLError as exc:
            return [f"The check is not valid YAML: {' '.join(str(exc).split())}"]
    if not isinstance(check, dict):
        return ["The check must be a mapping with a dataset and one kind, e.g. "
                "{dataset: contacts, not_null: [customer_id]}."]
    datasets = set()
    if isinstance(check.get("dataset"), str):
        datasets.add(check["dataset"])
    for kind in ("relationships", "lookup"):
        target = check.get(kind)
        if isinstance(target, dict) and isinstance(target.get("to"), str):
            datasets.add(target["to"])
    from sourcewise.engine.suite import parse_suite

    doc = {
        "version": 1, "name": "preventive-control",
        "datasets": {name: {"path": f"{name}.parquet"} for name in sorted(datasets)} or {"x": "x.parquet"},
        "checks": [check],
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "check.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        _suite, problems = parse_suite(path)
    prefix = f"{path}: "
    return [p[len(prefix):] if p.startswith(prefix) else p for p in problems]
