"""The parsed-suite cache of `sourcewise check`: a valid suite's YAML document, kept by its text."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sourcewise.engine import cli
from sourcewise.engine.plancache import suite_content
from sourcewise.engine.suite import _json_exact, parse_suite

ROOT = Path(__file__).resolve().parents[2]

SUITE = """\
version: 1
name: items
datasets:
  items: {path: items.csv, key: [id]}
checks:
  - id: id_unique
    dataset: items
    unique: [id]
  - id: amount_range
    dataset: items
    range: {column: amount, min: 0.5, max: 40}
  - id: big_needs_note
    dataset: items
    row_condition: "amount < 30 OR note IS NOT NULL"
"""


@pytest.fixture
def plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "plans"
    monkeypatch.setenv("SOURCEWISE_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    (tmp_path / "items.csv").write_text("id,amount,note\n1,10,a\n2,35,\n2,50,c\n")
    path = tmp_path / "s.yaml"
    path.write_text(SUITE)
    return path


def _docs(plans: Path) -> list[Path]:
    return sorted((plans / "suites").glob("*.json"))


def test_a_valid_suite_is_read_once_and_gives_the_same_suite_from_the_cache(plans: Path, suite: Path) -> None:
    first, problems = parse_suite(suite, cache=True)
    assert not problems and len(_docs(plans)) == 1
    again, problems = parse_suite(suite, cache=True)
    assert not problems
    assert suite_content(again) == suite_content(first)
    assert again.path == first.path and again.datasets == first.datasets
    # What was stored is the YAML document itself, not the suite after validation.
    assert json.loads(_docs(plans)[0].read_text())["document"]["checks"][1]["range"] == {
        "column": "amount", "min": 0.5, "max": 40}


def test_the_cached_document_is_validated_again(plans: Path, suite: Path) -> None:
    parse_suite(suite, cache=True)
    # A stored document that would no longer pass (here: tampered with) is reported, as if
    # it had come from the YAML, and nothing is written over it.
    doc = _docs(plans)[0]
    stored = json.loads(doc.read_text())
    stored["document"]["checks"][0]["nope"] = 1
    doc.write_text(json.dumps(stored))
    _, problems = parse_suite(suite, cache=True)
    assert problems and "nope" in " ".join(problems)
    assert json.loads(doc.read_text()) == stored


def test_a_changed_suite_is_read_from_its_yaml(plans: Path, suite: Path) -> None:
    parse_suite(suite, cache=True)
    suite.write_text(SUITE.replace("max: 40", "max: 45"))
    changed, problems = parse_suite(suite, cache=True)
    assert not problems and changed.checks[1].args["max"] == 45
    assert len(_docs(plans)) == 2


@pytest.mark.parametrize("damage", [b"", b"{not json", b"[1, 2]", b'{"other": 1}'])
def test_an_unreadable_document_is_a_miss_and_is_rewritten(plans: Path, suite: Path, damage: bytes) -> None:
    first, _ = parse_suite(suite, cache=True)
    doc = _docs(plans)[0]
    doc.write_bytes(damage)
    again, problems = parse_suite(suite, cache=True)
    assert not problems and suite_content(again) == suite_content(first)
    assert json.loads(doc.read_text())["document"]["name"] == "items"


def test_a_suite_with_problems_is_not_kept_and_says_the_same_each_time(plans: Path, suite: Path) -> None:
    suite.write_text(SUITE.replace("unique: [id]", "unique: [id]\n    not_null: [id]"))
    _, first = parse_suite(suite, cache=True)
    _, second = parse_suite(suite, cache=True)
    assert first and first == second
    assert not _docs(plans)


def test_invalid_yaml_is_reported_with_its_position_and_not_kept(plans: Path, suite: Path) -> None:
    suite.write_text("version: 1\nname: [unclosed\n")
    _, problems = parse_suite(suite, cache=True)
    assert len(problems) == 1 and "invalid YAML at line" in problems[0]
    assert not _docs(plans)


def test_parse_suite_keeps_nothing_by_default(plans: Path, suite: Path) -> None:
    parse_suite(suite)
    assert not plans.exists()


def test_the_cli_keeps_the_document_unless_no_cache(
    plans: Path, suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([str(suite), "--no-cache", "--json", "-"]) == 1
    assert not plans.exists()
    assert cli.main([str(suite), "--json", "-"]) == 1
    assert len(_docs(plans)) == 1
    capsys.readouterr()


def test_a_warm_cli_run_does_not_import_yaml(plans: Path, suite: Path) -> None:
    code = (
        "import io, sys\n"
        "from sourcewise.engine import cli\n"
        f"code = cli.main([{str(suite)!r}, '--json', '-'], stdout=io.StringIO())\n"
        "print(code, 'yaml' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SOURCEWISE_CACHE_DIR": str(plans)}

    def fresh() -> str:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)  # noqa: S603
        return done.stdout.strip()

    assert fresh() == "1 True"
    assert fresh() == "1 False"


@pytest.mark.parametrize(("value", "exact"), [
    ({"a": [1, 2.5, True, None, "x"]}, True),
    ({"a": dt.date(2026, 1, 1)}, False),  # YAML reads an unquoted date as a date
    ({1: "a"}, False),  # JSON would turn the key into text
    ({"a": float("nan")}, False),
    ({"a": {"b": b"bytes"}}, False),
])
def test_only_documents_that_json_gives_back_exactly_are_kept(value: object, exact: bool) -> None:
    assert _json_exact(value) is exact
