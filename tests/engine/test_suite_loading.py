"""Loading a suite: every problem reported at once, one line each, naming the file, the check and the fault."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sourcewise.engine import SuiteError, load_suite
from sourcewise.engine.suite import Tolerance, parse_duration


def _suite(tmp_path: Path, checks: list, datasets: dict | None = None, **top) -> Path:
    doc = {
        "version": 1,
        "name": "feed",
        "datasets": datasets or {"contacts": {"path": "contacts.parquet", "key": ["contact_id"]},
                                 "campaigns": {"path": "campaigns.parquet"}},
        "checks": checks,
        **top,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    problems = info.value.problems
    assert all("\n" not in p for p in problems)
    assert all(p.startswith(str(path)) for p in problems)
    return problems


def test_a_valid_suite_loads_with_derived_ids_and_names(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, [
        {"id": "contact_id_unique", "dataset": "contacts", "unique": ["contact_id"]},
        {"dataset": "contacts", "not_null": ["customer_id", "campaign_id"]},
        {"dataset": "contacts", "not_null": ["customer_id", "campaign_id"], "severity": "warn"},
        {"dataset": "contacts", "lookup": {"to": "campaigns", "on": ["campaign_id"]},
         "row_condition": "client_id = campaigns.client_id"},
        {"dataset": "contacts", "share": {"condition": "answered_after_s <= 20", "min": 0.8,
                                          "group_by": ["campaign_id", "contact_date"]}},
    ]))
    ids = [c.id for c in suite.checks]
    assert ids == [
        "contact_id_unique",
        "contacts.not_null.customer_id-campaign_id",
        "contacts.not_null.customer_id-campaign_id.2",
        "contacts.row_condition.campaigns",
        "contacts.share.campaign_id-contact_date",
    ]
    assert suite.checks[3].lookup is not None and suite.checks[3].lookup.on == (("campaign_id", "campaign_id"),)
    assert suite.checks[2].severity == "warn"
    assert suite.name == "feed"


def test_on_is_a_key_not_a_yaml_boolean(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(
        "version: 1\nname: feed\ndatasets:\n  a: {path: a.parquet}\n  b: {path: b.parquet}\n"
        "checks:\n  - dataset: a\n    lookup: {to: b, on: {x: y}}\n    row_condition: \"b.z = 1\"\n"
    )
    assert load_suite(path).checks[0].lookup.on == (("x", "y"),)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("version: 1\nname: feed\ndatasets: {a: {path: a.parquet}\nchecks: []\n")
    [problem] = _problems(path)
    assert "invalid YAML at line" in problem


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("version: 1\nname: feed\nname: other\ndatasets: {a: a.parquet}\nchecks: []\n")
    [problem] = _problems(path)
    assert "'name' is given twice" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _suite(tmp_path, [
        {"id": "contact_id_unique", "dataset": "contacts", "unique": {"colums": ["contact_id"]}},
        {"id": "typo", "dataset": "contacts", "range": {"colums": "x", "min": 0}},
        {"id": "two", "dataset": "contacts", "not_null": ["a"], "unique": ["a"]},
        {"id": "nokind", "dataset": "contacts"},
        {"id": "what", "dataset": "contacts", "not_nul": ["a"]},
        {"id": "where", "dataset": "orders", "not_null": ["a"]},
        {"id": "bad-severity", "dataset": "contacts", "not_null": ["a"], "severity": "fatal"},
        {"id": "sub", "dataset": "contacts", "row_condition": "a IN (SELECT b FROM t)"},
        {"id": "files", "dataset": "contacts", "row_condition": "read_parquet('/etc/passwd') IS NULL"},
        {"id": "fn", "dataset": "contacts", "row_condition": "md5(a) = 'x'"},
        {"id": "lk", "dataset": "contacts", "row_condition": "campaigns.client_id = 1"},
        {"id": "dup", "dataset": "contacts", "not_null": ["a"]},
        {"id": "dup", "dataset": "contacts", "not_null": ["b"]},
        {"id": "stat", "dataset": "contacts", "metric": {"column": "a", "stat": "median"}},
        {"id": "age", "dataset": "contacts", "freshness": {"column": "ts", "max_age": "3 days"}},
        {"id": "tol", "dataset": "contacts", "row_count": {"min": 1}, "tolerance": {"max_failing": 3}},
        {"id": "re", "dataset": "contacts", "pattern": {"column": "a", "regex": "[a-"}},
        {"id": "types", "dataset": "contacts", "schema": {"columns": {"a": "int"}}},
        {"id": "bad id!", "dataset": "contacts", "not_null": ["a"]},
    ], version=2, extra_key=True)
    problems = _problems(path)
    text = "\n".join(problems)
    expected = [
        f"{path}: unsupported version 2",
        f"{path}: unknown key 'extra_key'",
        f"{path}: check 'contact_id_unique' (checks[0]): unique takes a list of column names",
        f"{path}: check 'typo' (checks[1]): unknown argument 'colums' for range",
        f"{path}: check 'two' (checks[2]): one check takes exactly one kind, found not_null and unique",
        f"{path}: check 'nokind' (checks[3]): no kind given",
        f"{path}: check 'what' (checks[4]): unknown key 'not_nul'",
        f"{path}: check 'where' (checks[5]): unknown dataset 'orders'",
        f"{path}: check 'bad-severity' (checks[6]): severity must be error or warn",
        f"{path}: check 'sub' (checks[7]): row_condition 'a IN (SELECT b FROM t)' is rejected: subqueries are not allowed",  # noqa: S608
        f"{path}: check 'files' (checks[8]): row_condition \"read_parquet('/etc/passwd') IS NULL\" is rejected: table function",
        f"{path}: check 'fn' (checks[9]): row_condition \"md5(a) = 'x'\" is rejected: function",
        f"{path}: check 'lk' (checks[10]): row_condition 'campaigns.client_id = 1' is rejected",
        f"{path}: check 'dup' (checks[12]): id 'dup' is already used by checks[11]",
        f"{path}: check 'stat' (checks[13]): metric: unknown stat 'median'",
        f"{path}: check 'age' (checks[14]): freshness: max_age '3 days' must be like 90m, 26h or 7d",
        f"{path}: check 'tol' (checks[15]): tolerance applies to row-level checks and grouped checks, not row_count",
        f"{path}: check 're' (checks[16]): pattern: invalid regex '[a-'",
        f"{path}: check 'types' (checks[17]): schema: column 'a' has unknown type 'int'",
        f"{path}: check 'bad id!' (checks[18]): id must use only letters, digits",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), f"{line!r} not in:\n{text}"


def test_datasets_are_validated(tmp_path: Path) -> None:
    path = _suite(tmp_path, [{"dataset": "a", "not_null": ["x"]}], datasets={
        "a": {"path": "a.parquet", "table": "a"},
        "b": {"file": "b.parquet"},
        "c d": {"path": "c.parquet"},
    })
    problems = _problems(path)
    assert any("dataset 'a': give exactly one of 'path'" in p for p in problems)
    assert any("dataset 'b': unknown key 'file'" in p for p in problems)
    assert any("dataset 'c d': a dataset name uses only" in p for p in problems)


def test_a_missing_suite_file(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path / "nope.yaml")
    assert problem == f"{tmp_path / 'nope.yaml'}: suite file not found"


def test_tolerance_and_durations() -> None:
    assert Tolerance().allows(0, 10) and not Tolerance().allows(1, 10)
    assert Tolerance(max_failing=3, max_failing_ratio=None).allows(3, 10)
    assert not Tolerance(max_failing=3, max_failing_ratio=None).allows(4, 10)
    assert Tolerance(max_failing=None, max_failing_ratio=0.1).allows(1, 10)
    assert not Tolerance(max_failing=None, max_failing_ratio=0.1).allows(2, 10)
    assert not Tolerance(max_failing=5, max_failing_ratio=0.1).allows(2, 10)
    assert parse_duration("90m").total_seconds() == 5400
    assert parse_duration("26h").total_seconds() == 93600
    assert parse_duration("7d").total_seconds() == 604800
    assert parse_duration("7 days") is None
