"""KPIs over time: aggregate metrics, grouped by period and segment, compiled to Ibis.

A metric is written in a small language on top of the row expressions of
``expressions.py``; user text never reaches a backend as SQL::

    metric := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := number | "(" metric ")" | "-" factor
            | agg "(" [row expression] ")"
    agg    := count | count_distinct | sum | avg | min | max | share

``count()`` counts rows, ``count(cond)`` the rows where ``cond`` is true,
``share(cond)`` is ``count(cond) / count()``; ``sum``/``avg`` of a true/false
column count it as 1/0. ``/`` is floating-point division and gives NULL (no
value) when dividing by zero, as in row expressions.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sourcewise.engine.expressions import (
    Expression,
    ExpressionError,
    contract_type,
    parse_expression,
)

AGGREGATES = ("count_distinct", "count", "sum", "avg", "min", "max", "share")
MAX_LENGTH = 2000
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>[-+*/()]))")


class MetricError(ValueError):
    """A metric that cannot be parsed or does not fit the data, in words a person can act on."""


@dataclass(frozen=True)
class Agg:
    func: str
    arg: Expression | None


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Neg:
    operand: Any


@dataclass(frozen=True)
class Metric:
    """A parsed metric: its text and its tree of aggregates."""

    text: str
    root: Any

    def columns(self) -> set[str]:
        names: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, Agg) and node.arg is not None:
                names.update(ref.name for ref in node.arg.columns())
            elif isinstance(node, BinOp):
                walk(node.left)
                walk(node.right)
            elif isinstance(node, Neg):
                walk(node.operand)

        walk(self.root)
        return names


def parse_metric(text: str) -> Metric:
    """Parse ``text``; MetricError names what is wrong and where."""
    if not isinstance(text, str) or not text.strip():
        raise MetricError("a metric needs a formula, e.g. sum(amount_collected) / count()")
    if len(text) > MAX_LENGTH:
        raise MetricError(f"the formula is longer than {MAX_LENGTH} characters")
    parser = _Parser(text)
    root = parser.metric()
    parser.skip_space()
    if parser.pos != len(text):
        raise MetricError(f"unexpected {text[parser.pos:parser.pos + 20]!r} at character {parser.pos + 1}")
    if not _has_aggregate(root):
        raise MetricError(f"{text!r} has no aggregate: use one of {', '.join(sorted(AGGREGATES))}")
    return Metric(text, root)


def _has_aggregate(node: Any) -> bool:
    if isinstance(node, Agg):
        return True
    if isinstance(node, BinOp):
        return _has_aggregate(node.left) or _has_aggregate(node.right)
    if isinstance(node, Neg):
        return _has_aggregate(node.operand)
    return False


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> tuple[str, str] | None:
        match = _TOKEN.match(self.text, self.pos)
        if match is None or match.end() == match.start():
            return None
        kind = match.lastgroup or ""
        return kind, match.group(kind)

    def take(self) -> tuple[str, str]:
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            self.skip_space()
            raise MetricError(f"unexpected {self.text[self.pos:self.pos + 20]!r} at character {self.pos + 1}")
        self.pos = match.end()
        kind = match.lastgroup or ""
        return kind, match.group(kind)

    def metric(self) -> Any:
        node = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            _, op = self.take()
            node = BinOp(op, node, self.term())
        return node

    def term(self) -> Any:
        node = self.factor()
        while self.peek() in (("op", "*"), ("op", "/")):
            _, op = self.take()
            node = BinOp(op, node, self.factor())
        return node

    def factor(self) -> Any:
        self.skip_space()
        if self.pos >= len(self.text):
            raise MetricError("the formula ends too early")
        kind, value = self.take()
        if kind == "num":
            return Num(float(value))
        if (kind, value) == ("op", "-"):
            return Neg(self.factor())
        if (kind, value) == ("op", "("):
            node = self.metric()
            if self.take() != ("op", ")"):
                raise MetricError(f"a ')' is missing before character {self.pos + 1}")
            return node
        if kind == "name":
            func = value.lower()
            if func not in AGGREGATES:
                raise MetricError(
                    f"{value!r} is not an aggregate; a metric combines "
                    f"{', '.join(sorted(AGGREGATES))} of columns, e.g. sum(amount_collected)"
                )
            self.skip_space()
            if self.text[self.pos:self.pos + 1] != "(":
                raise MetricError(f"{value} needs parentheses, e.g. {value}(column)")
            inner = self._argument()
            if not inner.strip():
                if func not in ("count",):
                    raise MetricError(f"{func}() needs a column or expression")
                return Agg(func, None)
            try:
                return Agg(func, parse_expression(inner))
            except ExpressionError as exc:
                raise MetricError(f"in {func}({inner}): {exc}") from None
        raise MetricError(f"unexpected {value!r} at character {self.pos}")

    def _argument(self) -> str:
        """The text between the parentheses at `pos`, honouring quotes."""
        start, depth, i, quote = self.pos + 1, 0, self.pos, None
        while i < len(self.text):
            ch = self.text[i]
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    self.pos = i + 1
                    return self.text[start:i]
            i += 1
        raise MetricError("a ')' is missing at the end of the formula")


# ---------------------------------------------------------------------------
# Compilation and computation


def _compile(node: Any, table: Any) -> Any:
    import ibis

    if isinstance(node, Num):
        return ibis.literal(node.value)
    if isinstance(node, Neg):
        return -_compile(node.operand, table)
    if isinstance(node, BinOp):
        left, right = _compile(node.left, table), _compile(node.right, table)
        if node.op == "/":
            return left.cast("float64") / right.cast("float64").nullif(0)
        return {"+": left + right, "-": left - right, "*": left * right}[node.op]
    assert isinstance(node, Agg)
    if node.arg is None:
        return table.count()
    value = node.arg.to_ibis(lambda ref: table[ref.name])
    dtype = value.type()
    if node.func in ("count", "share"):
        if not dtype.is_boolean():
            raise MetricError(f"{node.func}({node.arg.text}) needs a condition (true or false)")
        counted = table.count(where=value)
        return counted if node.func == "count" else counted.cast("float64") / table.count().nullif(0)
    if node.func == "count_distinct":
        return value.nunique()
    if dtype.is_boolean():
        value = value.cast("int64")
    elif not dtype.is_numeric():
        raise MetricError(f"{node.func}({node.arg.text}) needs a number, but it is {contract_type(dtype)}")
    return getattr(value, {"avg": "mean"}.get(node.func, node.func))()


# Contract types a required column may have: numbers of any width are one kind.
_COMPATIBLE = {
    "number": {"integer", "float"},
    "flag": {"boolean", "integer"},
    "date": {"date", "timestamp"},
    "text": {"string", "integer"},
}
_PHRASE = {"number": "a number", "flag": "true/false (or 0/1)", "date": "a date", "text": "text"}


def check_required(schema: Mapping[str, str], required: Mapping[str, str]) -> list[str]:
    """Problems with the required columns: each missing or mistyped one, by name."""
    problems = []
    missing = [name for name in required if name not in schema]
    if missing:
        problems.append(
            f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
            f"(the file has: {', '.join(schema)})"
        )
    for name, kind in required.items():
        if name in schema and schema[name] not in _COMPATIBLE[kind]:
            problems.append(f"column {name} should be {_PHRASE[kind]} but holds {schema[name]} values")
    return problems


@dataclass
class KpiResult:
    row_count: int
    rows: list[dict[str, Any]]  # period, segment (None for all), one value per metric


def compute_kpis(
    table: Any,
    *,
    metrics: Mapping[str, Metric],
    time_column: str,
    grain: str,
    segment_column: str | None,
    required: Mapping[str, str],
    to_rows: Any,
) -> KpiResult:
    """Each metric per period (week or month), for all rows and per segment.

    ``table`` is an Ibis table; ``to_rows(expr)`` executes an expression and returns
    a list of dicts (the caller's connection). Raises MetricError naming every
    missing or mistyped column, before anything is computed.
    """
    schema = {name: contract_type(dtype) for name, dtype in table.schema().items()}
    needed = dict(required)
    needed.setdefault(time_column, "date")
    if segment_column:
        needed.setdefault(segment_column, "text")
    problems = check_required(schema, needed)
    for name, metric in metrics.items():
        unknown = sorted(metric.columns() - set(schema))
        if unknown:
            problems.append(f"metric {name!r} names unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    if problems:
        raise MetricError("; ".join(problems))
    unit = {"week": "W", "month": "M"}.get(grain)
    if unit is None:
        raise MetricError(f"unknown grain {grain!r}: use week or month")
    period = table[time_column].cast("date").truncate(unit).name("period")
    try:
        aggregates = {name: _compile(m.root, table).name(name) for name, m in metrics.items()}
    except ExpressionError as exc:
        raise MetricError(str(exc)) from None
    overall = table.group_by(period).aggregate(**aggregates)
    rows = [dict(r, segment=None) for r in to_rows(overall.order_by("period"))]
    if segment_column:
        # Rows without a segment form their own group: NULL would read as "all rows".
        segment = table[segment_column].cast("string").fill_null("(none)").name("segment")
        by_segment = table.group_by([period, segment]).aggregate(**aggregates)
        rows += to_rows(by_segment.order_by(["period", "segment"]))
    count = to_rows(table.aggregate(n=table.count()))[0]["n"]
    return KpiResult(row_count=int(count), rows=[_clean_row(r) for r in rows])


def _clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            value = None
        elif hasattr(value, "item"):  # numpy scalars
            value = value.item()
        out[key] = value
    return out


# The built-in collections KPI set: the columns it needs and its metrics.
COLLECTIONS_COLUMNS = {
    "call_date": "date",
    "account_id": "text",
    "right_party_contact": "flag",
    "promise_to_pay": "flag",
    "promise_kept": "flag",
    "handle_seconds": "number",
    "amount_collected": "number",
    "cost": "number",
}
COLLECTIONS_METRICS = {
    "contacts_per_account": "count() / count_distinct(account_id)",
    "right_party_contact_rate": "sum(right_party_contact) / count()",
    "promise_to_pay_rate": "sum(promise_to_pay) / sum(right_party_contact)",
    "kept_promise_rate": "sum(promise_kept) / sum(promise_to_pay)",
    "average_handle_time": "avg(handle_seconds)",
    "cost_per_amount_collected": "sum(cost) / sum(amount_collected)",
}


def compute_file_kpis(
    path: str,
    *,
    metrics: Mapping[str, Metric],
    time_column: str,
    grain: str,
    segment_column: str | None,
    required: Mapping[str, str],
) -> KpiResult:
    """`compute_kpis` over one CSV or Parquet file, in-process with DuckDB.

    A file that cannot be read (a ragged row, bad encoding) is a MetricError too.
    """
    from sourcewise.engine.backends import DuckDBConnection, Source, file_format

    fmt = file_format(path) or "csv"
    con = DuckDBConnection()
    try:
        try:
            table = con.table(Source(dataset="study", format=fmt, given=path, files=(path,)))
            table.schema()
        except Exception as exc:  # noqa: BLE001 - any reader error is the file's problem
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MetricError(f"the file could not be read as {fmt}: {first}") from None
        try:
            return compute_kpis(
                table, metrics=metrics, time_column=time_column, grain=grain,
                segment_column=segment_column, required=required,
                to_rows=lambda expr: con.to_arrow(expr).to_pylist(),
            )
        except MetricError:
            raise
        except Exception as exc:  # noqa: BLE001 - a value the reader rejects mid-scan
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MetricError(f"the data could not be computed: {first}") from None
    finally:
        con.close()
