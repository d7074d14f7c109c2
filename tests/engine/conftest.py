"""Fixtures for the engine's tests: fault datasets as files, a PostgreSQL schema, one SparkSession."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import faults

PG_URL = os.environ.get("SOURCEWISE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

BACKENDS = [
    "duckdb",
    pytest.param("pyspark", marks=pytest.mark.spark),
    pytest.param("postgres", marks=pytest.mark.postgres),
]
# The behaviour suite runs DuckDB twice: with an empty plan cache ("duckdb", compiled with
# Ibis) and with the plan the same run wrote ("duckdb-warm", no Ibis): identical results.
BEHAVIOUR_BACKENDS = ["duckdb", "duckdb-warm", *BACKENDS[1:]]


@pytest.fixture(scope="session", autouse=True)
def _plan_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Plans written by the tests go to a temporary directory, never the user's cache."""
    directory = tmp_path_factory.mktemp("plans")
    before = os.environ.get("SOURCEWISE_CACHE_DIR")
    os.environ["SOURCEWISE_CACHE_DIR"] = str(directory)
    yield directory
    if before is None:
        os.environ.pop("SOURCEWISE_CACHE_DIR", None)
    else:
        os.environ["SOURCEWISE_CACHE_DIR"] = before


def backend_name(variant: str) -> str:
    """The backend a behaviour variant runs on ("duckdb-warm" is DuckDB)."""
    return "duckdb" if variant == "duckdb-warm" else variant


def check_on(variant: str, suite: Any, directory: Path, **kwargs: Any) -> Any:
    """`run_suite` as the behaviour suite's `variant` of a backend means it.

    "duckdb" runs with a fresh, empty plan cache (a miss: everything compiled with Ibis);
    "duckdb-warm" first runs the same suite with the same options into a fresh cache (a
    `--failures` run writes to a scratch directory), then runs again and asserts that the
    plan was found; other backends run as they are.
    """
    from sourcewise.engine import run_suite

    if variant not in ("duckdb", "duckdb-warm"):
        return run_suite(suite, **kwargs)
    cache = directory / f"plans-{uuid.uuid4().hex[:8]}"
    before = os.environ.get("SOURCEWISE_CACHE_DIR")
    os.environ["SOURCEWISE_CACHE_DIR"] = str(cache)
    try:
        if variant == "duckdb-warm":
            first = dict(kwargs)
            if first.get("failures_dir") is not None:
                first["failures_dir"] = directory / f"warm-up-{uuid.uuid4().hex[:8]}"
            run_suite(suite, **first)
            assert len(list(cache.glob("*.json"))) == 1, "the cold run writes one plan"
        steps: list[str] = []
        result = run_suite(suite, progress=steps.append, **kwargs)
        found = any("compiled plan found" in s for s in steps)
        assert found == (variant == "duckdb-warm"), steps
        return result
    finally:
        if before is None:
            os.environ.pop("SOURCEWISE_CACHE_DIR", None)
        else:
            os.environ["SOURCEWISE_CACHE_DIR"] = before


def write_suite(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def fault_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("faults")
    faults.write_parquet(directory)
    faults.write_parquet(directory / "dup", duplicate_campaign=True)
    return directory


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local[1] session for the whole run: the machine's two cores are shared."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        pytest.skip("pyspark is not installed")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime for Spark")
    # py4j logs "Closing down clientserver connection" at exit, after pytest has closed
    # the captured streams, which prints a logging traceback.
    logging.getLogger("py4j").setLevel(logging.ERROR)
    session = (
        SparkSession.builder.master("local[1]")
        .appName("sourcewise-engine-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A private schema in the shared test database, holding the fault tables; dropped after."""
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed")
    try:
        conn = psycopg.connect(PG_URL.replace("postgresql://", "postgresql://", 1), autocommit=True, connect_timeout=3)
    except Exception as exc:  # any connection failure: the server is not there
        pytest.skip(f"PostgreSQL unavailable at {PG_URL}: {exc}")
    schema = f"sw_engine_{uuid.uuid4().hex[:10]}"
    types = {
        "int64": "bigint", "double": "double precision", "string": "text",
        "timestamp[us]": "timestamp", "date32[day]": "date",
    }
    with conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        for suffix, dup in (("", False), ("_dup", True)):
            for name, table in faults.tables(duplicate_campaign=dup).items():
                if dup and name != "campaigns":
                    continue
                cols = ", ".join(f'"{f.name}" {types[str(f.type)]}' for f in table.schema)
                conn.execute(f"CREATE TABLE {schema}.{name}{suffix} ({cols})")
                names = ", ".join(f'"{n}"' for n in table.column_names)
                with conn.cursor() as cur, cur.copy(f"COPY {schema}.{name}{suffix} ({names}) FROM STDIN") as copy:
                    for row in table.to_pylist():
                        copy.write_row(list(row.values()))
        yield schema
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def suite_for(backend: str, request: pytest.FixtureRequest, directory: Path, *, duplicate: bool = False) -> tuple[str, Path]:
    """The fault suite written for one backend: (backend argument, suite path)."""
    fault_dir: Path = request.getfixturevalue("fault_dir")
    if backend == "postgres":
        schema = request.getfixturevalue("pg_schema")
        suffix = "_dup" if duplicate else ""
        sources = {
            "contacts": {"table": f"{schema}.contacts"},
            "campaigns": {"table": f"{schema}.campaigns{suffix}"},
            "targets": {"table": f"{schema}.targets"},
        }
        backend_arg = PG_URL
    else:
        if backend == "pyspark":
            request.getfixturevalue("spark_session")
        base = fault_dir / "dup" if duplicate else fault_dir
        sources = {name: {"path": str(base / f"{name}.parquet")} for name in ("contacts", "campaigns", "targets")}
        backend_arg = "duckdb" if backend == "duckdb-warm" else backend
    document = faults.suite_document(sources)
    if duplicate:
        document["checks"] = [c for c in document["checks"] if c["id"] in ("client_matches_campaign", "ids_not_null")]
    path = write_suite(directory / f"suite-{backend}{'-dup' if duplicate else ''}.yaml", document)
    return backend_arg, path
