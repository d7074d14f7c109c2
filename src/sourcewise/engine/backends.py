"""Where the data lives: resolving dataset sources and connecting DuckDB, PySpark or a database.

Settings (read here, once):

- ``SOURCEWISE_DUCKDB_MEMORY_LIMIT`` (e.g. ``8GB``): DuckDB's memory limit; by default 60% of
  physical memory, at most 64GB. Past it DuckDB spills to disk, so a delivery larger than
  memory is checked rather than refused.
- ``SOURCEWISE_DUCKDB_TEMP_DIR``: where DuckDB spills; by default a fresh directory in the
  system temporary directory, removed after the run.
- ``SOURCEWISE_DUCKDB_THREADS``: DuckDB threads; by default all cores.

PySpark: ``--backend pyspark`` uses ``SparkSession.builder.getOrCreate()``, so an active
session is reused, ``SPARK_REMOTE`` (e.g. ``sc://host:15002``) selects a Spark Connect
cluster, and otherwise the standard Spark configuration applies (``spark-defaults.conf``,
``PYSPARK_SUBMIT_ARGS`` such as ``--master yarn``); with none of these Spark runs locally.
The session's time zone is set to UTC, because timestamps without a zone are UTC.

A database URL (``postgresql://user@host/db``) is opened with Ibis; datasets then name
tables with ``table:`` (``schema.table`` allowed), and ``--data NAME=VALUE`` names a table.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sourcewise.engine.suite import Suite

if TYPE_CHECKING:
    import ibis
    import pyarrow as pa

FILE_FORMATS = {".parquet": "parquet", ".csv": "csv", ".csv.gz": "csv", ".jsonl": "jsonl"}
MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


class BackendError(Exception):
    """A backend that cannot be used as configured (bad setting, unreachable server)."""


@dataclass(frozen=True)
class Source:
    """A dataset's resolved source: the files a glob names now, or a table."""

    dataset: str
    format: str  # parquet | csv | jsonl | table
    given: str  # as the suite or --data wrote it, for messages
    files: tuple[str, ...] = ()
    table: str | None = None


def backend_label(backend: str) -> str:
    """The backend's name for the result document, without a URL's credentials."""
    if backend in ("duckdb", "pyspark"):
        return backend
    scheme = backend.split(":", 1)[0].lower()
    return {"postgresql": "postgres", "postgres": "postgres"}.get(scheme, scheme)


def is_url(backend: str) -> bool:
    return "://" in backend


def file_format(path: str) -> str | None:
    lower = path.lower()
    for suffix in sorted(FILE_FORMATS, key=len, reverse=True):
        if lower.endswith(suffix):
            return FILE_FORMATS[suffix]
    return None


def resolve_sources(
    suite: Suite, backend: str, data: Mapping[str, str] | None
) -> tuple[dict[str, Source], list[str]]:
    """Each dataset's source, after `--data` overrides; problems for what cannot be found."""
    where = suite.display_path
    problems: list[str] = []
    sources: dict[str, Source] = {}
    data = dict(data or {})
    for name in data:
        if name not in suite.datasets:
            problems.append(
                f"{where}: --data {name}=...: unknown dataset '{name}' (known: {', '.join(suite.datasets)})"
            )
    url = is_url(backend)
    for name, ds in suite.datasets.items():
        ctx = f"{where}: dataset '{name}'"
        if url:
            table = data.get(name, ds.table)
            if table is None:
                problems.append(
                    f"{ctx}: the {backend_label(backend)} backend reads tables; name one with 'table:' (found path {ds.path!r})"
                )
                continue
            sources[name] = Source(name, "table", table, table=table)
            continue
        if name in data:
            given, base = str(data[name]), Path.cwd()
        elif ds.path is not None:
            given, base = ds.path, suite.directory
        else:
            problems.append(
                f"{ctx}: 'table: {ds.table}' needs a database backend (--backend postgresql://...), or give a file with --data {name}=PATH"
            )
            continue
        fmt = file_format(given)
        if fmt is None:
            problems.append(
                f"{ctx}: {given!r} is not a .parquet, .csv, .csv.gz or .jsonl file"
            )
            continue
        pattern = Path(os.path.expanduser(given))
        if not pattern.is_absolute():
            pattern = base / pattern
        if glob.has_magic(str(pattern)):
            files = sorted(p for p in glob.glob(str(pattern)) if os.path.isfile(p))
            if not files:
                problems.append(f"{ctx}: no file matches {given!r} ({pattern})")
                continue
        elif pattern.is_file():
            files = [str(pattern)]
        else:
            problems.append(f"{ctx}: file not found: {given!r} ({pattern})")
            continue
        sources[name] = Source(name, fmt, given, files=tuple(files))
    return sources, problems


