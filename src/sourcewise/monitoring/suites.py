"""Suites in the product: the contract's YAML, except that each dataset names a feed, never a path.

    datasets:
      contacts: {feed: contact-log, key: [contact_id]}
      targets: {feed: campaign-targets}

Validation runs the engine's own loader on a copy whose datasets point at placeholder
files, so the product accepts exactly what `sourcewise check` accepts. When a run starts,
each dataset resolves to a stored delivery (`resolve_datasets`).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sourcewise.engine import Suite
from sourcewise.engine.suite import parse_suite

PLACEHOLDER_SUFFIX = ".parquet"


@dataclass
class ParsedSuite:
    """A product suite: its YAML document and which feed each dataset names."""

    document: dict[str, Any]
    bindings: dict[str, str]  # dataset -> feed slug


def _load_yaml(text: str) -> Any:
    from sourcewise.engine.suite import yaml_loader  # the engine's YAML 1.2 booleans

    return yaml.load(text, Loader=yaml_loader())  # noqa: S506 - a SafeLoader subclass


def parse(text: str, *, feed_slugs: set[str], own_slug: str) -> tuple[ParsedSuite | None, list[str]]:
    """Check a suite's text: YAML, feed bindings, then everything the engine checks statically.

    Returns the parsed suite and a list of problems (empty when valid); each problem is
    one line a person can act on.
    """
    if not text or not text.strip():
        return None, ["The suite is empty: write version, name, datasets and checks."]
    try:
        doc = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [f"Invalid YAML{where}: {reason}"]
    if not isinstance(doc, dict):
        return None, ["The suite must be a mapping with version, name, datasets and checks."]
    problems: list[str] = []
    bindings: dict[str, str] = {}
    engine_doc = dict(doc)
    datasets = doc.get("datasets")
    if isinstance(datasets, dict):
        engine_datasets = {}
        for name, spec in datasets.items():
            if not isinstance(spec, dict):
                problems.append(f"dataset '{name}': write it as {{feed: FEED, key: [COLUMNS]}}")
                continue
            if "path" in spec or "table" in spec:
                problems.append(
                    f"dataset '{name}': in Sourcewise a dataset names a feed (feed: SLUG), "
                    "never a path or table on the server"
                )
                continue
            slug = spec.get("feed")
            if not isinstance(slug, str) or not slug:
                problems.append(f"dataset '{name}': name the feed it reads, e.g. feed: {own_slug}")
                continue
            if slug not in feed_slugs:
                known = ", ".join(sorted(feed_slugs))
                problems.append(f"dataset '{name}': no feed '{slug}' in this engagement (feeds: {known})")
                continue
            bindings[str(name)] = slug
            rest = {k: v for k, v in spec.items() if k != "feed"}
            engine_datasets[name] = {**rest, "path": f"{slug}{PLACEHOLDER_SUFFIX}"}
        engine_doc["datasets"] = engine_datasets or datasets
        if datasets and not problems and own_slug not in bindings.values():
            problems.append(f"No dataset reads this feed: add one with feed: {own_slug}")
    if problems:
        return None, problems
    suite, engine_problems = _engine_parse(engine_doc)
    if engine_problems:
        return None, engine_problems
    return ParsedSuite(document=doc, bindings=bindings), []


def _engine_parse(doc: dict[str, Any]) -> tuple[Suite | None, list[str]]:
    with tempfile.TemporaryDirectory(prefix="sw-suite-") as tmp:
        path = Path(tmp) / "suite.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        suite, problems = parse_suite(path)
    prefix = re.compile("^" + re.escape(str(path)) + r":\s*")
    return suite, [prefix.sub("", p) for p in problems]


def engine_suite(parsed: ParsedSuite, directory: Path) -> Suite:
    """The engine's Suite for a run, its datasets pointing at placeholders the run replaces."""
    from sourcewise.engine import load_suite

    doc = dict(parsed.document)
    doc["datasets"] = {
        name: {**{k: v for k, v in spec.items() if k != "feed"}, "path": f"{spec['feed']}{PLACEHOLDER_SUFFIX}"}
        for name, spec in parsed.document["datasets"].items()
    }
    path = directory / "suite.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_suite(path)


def dataset_keys(parsed: ParsedSuite) -> dict[str, list[str]]:
    keys = {}
    for name, spec in parsed.document["datasets"].items():
        key = spec.get("key") or []
        keys[name] = [key] if isinstance(key, str) else list(key)
    return keys


