"""Sources and settings: what a dataset resolves to on each backend, and DuckDB's out-of-core settings."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from sourcewise.engine import load_suite, run_suite
from sourcewise.engine.backends import (
    BackendError,
    DuckDBConnection,
    backend_label,
    duckdb_config_from_env,
    resolve_sources,
)
from sourcewise.engine.cli import main

from .conftest import PG_URL


def _suite(tmp_path: Path, datasets: dict) -> Path:
    path = tmp_path / "suite.yaml"
    checks = [{"dataset": name, "row_count": {"min": 0}} for name in datasets]
    path.write_text(yaml.safe_dump({"version": 1, "name": "s", "datasets": datasets, "checks": checks}))
    return path


def test_sources_are_relative_to_the_suite_and_globs_expand(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for i in range(2):
        pq.write_table(pa.table({"x": [i]}), tmp_path / "d" / f"p{i}.parquet")
    (tmp_path / "d" / "notes.txt").write_text("not named by the suite")
    suite = load_suite(_suite(tmp_path, {"a": {"path": "d/*.parquet"}, "b": {"table": "public.b"}}))
    sources, problems = resolve_sources(suite, "duckdb", {"b": str(tmp_path / "d" / "p0.parquet")})
    assert problems == []
    assert sources["a"].files == (str(tmp_path / "d" / "p0.parquet"), str(tmp_path / "d" / "p1.parquet"))
    assert sources["b"].format == "parquet"
    sources, problems = resolve_sources(suite, "duckdb", None)
    assert problems == [f"{suite.display_path}: dataset 'b': 'table: public.b' needs a database backend "
                        "(--backend postgresql://...), or give a file with --data b=PATH"]


def test_unknown_file_kinds_and_unknown_override_names(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, {"a": {"path": "a.xlsx"}}))
    _, problems = resolve_sources(suite, "duckdb", {"zz": "x.parquet"})
    assert any("--data zz=...: unknown dataset 'zz'" in p for p in problems)
    assert any("'a.xlsx' is not a .parquet, .csv, .csv.gz or .jsonl file" in p for p in problems)


def test_duckdb_settings_from_the_environment() -> None:
    config = duckdb_config_from_env({})
    assert config["memory_limit"].endswith("MB") and int(config["memory_limit"][:-2]) >= 256
    assert duckdb_config_from_env({"SOURCEWISE_DUCKDB_MEMORY_LIMIT": "2GB", "SOURCEWISE_DUCKDB_THREADS": "1",
                                   "SOURCEWISE_DUCKDB_TEMP_DIR": "spill-here"}) == {
        "memory_limit": "2GB", "threads": 1, "temp_directory": "spill-here"}
    with pytest.raises(BackendError, match="SOURCEWISE_DUCKDB_THREADS"):
        duckdb_config_from_env({"SOURCEWISE_DUCKDB_THREADS": "many"})


def test_duckdb_spills_to_its_own_temp_directory_and_removes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCEWISE_DUCKDB_MEMORY_LIMIT", "256MB")
    conn = DuckDBConnection()
    settings = dict(conn.raw.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('memory_limit', 'temp_directory', 'preserve_insertion_order')").fetchall())
    temp = Path(settings["temp_directory"])
    assert temp.is_dir() and temp.name.startswith("sourcewise-duckdb-")
    assert settings["preserve_insertion_order"] == "false"
    assert settings["memory_limit"].startswith("244")  # 256 MB in DuckDB's MiB display
    conn.close()
    assert not temp.exists()


def test_a_low_memory_limit_still_gives_exact_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 2M distinct keys need more hash table than 64 MB: DuckDB spills instead of failing.
    import duckdb

    path = tmp_path / "big.parquet"
    duckdb.sql(f"COPY (SELECT range AS k, range % 7 AS v FROM range(2000000) UNION ALL SELECT 5, 1) "  # noqa: S608
               f"TO '{path}' (FORMAT parquet)")
    monkeypatch.setenv("SOURCEWISE_DUCKDB_MEMORY_LIMIT", "64MB")
    monkeypatch.setenv("SOURCEWISE_DUCKDB_THREADS", "1")
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text(yaml.safe_dump({"version": 1, "name": "big", "datasets": {"big": {"path": "big.parquet"}},
                                          "checks": [{"id": "k", "dataset": "big", "unique": ["k"]}]}))
    result = run_suite(load_suite(suite_path), sample=0)
    assert result.check("k").failing_rows == 2
    assert result.check("k").observed == {"duplicate_keys": 1}


def test_backend_label_hides_credentials() -> None:
    assert backend_label("postgresql://me:secret@db.example/prod") == "postgres"
    assert backend_label("duckdb") == "duckdb"


@pytest.mark.postgres
def test_a_missing_table_is_a_one_line_problem(tmp_path: Path, pg_schema: str) -> None:
    suite = _suite(tmp_path, {"a": {"table": f"{pg_schema}.no_such_table"}, "b": {"table": f"{pg_schema}.contacts"}})
    out, err = io.StringIO(), io.StringIO()
    code = main([str(suite), "--backend", PG_URL, "--json", "-"], stdout=out, stderr=err)
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{suite}: dataset 'a': cannot read '{pg_schema}.no_such_table'")
    assert "Traceback" not in err.getvalue()
