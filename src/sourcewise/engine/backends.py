"""Where the data lives: resolving dataset sources and connecting DuckDB, PySpark or a database.

Settings (read here, once):

- ``SOURCEWISE_DUCKDB_MEMORY_LIMIT`` (e.g. ``8GB``): DuckDB's memory limit; by default 60% of
  physical memory, at most 64GB. Past it DuckDB spills to disk, so a delivery larger than
  memory is checked rather than refused.
- ``SOURCEWISE_DUCKDB_PREFETCH=0``: do not start the plain-SQL duplicate-key queries of
  ``unique`` checks while Ibis imports (``DuckDBConnection.prefetch``; for measurements).
- ``SOURCEWISE_DUCKDB_TEMP_DIR``: where DuckDB spills; by default a fresh directory in the
  system temporary directory, removed after the run.
- ``SOURCEWISE_DUCKDB_THREADS``: DuckDB threads; by default one more than the cores this
  process may use (on 2 cores, 3 threads took the 10M benchmark from ~6.6 s to ~6.2 s,
  and the hand-written SQL from 5.5 s to 3.7 s: with as many threads as cores, cores idle).

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
import os
import re
import shutil
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sourcewise.engine.suite import Suite

if TYPE_CHECKING:
    import ibis
    import pyarrow as pa

FILE_FORMATS = {".parquet": "parquet", ".csv": "csv", ".csv.gz": "csv", ".jsonl": "jsonl"}
# Compiled on use (re caches it): only a run with SOURCEWISE_DUCKDB_MEMORY_LIMIT set needs it.
MEMORY = r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$"


class BackendError(Exception):
    """A backend that cannot be used as configured (bad setting, unreachable server)."""


# The row number column of `DuckDBConnection.row_handles` views; a dataset that has a column
# of this name keeps the slower sample queries.
ROW_HANDLE = "__sourcewise_row"


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


def _has_magic(path: str) -> bool:
    """`glob.has_magic`, without importing glob for the plain paths most suites name."""
    return "*" in path or "?" in path or "[" in path


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
        if _has_magic(str(pattern)):
            import glob

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
        if not re.match(MEMORY, limit, re.IGNORECASE):
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
    else:
        config["threads"] = _usable_cores() + 1
    temp = env.get("SOURCEWISE_DUCKDB_TEMP_DIR")
    if temp:
        config["temp_directory"] = temp
    return config


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


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


@dataclass(frozen=True)
class SqlText:
    """A DuckDB query already compiled (by the plan cache, or written by hand), with its parameters."""

    text: str
    params: tuple[Any, ...] = ()


class Connection:
    """One backend, opened for one run: register sources, then execute Ibis expressions."""

    name: str
    con: Any

    def table(self, source: Source) -> ibis.Table:
        raise NotImplementedError

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        return self.con.to_pyarrow(expr)

    def rows(self, expr: ibis.Expr) -> list[dict[str, Any]]:
        """A (small) result as one dict per row."""
        return self.to_arrow(expr).to_pylist()

    def rows_in_order(self, expr: ibis.Expr) -> list[dict[str, Any]]:
        """`rows` of a query whose LIMIT should keep the first rows in the order read (sample
        rows): the same delivery then shows the same samples. Elsewhere that is what a
        LIMIT over a scan gives already."""
        return self.rows(expr)

    def row_count(self, source: Source) -> int | None:
        """Rows of a dataset from metadata alone, or None when that needs a scan."""
        return parquet_row_count(source.files) if source.format == "parquet" else None

    def batches(self, expr: ibis.Table, chunk_size: int = 65536) -> Iterator[pa.RecordBatch]:
        reader = self.con.to_pyarrow_batches(expr, chunk_size=chunk_size)
        try:
            yield from reader
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()

    def take(self, key: Any) -> list[dict[str, Any]] | None:
        """Rows that the connection computed ahead (see DuckDBConnection.prefetch)."""
        return None

    def close(self) -> None:
        pass


class DuckDBConnection(Connection):
    """In-process DuckDB with a memory limit and a spill directory.

    The raw DuckDB connection runs everything. Ibis builds the expressions over unbound
    tables typed from one DESCRIBE per view, and its DuckDB compiler turns them into SQL;
    Ibis's DuckDB backend is never attached. Queries written without Ibis (`prefetch`)
    run on a cursor while Ibis imports.
    """

    name = "duckdb"

    def __init__(self) -> None:
        import duckdb

        config = duckdb_config_from_env()
        self._own_temp = None
        if "temp_directory" not in config:
            self._own_temp = tempfile.mkdtemp(prefix="sourcewise-duckdb-")
            config["temp_directory"] = self._own_temp
        # Insertion order is irrelevant to counts, and keeping it nearly doubles the cost of
        # exact duplicate counts (engine notes).
        config["preserve_insertion_order"] = False
        self.raw = duckdb.connect(":memory:", config=config)
        self._session(self.raw)
        self._ibis: Any = None
        self._views: set[str] = set()
        self._described: dict[str, list[tuple[str, str, bool]]] = {}
        self._prefetched: dict[Any, _Call] = {}
        self._pool: _Background | None = None
        self._cursors: list[Any] = []

    @staticmethod
    def _session(con: Any) -> None:
        # What Ibis sets on connecting; a cursor is a session of its own and needs them too.
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET python_enable_replacements = false")

    @property
    def con(self) -> Any:  # type: ignore[override]
        """Ibis's DuckDB backend on the same connection. The run itself never needs it (tables
        are unbound Ibis tables compiled by `sql`); kept for callers that want Ibis's API."""
        if self._ibis is None:
            from ibis.backends.duckdb import Backend

            self._ibis = Backend.from_connection(self.raw)
        return self._ibis

    def register(self, source: Source) -> str:
        """Create the dataset's view (once) without Ibis; its name."""
        view = _view_name(source.dataset)
        if view in self._views:
            return view
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
        # A view of the private in-memory database, not a TEMP one: cursors must see it.
        self.raw.execute(f'CREATE OR REPLACE VIEW "{view}" AS SELECT * FROM {reader}')  # noqa: S608
        self._views.add(view)
        return view

    def row_handles(self, source: Source) -> str | None:
        """A view of a one-file Parquet dataset with each row's number in the file as
        `ROW_HANDLE` (DuckDB's `file_row_number`), or None for any other source.

        A row found failing by its number is read again with `WHERE ROW_HANDLE IN (...)`,
        which the Parquet reader answers from the row groups that hold those rows only
        (measured 2 of 82 row groups, 15 ms, at 10M rows), instead of scanning for it."""
        if source.format != "parquet" or len(source.files) != 1:
            return None
        view = _view_name(source.dataset, rows=True)
        if view not in self._views:
            reader = f"read_parquet({_file_list(source.files)})"
            self.raw.execute(
                f'CREATE OR REPLACE VIEW "{view}" AS SELECT *, file_row_number AS "{ROW_HANDLE}" FROM {reader}'  # noqa: S608
            )
            self._views.add(view)
        return view

    def row_table(self, source: Source) -> ibis.Table:
        """The Ibis table over `row_handles`'s view: the dataset's columns and `ROW_HANDLE`."""
        import ibis

        view = self.row_handles(source)
        assert view is not None
        mapper = _duckdb_compiler().type_mapper
        schema = {name: mapper.from_string(typ, nullable=nullable) for name, typ, nullable in self.describe(source)}
        schema[ROW_HANDLE] = mapper.from_string("BIGINT", nullable=False)
        return ibis.table(schema, name=view)

    def describe(self, source: Source) -> list[tuple[str, str, bool]]:
        """The view's (name, DuckDB type, nullable) from one DESCRIBE on the raw connection,
        read once per run: a Parquet footer, or a CSV's sniffed header."""
        view = self.register(source)
        if view not in self._described:
            rows = self.raw.execute(f'DESCRIBE "{view}"').fetchall()  # noqa: S608
            self._described[view] = [(r[0], r[1], r[2] == "YES") for r in rows]
        return self._described[view]

    def table(self, source: Source) -> ibis.Table:
        """An unbound Ibis table over the dataset's view, typed from `describe`.

        No Ibis backend is attached: `sql` compiles with Ibis's DuckDB compiler alone and
        the raw connection runs the SQL, which saves importing and attaching the backend
        and a second DESCRIBE per view through it (and its deprecated Arrow fetch).
        """
        import ibis

        mapper = _duckdb_compiler().type_mapper
        schema = {name: mapper.from_string(typ, nullable=nullable) for name, typ, nullable in self.describe(source)}
        return ibis.table(schema, name=_view_name(source.dataset))

    def raw_columns(self, sources: Mapping[str, Source]) -> dict[str, dict[str, str]] | None:
        """Each Parquet dataset's columns and contract types from its footer, without Ibis;
        None unless every source is Parquet (a CSV's DESCRIBE would sniff the file)."""
        if not sources or any(s.format != "parquet" for s in sources.values()):
            return None
        out: dict[str, dict[str, str]] = {}
        try:
            for name, source in sources.items():
                out[name] = {col: _duckdb_type_name(typ) for col, typ, _ in self.describe(source)}
        except Exception:  # an unreadable footer is reported by the normal path
            return None
        return out

    def prefetch(self, queries: list[tuple[Any, str]]) -> None:
        """Start plain-SQL queries on one cursor in a background thread, in order.

        DuckDB releases the GIL, so they run while Ibis imports and compiles; `take` hands
        each result (or its error) to the code that would otherwise have run it. They share
        the database's memory limit with every other query.
        """
        for key, sql in queries:
            self._start(key, sql)

    def _start(self, key: Any, sql: str) -> None:
        if key in self._prefetched:
            return
        if self._pool is None:
            # One background cursor, so at most two queries run at once: each is parallel
            # already, the second only fills what the first leaves idle.
            cursor = self.raw.cursor()
            self._session(cursor)
            self._cursors.append(cursor)
            self._pool = _Background("sourcewise-prefetch")
        cursor = self._cursors[0]
        self._prefetched[key] = self._pool.submit(_fetch_rows, cursor, sql)

    def take(self, key: Any) -> list[dict[str, Any]] | None:
        """A prefetched result (raising its error), or None if it was not prefetched."""
        future = self._prefetched.pop(key, None)
        return None if future is None else future.result()

    # Ibis compiles; DuckDB runs the SQL and hands back Arrow directly. This skips Ibis's
    # result conversion, which imports pandas (most of a second) and buffers batches.
    def sql(self, expr: ibis.Expr | SqlText) -> str:
        if isinstance(expr, SqlText):
            return expr.text
        import sqlglot

        query = _duckdb_compiler().to_sqlglot(expr)
        return query.sql(dialect="duckdb", copy=False, unsupported_level=sqlglot.ErrorLevel.RAISE)

    def to_arrow(self, expr: ibis.Expr | SqlText) -> pa.Table:
        return self._result(expr).to_arrow_table()

    def _result(self, expr: ibis.Expr | SqlText) -> Any:
        params = _params(expr)
        return self.raw.execute(self.sql(expr), params) if params else self.raw.sql(self.sql(expr))

    def rows(self, expr: ibis.Expr | SqlText) -> list[dict[str, Any]]:
        # Python objects straight from DuckDB: Arrow (and so pyarrow's import, a few tenths
        # of a second) is needed only to stream --failures exports.
        return _fetch_rows(self.raw, self.sql(expr), _params(expr))

    def run_sql(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return _fetch_rows(self.raw, sql, params)

    def rows_in_order(self, expr: ibis.Expr | SqlText) -> list[dict[str, Any]]:
        # Runs without insertion order otherwise (for speed), when a LIMIT keeps whichever
        # rows a thread reaches first. With it, WHERE, LIMIT and UNION ALL keep the rows in
        # the order of the files (DuckDB's order-preservation rules), and the LIMIT still
        # stops the scan early. For this session only: the queries running ahead on their
        # own cursors keep the faster setting.
        self.raw.execute("SET SESSION preserve_insertion_order = true")
        try:
            return self.rows(expr)
        finally:
            self.raw.execute("SET SESSION preserve_insertion_order = false")

    def row_count(self, source: Source) -> int | None:
        # DuckDB answers count(*) of Parquet from the footers, without pyarrow. fetchall, not
        # fetchone: DuckDB 2 refuses other work while a result is not fetched to its end.
        if source.format != "parquet":
            return None
        try:
            return int(self.raw.execute(f'SELECT count(*) FROM "{self.register(source)}"').fetchall()[0][0])  # noqa: S608
        except Exception:  # unreadable footer: the scan will report it properly
            return None

    def batches(self, expr: ibis.Table | SqlText, chunk_size: int = 65536) -> Iterator[pa.RecordBatch]:
        reader = self._result(expr).to_arrow_reader(chunk_size)
        try:
            yield from reader
        finally:
            reader.close()

    def close(self) -> None:
        try:
            if self._pool is not None:
                for future in self._prefetched.values():
                    future.cancel()
                for cursor in self._cursors:
                    with contextlib.suppress(Exception):
                        cursor.interrupt()
                self._pool.shutdown(wait=True)
                self._prefetched.clear()
                for cursor in self._cursors:
                    with contextlib.suppress(Exception):
                        cursor.close()
            self.raw.close()
        finally:
            if self._own_temp:
                shutil.rmtree(self._own_temp, ignore_errors=True)


class _Call:
    """A call for `_Background`, and its outcome: the part of concurrent.futures.Future used here."""

    def __init__(self, fn: Any, args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.state = "pending"  # pending | running | cancelled | finished (changed under the pool's lock)
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.pool: _Background | None = None

    def run(self) -> None:
        try:
            self.value = self.fn(*self.args)
        except BaseException as exc:  # handed to whoever asks for the result, as a Future does
            self.error = exc
        finally:
            self.state = "finished"
            self.done.set()

    def cancel(self) -> bool:
        """Drop the call if it has not started; False once it runs or ran."""
        assert self.pool is not None
        return self.pool.cancel(self)

    def result(self) -> Any:
        """The call's value, or its exception raised; waits for it."""
        self.done.wait()
        if self.state == "cancelled":
            from concurrent.futures import CancelledError

            raise CancelledError
        if self.error is not None:
            raise self.error
        return self.value


class _Background:
    """Runs calls one at a time, in order, on a thread that lives while there are calls.

    What `ThreadPoolExecutor(max_workers=1)` did for `DuckDBConnection.prefetch`, without
    importing concurrent.futures (and with it logging and queue: ~6 ms) on every run.
    No thread waits idle, so none can hold up the interpreter's exit.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._calls: deque[_Call] = deque()
        self._thread: threading.Thread | None = None

    def submit(self, fn: Any, *args: Any) -> _Call:
        call = _Call(fn, args)
        call.pool = self
        with self._lock:
            self._calls.append(call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"{self.name}_0")
                self._thread.start()
        return call

    def _work(self) -> None:
        while True:
            with self._lock:
                call = None
                while self._calls:
                    call = self._calls.popleft()
                    if call.state == "pending":
                        call.state = "running"
                        break
                    call = None
                if call is None:
                    self._thread = None
                    return
            call.run()

    def cancel(self, call: _Call) -> bool:
        with self._lock:
            if call.state != "pending":
                return call.state == "cancelled"
            call.state = "cancelled"
        call.done.set()
        return True

    def shutdown(self, wait: bool = True) -> None:
        """Wait for the call that runs (cancel the others first)."""
        with self._lock:
            thread = self._thread
        if wait and thread is not None:
            thread.join()


def _params(expr: Any) -> tuple[Any, ...] | None:
    return (expr.params or None) if isinstance(expr, SqlText) else None


def _fetch_rows(con: Any, sql: str, params: tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or None)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _duckdb_compiler() -> Any:
    """Ibis's DuckDB SQL compiler, without the backend around it.

    The package `ibis.backends.sql.compilers` imports all twenty of Ibis's compilers, and
    with them as many sqlglot dialects (0.1 to 0.15 s of start-up on 2 cores). When nothing
    has imported it yet, the package is registered without running its `__init__`, so only
    the DuckDB compiler loads; the first attribute another backend asks of the package
    (`from ibis.backends.sql.compilers import PostgresCompiler`) runs the real `__init__`.
    """
    name = "ibis.backends.sql.compilers"
    if name not in sys.modules:
        import importlib.util

        import ibis.backends.sql

        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            package = importlib.util.module_from_spec(spec)
            loader = spec.loader

            def complete(attr: str) -> Any:
                package.__dict__.pop("__getattr__", None)
                loader.exec_module(package)
                return getattr(package, attr)

            package.__getattr__ = complete  # type: ignore[attr-defined]
            sys.modules[name] = package
            ibis.backends.sql.compilers = package  # type: ignore[attr-defined]
    from ibis.backends.sql.compilers.duckdb import compiler

    return compiler


def _duckdb_type_name(typ: str) -> str:
    """A DuckDB column type in the contract's words, as `expressions.contract_type` gives it for Ibis types."""
    t = typ.upper()
    if t == "BOOLEAN":
        return "boolean"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
             "UINTEGER", "UBIGINT", "UHUGEINT"):
        return "integer"
    if t in ("FLOAT", "DOUBLE") or t.startswith("DECIMAL"):
        return "float"
    if t == "VARCHAR":
        return "string"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    return "other:" + t.lower()  # never equal to a contract type; validated again with Ibis


def duplicates_sql(view: str, cols: tuple[str, ...], sample: int) -> str:
    """The duplicate-key query that the compiler builds with Ibis for `unique`, in plain SQL.

    Same columns: the key columns, __c, __rows and __keys (window totals, the `sample`
    smallest duplicated keys, so that the same delivery always shows the same ones) or,
    without samples, just __rows and __keys.
    """
    keys = ", ".join(_ident(c) for c in cols)
    inner = (
        f"SELECT {keys}, count(*) AS \"__c\" FROM {_ident(view)} "  # noqa: S608
        f"GROUP BY {keys} HAVING count(*) > 1"
    )
    if sample:
        return (
            f'SELECT {keys}, "__c", sum("__c") OVER () AS "__rows", count(*) OVER () AS "__keys" '  # noqa: S608
            f"FROM ({inner}) AS d ORDER BY {', '.join(_ident(c) + ' ASC NULLS LAST' for c in cols)} "
            f"LIMIT {int(sample)}"
        )
    return f'SELECT sum("__c") AS "__rows", count(*) AS "__keys" FROM ({inner}) AS d'  # noqa: S608


def summary_sql(inner: str, items: list[tuple[str, str | None, tuple[str, ...]]], sample: int) -> str:
    """Counts and first failing rows, in one aggregate over `inner` (a query).

    Each item is (output name, flag column or None for every row, columns): without columns
    the output is the count of rows; with them it is a list of up to `sample` rows, the
    smallest by those columns in order (so samples are stable, and cost a bounded heap per
    thread, however many rows fail), as structs whose fields k0, k1, ... are the columns.
    Only identifiers reach this SQL, each quoted.
    """
    parts = []
    for out, flag, keys in items:
        where = f" FILTER (WHERE {_ident(flag)})" if flag else ""
        if keys:
            struct = "{" + ", ".join(f"'k{i}': {_ident(k)}" for i, k in enumerate(keys)) + "}"
            parts.append(f"min({struct}, {int(sample)}){where} AS {_ident(out)}")
        else:
            parts.append(f"count(*){where} AS {_ident(out)}")
    return f"SELECT {', '.join(parts)} FROM ({inner}) AS \"__q\""  # noqa: S608


def rows_by_keys_sql(view: str, cols: list[str], keys: list[tuple], columns: list[str], limit: int) -> SqlText:
    """Up to `limit` rows of `view` whose `cols` equal one of `keys` (NULL matching NULL), in
    plain SQL with the key values as parameters: the values are data, so this query is
    never compiled into a cached plan, and needs no Ibis."""
    distinct = list(dict.fromkeys(keys))
    params: list[Any] = []
    ors = []
    for key in distinct:
        ands = []
        for col, value in zip(cols, key, strict=True):
            if value is None:
                ands.append(f"{_ident(col)} IS NULL")
            else:
                ands.append(f"{_ident(col)} = ?")
                params.append(value)
        ors.append("(" + " AND ".join(ands) + ")")
    select = ", ".join(_ident(c) for c in columns)
    sql = f"SELECT {select} FROM {_ident(view)} WHERE {' OR '.join(ors)} LIMIT {int(limit)}"  # noqa: S608
    return SqlText(sql, tuple(params))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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


def _view_name(dataset: str, rows: bool = False) -> str:
    # A dataset name has no ':' (suite.SLUG), so the row-numbered view cannot meet another's.
    return f"__sourcewise_rows:{dataset}" if rows else f"__sourcewise_{dataset}"


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
