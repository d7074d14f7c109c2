"""DuckDB's head start: duplicate-key queries in plain SQL on a cursor while Ibis imports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from sourcewise.engine import load_suite, run_suite
from sourcewise.engine.backends import DuckDBConnection, duckdb_config_from_env
from sourcewise.engine.suite import SuiteError


def _write(tmp_path: Path, checks: list[dict]) -> Path:
    duckdb.sql(
        f"COPY (SELECT range AS k, range % 3 AS g, 'x' || range AS s FROM range(1000) "  # noqa: S608
        f"UNION ALL SELECT 7, 1, 'dup' UNION ALL SELECT 7, 1, 'dup' UNION ALL SELECT NULL, NULL, NULL "
        f"UNION ALL SELECT NULL, NULL, NULL) TO '{tmp_path / 'd.parquet'}' (FORMAT parquet)"
    )
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "name": "p", "datasets": {"d": {"path": "d.parquet", "key": ["k"]}},
                                    "checks": checks}))
    return path


def _observed(suite: Path, sample: int) -> list[tuple]:
    result = run_suite(load_suite(suite), sample=sample, as_of="2026-11-22T07:00:00Z")
    return [(c.id, c.status, c.failing_rows, c.observed, c.message, len(c.sample or [])) for c in result.checks]


@pytest.mark.parametrize("sample", [0, 3])
def test_prefetched_duplicates_equal_the_compiled_query(tmp_path: Path, sample: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    suite = _write(tmp_path, [{"id": "k", "dataset": "d", "unique": ["k"]},
                              {"id": "kg", "dataset": "d", "unique": ["k", "g"]},
                              {"id": "k2", "dataset": "d", "unique": ["k"], "severity": "warn"},
                              {"id": "s", "dataset": "d", "not_null": ["s"]}])
    ahead = _observed(suite, sample)
    monkeypatch.setenv("SOURCEWISE_DUCKDB_PREFETCH", "0")
    assert _observed(suite, sample) == ahead
    k = dict((row[0], row) for row in ahead)["k"]
    # 1000 distinct keys, 7 three times, NULL twice (a NULL key is one group, as in GROUP BY).
    assert k[2] == 5 and k[3] == {"duplicate_keys": 2}


def test_close_interrupts_an_unused_prefetch() -> None:
    # A suite that Ibis rejects after the head start began: its queries are stopped, not awaited.
    conn = DuckDBConnection()
    conn.prefetch([("slow", "SELECT sum(range) FROM range(50000000000)")])
    time.sleep(0.2)
    t0 = time.perf_counter()
    conn.close()
    assert time.perf_counter() - t0 < 5


def test_no_prefetch_when_a_column_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list = []
    monkeypatch.setattr(DuckDBConnection, "prefetch", lambda self, queries: started.append(queries))
    suite = _write(tmp_path, [{"id": "k", "dataset": "d", "unique": ["nope"]}])
    with pytest.raises(SuiteError):
        run_suite(load_suite(suite), sample=3)
    assert started == []


def test_default_threads_are_one_more_than_the_cores() -> None:
    assert duckdb_config_from_env({})["threads"] == len(os.sched_getaffinity(0)) + 1


def test_the_head_start_begins_before_ibis_is_imported(tmp_path: Path) -> None:
    # Validating the suite's expressions for the head start must not import Ibis: the
    # duplicate-key queries are meant to run while it imports.
    suite = _write(tmp_path, [{"id": "k", "dataset": "d", "unique": ["k"]},
                              {"id": "c", "dataset": "d", "row_condition": "g < 2 OR s IS NOT NULL"}])
    code = (
        "import sys\n"
        "from sourcewise.engine import backends, load_suite, run_suite\n"
        "seen = []\n"
        "original = backends.DuckDBConnection.prefetch\n"
        "def prefetch(self, queries):\n"
        "    seen.append(('ibis' in sys.modules, len(queries)))\n"
        "    return original(self, queries)\n"
        "backends.DuckDBConnection.prefetch = prefetch\n"
        f"result = run_suite(load_suite({str(suite)!r}), sample=3)\n"
        "print(seen, result.check('k').failing_rows)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    env.pop("SOURCEWISE_DUCKDB_PREFETCH", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)  # noqa: S603
    assert done.stdout.split("\n")[0] == "[(False, 1)] 5"


def test_the_head_start_waits_for_the_columns_of_expressions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list = []
    monkeypatch.setattr(DuckDBConnection, "prefetch", lambda self, queries: started.append(queries))
    suite = _write(tmp_path, [{"id": "k", "dataset": "d", "unique": ["k"]},
                              {"id": "c", "dataset": "d", "row_condition": "nope > 1"}])
    with pytest.raises(SuiteError):
        run_suite(load_suite(suite), sample=3)
    assert started == []


def test_a_unique_key_sample_needs_no_second_query(tmp_path: Path) -> None:
    # The duplicates query already holds every sample column (the key): the sample repeats
    # each duplicated key once per row that holds it, and no sample query runs.
    suite = _write(tmp_path, [{"id": "k", "dataset": "d", "unique": ["k"]},
                              {"id": "kg", "dataset": "d", "unique": ["k", "g"]}])
    steps: list[str] = []
    result = run_suite(load_suite(suite), sample=10, as_of="2026-11-22T07:00:00Z", progress=steps.append)
    assert sorted(result.check("k").sample, key=lambda r: (r["k"] is not None, r["k"] or 0)) == (
        [{"k": None}] * 2 + [{"k": 7}] * 3)
    kg = result.check("kg").sample
    assert sorted(kg, key=lambda r: (r["k"] is not None, r["k"] or 0)) == (
        [{"k": None, "g": None}] * 2 + [{"k": 7, "g": 1}] * 3)
    assert not any(": sample for" in s for s in steps)
