"""The DuckDB path's start-up and samples: no Ibis backend, no pyarrow, counts and samples from one pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from sourcewise.engine import load_suite, run_suite

ROOT = Path(__file__).resolve().parents[2]


def _data(tmp_path: Path) -> Path:
    """2,000 orders; customers 1..1000 exist, so orders of customers 1001+ are unknown; the
    (region, customer_id) pairs of even customers are in the 'accounts' list."""
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range AS order_id, 1 + (range * 7) % 1200 AS customer_id, range % 3 AS region, "  # noqa: S608
        f"'o' || range AS note FROM range(2000)) TO '{tmp_path / 'orders.parquet'}' (FORMAT parquet)"
    )
    con.execute(f"COPY (SELECT range + 1 AS customer_id FROM range(1000)) TO '{tmp_path / 'customers.parquet'}' (FORMAT parquet)")  # noqa: S608
    con.execute(
        f"COPY (SELECT DISTINCT region, customer_id FROM '{tmp_path / 'orders.parquet'}' WHERE customer_id % 2 = 0 "  # noqa: S608
        f"UNION ALL SELECT 9, 9) TO '{tmp_path / 'accounts.parquet'}' (FORMAT parquet)"
    )
    con.close()
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({
        "version": 1, "name": "orders",
        "datasets": {"orders": {"path": "orders.parquet", "key": ["order_id"]},
                     "customers": {"path": "customers.parquet"},
                     "accounts": {"path": "accounts.parquet"}},
        "checks": [
            {"id": "customer_known", "dataset": "orders", "relationships": {"to": "customers", "columns": ["customer_id"]}},
            {"id": "has_account", "dataset": "orders", "relationships": {"to": "accounts", "columns": ["region", "customer_id"]}},
            {"id": "account_used", "dataset": "accounts", "relationships": {"to": "orders", "columns": ["region", "customer_id"]}},
            {"id": "note_present", "dataset": "orders", "not_null": ["note"]},
        ],
    }))
    return suite


def _expected(tmp_path: Path) -> dict:
    con = duckdb.connect()
    o, c, a = (f"'{tmp_path / n}.parquet'" for n in ("orders", "customers", "accounts"))
    unknown = con.execute(f"SELECT order_id, customer_id FROM {o} WHERE customer_id NOT IN (SELECT customer_id FROM {c}) "  # noqa: S608
                          "ORDER BY customer_id, order_id").fetchall()
    no_account = con.execute(f"SELECT order_id, region, customer_id FROM {o} ANTI JOIN {a} USING (region, customer_id) "  # noqa: S608
                             "ORDER BY region, customer_id, order_id").fetchall()
    unused = con.execute(f"SELECT region, customer_id FROM {a} ANTI JOIN {o} USING (region, customer_id)").fetchall()  # noqa: S608
    return {"unknown": unknown, "no_account": no_account, "unused": unused}


def test_counts_and_samples_of_relationships_come_from_the_counting_join(tmp_path: Path) -> None:
    suite = _data(tmp_path)
    expected = _expected(tmp_path)
    steps: list[str] = []
    result = run_suite(load_suite(suite), sample=5, progress=steps.append)

    known = result.check("customer_known")
    assert known.failing_rows == len(expected["unknown"]) > 5
    # The anti-join brings the missing rows' numbers; the sample is the first five of those
    # rows in the file (order_id is the row number here), read back with the other samples.
    in_file_order = sorted(expected["unknown"])
    assert [(r["order_id"], r["customer_id"]) for r in known.sample] == in_file_order[:5]

    # A two-way reconciliation on two columns: one full join gives both counts and both
    # samples; the orders side, whose sample shows more than the keys, by row number.
    account = result.check("has_account")
    assert account.failing_rows == len(expected["no_account"])
    assert [(r["order_id"], r["region"], r["customer_id"]) for r in account.sample] == sorted(expected["no_account"])[:5]
    unused = result.check("account_used")
    assert unused.failing_rows == len(expected["unused"]) == 1
    assert unused.sample == [{"region": 9, "customer_id": 9}]

    # No second anti-join and no sample scan: one query per relationship key set, and one
    # read of the sample rows by row number for the whole dataset.
    assert sum("found in customers" in s for s in steps) == 1
    assert sum("reconciled both ways" in s for s in steps) == 1
    assert not any("sample for" in s for s in steps)
    assert sum("orders: " in s and "read by row number" in s for s in steps) == 1

    # The same counts and rows without the DuckDB summary (sample=0 counts only).
    bare = run_suite(load_suite(suite), sample=0)
    assert [c.failing_rows for c in bare.checks] == [c.failing_rows for c in result.checks]


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_a_duckdb_run_prints_no_deprecation_warning(tmp_path: Path) -> None:
    # Ibis's DuckDB backend read schemas with DuckDB's deprecated fetch_arrow_table, which
    # warned on every run; the engine no longer goes through it.
    result = run_suite(load_suite(_data(tmp_path)), sample=3)
    assert result.check("customer_known").status == "failed"


def test_a_duckdb_run_imports_neither_pyarrow_nor_the_ibis_backend(tmp_path: Path) -> None:
    suite = _data(tmp_path)
    code = (
        "import json, sys\n"
        "from sourcewise.engine import load_suite, run_suite\n"
        f"r = run_suite(load_suite({str(suite)!r}), sample=3)\n"
        "mods = [m for m in ('pyarrow', 'pandas', 'ibis.backends.duckdb', 'ibis.backends.sql.compilers.postgres') "
        "if m in sys.modules]\n"
        "print(json.dumps({'status': r.status, 'loaded': mods}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)  # noqa: S603
    assert json.loads(done.stdout) == {"status": "failed", "loaded": []}


def test_other_backends_still_find_every_ibis_compiler() -> None:
    # The DuckDB path registers Ibis's compiler package without its __init__; the first
    # other backend that asks for its compiler gets the complete package.
    code = (
        "from sourcewise.engine.backends import _duckdb_compiler\n"
        "_duckdb_compiler()\n"
        "from ibis.backends.sql.compilers import PostgresCompiler, PySparkCompiler\n"
        "import ibis.backends.postgres\n"
        "print(PostgresCompiler.__name__, PySparkCompiler.__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)  # noqa: S603
    assert done.stdout.split() == ["PostgresCompiler", "PySparkCompiler"]
