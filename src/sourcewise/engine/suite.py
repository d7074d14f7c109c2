"""The expectation suite: its dataclasses, and the loader that reads and validates a YAML file."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sourcewise.engine.expressions import Expression, ExpressionError, parse_expression

__all__ = [
    "Check",
    "Dataset",
    "Lookup",
    "Suite",
    "SuiteError",
    "Tolerance",
    "load_suite",
    "parse_duration",
]

ROW_LEVEL_KINDS = (
    "not_null",
    "unique",
    "accepted_values",
    "range",
    "pattern",
    "row_condition",
    "relationships",
)
DATASET_LEVEL_KINDS = ("row_count", "freshness", "metric", "share", "schema")
KINDS = ROW_LEVEL_KINDS + DATASET_LEVEL_KINDS

# The arguments each kind takes when written as a mapping; list kinds take a list.
KIND_ARGUMENTS: dict[str, tuple[set[str], set[str]]] = {
    # kind: (required, optional)
    "accepted_values": ({"column", "values"}, set()),
    "range": ({"column"}, {"min", "max"}),
    "pattern": ({"column", "regex"}, set()),
    "relationships": ({"to", "columns"}, {"to_columns"}),
    "row_count": (set(), {"min", "max"}),
    "freshness": ({"column", "max_age"}, set()),
    "metric": ({"column", "stat"}, {"q", "min", "max", "group_by", "approximate"}),
    "share": ({"condition"}, {"min", "max", "group_by"}),
    "schema": ({"columns"}, {"allow_extra"}),
}
COMMON_KEYS = {"id", "name", "description", "dataset", "severity", "tolerance", "lookup"}
STATS = ("mean", "sum", "min", "max", "stddev", "quantile", "null_ratio", "distinct_count")
TYPES = ("integer", "float", "string", "boolean", "date", "timestamp")
SEVERITIES = ("error", "warn")

SLUG = re.compile(r"^[A-Za-z0-9_-]+$")
CHECK_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class SuiteError(Exception):
    """A suite that cannot be run; `problems` holds one line per problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Tolerance:
    """How many failing rows (or groups) a check may have and still pass.

    Without a tolerance nothing may fail; a tolerance that gives only one of the two
    bounds leaves the other open, as a user writing `{max_failing: 10}` expects.
    """

    max_failing: int | None = 0
    max_failing_ratio: float | None = 0.0

    def allows(self, failing: int, total: int) -> bool:
        if self.max_failing is not None and failing > self.max_failing:
            return False
        if self.max_failing_ratio is None or not failing:
            return True
        return total > 0 and failing / total <= self.max_failing_ratio


@dataclass(frozen=True)
class Dataset:
    """A named source: a file (or glob) relative to the suite, or a database table."""

    name: str
    path: str | None = None
    table: str | None = None
    key: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lookup:
    """A many-to-one join that lets a row_condition name another dataset's columns."""

    to: str
    on: tuple[tuple[str, str], ...]  # (column here, column in `to`)


@dataclass
class Check:
    """One expectation about one dataset; `args` holds the kind's normalised arguments."""

    index: int
    id: str
    name: str
    dataset: str
    kind: str
    args: dict[str, Any]
    severity: str = "error"
    tolerance: Tolerance = field(default_factory=Tolerance)
    description: str | None = None
    lookup: Lookup | None = None
    expression: Expression | None = None

    @property
    def label(self) -> str:
        return f"check '{self.id}' (checks[{self.index}])"

    @property
    def row_level(self) -> bool:
        return self.kind in ROW_LEVEL_KINDS

    @property
    def group_by(self) -> tuple[str, ...]:
        return tuple(self.args.get("group_by") or ())

    def columns(self) -> list[str]:
        """Columns of the check's own dataset that it reads (for ids and validation)."""
        a = self.args
        if self.kind in ("not_null", "unique"):
            return list(a["columns"])
        if self.kind == "relationships":
            return list(a["columns"])
        if "column" in a:
            return [a["column"], *self.group_by]
        return list(self.group_by)


@dataclass
class Suite:
    """A loaded, statically valid suite."""

    path: Path
    name: str
    datasets: dict[str, Dataset]
    checks: list[Check]
    description: str | None = None
    version: int = 1

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def display_path(self) -> str:
        return str(self._display_path or self.path)

    _display_path: str | None = None