def add_check(text: str, check: dict[str, Any]) -> str:
    """The suite's text with one more check at the end of `checks`, every existing line kept.

    The check is appended as text where the checks list ends (a block list gets one more
    `- ` item at the same indentation, a flow list `[...]` one more JSON item), so
    comments and layout stay as written. If the text cannot be extended that way (no
    mapping at the top, odd layout), or the result does not read back as the suite
    plus the check, the suite is written out again (comments are then lost).
    """
    if text and text.strip():
        try:
            appended = _append_check_text(text, check)
        except (yaml.YAMLError, TypeError, ValueError):  # e.g. a value JSON cannot write
            appended = None
        if appended is not None and _reads_as(appended, text, check):
            return appended
    return _redump(text, check)


def _redump(text: str, check: dict[str, Any]) -> str:
    doc = _load_yaml(text) if text and text.strip() else {}
    if not isinstance(doc, dict):
        doc = {}
    checks = doc.get("checks")
    doc["checks"] = [*(checks if isinstance(checks, list) else []), check]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _reads_as(new_text: str, old_text: str, check: dict[str, Any]) -> bool:
    try:
        before, after = _load_yaml(old_text), _load_yaml(new_text)
    except yaml.YAMLError:
        return False
    if not isinstance(before, dict) or not isinstance(after, dict):
        return False
    expected = dict(before)
    checks = before.get("checks")
    expected["checks"] = [*(checks if isinstance(checks, list) else []), _load_yaml(_dump_item(check))[0]]
    return after == expected


def _dump_item(check: dict[str, Any]) -> str:
    return yaml.safe_dump([check], sort_keys=False, allow_unicode=True, default_flow_style=False)


def _append_check_text(text: str, check: dict[str, Any]) -> str | None:
    from sourcewise.engine.suite import yaml_loader

    root = yaml.compose(text, Loader=yaml_loader())
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        return None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    checks = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "checks"), None)
    item = _dump_item(check)
    if checks is None:
        # No checks yet: a `checks:` key at the top level's indentation, at the end.
        indent = " " * root.start_mark.column
        block = indent + "checks:\n" + "".join(indent + line for line in item.splitlines(keepends=True))
        return "".join(lines) + block
    if not isinstance(checks, yaml.SequenceNode):
        return None
    if checks.flow_style:
        # checks: [a, b]  ->  checks: [a, b, {...}]   (JSON is YAML)
        import json

        close = checks.end_mark.index - 1
        if text[close] != "]":
            return None
        joined = "".join(lines)
        sep = ", " if checks.value else ""
        return joined[:close] + sep + json.dumps(check, ensure_ascii=False) + joined[close:]
    if not checks.value:
        return None
    last = checks.value[-1]
    first_line = lines[checks.value[0].start_mark.line]
    dash = first_line.rfind("-", 0, checks.value[0].start_mark.column)
    if dash < 0 or first_line[:dash].strip():
        return None  # "- - x" or an item sharing its line: not a layout to extend by hand
    # Where the last item's content ends: its innermost last node (a block mapping's own
    # end mark lies past the comments that follow it, which must stay where they are).
    deepest = last
    while isinstance(deepest, (yaml.MappingNode, yaml.SequenceNode)) and not deepest.flow_style and deepest.value:
        tail = deepest.value[-1]
        deepest = tail[1] if isinstance(tail, tuple) else tail
    end = deepest.end_mark
    insert_at = end.line + 1 if end.column > 0 else end.line
    if isinstance(deepest, yaml.ScalarNode) and deepest.style in ("|", ">"):
        while insert_at - 1 > deepest.start_mark.line and not lines[insert_at - 1].strip():
            insert_at -= 1
    block = "".join(" " * dash + line for line in item.splitlines(keepends=True))
    return "".join(lines[:insert_at]) + block + "".join(lines[insert_at:])


def starter(feed_slug: str, name: str, expected_schema: dict[str, str], key: list[str]) -> str:
    """A first suite for a new feed: its schema, and a row count."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-").lower() or feed_slug
    doc: dict[str, Any] = {
        "version": 1,
        "name": slug,
        "datasets": {"delivery": {"feed": feed_slug, **({"key": key} if key else {})}},
        "checks": [{"id": "delivered", "name": "The delivery is not empty", "dataset": "delivery",
                    "row_count": {"min": 1}}],
    }
    if expected_schema:
        doc["checks"].append({"id": "agreed_schema", "name": "The agreed columns, with their types",
                              "dataset": "delivery", "schema": {"columns": dict(expected_schema)}})
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


_TEMP_PREFIX = re.compile(r"^\S*suite\.yaml:\s*")


def clean_problems(problems: list[str]) -> list[str]:
    """The engine's problem lines without the temporary file's path it names."""
    return [_TEMP_PREFIX.sub("", p) for p in problems]