def duckdb_config_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """DuckDB settings from the environment; BackendError when one is malformed."""
    env = os.environ if env is None else env
    config: dict[str, Any] = {}
    limit = env.get("SOURCEWISE_DUCKDB_MEMORY_LIMIT")
    if limit:
        if not MEMORY.match(limit):
            raise BackendError(
                f"SOURCEWISE_DUCKDB_MEMORY_LIMIT={limit!r} must be a size such as 4GB or 512MB"
            )
        config["memory_limit"] = limit.replace(" ", "")
    else:
        config["memory_limit"] = f"{_default_memory_limit_mb()}MB"
    threads = env.get("SOURCEWISE_DUCKDB_THREADS")
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise BackendError(f"SOURCEWISE_DUCKDB_THREADS={threads!r} must be a whole number >= 1")
        config["threads"] = int(threads)
    temp = env.get("SOURCEWISE_DUCKDB_TEMP_DIR")
    if temp:
        config["temp_directory"] = temp
    return config


def _default_memory_limit_mb() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4096
    # 60% leaves room for Python, the Arrow results and other users of the machine.
    return max(256, min(int(total * 0.6) // 2**20, 64 * 1024))


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _file_list(files: tuple[str, ...]) -> str:
    return "[" + ", ".join(_sql_string(f) for f in files) + "]"


class Connection:
    """One backend, opened for one run: register sources, then execute Ibis expressions."""

    name: str
    con: Any

    def table(self, source: Source) -> ibis.Table:
        raise NotImplementedError

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        return self.con.to_pyarrow(expr)

    def batches(self, expr: ibis.Table, chunk_size: int = 65536) -> Iterator[pa.RecordBatch]:
        reader = self.con.to_pyarrow_batches(expr, chunk_size=chunk_size)
        try:
            yield from reader
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()

    def close(self) -> None:
        pass


class DuckDBConnection(Connection):
    """In-process DuckDB with a memory limit and a spill directory."""

    name = "duckdb"

    def __init__(self) -> None:
        from ibis.backends.duckdb import Backend

        config = duckdb_config_from_env()
        self._own_temp = None
        if "temp_directory" not in config:
            self._own_temp = tempfile.mkdtemp(prefix="sourcewise-duckdb-")
            config["temp_directory"] = self._own_temp
        # Insertion order is irrelevant to counts, and keeping it nearly doubles the cost of
        # exact duplicate counts (engine notes).
        config["preserve_insertion_order"] = False
        # The Backend class directly: `ibis.duckdb` looks backends up through package
        # metadata, which costs a noticeable part of a second at start-up.
        self.con = Backend().connect(**config)
        self.raw = self.con.con

    def table(self, source: Source) -> ibis.Table:
        view = _view_name(source.dataset)
        files = _file_list(source.files)
        if source.format == "parquet":
            reader = f"read_parquet({files})"
        elif source.format == "csv":
            # Strict by design: a fixed dialect, so a ragged row is an error rather than
            # a reason for the sniffer to pick another delimiter; no ignore_errors.
            reader = (
                f"read_csv({files}, header=true, delim=',', quote='\"', escape='\"', "
                "strict_mode=true, null_padding=false, ignore_errors=false, encoding='utf-8')"
            )
        elif source.format == "jsonl":
            reader = f"read_json({files}, format='newline_delimited', ignore_errors=false)"
        else:
            raise BackendError(f"duckdb cannot read {source.format}")
        # Only file names reach this SQL, each quoted by _sql_string; never user expressions.
        self.raw.execute(f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * FROM {reader}')  # noqa: S608
        return self.con.table(view)

    # Ibis compiles; DuckDB runs the SQL and hands back Arrow directly. This skips Ibis's
    # result conversion, which imports pandas (most of a second) and buffers batches.
    def sql(self, expr: ibis.Expr) -> str:
        return str(self.con.compile(expr))

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        return self.raw.sql(self.sql(expr)).to_arrow_table()

    def batches(self, expr: ibis.Table, chunk_size: int = 65536) -> Iterator[pa.RecordBatch]:
        reader = self.raw.sql(self.sql(expr)).to_arrow_reader(chunk_size)
        try:
            yield from reader
        finally:
            reader.close()

    def close(self) -> None:
        try:
            self.con.disconnect()
        finally:
            if self._own_temp:
                shutil.rmtree(self._own_temp, ignore_errors=True)


class SparkConnection(Connection):
    """PySpark through the session that the environment configures (see module docstring)."""

    name = "pyspark"

    def __init__(self) -> None:
        import ibis
        from pyspark.sql import SparkSession

        self.session = SparkSession.builder.appName("sourcewise-check").getOrCreate()
        self.session.conf.set("spark.sql.session.timeZone", "UTC")
        # Spark's warnings would drown the one-line problems on standard error. Spark
        # Connect sessions have no SparkContext, hence the suppress.
        with contextlib.suppress(Exception):
            self.session.sparkContext.setLogLevel("ERROR")
        self.con = ibis.pyspark.connect(self.session)
        self.views: list[str] = []

    def table(self, source: Source) -> ibis.Table:
        reader = self.session.read
        files = list(source.files)
        if source.format == "parquet":
            df = reader.parquet(*files)
        elif source.format == "csv":
            df = reader.options(
                header=True, inferSchema=True, mode="FAILFAST", encoding="UTF-8",
                enforceSchema=False,
            ).csv(files)
        elif source.format == "jsonl":
            df = reader.options(mode="FAILFAST").json(files)
        else:
            raise BackendError(f"pyspark cannot read {source.format}")
        view = _view_name(source.dataset)
        df.createOrReplaceTempView(view)
        self.views.append(view)
        return self.con.table(view)

    def close(self) -> None:
        # The session may be the caller's (tests, notebooks); leave it running.
        for view in self.views:
            self.session.catalog.dropTempView(view)


class DatabaseConnection(Connection):
    """A database that Ibis opens from a URL; datasets are its tables."""

    def __init__(self, url: str) -> None:
        import ibis

        self.name = backend_label(url)
        try:
            self.con = ibis.connect(url)
        except Exception as exc:  # the driver's errors vary; all mean "cannot connect"
            raise BackendError(f"cannot connect to the {self.name} database: {_first_line(exc)}") from exc

    def table(self, source: Source) -> ibis.Table:
        assert source.table is not None
        schema, _, name = source.table.rpartition(".")
        if schema:
            return self.con.table(name, database=schema)
        return self.con.table(name)

    def close(self) -> None:
        self.con.disconnect()


def connect(backend: str) -> Connection:
    if backend == "duckdb":
        return DuckDBConnection()
    if backend == "pyspark":
        try:
            return SparkConnection()
        except ImportError as exc:
            raise BackendError("the pyspark backend needs pyspark: pip install 'sourcewise[spark]'") from exc
    if is_url(backend):
        return DatabaseConnection(backend)
    raise BackendError(f"unknown backend {backend!r}: use duckdb, pyspark or a database URL")


def _view_name(dataset: str) -> str:
    return f"__sourcewise_{dataset}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def parquet_row_count(files: tuple[str, ...]) -> int | None:
    """Rows of Parquet files from their footers alone; None if a footer cannot be read."""
    import pyarrow.parquet as pq

    try:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except Exception:  # unreadable footer: the scan will report it properly
        return None