def parse_duration(text: Any) -> dt.timedelta | None:
    """`90m`, `26h`, `7d` (also `s` and `w`) as a timedelta; None when malformed."""
    if not isinstance(text, str):
        return None
    m = DURATION.match(text)
    if not m:
        return None
    return dt.timedelta(seconds=float(m.group(1)) * DURATION_UNITS[m.group(2)])


_LOADERS: tuple[Any, Any] | None = None


def yaml_loader() -> Any:
    """PyYAML's SafeLoader with YAML 1.2 booleans that refuses a mapping key given twice.

    YAML 1.1 reads `on`, `off`, `yes` and `no` as booleans, which would turn
    `lookup: {to: x, on: [id]}` into a key `True`; only true/false are booleans here.
    Built on first use: a run whose suite is in the parsed-document cache (`parse_suite`)
    never imports PyYAML (10 ms)."""
    return _yaml_loaders()[0]


def _yaml_loaders() -> tuple[Any, Any]:
    global _LOADERS
    if _LOADERS is not None:
        return _LOADERS
    import yaml

    class _UniqueKeys:
        """Refuses a mapping key given twice (mixed into a SafeLoader)."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
            seen: set = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key '{key}' is given twice", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)  # type: ignore[misc]

    class UniqueKeyLoader(_UniqueKeys, yaml.SafeLoader):
        """See `yaml_loader`."""

    UniqueKeyLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    UniqueKeyLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )

    # The same loader on LibYAML's parser: the constructor and the resolvers above are the
    # same Python code, only scanning and parsing run in C (10 ms less on the benchmark
    # suite). `_load_yaml` uses it only for text without what LibYAML and PyYAML were found
    # to read differently (differential fuzzing): tabs, `?` (in flow collections), the
    # non-ASCII line breaks, a BOM, tags (`!`, except in `!=`) and `#` straight after a block
    # scalar's `|` or `>`. It falls back to PyYAML's on any error, so that what is refused
    # and how it is worded (message, line, column) stay PyYAML's.
    c_loader: Any = None
    if getattr(yaml, "__with_libyaml__", False):

        class CUniqueKeyLoader(_UniqueKeys, yaml.CSafeLoader):  # type: ignore[misc]
            yaml_implicit_resolvers = UniqueKeyLoader.yaml_implicit_resolvers

        c_loader = CUniqueKeyLoader
    _LOADERS = (UniqueKeyLoader, c_loader)
    return _LOADERS


_NOT_FOR_LIBYAML = re.compile("[\t?\x85\u2028\u2029\ufeff]|!(?!=)|[|>][-+0-9]*#")


def _load_yaml(text: str) -> Any:
    """The suite document, as `yaml.load(text, Loader=yaml_loader())` reads it."""
    import yaml

    py_loader, c_loader = _yaml_loaders()
    if c_loader is not None and not _NOT_FOR_LIBYAML.search(text):
        try:
            return yaml.load(text, Loader=c_loader)  # noqa: S506 - a CSafeLoader subclass
        except Exception:  # noqa: BLE001, S110 - PyYAML says what is wrong, and where
            pass
    return yaml.load(text, Loader=py_loader)  # noqa: S506 - a SafeLoader subclass


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; raise SuiteError listing every problem found."""
    suite, problems = parse_suite(path)
    if problems:
        raise SuiteError(problems)
    assert suite is not None
    return suite


def parse_suite(path: str | Path, *, cache: bool = False) -> tuple[Suite | None, list[str]]:
    """Like load_suite, but return the valid part of the suite with the problems.

    With `cache`, the YAML document of a suite that was valid is kept beside the compiled
    plans (`plancache.cache_dir()`), keyed by a hash of the file's text, so that the daily
    run of the same suite neither imports nor runs the YAML parser; validation runs on it
    as on a freshly parsed document. Only documents that JSON gives back exactly are kept
    (text, numbers, true/false, null, lists, mappings with text keys)."""
    where = str(path)
    p = Path(path)
    try:
        raw = p.read_bytes()
        # As read_text would: universal newlines.
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError:
        return None, [f"{where}: suite file not found"]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{where}: cannot read the suite file: {_one_line(exc)}"]
    stored = _DocumentCache(raw) if cache else None
    doc = stored.read() if stored is not None else None
    if doc is None:
        import yaml

        try:
            doc = _load_yaml(text)
        except yaml.YAMLError as exc:
            return None, [f"{where}: invalid YAML{_yaml_position(exc)}: {_yaml_reason(exc)}"]
        suite, problems = _SuiteParser(p, where).parse(doc)
        if stored is not None and suite is not None and not problems:
            stored.write(doc)
        return suite, problems
    return _SuiteParser(p, where).parse(doc)


