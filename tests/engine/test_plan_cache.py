"""The compiled-plan cache (DuckDB): what makes a hit or a miss, what it stores, what it saves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from sourcewise.engine import cli, load_suite, run_suite
from sourcewise.engine.plancache import cache_dir

from . import faults
from .conftest import suite_for

ROOT = Path(__file__).resolve().parents[2]
MARK = "zz-private-value"


@pytest.fixture
def plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "plans"
    monkeypatch.setenv("SOURCEWISE_CACHE_DIR", str(directory))
    return directory


def _write_data(directory: Path, *, bad: int = 3, amount_type: str = "BIGINT") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range AS id, CAST(range % 50 AS {amount_type}) AS amount, "  # noqa: S608
        f"CASE WHEN range < {bad} THEN NULL ELSE '{MARK}' || range END AS note, range % 4 AS grp "
        f"FROM range(200)) TO '{directory / 'items.parquet'}' (FORMAT parquet)"
    )
    con.close()


def _suite(path: Path, data: Path, *, max_amount: int = 40) -> Path:
    path.write_text(yaml.safe_dump({
        "version": 1, "name": "items",
        "datasets": {"items": {"path": str(data / "items.parquet"), "key": ["id"]}},
        "checks": [
            {"id": "note_present", "dataset": "items", "not_null": ["note"]},
            {"id": "amount_range", "dataset": "items", "range": {"column": "amount", "min": 0, "max": max_amount}},
            {"id": "id_unique", "dataset": "items", "unique": ["id"]},
            {"id": "mean_by_grp", "dataset": "items",
             "metric": {"column": "amount", "stat": "mean", "max": 30, "group_by": ["grp"]}},
        ],
    }))
    return path


def _run(suite: Path, **kwargs: Any) -> tuple[Any, bool]:
    """The result, and whether the run found its compiled plan."""
    steps: list[str] = []
    result = run_suite(load_suite(suite), progress=steps.append, **kwargs)
    return result, any("compiled plan found" in s for s in steps)


def _doc(result: Any) -> dict:
    doc = result.to_dict()
    for key in ("duration_s", "started_at"):
        doc.pop(key, None)
    return doc


def test_a_warm_run_gives_the_same_document_samples_and_exports(
    plans: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _, path = suite_for("duckdb", request, tmp_path)
    cold, hit_cold = _run(path, sample=5, as_of=faults.AS_OF, failures_dir=tmp_path / "cold")
    warm, hit_warm = _run(path, sample=5, as_of=faults.AS_OF, failures_dir=tmp_path / "warm")
    assert (hit_cold, hit_warm) == (False, True)
    assert _doc(warm) == _doc(cold)
    assert any(c["sample"] for c in _doc(cold)["checks"])
    exports = sorted(p.name for p in (tmp_path / "cold").iterdir())
    assert exports and exports == sorted(p.name for p in (tmp_path / "warm").iterdir())
    for name in exports:
        assert pq.read_table(tmp_path / "warm" / name).equals(pq.read_table(tmp_path / "cold" / name)), name


def test_a_changed_suite_is_a_miss(plans: Path, tmp_path: Path) -> None:
    _write_data(tmp_path / "d")
    suite = _suite(tmp_path / "s.yaml", tmp_path / "d")
    first, _ = _run(suite, sample=3)
    assert first.check("amount_range").failing_rows == 4 * 9  # 41..49
    _suite(suite, tmp_path / "d", max_amount=45)
    second, hit = _run(suite, sample=3)
    assert not hit
    assert second.check("amount_range").failing_rows == 4 * 4  # 46..49
    assert len(list(plans.glob("*.json"))) == 2
    # The suite's file may move: its content is the key, not its path.
    moved = tmp_path / "elsewhere.yaml"
    moved.write_text(suite.read_text())
    assert _run(moved, sample=3)[1]


def test_a_changed_column_type_is_a_miss(plans: Path, tmp_path: Path) -> None:
    _write_data(tmp_path / "d")
    suite = _suite(tmp_path / "s.yaml", tmp_path / "d")
    _run(suite, sample=3)
    assert _run(suite, sample=3)[1]
    _write_data(tmp_path / "d", amount_type="DOUBLE")
    result, hit = _run(suite, sample=3)
    assert not hit
    assert result.check("amount_range").failing_rows == 36
    assert len(list(plans.glob("*.json"))) == 2


@pytest.mark.parametrize(("first", "second", "hit"), [
    ({"sample": 3}, {"sample": 4}, False),
    ({"sample": 3}, {"sample": 0}, False),
    ({"sample": 3}, {"sample": 3, "failures_dir": "out"}, False),
    # --as-of changes no SQL (freshness compares in Python): the same plan serves.
    ({"sample": 3, "as_of": "2026-01-01T00:00:00Z"}, {"sample": 3, "as_of": "2026-06-01T00:00:00Z"}, True),
])
def test_options_that_change_sql_are_misses(plans: Path, tmp_path: Path, first: dict, second: dict, hit: bool) -> None:
    _write_data(tmp_path / "d")
    suite = _suite(tmp_path / "s.yaml", tmp_path / "d")
    for kwargs in (first, second):
        if "failures_dir" in kwargs:
            kwargs["failures_dir"] = tmp_path / kwargs["failures_dir"]
    cold, _ = _run(suite, **first)
    result, found = _run(suite, **second)
    assert found is hit
    assert [c.failing_rows for c in result.checks] == [c.failing_rows for c in cold.checks]


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"format": "sourcewise-plan", "key": "x"}', b"\xff\xfe\x00"])
def test_an_unreadable_plan_is_a_miss_and_is_rewritten(plans: Path, tmp_path: Path, damage: bytes) -> None:
    _write_data(tmp_path / "d")
    suite = _suite(tmp_path / "s.yaml", tmp_path / "d")
    cold, _ = _run(suite, sample=3)
    (plan,) = plans.glob("*.json")
    plan.write_bytes(damage)
    result, hit = _run(suite, sample=3)
    assert not hit
    assert _doc(result)["checks"] == _doc(cold)["checks"]
    assert json.loads(plan.read_text())["format"] == "sourcewise-plan"
    assert _run(suite, sample=3)[1]


def test_a_cache_directory_that_cannot_be_written_costs_nothing_but_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SOURCEWISE_CACHE_DIR", str(blocker / "plans"))
    _write_data(tmp_path / "d")
    suite = _suite(tmp_path / "s.yaml", tmp_path / "d")
    result, hit = _run(suite, sample=3)
    assert not hit and result.check("note_present").failing_rows == 3


def test_a_plan_holds_sql_and_columns_but_no_data_and_no_paths(plans: Path, tmp_path: Path) -> None:
    _write_data(tmp_path / "day1")
    suite = _suite(tmp_path / "s.yaml", tmp_path / "day1")
    _run(suite, sample=5)
    (plan,) = plans.glob("*.json")
    text = plan.read_text()
    assert str(tmp_path) not in text and "items.parquet" not in text
    assert MARK not in text
    assert '__sourcewise_items' in text
    # Another day's file of the same shape, elsewhere: the plan serves, and the views read
    # the new file (it has other counts).
    _write_data(tmp_path / "day2", bad=7)
    result, hit = _run(suite, sample=5, data={"items": tmp_path / "day2" / "items.parquet"})
    assert hit
    assert result.check("note_present").failing_rows == 7
    assert len(result.check("note_present").sample) == 5


def test_a_query_the_plan_lacks_is_compiled_and_added(plans: Path, tmp_path: Path) -> None:
    # Day 1 every row has a note (nothing to sample); day 2 three rows lack one: the plan
    # is found, the samples query is compiled then and kept for day 3.
    _write_data(tmp_path / "d", bad=0)
    suite = _suite(tmp_path / "s.yaml", tmp_path / "d")
    _run(suite, sample=3)
    (plan,) = plans.glob("*.json")
    before = set(json.loads(plan.read_text())["queries"])
    _write_data(tmp_path / "d", bad=3)
    result, hit = _run(suite, sample=3)
    assert hit
    assert [r["id"] for r in result.check("note_present").sample] == [0, 1, 2]
    after = set(json.loads(plan.read_text())["queries"])
    assert before < after
    assert _doc(_run(suite, sample=3)[0])["checks"] == _doc(result)["checks"]


def _fresh_process(suite: Path, plans: Path, extra: str = "") -> dict:
    code = (
        "import json, sys\n"
        "from sourcewise.engine import load_suite, run_suite\n"
        f"r = run_suite(load_suite({str(suite)!r}), sample=3{extra})\n"
        "print(json.dumps({'status': r.status, 'failing': [c.failing_rows for c in r.checks],\n"
        "                  'ibis': 'ibis' in sys.modules, 'sqlglot': 'sqlglot' in sys.modules}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SOURCEWISE_CACHE_DIR": str(plans)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)  # noqa: S603
    return json.loads(done.stdout)


def test_a_warm_run_imports_neither_ibis_nor_sqlglot(plans: Path, tmp_path: Path) -> None:
    _write_data(tmp_path / "d")
    suite = _suite(tmp_path / "s.yaml", tmp_path / "d")
    cold = _fresh_process(suite, plans)
    warm = _fresh_process(suite, plans)
    assert cold["ibis"] and cold["sqlglot"]
    assert warm == {**cold, "ibis": False, "sqlglot": False}
    assert warm["failing"] == [3, 36, 0, None]
    # With the cache off the same process compiles again.
    assert _fresh_process(suite, plans, ", cache=False")["ibis"]


def test_a_warm_run_of_the_whole_fault_suite_imports_no_ibis(
    plans: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Lookups, row conditions, relationships both ways, grouped metrics, samples.
    _, path = suite_for("duckdb", request, tmp_path)
    cold = _fresh_process(path, plans, f", as_of={faults.AS_OF!r}")
    warm = _fresh_process(path, plans, f", as_of={faults.AS_OF!r}")
    assert cold["ibis"] and not warm["ibis"] and not warm["sqlglot"]
    assert warm["failing"] == cold["failing"]


def test_cache_off_neither_reads_nor_writes(plans: Path, tmp_path: Path) -> None:
    _write_data(tmp_path / "d")
    suite = _suite(tmp_path / "s.yaml", tmp_path / "d")
    assert not _run(suite, sample=3, cache=False)[1]
    assert not plans.exists()
    _run(suite, sample=3)
    assert not _run(suite, sample=3, cache=False)[1]


def test_the_cli_no_cache_flag(plans: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_data(tmp_path / "d")
    suite = _suite(tmp_path / "s.yaml", tmp_path / "d")
    assert cli.main([str(suite), "--no-cache", "--json", "-"]) == 1
    assert not plans.exists()
    assert cli.main([str(suite), "--json", "-"]) == 1
    assert len(list(plans.glob("*.json"))) == 1
    capsys.readouterr()


def test_the_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {"SOURCEWISE_CACHE_DIR": str(tmp_path / "a"), "XDG_CACHE_HOME": str(tmp_path / "x")}
    assert cache_dir(env) == tmp_path / "a"
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path / "x")}) == tmp_path / "x" / "sourcewise" / "plans"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir({}) == tmp_path / "home" / ".cache" / "sourcewise" / "plans"


@pytest.mark.postgres
def test_other_backends_write_no_plan(plans: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    backend, path = suite_for("postgres", request, tmp_path)
    run_suite(load_suite(path), backend=backend, sample=2, as_of=faults.AS_OF)
    assert not plans.exists()


def test_a_hit_validates_nothing_again_and_still_starts_the_duplicate_queries(
    plans: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sourcewise.engine import compiler
    from sourcewise.engine.backends import DuckDBConnection

    _write_data(tmp_path / "d")
    suite = _suite(tmp_path / "s.yaml", tmp_path / "d")
    cold, _ = _run(suite, sample=3)

    def refuse(*args: Any, **kwargs: Any) -> list[str]:
        raise AssertionError("validated again on a hit")

    started: list = []
    original = DuckDBConnection.prefetch

    def prefetch(self: DuckDBConnection, queries: list) -> None:
        started.append([key for key, _ in queries])
        original(self, queries)

    monkeypatch.setattr(compiler, "column_problems", refuse)
    monkeypatch.setattr(compiler, "open_datasets", refuse)
    monkeypatch.setattr(DuckDBConnection, "prefetch", prefetch)
    warm, hit = _run(suite, sample=3)
    assert hit
    assert started == [[("unique", "items", ("id",))]]
    assert _doc(warm)["checks"] == _doc(cold)["checks"]


def test_changed_engine_code_is_a_new_plan(tmp_path: Path) -> None:
    from sourcewise.engine import plancache

    for name in plancache._SQL_MODULES:
        (tmp_path / name).write_text(f"# {name}\n")
    before = plancache._engine_fingerprint(tmp_path)
    assert plancache._engine_fingerprint(tmp_path) == before
    (tmp_path / "compiler.py").write_text("# compiler.py, changed\n")
    changed = plancache._engine_fingerprint(tmp_path)
    assert changed != before
    (tmp_path / "suite.py").unlink()  # no source shipped: still a key, and a different one
    assert plancache._engine_fingerprint(tmp_path) not in (before, changed)
    # The installed engine's modules are what the key is made of.
    assert plancache._versions()["engine"] == plancache._engine_fingerprint(Path(plancache.__file__).parent)
