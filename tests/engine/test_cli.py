"""`sourcewise check`: exit codes, the table, the JSON document, exports, and bad input reported in one line each."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sourcewise.engine.cli import main

from . import faults
from .conftest import write_suite

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def simple_suite(directory: Path, checks: list[dict[str, Any]], datasets: dict | None = None) -> Path:
    datasets = datasets or {"contacts": {"path": "contacts.parquet", "key": ["contact_id"]},
                            "campaigns": {"path": "campaigns.parquet"}}
    return write_suite(directory / "suite.yaml", {"version": 1, "name": "feed", "datasets": datasets, "checks": checks})


@pytest.fixture()
def data_dir(tmp_path: Path, fault_dir: Path) -> Path:
    for name in ("contacts", "campaigns", "targets"):
        (tmp_path / f"{name}.parquet").write_bytes((fault_dir / f"{name}.parquet").read_bytes())
    return tmp_path


def assert_exit_2(code: int, out: str, err: str, *fragments: str) -> list[str]:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err and "Traceback" not in out
    for fragment in fragments:
        assert any(fragment in line for line in lines), f"{fragment!r} not in {lines}"
    return lines


# -- exit codes, table, document --------------------------------------------------------


def test_passing_suite_exits_0_with_a_table(data_dir: Path) -> None:
    suite = simple_suite(data_dir, [
        {"dataset": "contacts", "row_count": {"min": 1}},
        {"dataset": "contacts", "not_null": ["contact_ts"]},
        {"dataset": "contacts", "not_null": ["customer_id"], "severity": "warn"},
    ])
    code, out, err = run_cli(str(suite))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["STATUS", "FAILING", "CHECK", "MESSAGE"]
    assert lines[1].split()[:3] == ["PASSED", "-", "contacts.row_count"]
    assert lines[2].split()[:3] == ["PASSED", "0", "contacts.not_null.contact_ts"]
    assert lines[3].split()[:3] == ["WARNED", "5", "contacts.not_null.customer_id"]
    assert "5 rows have a NULL in customer_id" in lines[3]
    assert lines[-1].startswith("PASSED: 3 checks (2 passed, 1 warned)")


def test_failing_suite_exits_1_and_json_to_stdout_is_the_only_output(data_dir: Path) -> None:
    suite = simple_suite(data_dir, [
        {"id": "contact_id_unique", "name": "Every contact is logged once", "dataset": "contacts",
         "unique": ["contact_id"]},
    ])
    code, out, err = run_cli(str(suite), "--json", "-", "--sample", "3", "--as-of", "2026-11-22T07:00:00Z")
    assert code == 1, err
    doc = json.loads(out)
    assert list(doc) == ["version", "suite", "backend", "status", "as_of", "started_at", "duration_s",
                         "datasets", "checks"]
    assert doc["version"] == 1 and doc["suite"] == "feed" and doc["backend"] == "duckdb"
    assert doc["status"] == "failed"
    assert doc["as_of"] == "2026-11-22T07:00:00Z"
    assert doc["started_at"].endswith("Z")
    assert doc["datasets"] == {"contacts": {"rows": 2000}}
    [check] = doc["checks"]
    assert list(check) == ["id", "name", "dataset", "kind", "severity", "status", "total_rows", "failing_rows",
                           "failing_ratio", "failing_groups", "observed", "message", "sample"]
    assert check["message"] == "22 rows share their contact_id with another row (11 keys)"
    assert check["failing_ratio"] == 22 / 2000
    assert check["observed"] == {"duplicate_keys": 11}
    assert len(check["sample"]) == 3 and set(check["sample"][0]) == {"contact_id"}


def test_json_file_and_failures_directory(data_dir: Path, tmp_path: Path) -> None:
    suite = simple_suite(data_dir, [
        {"id": "known_channel", "dataset": "contacts",
         "accepted_values": {"column": "channel", "values": ["phone", "sms", "email"]}},
        {"id": "has_rows", "dataset": "contacts", "row_count": {"min": 1}},
    ])
    report, failures = tmp_path / "out" / "result.json", tmp_path / "fails"
    report.parent.mkdir()
    code, out, err = run_cli(str(suite), "--json", str(report), "--failures", str(failures), "--sample", "0")
    assert code == 1, err
    doc = json.loads(report.read_text())
    assert doc["checks"][0]["sample"] == [] and doc["checks"][0]["failing_rows"] == 6
    table = pq.read_table(failures / "known_channel.parquet")
    assert table.num_rows == 6 and table.column_names == faults.SCHEMAS["contacts"].names
    assert sorted(table.column("channel").to_pylist()) == ["Phone", "Phone", "fax", "fax", "fax", "fax"]
    assert sorted(p.name for p in failures.iterdir()) == ["known_channel.parquet"]
    assert "FAILED" in out


def test_data_override_replaces_a_source(data_dir: Path, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    pq.write_table(pa.table({"contact_id": [1, 2, 3]}), clean / "today.parquet")
    suite = simple_suite(data_dir, [{"dataset": "contacts", "unique": ["contact_id"]}])
    code, out, err = run_cli(str(suite), "--data", f"contacts={clean / 'today.parquet'}", "--json", "-")
    assert code == 0, err
    assert json.loads(out)["datasets"]["contacts"]["rows"] == 3


def test_csv_gzip_jsonl_and_globs_are_read(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    for i in range(3):
        pq.write_table(pa.table({"id": [i * 10 + j for j in range(10)]}), tmp_path / "parts" / f"p{i}.parquet")
    (tmp_path / "a.csv").write_text("id,name\n1,x\n2,\n2,z\n")
    with gzip.open(tmp_path / "b.csv.gz", "wt") as f:
        f.write("id,name\n1,x\n2,y\n")
    (tmp_path / "c.jsonl").write_text('{"id": 1, "name": "x"}\n{"id": 1, "name": null}\n')
    suite = simple_suite(tmp_path, [
        {"id": "parts", "dataset": "parts", "unique": ["id"]},
        {"id": "a", "dataset": "a", "unique": ["id"]},
        {"id": "a_names", "dataset": "a", "not_null": ["name"]},
        {"id": "b", "dataset": "b", "unique": ["id"]},
        {"id": "c", "dataset": "c", "not_null": ["name"]},
    ], datasets={"parts": {"path": "parts/*.parquet"}, "a": {"path": "a.csv"}, "b": {"path": "b.csv.gz"},
                 "c": {"path": "c.jsonl"}})
    code, out, err = run_cli(str(suite), "--json", "-")
    doc = json.loads(out)
    counts = {c["id"]: c["failing_rows"] for c in doc["checks"]}
    assert counts == {"parts": 0, "a": 2, "a_names": 1, "b": 0, "c": 1}
    assert doc["datasets"] == {"parts": {"rows": 30}, "a": {"rows": 3}, "b": {"rows": 2}, "c": {"rows": 2}}
    assert code == 1


# -- bad input: exit 2, one line per problem, no traceback ------------------------------------


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("version: 1\nchecks: [\n")
    code, out, err = run_cli(str(path))
    [line] = assert_exit_2(code, out, err, f"{path}: invalid YAML at line")
    assert out == ""


def test_unknown_kind_argument_two_kinds_dataset_and_column_at_once(data_dir: Path) -> None:
    suite = simple_suite(data_dir, [
        {"id": "contact_id_unique", "dataset": "contacts", "unique": ["contact_id"]},
        {"id": "k", "dataset": "contacts", "not_nul": ["contact_id"]},
        {"id": "arg", "dataset": "contacts", "range": {"colums": "handle_time_s", "min": 0}},
        {"id": "two", "dataset": "contacts", "not_null": ["contact_id"], "unique": ["contact_id"]},
        {"id": "ds", "dataset": "orders", "not_null": ["order_id"]},
        {"id": "col", "dataset": "contacts", "not_null": ["contact_idd"]},
        {"id": "expr_col", "dataset": "contacts", "row_condition": "handle_tim_s > 0"},
        {"id": "rel_col", "dataset": "contacts", "relationships": {"to": "campaigns", "columns": ["campaign"]}},
    ])
    code, out, err = run_cli(str(suite))
    lines = assert_exit_2(
        code, out, err,
        f"{suite}: check 'k' (checks[1]): unknown key 'not_nul'",
        f"{suite}: check 'arg' (checks[2]): unknown argument 'colums' for range",
        f"{suite}: check 'two' (checks[3]): one check takes exactly one kind, found not_null and unique",
        f"{suite}: check 'ds' (checks[4]): unknown dataset 'orders'",
        f"{suite}: check 'col' (checks[5]): unknown column 'contact_idd' in dataset 'contacts'",
        f"{suite}: check 'expr_col' (checks[6]): row_condition 'handle_tim_s > 0': unknown column 'handle_tim_s'",
        f"{suite}: check 'rel_col' (checks[7]): unknown column 'campaign' in dataset 'contacts'",
    )
    # arg: also "range needs 'column'"; rel_col: missing in contacts and in campaigns
    assert len(lines) == 9, "\n".join(lines)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("contact_id IN (SELECT contact_id FROM contacts)", "subqueries are not allowed"),
        ("(SELECT count(*) FROM read_parquet('/etc/passwd')) > 0", "subqueries are not allowed"),
        ("read_csv('/etc/passwd') IS NOT NULL", "is not allowed: an expression cannot read files"),
        ("md5(channel) = 'x'", "function 'md5(channel)' is not allowed"),
        ("channel = 'a'; DROP TABLE contacts", "semicolons are not allowed"),
    ],
)
def test_rejected_expressions_are_named_and_nothing_is_read(
    data_dir: Path, expression: str, fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    from sourcewise.engine import backends

    original = backends.DuckDBConnection.table
    monkeypatch.setattr(backends.DuckDBConnection, "table",
                        lambda self, source: opened.append(source.dataset) or original(self, source))
    suite = simple_suite(data_dir, [{"id": "cond", "dataset": "contacts", "row_condition": expression}])
    code, out, err = run_cli(str(suite))
    [line] = assert_exit_2(code, out, err, f"{suite}: check 'cond' (checks[0]): row_condition", fragment)
    assert opened == ["contacts", "campaigns"]  # schemas of the named datasets only


def test_missing_file(data_dir: Path) -> None:
    suite = simple_suite(data_dir, [{"dataset": "contacts", "not_null": ["contact_id"]}],
                         datasets={"contacts": {"path": "nowhere/contacts.parquet"}, "x": {"path": "x/*.csv"}})
    code, out, err = run_cli(str(suite))
    assert_exit_2(code, out, err,
                  f"{suite}: dataset 'contacts': file not found: 'nowhere/contacts.parquet'",
                  f"{suite}: dataset 'x': no file matches 'x/*.csv'")


def test_truncated_parquet(data_dir: Path) -> None:
    data = (data_dir / "contacts.parquet").read_bytes()
    (data_dir / "contacts.parquet").write_bytes(data[: len(data) // 2])
    suite = simple_suite(data_dir, [{"dataset": "contacts", "not_null": ["contact_id"]}])
    code, out, err = run_cli(str(suite))
    assert_exit_2(code, out, err, f"{suite}: dataset 'contacts': cannot read 'contacts.parquet'")


def _big_csv(path: Path, bad_line: bytes) -> None:
    # Past DuckDB's sniffing sample, so the fault is met during the scan, not at DESCRIBE.
    with path.open("wb") as f:
        f.write(b"id,name,n\n")
        f.write(b"".join(b"%d,x%d,%d\n" % (i, i, i) for i in range(60_000)))
        f.write(bad_line)
        f.write(b"99999,ok,1\n")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"id,name,n\n1,x,2\n3,y\n4,z,5\n", "cannot read 'data.csv'"),
        (b"id,name,n\n1,caf\xe9,2\n", "cannot read 'data.csv'"),
        ("big-ragged", "Expected Number of Columns: 3 Found: 2"),
        ("big-utf8", "Invalid unicode"),
    ],
    ids=["ragged", "invalid-utf8", "ragged-late", "invalid-utf8-late"],
)
def test_bad_csv_is_an_error_not_skipped(tmp_path: Path, content: Any, fragment: str) -> None:
    path = tmp_path / "data.csv"
    if content == "big-ragged":
        _big_csv(path, b"7,short\n")
    elif content == "big-utf8":
        _big_csv(path, b"7,caf\xe9,1\n")
    else:
        path.write_bytes(content)
    # The check reads only `id`; a fault in another column must still stop the run.
    suite = simple_suite(tmp_path, [{"id": "ids", "dataset": "d", "not_null": ["id"]}],
                         datasets={"d": {"path": "data.csv"}})
    code, out, err = run_cli(str(suite), "--json", "-")
    assert_exit_2(code, out, err, fragment)
    assert f"{suite}: " in err and ("check 'ids' (checks[0])" in err or "dataset 'd'" in err)
    if out:
        assert json.loads(out)["status"] == "error"


def test_a_damaged_csv_that_is_only_referred_to_still_stops_the_run(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "facts.parquet")
    _big_csv(tmp_path / "ref.csv", b"7,caf\xe9,1\n")
    suite = simple_suite(tmp_path, [{"id": "known", "dataset": "facts",
                                     "relationships": {"to": "ref", "columns": ["id"]}}],
                         datasets={"facts": {"path": "facts.parquet"}, "ref": {"path": "ref.csv"}})
    code, out, err = run_cli(str(suite))
    assert_exit_2(code, out, err, f"{suite}: check 'known' (checks[0]): cannot read dataset 'ref'", "Invalid unicode")


def test_lookup_whose_key_repeats(tmp_path: Path, fault_dir: Path) -> None:
    suite = simple_suite(tmp_path, [
        {"id": "client", "dataset": "contacts", "lookup": {"to": "campaigns", "on": ["campaign_id"]},
         "row_condition": "client_id = campaigns.client_id"},
    ], datasets={"contacts": {"path": str(fault_dir / "dup" / "contacts.parquet")},
                 "campaigns": {"path": str(fault_dir / "dup" / "campaigns.parquet")}})
    code, out, err = run_cli(str(suite))
    [line] = assert_exit_2(code, out, err, f"{suite}: check 'client' (checks[0]): lookup to 'campaigns' is not many-to-one: campaign_id=7 occurs 2 times")
    assert "ERROR" in out


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    code, out, err = run_cli(str(tmp_path / "s.yaml"), "--data", "oops")
    assert_exit_2(code, out, err, "--data 'oops' must be NAME=PATH")
    code, out, err = run_cli(str(tmp_path / "s.yaml"), "--bogus")
    assert_exit_2(code, out, err, "unrecognized arguments: --bogus")


def test_unknown_backend_and_bad_as_of(data_dir: Path) -> None:
    suite = simple_suite(data_dir, [{"dataset": "contacts", "row_count": {"min": 1}}])
    code, out, err = run_cli(str(suite), "--backend", "oracle")
    assert_exit_2(code, out, err, "unknown backend 'oracle'")
    code, out, err = run_cli(str(suite), "--as-of", "yesterday")
    assert_exit_2(code, out, err, "--as-of 'yesterday' is not an ISO timestamp")


def test_url_backend_needs_tables(data_dir: Path) -> None:
    suite = simple_suite(data_dir, [{"dataset": "contacts", "row_count": {"min": 1}}])
    code, out, err = run_cli(str(suite), "--backend", "postgresql://postgres@127.0.0.1:1/none")
    assert_exit_2(code, out, err, "dataset 'contacts': the postgres backend reads tables; name one with 'table:'")


def test_bad_memory_limit_setting_fails_fast(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCEWISE_DUCKDB_MEMORY_LIMIT", "lots")
    suite = simple_suite(data_dir, [{"dataset": "contacts", "row_count": {"min": 1}}])
    code, out, err = run_cli(str(suite))
    assert_exit_2(code, out, err, "SOURCEWISE_DUCKDB_MEMORY_LIMIT='lots' must be a size")


# -- the process ---------------------------------------------------------------------------


def test_engine_never_imports_django() -> None:
    code = "import sourcewise.engine, sys; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)  # noqa: S603 - our own interpreter


def test_sourcewise_check_command_end_to_end(data_dir: Path) -> None:
    suite = simple_suite(data_dir, [{"dataset": "contacts", "not_null": ["customer_id"]}])
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-c",
         "import sys; from sourcewise.cli import main; code = main(); "
         "assert 'django' not in sys.modules and 'pandas' not in sys.modules; sys.exit(code)",
         "check", str(suite), "--json", "-"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["checks"][0]["failing_rows"] == 5
    assert done.stderr == ""