class _DocumentCache:
    """One suite text's parsed YAML document as JSON in `<plan cache>/suites/`. Anything
    unreadable there is a miss and anything unwritable is skipped, never an error."""

    def __init__(self, raw: bytes) -> None:
        import contextlib
        import hashlib

        from sourcewise.engine.plancache import cache_dir

        digest = hashlib.sha256(raw)
        # The loader's code and PyYAML's files are part of the key: either may change what
        # the same text reads as.
        with contextlib.suppress(OSError):
            digest.update(Path(__file__).read_bytes())
        digest.update(_yaml_stamp().encode())
        try:
            self.path: Path | None = cache_dir() / "suites" / f"{digest.hexdigest()}.json"
        except (RuntimeError, KeyError):  # no home directory to put it in
            self.path = None

    def read(self) -> Any:
        import json

        if self.path is None:
            return None
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return document.get("document") if isinstance(document, dict) else None

    def write(self, doc: Any) -> None:
        import contextlib
        import json
        import os
        import tempfile

        if self.path is None or not _json_exact(doc):
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".suite-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump({"document": doc}, f)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


def _yaml_stamp() -> str:
    """PyYAML's installed files (path, size, modification time), without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("yaml")
    except (ImportError, ValueError):
        return "none"
    parts = []
    for location in [spec.origin] if spec is not None and spec.origin else []:
        try:
            st = os.stat(location)
        except OSError:
            continue
        parts.append(f"{location}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts) or "none"


def _json_exact(value: Any) -> bool:
    """Whether JSON gives `value` back exactly, types included (1 stays 1, 1.0 stays 1.0)."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_exact(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_exact(v) for k, v in value.items())
    return False


def _yaml_position(exc: Any) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return ""
    return f" at line {mark.line + 1}, column {mark.column + 1}"


def _yaml_reason(exc: Any) -> str:
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    text = ", ".join(str(p) for p in parts if p) or str(exc)
    return _one_line(text)


def _one_line(value: Any) -> str:
    text = str(value).strip()
    return " ".join(text.split()) if text else type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_bound(value: Any) -> bool:
    """A min/max: a number, or a date/timestamp (checked against the column later)."""
    return _is_number(value) or isinstance(value, dt.date | str)


def _column_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    return None


