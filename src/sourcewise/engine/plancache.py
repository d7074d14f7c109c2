"""The compiled-plan cache: the DuckDB SQL of a suite, kept on disk between runs.

The same suite checks a delivery of the same shape every day, so its SQL is the same
every day. A plan holds, per query site of the run (`Runner._compiled`), the SQL text
Ibis compiled, plus the datasets' columns in the contract's types. It is keyed by a hash
of everything the SQL depends on: the suite's normalised content (not its file's path
nor the data's paths), each dataset's format and described schema (names, DuckDB types,
nullability, in order), the options that change SQL (`--sample`, `--failures` on or off),
and the versions of the engine (a hash of the modules that write the SQL), Ibis, sqlglot
and DuckDB.

A hit validates nothing again that depends only on the suite and the schema (the plan was
written after exactly that suite was validated against exactly that schema) and imports
neither Ibis nor sqlglot. A query that the plan does not hold yet (a check that passed
when the plan was written fails today, so its samples are wanted) is compiled then and
added to the plan. Nothing of the data goes into a plan: views are named after datasets
(`__sourcewise_<name>`) and created from the current paths on every run, and queries that
need data values (sample rows looked up by failing keys) are never cached.

`--as-of` is not part of the key: freshness compares in Python, so it changes no SQL (and
its default, now, would otherwise make every run a miss).

Location: ``$SOURCEWISE_CACHE_DIR``, else ``$XDG_CACHE_HOME/sourcewise/plans``, else
``~/.cache/sourcewise/plans``. Anything unreadable there is a miss, never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sourcewise.engine.suite import Suite

_FORMAT = "sourcewise-plan"
# The modules whose code decides the SQL: a change to any of them is a new plan, so that a
# cached plan never runs SQL that the code in use would no longer write (a version number
# that someone had to remember to raise stayed at 1 through two changes of the SQL).
_SQL_MODULES = ("compiler.py", "backends.py", "expressions.py", "suite.py")


def _engine_fingerprint(here: Path | None = None) -> str:
    """A hash of the engine's SQL-writing modules in `here` (by default, this package)."""
    digest = hashlib.sha256()
    here = here if here is not None else Path(__file__).resolve().parent
    for name in _SQL_MODULES:
        try:
            digest.update((here / name).read_bytes())
        except OSError:  # no source shipped (a zip or a frozen build): rely on the version
            digest.update(name.encode() + b"?")
    return digest.hexdigest()[:16]


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("SOURCEWISE_CACHE_DIR"):
        return Path(env["SOURCEWISE_CACHE_DIR"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "sourcewise" / "plans"
    return Path.home() / ".cache" / "sourcewise" / "plans"


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "none"


def _versions() -> dict[str, str]:
    import duckdb

    return {
        "engine": _engine_fingerprint(),
        "sourcewise": _dist_version("sourcewise"),
        "ibis": _dist_version("ibis-framework"),
        "sqlglot": _dist_version("sqlglot"),
        "duckdb": duckdb.__version__,
    }


def suite_content(suite: Suite) -> dict[str, Any]:
    """The suite as it bears on SQL: everything but its file's path and the data's paths."""
    return {
        "name": suite.name,
        "datasets": {
            name: {"key": list(ds.key), "table": ds.table, "has_path": ds.path is not None}
            for name, ds in suite.datasets.items()
        },
        "checks": [
            {
                "index": c.index,
                "id": c.id,
                "name": c.name,
                "dataset": c.dataset,
                "kind": c.kind,
                "args": c.args,
                "severity": c.severity,
                "tolerance": [c.tolerance.max_failing, c.tolerance.max_failing_ratio],
                "lookup": None if c.lookup is None else [c.lookup.to, [list(p) for p in c.lookup.on]],
                "expression": None if c.expression is None else c.expression.text,
            }
            for c in suite.checks
        ],
    }


def plan_key(
    suite: Suite,
    schemas: Mapping[str, tuple[str, list[tuple[str, str, bool]]]],
    *,
    sample: int,
    failures: bool,
) -> str:
    """The hash that names a plan; `schemas` maps each dataset to (format, described columns)."""
    document = {
        "suite": suite_content(suite),
        "schemas": {name: [fmt, [list(col) for col in cols]] for name, (fmt, cols) in sorted(schemas.items())},
        "options": {"sample": sample, "failures": failures},
        "versions": _versions(),
    }
    text = json.dumps(document, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Plan:
    """One suite's compiled queries on one schema: site key -> SQL, and the columns."""

    def __init__(self, key: str, directory: Path | None, *, hit: bool, queries: dict[str, str] | None = None,
                 columns: dict[str, dict[str, str]] | None = None) -> None:
        self.key = key
        self.directory = directory
        self.hit = hit
        self.queries: dict[str, str] = dict(queries or {})
        self.columns = columns
        self.dirty = not hit

    @property
    def path(self) -> Path | None:
        return None if self.directory is None else self.directory / f"{self.key}.json"

    def get(self, site: str) -> str | None:
        return self.queries.get(site)

    def put(self, site: str, sql: str) -> None:
        self.queries[site] = sql
        self.dirty = True

    def save(self) -> None:
        """Write the plan atomically (a temporary file, then a rename); a failure is ignored."""
        if not self.dirty or self.path is None or self.columns is None:
            return
        document = {"format": _FORMAT, "key": self.key, "columns": self.columns, "queries": self.queries}
        tmp = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            fd, tmp = tempfile.mkstemp(prefix=".plan-", suffix=".tmp", dir=self.directory)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(document, fh, separators=(",", ":"))
            os.replace(tmp, self.path)
            tmp = None
            self.dirty = False
        except OSError:
            pass  # a cache that cannot be written only costs the next run a compilation
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def load_plan(key: str, directory: Path) -> Plan:
    """The plan stored under `key`, or an empty one (a miss) if none is there or it is unreadable."""
    path = directory / f"{key}.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("format") != _FORMAT or document.get("key") != key:
            raise ValueError("not a plan")
        queries = document["queries"]
        columns = document["columns"]
        if not isinstance(queries, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in queries.items()):
            raise ValueError("bad queries")
        if not isinstance(columns, dict) or not all(
            isinstance(cols, dict) and all(isinstance(a, str) and isinstance(b, str) for a, b in cols.items())
            for cols in columns.values()
        ):
            raise ValueError("bad columns")
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return Plan(key, directory, hit=False)
    return Plan(key, directory, hit=True, queries=queries, columns=columns)