class _SuiteParser:
    """Collects every problem of one suite document instead of stopping at the first."""

    def __init__(self, path: Path, where: str) -> None:
        self.path = path
        self.where = where
        self.problems: list[str] = []

    def problem(self, context: str, message: str) -> None:
        prefix = f"{self.where}: {context}: " if context else f"{self.where}: "
        self.problems.append(prefix + message)

    def parse(self, doc: Any) -> tuple[Suite | None, list[str]]:
        if not isinstance(doc, dict):
            self.problem("", "the suite must be a mapping with version, name, datasets and checks")
            return None, self.problems
        for key in doc:
            if key not in ("version", "name", "description", "datasets", "checks"):
                self.problem("", f"unknown key '{key}' (expected version, name, description, datasets, checks)")
        version = doc.get("version")
        if version is None:
            self.problem("", "'version' is required (version: 1)")
        elif version != 1 or isinstance(version, bool):
            self.problem("", f"unsupported version {version!r}; only version 1 exists")
        name = doc.get("name")
        if name is None:
            self.problem("", "'name' is required")
        elif not isinstance(name, str) or not SLUG.match(name):
            self.problem("", f"name {name!r} must use only letters, digits, - and _")
        description = doc.get("description")
        if description is not None and not isinstance(description, str):
            self.problem("", "'description' must be text")
        datasets = self.parse_datasets(doc.get("datasets"))
        checks = self.parse_checks(doc.get("checks"), datasets)
        suite = Suite(
            path=self.path,
            name=name if isinstance(name, str) else "",
            datasets=datasets,
            checks=checks,
            description=description if isinstance(description, str) else None,
            _display_path=self.where,
        )
        return suite, self.problems

    # -- datasets -------------------------------------------------------------------------

    def parse_datasets(self, raw: Any) -> dict[str, Dataset]:
        if raw is None:
            self.problem("", "'datasets' is required")
            return {}
        if not isinstance(raw, dict) or not raw:
            self.problem("", "'datasets' must map each dataset name to its source")
            return {}
        datasets: dict[str, Dataset] = {}
        for name, spec in raw.items():
            ctx = f"dataset '{name}'"
            if not isinstance(name, str) or not SLUG.match(name):
                self.problem(ctx, "a dataset name uses only letters, digits, - and _")
                continue
            if isinstance(spec, str):
                spec = {"path": spec}
            if not isinstance(spec, dict):
                self.problem(ctx, "must be a mapping such as {path: file.parquet}")
                continue
            ok = True
            for key in spec:
                if key not in ("path", "table", "key"):
                    self.problem(ctx, f"unknown key '{key}' (expected path, table, key)")
                    ok = False
            path, table = spec.get("path"), spec.get("table")
            if (path is None) == (table is None):
                self.problem(ctx, "give exactly one of 'path' (a file) or 'table' (a database table)")
                ok = False
            for label, value in (("path", path), ("table", table)):
                if value is not None and (not isinstance(value, str) or not value.strip()):
                    self.problem(ctx, f"'{label}' must be non-empty text")
                    ok = False
            key = spec.get("key", [])
            key_cols = _column_list(key) if key != [] else []
            if key_cols is None:
                self.problem(ctx, "'key' must be a list of column names")
                ok = False
            if ok:
                datasets[name] = Dataset(name=name, path=path, table=table, key=tuple(key_cols or ()))
        return datasets

    # -- checks ---------------------------------------------------------------------------

    def parse_checks(self, raw: Any, datasets: dict[str, Dataset]) -> list[Check]:
        if raw is None:
            self.problem("", "'checks' is required")
            return []
        if not isinstance(raw, list):
            self.problem("", "'checks' must be a list")
            return []
        checks: list[Check] = []
        explicit_ids: dict[str, int] = {}
        for index, spec in enumerate(raw):
            if isinstance(spec, dict) and isinstance(spec.get("id"), str):
                cid = spec["id"]
                if cid in explicit_ids:
                    self.problem(
                        f"check '{cid}' (checks[{index}])",
                        f"id '{cid}' is already used by checks[{explicit_ids[cid]}]",
                    )
                else:
                    explicit_ids[cid] = index
        used: set[str] = set(explicit_ids)
        for index, spec in enumerate(raw):
            check = self.parse_check(index, spec, datasets, used)
            if check is not None:
                checks.append(check)
        return checks

    def parse_check(
        self, index: int, spec: Any, datasets: dict[str, Dataset], used_ids: set[str]
    ) -> Check | None:
        ctx = f"checks[{index}]"
        if not isinstance(spec, dict):
            self.problem(ctx, "a check must be a mapping with a dataset and one kind")
            return None
        cid = spec.get("id")
        if cid is not None:
            ctx = f"check '{cid}' (checks[{index}])"
            if not isinstance(cid, str) or not CHECK_ID.match(cid):
                self.problem(ctx, "id must use only letters, digits, -, _ and .")
                cid = None
        before = len(self.problems)
        kinds = [k for k in spec if k in KINDS]
        unknown = [k for k in spec if k not in KINDS and k not in COMMON_KEYS]
        for key in unknown:
            self.problem(ctx, f"unknown key '{key}' (not a kind: {', '.join(KINDS)})")
        if not kinds:
            if not unknown:
                self.problem(ctx, f"no kind given (one of {', '.join(KINDS)})")
            return None
        if len(kinds) > 1:
            self.problem(ctx, f"one check takes exactly one kind, found {' and '.join(kinds)}")
            return None
        kind = kinds[0]
        dataset = spec.get("dataset")
        if dataset is None:
            self.problem(ctx, "'dataset' is required")
        elif not isinstance(dataset, str):
            self.problem(ctx, "'dataset' must be a dataset name")
            dataset = None
        elif dataset not in datasets:
            self.problem(ctx, f"unknown dataset '{dataset}' (known: {', '.join(datasets) or 'none'})")
            dataset = None
        args = self.parse_arguments(ctx, kind, spec[kind], datasets)
        severity = spec.get("severity", "error")
        if severity not in SEVERITIES:
            self.problem(ctx, f"severity must be error or warn, not {severity!r}")
        name = spec.get("name")
        if name is not None and not isinstance(name, str):
            self.problem(ctx, "'name' must be text")
        description = spec.get("description")
        if description is not None and not isinstance(description, str):
            self.problem(ctx, "'description' must be text")
        tolerance = self.parse_tolerance(ctx, kind, args, spec.get("tolerance"))
        lookup = self.parse_lookup(ctx, kind, spec.get("lookup"), datasets)
        expression = None
        if args is not None and kind in ("row_condition", "share"):
            qualifiers = [dataset] if dataset else []
            if lookup is not None:
                qualifiers.append(lookup.to)
            expression = self.parse_expression(ctx, kind, args["condition"], qualifiers)
        if len(self.problems) > before or dataset is None or args is None:
            return None
        if cid is None:
            cid = _unique_id(_derived_id(dataset, kind, args, lookup), used_ids)
        used_ids.add(cid)
        check = Check(
            index=index,
            id=cid,
            name=name or "",
            dataset=dataset,
            kind=kind,
            args=args,
            severity=severity,
            tolerance=tolerance,
            description=description,
            lookup=lookup,
            expression=expression,
        )
        if not check.name:
            check.name = _derived_name(check)
        return check

    def parse_expression(
        self, ctx: str, kind: str, text: Any, qualifiers: list[str]
    ) -> Expression | None:
        label = "row_condition" if kind == "row_condition" else "share condition"
        if not isinstance(text, str) or not text.strip():
            self.problem(ctx, f"{label} must be an expression in text")
            return None
        try:
            return parse_expression(text, allowed_qualifiers=qualifiers)
        except ExpressionError as exc:
            self.problem(ctx, f"{label} {text.strip()!r} is rejected: {_one_line(exc)}")
            return None

    def parse_tolerance(
        self, ctx: str, kind: str, args: dict | None, raw: Any
    ) -> Tolerance:
        if raw is None:
            return Tolerance()
        grouped = kind in ("metric", "share") and bool((args or {}).get("group_by"))
        if kind not in ROW_LEVEL_KINDS and not grouped:
            self.problem(ctx, f"tolerance applies to row-level checks and grouped checks, not {kind}")
            return Tolerance()
        if not isinstance(raw, dict) or not raw:
            self.problem(ctx, "tolerance must be {max_failing: N} and/or {max_failing_ratio: R}")
            return Tolerance()
        for key in raw:
            if key not in ("max_failing", "max_failing_ratio"):
                self.problem(ctx, f"unknown tolerance '{key}' (expected max_failing, max_failing_ratio)")
        mf, mr = raw.get("max_failing"), raw.get("max_failing_ratio")
        if mf is not None and (not isinstance(mf, int) or isinstance(mf, bool) or mf < 0):
            self.problem(ctx, "max_failing must be a whole number >= 0")
        if mr is not None and (not _is_number(mr) or not 0 <= mr <= 1):
            self.problem(ctx, "max_failing_ratio must be a number from 0 to 1")
        return Tolerance(max_failing=mf, max_failing_ratio=mr)

    def parse_lookup(
        self, ctx: str, kind: str, raw: Any, datasets: dict[str, Dataset]
    ) -> Lookup | None:
        if raw is None:
            return None
        if kind != "row_condition":
            self.problem(ctx, f"lookup accompanies a row_condition, not {kind}")
            return None
        if not isinstance(raw, dict):
            self.problem(ctx, "lookup must be {to: DATASET, on: [columns]}")
            return None
        for key in raw:
            if key not in ("to", "on"):
                self.problem(ctx, f"unknown argument '{key}' for lookup (expected to, on)")
        to, on = raw.get("to"), raw.get("on")
        ok = True
        if not isinstance(to, str):
            self.problem(ctx, "lookup needs 'to': the dataset to look up")
            ok = False
        elif to not in datasets:
            self.problem(ctx, f"lookup: unknown dataset '{to}'")
            ok = False
        pairs: list[tuple[str, str]] = []
        if isinstance(on, dict) and on and all(
            isinstance(k, str) and isinstance(v, str) for k, v in on.items()
        ):
            pairs = list(on.items())
        elif (cols := _column_list(on)) is not None:
            pairs = [(c, c) for c in cols]
        else:
            self.problem(ctx, "lookup needs 'on': a list of columns or {column: other_column}")
            ok = False
        return Lookup(to=to, on=tuple(pairs)) if ok else None

    def parse_arguments(
        self, ctx: str, kind: str, raw: Any, datasets: dict[str, Dataset]
    ) -> dict[str, Any] | None:
        """Normalise one kind's arguments; None (with problems recorded) when invalid."""
        before = len(self.problems)
        if kind in ("not_null", "unique"):
            cols = _column_list(raw)
            if cols is None:
                self.problem(ctx, f"{kind} takes a list of column names")
                return None
            if len(set(cols)) != len(cols):
                self.problem(ctx, f"{kind} lists a column twice")
            return {"columns": cols} if len(self.problems) == before else None
        if kind == "row_condition":
            if not isinstance(raw, str):
                self.problem(ctx, "row_condition takes an expression in text")
                return None
            return {"condition": raw}
        if not isinstance(raw, dict):
            self.problem(ctx, f"{kind} takes a mapping of arguments")
            return None
        required, optional = KIND_ARGUMENTS[kind]
        for key in raw:
            if key not in required | optional:
                self.problem(ctx, f"unknown argument '{key}' for {kind}")
        for key in sorted(required - set(raw)):
            self.problem(ctx, f"{kind} needs '{key}'")
        if len(self.problems) > before:
            return None
        args = dict(raw)
        if "column" in args and (not isinstance(args["column"], str) or not args["column"]):
            self.problem(ctx, f"{kind}: 'column' must be a column name")
        if "group_by" in args:
            cols = _column_list(args["group_by"])
            if cols is None:
                self.problem(ctx, f"{kind}: group_by must be a list of column names")
            args["group_by"] = cols
        check_bounds = getattr(self, f"args_{kind}")
        check_bounds(ctx, args, datasets)
        return args if len(self.problems) == before else None

    def _bounds(self, ctx: str, kind: str, args: dict, *, need_one: bool = True, numeric: bool = False, unit: bool = False) -> None:
        lo, hi = args.get("min"), args.get("max")
        if need_one and lo is None and hi is None:
            self.problem(ctx, f"{kind} needs 'min' and/or 'max'")
            return
        for label, value in (("min", lo), ("max", hi)):
            if value is None:
                continue
            if numeric and not _is_number(value):
                self.problem(ctx, f"{kind}: '{label}' must be a number, not {value!r}")
            elif not _is_bound(value):
                self.problem(ctx, f"{kind}: '{label}' must be a number, date or timestamp, not {value!r}")
            elif unit and not 0 <= value <= 1:
                self.problem(ctx, f"{kind}: '{label}' is a share from 0 to 1, not {value!r}")
        if _is_number(lo) and _is_number(hi) and lo > hi:
            self.problem(ctx, f"{kind}: min {lo!r} is greater than max {hi!r}")

    def args_accepted_values(self, ctx: str, args: dict, datasets: dict) -> None:
        values = args["values"]
        if not isinstance(values, list) or not values:
            self.problem(ctx, "accepted_values: 'values' must be a non-empty list")
        elif not all(isinstance(v, str | int | float | bool) for v in values):
            self.problem(ctx, "accepted_values: each value must be text, a number or true/false")

    def args_range(self, ctx: str, args: dict, datasets: dict) -> None:
        self._bounds(ctx, "range", args)

    def args_pattern(self, ctx: str, args: dict, datasets: dict) -> None:
        regex = args["regex"]
        if not isinstance(regex, str) or not regex:
            self.problem(ctx, "pattern: 'regex' must be a regular expression in text")
            return
        try:
            re.compile(regex)
        except re.error as exc:
            self.problem(ctx, f"pattern: invalid regex {regex!r}: {exc}")

    def args_relationships(self, ctx: str, args: dict, datasets: dict) -> None:
        to = args["to"]
        if not isinstance(to, str) or to not in datasets:
            self.problem(ctx, f"relationships: unknown dataset '{to}' in 'to'")
        cols = _column_list(args["columns"])
        if cols is None:
            self.problem(ctx, "relationships: 'columns' must be a list of column names")
            return
        args["columns"] = cols
        to_cols = args.get("to_columns", cols)
        to_cols = _column_list(to_cols)
        if to_cols is None or len(to_cols) != len(cols):
            self.problem(ctx, "relationships: 'to_columns' must list as many columns as 'columns'")
            return
        args["to_columns"] = to_cols

    def args_row_count(self, ctx: str, args: dict, datasets: dict) -> None:
        self._bounds(ctx, "row_count", args, numeric=True)

    def args_freshness(self, ctx: str, args: dict, datasets: dict) -> None:
        age = parse_duration(args["max_age"])
        if age is None:
            self.problem(ctx, f"freshness: max_age {args['max_age']!r} must be like 90m, 26h or 7d")
        else:
            args["max_age_s"] = age.total_seconds()

    def args_metric(self, ctx: str, args: dict, datasets: dict) -> None:
        stat = args["stat"]
        if stat not in STATS:
            self.problem(ctx, f"metric: unknown stat {stat!r} (one of {', '.join(STATS)})")
            return
        q = args.get("q")
        if stat == "quantile":
            if not _is_number(q) or not 0 <= q <= 1:
                self.problem(ctx, "metric: quantile needs 'q', a number from 0 to 1")
        elif q is not None:
            self.problem(ctx, f"metric: 'q' applies to the quantile stat, not {stat}")
        approximate = args.get("approximate", False)
        if not isinstance(approximate, bool):
            self.problem(ctx, "metric: 'approximate' must be true or false")
        elif approximate and stat not in ("quantile", "distinct_count"):
            self.problem(ctx, f"metric: 'approximate' applies to quantile and distinct_count, not {stat}")
        args["approximate"] = bool(approximate)
        self._bounds(ctx, "metric", args)

    def args_share(self, ctx: str, args: dict, datasets: dict) -> None:
        self._bounds(ctx, "share", args, numeric=True, unit=True)

    def args_schema(self, ctx: str, args: dict, datasets: dict) -> None:
        cols = args["columns"]
        if not isinstance(cols, dict) or not cols:
            self.problem(ctx, "schema: 'columns' must map column names to types")
        else:
            for col, typ in cols.items():
                if typ not in TYPES:
                    self.problem(ctx, f"schema: column '{col}' has unknown type {typ!r} (one of {', '.join(TYPES)})")
        allow = args.get("allow_extra", True)
        if not isinstance(allow, bool):
            self.problem(ctx, "schema: 'allow_extra' must be true or false")
        args["allow_extra"] = allow


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def _derived_id(dataset: str, kind: str, args: dict, lookup: Lookup | None) -> str:
    """`contacts.unique.contact_id`: dataset, kind and the columns the check is about."""
    if kind in ("not_null", "unique"):
        cols = args["columns"]
    elif kind == "relationships":
        cols = [args["to"], *args["columns"]]
    elif kind == "metric":
        cols = [args["column"], args["stat"], *(args.get("group_by") or [])]
    elif kind == "share":
        cols = list(args.get("group_by") or [])
    elif kind == "row_condition":
        cols = [lookup.to] if lookup else []
    elif "column" in args:
        cols = [args["column"]]
    else:
        cols = []
    return ".".join([dataset, kind] + ([_slug("-".join(cols))] if cols else []))


def _unique_id(base: str, used: set[str]) -> str:
    if base not in used:
        return base
    n = 2
    while f"{base}.{n}" in used:
        n += 1
    return f"{base}.{n}"


def _derived_name(check: Check) -> str:
    a = check.args
    match check.kind:
        case "not_null":
            return f"{', '.join(a['columns'])} never null"
        case "unique":
            return f"{', '.join(a['columns'])} unique"
        case "accepted_values":
            return f"{a['column']} in accepted values"
        case "range":
            return f"{a['column']} within range"
        case "pattern":
            return f"{a['column']} matches pattern"
        case "relationships":
            return f"{', '.join(a['columns'])} found in {a['to']}"
        case "row_condition":
            return a["condition"].strip()
        case "row_count":
            return "row count within bounds"
        case "freshness":
            return f"{a['column']} no older than {a['max_age']}"
        case "metric":
            return f"{a['stat']} of {a['column']} within bounds"
        case "share":
            return f"share where {a['condition'].strip()}"
        case _:
            return "schema as expected"
