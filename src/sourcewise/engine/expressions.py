"""The expression language of ``row_condition`` and ``share.condition``.

User text is never handed to a backend as SQL. It is tokenized and parsed here
(a small recursive-descent parser) into an immutable, whitelisted AST; the AST
is then compiled to an Ibis expression, and Ibis writes the SQL for DuckDB,
PySpark or PostgreSQL.

Grammar (keywords and function names are case-insensitive; column names are
case-sensitive and matched exactly)::

    expr      := or
    or        := and ("OR" and)*
    and       := not ("AND" not)*
    not       := "NOT" not | predicate
    predicate := sum [ cmp sum
                     | "IS" ["NOT"] "NULL"
                     | ["NOT"] "BETWEEN" sum "AND" sum
                     | ["NOT"] "IN" "(" literal ("," literal)* ")"
                     | ["NOT"] "LIKE" 'pattern' ]
    cmp       := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    sum       := product (("+" | "-") product)*
    product   := unary (("*" | "/" | "%") unary)*
    unary     := ("-" | "+") unary | primary
    primary   := literal | column | "(" expr ")" | case | call
    literal   := integer | decimal | 'string' | TRUE | FALSE | NULL
               | DATE 'YYYY-MM-DD' | TIMESTAMP 'YYYY-MM-DD HH:MM:SS[.ffffff]'
    column    := name | qualifier "." name        (name: word or "quoted name")
    case      := CASE [expr] (WHEN expr THEN expr)+ [ELSE expr] END
    call      := lower(x) | upper(x) | trim(x) | length(x) | abs(x)
               | round(x [, integer]) | coalesce(x, ...)
               | date_trunc('unit', x) | extract(unit FROM x) | cast(x AS type)

Semantics, identical on every backend:

* SQL three-valued logic: a comparison with NULL is NULL, ``NULL AND FALSE``
  is FALSE, ``NULL OR TRUE`` is TRUE. (The caller decides what NULL means:
  ``row_condition`` passes, ``share`` counts only TRUE.)
* ``/`` is always floating-point division (``7 / 2 = 3.5``); dividing by zero
  gives NULL, as does ``x % 0``. ``%`` keeps the sign of the dividend.
* ``round(x, n)`` rounds half away from zero, computed in double precision
  the same way on every backend: ``sign(x) * floor(|x| * 10^n + 0.5) / 10^n``
  (``round(2.5) = 3``, ``round(-2.5) = -3``, ``round(2.675, 2) = 2.68``, but
  ``round(1.005, 2) = 1.0`` because 1.005 * 100 is 100.49999999999999 in
  binary). Backends' own ROUND differ (PostgreSQL rounds a double half to even,
  Spark rounds the decimal text), so it is not used. ``round`` of an integer
  with no or positive digits is the integer itself; of a float, a float.
* ``cast(float AS integer)`` rounds the same way first; ``cast(x AS boolean)``
  of a number is ``x != 0``; of a string, 'true'/'t'/'1' and 'false'/'f'/'0'
  (case-insensitive, surrounding whitespace ignored), anything else NULL.
  A string that is not a valid number/date/timestamp makes ``cast`` fail the
  run on every backend (PySpark with ANSI mode on, its default since 4.0).
* ``extract(dow FROM x)`` and ``dayofweek``: 0 = Sunday ... 6 = Saturday (as
  PostgreSQL and DuckDB); ``isodow``: 1 = Monday ... 7 = Sunday; ``doy``: day
  of the year; ``week``: ISO week; ``second``: whole seconds 0-59.
* ``date_trunc('week', x)`` truncates to Monday. Timestamps without time zone
  are UTC; a TIMESTAMP literal with an offset is converted to UTC. Compared
  with a column that has a time zone, DATE and TIMESTAMP literals are UTC
  instants. ``extract`` and ``date_trunc`` of a column *with* a time zone
  follow the backend session's time zone: the engine must run its sessions in
  UTC (DuckDB ``SET TimeZone='UTC'``, Spark ``spark.sql.session.timeZone=UTC``,
  PostgreSQL ``SET TIME ZONE 'UTC'``).
* Integer overflow (beyond 64 bits) is an error on every backend (PySpark in
  ANSI mode); a cast of a malformed string likewise.
* ``LIKE`` is case-sensitive; ``%`` and ``_`` are the only wildcards; the
  pattern must be a string literal without backslashes (backends disagree on
  backslash escapes).
* ``trim`` removes leading and trailing whitespace (as Ibis: spaces, tabs,
  newlines, carriage returns), ``length`` counts characters. ``lower`` and
  ``upper`` of non-ASCII letters follow the PostgreSQL database's collation.
* Literals: integers are int64, decimals (and ``1e3``) float64.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import FrozenInstanceError
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import ibis.expr.types as ir

__all__ = [
    "ColumnRef",
    "Expression",
    "ExpressionError",
    "check_columns",
    "parse_expression",
]

MAX_LENGTH = 10_000
MAX_DEPTH = 64
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class ExpressionError(ValueError):
    """An expression is outside the grammar, or cannot be evaluated.

    ``str(error)`` is one human-readable line that quotes the offending
    fragment. ``fragment`` and ``position`` (0-based character offset in the
    expression text, or None) say where.
    """

    def __init__(self, message: str, *, fragment: str | None = None, position: int | None = None):
        super().__init__(message)
        self.fragment = fragment
        self.position = position


class _Frozen:
    """What `@dataclass(frozen=True)` gave the classes of this module, written out once.

    Making their 17 dataclasses took ~14 ms of every run's start (dataclasses builds each
    generated method from source with exec, on every import); these compile to bytecode
    once. A subclass names its fields in `__init__`, the ones equality and the hash use in
    `_compare`, and the ones repr shows in `_repr`, as the dataclass fields said.
    """

    _compare: tuple[str, ...] = ()
    _repr: tuple[str, ...] = ()
    __match_args__: tuple[str, ...] = ()

    def _values(self, names: tuple[str, ...]) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in names)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values(self._compare) == other._values(self._compare)  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values(self._compare))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._repr)
        return f"{self.__class__.__qualname__}({fields})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


_set = object.__setattr__


class ColumnRef(_Frozen):
    """A column named by an expression; ``dataset`` None is the check's own dataset."""

    dataset: str | None
    name: str
    _compare = _repr = __match_args__ = ("dataset", "name")

    def __init__(self, dataset: str | None, name: str) -> None:
        _set(self, "dataset", dataset)
        _set(self, "name", name)

    def __str__(self) -> str:
        return self.name if self.dataset is None else f"{self.dataset}.{self.name}"


# --------------------------------------------------------------------------
# The AST: immutable nodes; ``span`` (start, end) locates the node in the text
# and takes no part in equality (nor in repr). Every node takes it as a keyword.


class Node(_Frozen):
    span: tuple[int, int]

    def __init__(self, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)

    def children(self) -> Iterator[Node]:
        return iter(())


class Column(Node):
    ref: ColumnRef
    quoted: bool = False  # not compared
    _compare = ("ref",)
    _repr = __match_args__ = ("ref", "quoted")

    def __init__(self, ref: ColumnRef, quoted: bool = False, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "ref", ref)
        _set(self, "quoted", quoted)


class Literal(Node):
    kind: str  # int, float, string, bool, null, date, timestamp
    value: Any
    _compare = _repr = __match_args__ = ("kind", "value")

    def __init__(self, kind: str, value: Any, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "kind", kind)
        _set(self, "value", value)


class Unary(Node):
    op: str  # "not", "neg"
    operand: Node
    _compare = _repr = __match_args__ = ("op", "operand")

    def __init__(self, op: str, operand: Node, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "op", op)
        _set(self, "operand", operand)

    def children(self) -> Iterator[Node]:
        yield self.operand


class Binary(Node):
    op: str  # and or = != < <= > >= + - * / %
    left: Node
    right: Node
    _compare = _repr = __match_args__ = ("op", "left", "right")

    def __init__(self, op: str, left: Node, right: Node, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "op", op)
        _set(self, "left", left)
        _set(self, "right", right)

    def children(self) -> Iterator[Node]:
        yield self.left
        yield self.right


class IsNull(Node):
    operand: Node
    negated: bool
    _compare = _repr = __match_args__ = ("operand", "negated")

    def __init__(self, operand: Node, negated: bool, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "operand", operand)
        _set(self, "negated", negated)

    def children(self) -> Iterator[Node]:
        yield self.operand


class Between(Node):
    operand: Node
    low: Node
    high: Node
    negated: bool
    _compare = _repr = __match_args__ = ("operand", "low", "high", "negated")

    def __init__(self, operand: Node, low: Node, high: Node, negated: bool, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "operand", operand)
        _set(self, "low", low)
        _set(self, "high", high)
        _set(self, "negated", negated)

    def children(self) -> Iterator[Node]:
        yield from (self.operand, self.low, self.high)


class InList(Node):
    operand: Node
    values: tuple[Literal, ...]
    negated: bool
    _compare = _repr = __match_args__ = ("operand", "values", "negated")

    def __init__(self, operand: Node, values: tuple[Literal, ...], negated: bool, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "operand", operand)
        _set(self, "values", values)
        _set(self, "negated", negated)

    def children(self) -> Iterator[Node]:
        yield self.operand
        yield from self.values


class Like(Node):
    operand: Node
    pattern: str
    negated: bool
    _compare = _repr = __match_args__ = ("operand", "pattern", "negated")

    def __init__(self, operand: Node, pattern: str, negated: bool, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "operand", operand)
        _set(self, "pattern", pattern)
        _set(self, "negated", negated)

    def children(self) -> Iterator[Node]:
        yield self.operand


class Case(Node):
    operand: Node | None  # simple CASE x WHEN v ...; None for searched CASE
    branches: tuple[tuple[Node, Node], ...]
    default: Node | None
    _compare = _repr = __match_args__ = ("operand", "branches", "default")

    def __init__(self, operand: Node | None, branches: tuple[tuple[Node, Node], ...], default: Node | None,
                 *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "operand", operand)
        _set(self, "branches", branches)
        _set(self, "default", default)

    def children(self) -> Iterator[Node]:
        if self.operand is not None:
            yield self.operand
        for when, then in self.branches:
            yield when
            yield then
        if self.default is not None:
            yield self.default


class Call(Node):
    name: str  # lower upper trim length abs round coalesce
    args: tuple[Node, ...]
    _compare = _repr = __match_args__ = ("name", "args")

    def __init__(self, name: str, args: tuple[Node, ...], *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "name", name)
        _set(self, "args", args)

    def children(self) -> Iterator[Node]:
        yield from self.args


class Extract(Node):
    unit: str
    operand: Node
    _compare = _repr = __match_args__ = ("unit", "operand")

    def __init__(self, unit: str, operand: Node, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "unit", unit)
        _set(self, "operand", operand)

    def children(self) -> Iterator[Node]:
        yield self.operand


class DateTrunc(Node):
    unit: str
    operand: Node
    _compare = _repr = __match_args__ = ("unit", "operand")

    def __init__(self, unit: str, operand: Node, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "unit", unit)
        _set(self, "operand", operand)

    def children(self) -> Iterator[Node]:
        yield self.operand


class Cast(Node):
    operand: Node
    to: str  # integer float string boolean date timestamp
    _compare = _repr = __match_args__ = ("operand", "to")

    def __init__(self, operand: Node, to: str, *, span: tuple[int, int]) -> None:
        _set(self, "span", span)
        _set(self, "operand", operand)
        _set(self, "to", to)

    def children(self) -> Iterator[Node]:
        yield self.operand


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children():
        yield from _walk(child)


# --------------------------------------------------------------------------
# Vocabulary

_FUNCTIONS = {  # name -> (min args, max args or None)
    "lower": (1, 1),
    "upper": (1, 1),
    "trim": (1, 1),
    "length": (1, 1),
    "abs": (1, 1),
    "round": (1, 2),
    "coalesce": (1, None),
}
_SPECIAL_FUNCTIONS = ("cast", "date_trunc", "extract")
_ALLOWED_FUNCTIONS = ", ".join(sorted([*_FUNCTIONS, *_SPECIAL_FUNCTIONS]))
_AGGREGATES = {
    "sum", "count", "avg", "mean", "min", "max", "stddev", "stddev_samp", "stddev_pop",
    "variance", "var_samp", "var_pop", "median", "quantile", "percentile", "any_value",
    "first", "last", "string_agg", "array_agg", "list", "bool_and", "bool_or", "every",
}  # fmt: skip
_WINDOW_FUNCTIONS = {"row_number", "rank", "dense_rank", "lag", "lead", "ntile", "first_value",
                     "last_value", "nth_value", "percent_rank", "cume_dist"}  # fmt: skip
_CLOCK_WORDS = {"current_date", "current_time", "current_timestamp", "localtime",
                "localtimestamp", "now", "today"}  # fmt: skip

_DATE_TRUNC_UNITS = {  # unit -> (ibis unit, valid for dates)
    "year": ("Y", True),
    "quarter": ("Q", True),
    "month": ("M", True),
    "week": ("W", True),
    "day": ("D", True),
    "hour": ("h", False),
    "minute": ("m", False),
    "second": ("s", False),
}
_EXTRACT_UNITS = {  # unit -> (canonical, valid for dates)
    "year": ("year", True),
    "quarter": ("quarter", True),
    "month": ("month", True),
    "week": ("week", True),
    "day": ("day", True),
    "dow": ("dow", True),
    "dayofweek": ("dow", True),
    "isodow": ("isodow", True),
    "doy": ("doy", True),
    "dayofyear": ("doy", True),
    "hour": ("hour", False),
    "minute": ("minute", False),
    "second": ("second", False),
}
_CAST_TYPES = {
    "integer": "integer",
    "int": "integer",
    "bigint": "integer",
    "float": "float",
    "double": "float",
    "string": "string",
    "varchar": "string",
    "text": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}
_IBIS_TYPES = {
    "integer": "int64",
    "float": "float64",
    "string": "string",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}

# Words that cannot be unquoted column names.
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false", "like", "between",
             "case", "when", "then", "else", "end", "as", "from"}  # fmt: skip
_SUBQUERY_WORDS = {"select", "with", "exists", "values", "table"}
_UNSUPPORTED_OPERATORS = {
    "ilike": "ILIKE is not supported; use lower(x) LIKE 'pattern'",
    "similar": "SIMILAR TO is not supported; use LIKE",
    "regexp": "regular expressions are not supported here; use a pattern check or LIKE",
    "rlike": "regular expressions are not supported here; use a pattern check or LIKE",
    "glob": "GLOB is not supported; use LIKE",
    "escape": "LIKE ... ESCAPE is not supported",
    "over": "window functions are not allowed",
    "filter": "aggregate FILTER clauses are not allowed",
    "collate": "COLLATE is not supported",
    "interval": "intervals are not supported",
    "distinct": "DISTINCT is not allowed",
}


# --------------------------------------------------------------------------
# Tokenizer


class _Token(_Frozen):
    kind: str  # int, float, string, ident, qident, op, eof
    text: str  # the token's source text
    value: Any
    start: int
    end: int
    _compare = _repr = __match_args__ = ("kind", "text", "value", "start", "end")

    def __init__(self, kind: str, text: str, value: Any, start: int, end: int) -> None:
        _set(self, "kind", kind)
        _set(self, "text", text)
        _set(self, "value", value)
        _set(self, "start", start)
        _set(self, "end", end)


_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[^\W\d]\w*")
_OPERATORS = ("<=", ">=", "<>", "!=", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",", ".")


def _show(fragment: str, limit: int = 60) -> str:
    """A fragment quoted for a one-line message."""
    one_line = " ".join(fragment.split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 3] + "..."
    return "'" + one_line.replace("'", "''") + "'" if "'" not in one_line else '"' + one_line + '"'


def _error(message: str, text: str, start: int, end: int | None = None) -> ExpressionError:
    fragment = text[start:end] if end is not None else text[start : start + 1]
    return ExpressionError(
        f"{message} (at character {start + 1})", fragment=fragment, position=start
    )


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if text.startswith("--", i) or text.startswith("/*", i):
            raise _error(f"comments are not allowed: {_show(text[i : i + 20])}", text, i, i + 2)
        if c == ";":
            raise _error(
                f"semicolons are not allowed: {_show(text[i:])}; write one expression only",
                text, i,
            )  # fmt: skip
        if c == "'" or c == '"':
            j, parts = i + 1, []
            while True:
                k = text.find(c, j)
                if k < 0:
                    what = "string" if c == "'" else "quoted name"
                    raise _error(f"unterminated {what} {_show(text[i:])}", text, i, n)
                parts.append(text[j:k])
                if text.startswith(c, k + 1):  # doubled quote = escaped quote
                    parts.append(c)
                    j = k + 2
                    continue
                j = k + 1
                break
            value = "".join(parts)
            if c == '"' and not value:
                raise _error('empty quoted name ""', text, i, j)
            tokens.append(_Token("string" if c == "'" else "qident", text[i:j], value, i, j))
            i = j
            continue
        m = _NUMBER.match(text, i)
        if m and (c.isdigit() or (c == "." and m.end() > i + 1)):
            j = m.end()
            if j < n and (text[j].isalnum() or text[j] == "_"):
                end = _IDENT.match(text, j)
                raise _error(
                    f"malformed number {_show(text[i : end.end() if end else j + 1])}", text, i, j
                )
            raw = m.group()
            if re.fullmatch(r"\d+", raw):
                value = int(raw)
                if value > _INT64_MAX + 1:  # + 1: "-9223372036854775808" is negated later
                    raise _error(f"integer {_show(raw)} is out of the 64-bit range", text, i, j)
                tokens.append(_Token("int", raw, value, i, j))
            else:
                tokens.append(_Token("float", raw, float(raw), i, j))
            i = j
            continue
        m = _IDENT.match(text, i)
        if m:
            tokens.append(_Token("ident", m.group(), m.group(), i, m.end()))
            i = m.end()
            continue
        if text.startswith("::", i):
            raise _error("'::' casts are not supported; use cast(x AS type)", text, i, i + 2)
        if text.startswith("||", i):
            raise _error(
                "string concatenation '||' is not supported; compare the parts separately",
                text, i, i + 2,
            )  # fmt: skip
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(_Token("op", op, op, i, i + len(op)))
                i += len(op)
                break
        else:
            raise _error(f"unexpected character {_show(c)}", text, i)
    tokens.append(_Token("eof", "", None, n, n))
    return tokens


# --------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str, qualifiers: frozenset[str]):
        self.text = text
        self.qualifiers = qualifiers
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    # -- token helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.tok
        if tok.kind != "eof":
            self.pos += 1
        return tok

    @staticmethod
    def is_kw(tok: _Token, *words: str) -> bool:
        return tok.kind == "ident" and tok.value.lower() in words

    @staticmethod
    def is_op(tok: _Token, *ops: str) -> bool:
        return tok.kind == "op" and tok.value in ops

    def error(self, message: str, tok: _Token | None = None) -> ExpressionError:
        tok = tok or self.tok
        return _error(message, self.text, tok.start, max(tok.end, tok.start + 1))

    def unexpected(self, expecting: str) -> ExpressionError:
        tok = self.tok
        if tok.kind == "eof":
            return ExpressionError(
                f"expression ends too early: expected {expecting} after {_show(self.text)}",
                fragment=self.text, position=len(self.text),
            )  # fmt: skip
        if tok.kind == "ident":
            word = tok.value.lower()
            if word in _SUBQUERY_WORDS:
                return self.error(f"subqueries are not allowed: {_show(self.text[tok.start :])}")
            if word in _UNSUPPORTED_OPERATORS:
                return self.error(f"{_UNSUPPORTED_OPERATORS[word]}: {_show(tok.text)}")
        return self.error(f"unexpected {_show(tok.text)}: expected {expecting}")

    def expect_op(self, op: str, expecting: str | None = None) -> _Token:
        if not self.is_op(self.tok, op):
            raise self.unexpected(expecting or repr(op))
        return self.advance()

    def expect_kw(self, word: str) -> _Token:
        if not self.is_kw(self.tok, word):
            raise self.unexpected(word.upper())
        return self.advance()

    def span(self, start: int) -> tuple[int, int]:
        return (start, self.tokens[self.pos - 1].end)

    # -- grammar
    def parse(self) -> Node:
        if self.tok.kind == "eof":
            raise ExpressionError("the expression is empty", fragment="", position=0)
        node = self.expr()
        if self.tok.kind != "eof":
            raise self.unexpected("AND, OR or the end of the expression")
        return node

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("the expression is nested too deeply")
        try:
            return self.or_()
        finally:
            self.depth -= 1

    def or_(self) -> Node:
        start = self.tok.start
        node = self.and_()
        while self.is_kw(self.tok, "or"):
            self.advance()
            node = Binary("or", node, self.and_(), span=self.span(start))
        return node

    def and_(self) -> Node:
        start = self.tok.start
        node = self.not_()
        while self.is_kw(self.tok, "and"):
            self.advance()
            node = Binary("and", node, self.not_(), span=self.span(start))
        return node

    def not_(self) -> Node:
        if self.is_kw(self.tok, "not"):
            start = self.advance().start
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error("the expression is nested too deeply")
            try:
                operand = self.not_()
            finally:
                self.depth -= 1
            return Unary("not", operand, span=self.span(start))
        return self.predicate()

    def predicate(self) -> Node:
        start = self.tok.start
        left = self.sum_()
        tok = self.tok
        if self.is_op(tok, "=", "!=", "<>", "<", "<=", ">", ">="):
            self.advance()
            op = "!=" if tok.value == "<>" else tok.value
            right = self.sum_()
            node: Node = Binary(op, left, right, span=self.span(start))
            if self.is_op(self.tok, "=", "!=", "<>", "<", "<=", ">", ">="):
                raise self.error(
                    f"chained comparison {_show(self.text[start : self.tok.end])}: "
                    "combine comparisons with AND"
                )
            return node
        if self.is_kw(tok, "is"):
            self.advance()
            negated = False
            if self.is_kw(self.tok, "not"):
                self.advance()
                negated = True
            if not self.is_kw(self.tok, "null"):
                raise self.unexpected("NULL after IS" + (" NOT" if negated else ""))
            self.advance()
            return IsNull(left, negated, span=self.span(start))
        negated = False
        if self.is_kw(tok, "not") and self.is_kw(self.peek(), "between", "in", "like"):
            self.advance()
            negated = True
            tok = self.tok
        if self.is_kw(tok, "between"):
            self.advance()
            low = self.sum_()
            self.expect_kw("and")
            high = self.sum_()
            return Between(left, low, high, negated, span=self.span(start))
        if self.is_kw(tok, "in"):
            self.advance()
            return InList(left, self.in_list(), negated, span=self.span(start))
        if self.is_kw(tok, "like"):
            self.advance()
            pat = self.tok
            if pat.kind != "string":
                raise self.unexpected("a 'pattern' string literal after LIKE")
            if "\\" in pat.value:
                raise self.error(
                    f"backslashes are not allowed in LIKE patterns: {_show(pat.text)}", pat
                )
            self.advance()
            return Like(left, pat.value, negated, span=self.span(start))
        return left

    def in_list(self) -> tuple[Literal, ...]:
        self.expect_op("(", "'(' after IN")
        if self.is_kw(self.tok, *_SUBQUERY_WORDS):
            raise self.error(f"subqueries are not allowed: {_show(self.text[self.tok.start :])}")
        values: list[Literal] = []
        while True:
            node = self.unary()
            if not isinstance(node, Literal):
                raise self.error(
                    "IN takes a list of literal values, not "
                    f"{_show(self.text[node.span[0] : node.span[1]])}",
                    self.tokens[self.pos - 1],
                )
            if node.kind == "null":
                raise _error(
                    "NULL inside IN (...) is not allowed (it makes NOT IN never true); "
                    "use IS NULL",
                    self.text, node.span[0], node.span[1],
                )  # fmt: skip
            values.append(node)
            if self.is_op(self.tok, ","):
                self.advance()
                continue
            self.expect_op(")", "',' or ')' in the IN list")
            return tuple(values)

    def sum_(self) -> Node:
        start = self.tok.start
        node = self.product()
        while self.is_op(self.tok, "+", "-"):
            op = self.advance().value
            node = Binary(op, node, self.product(), span=self.span(start))
        return node

    def product(self) -> Node:
        start = self.tok.start
        node = self.unary()
        while self.is_op(self.tok, "*", "/", "%"):
            op = self.advance().value
            node = Binary(op, node, self.unary(), span=self.span(start))
        return node

    def unary(self) -> Node:
        if self.is_op(self.tok, "-", "+"):
            tok = self.advance()
            if tok.value == "-" and self.tok.kind in ("int", "float"):
                number = self.advance()  # a negative literal, e.g. -9223372036854775808
                value = -number.value
                if number.kind == "int" and value < _INT64_MIN:
                    raise _error(
                        "integer is out of the 64-bit range", self.text, tok.start, number.end
                    )
                return Literal(number.kind, value, span=(tok.start, number.end))
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error("the expression is nested too deeply")
            try:
                operand = self.unary()
            finally:
                self.depth -= 1
            span = self.span(tok.start)
            if tok.value == "+":
                return operand
            if isinstance(operand, Literal) and operand.kind in ("int", "float"):
                value = -operand.value
                if operand.kind == "int" and value < _INT64_MIN:
                    raise _error("integer is out of the 64-bit range", self.text, *span)
                return Literal(operand.kind, value, span=span)
            return Unary("neg", operand, span=span)
        node = self.primary()
        if isinstance(node, Literal) and node.kind == "int" and node.value > _INT64_MAX:
            raise _error(
                f"integer {_show(str(node.value))} is out of the 64-bit range",
                self.text,
                *node.span,
            )
        return node

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "int":
            self.advance()
            return Literal("int", tok.value, span=(tok.start, tok.end))
        if tok.kind == "float":
            self.advance()
            return Literal("float", tok.value, span=(tok.start, tok.end))
        if tok.kind == "string":
            self.advance()
            return Literal("string", tok.value, span=(tok.start, tok.end))
        if self.is_op(tok, "("):
            self.advance()
            if self.is_kw(self.tok, *_SUBQUERY_WORDS):
                raise self.error(f"subqueries are not allowed: {_show(self.text[tok.start :])}")
            node = self.expr()
            self.expect_op(")", "')'")
            return node
        if self.is_op(tok, "*"):
            raise self.error("'*' is not allowed: name the columns")
        if tok.kind == "qident":
            return self.column()
        if tok.kind != "ident":
            raise self.unexpected("a value, a column or '('")
        word = tok.value.lower()
        nxt = self.peek()
        if word in ("true", "false"):
            self.advance()
            return Literal("bool", word == "true", span=(tok.start, tok.end))
        if word == "null":
            self.advance()
            return Literal("null", None, span=(tok.start, tok.end))
        if word in ("date", "timestamp") and nxt.kind == "string":
            self.advance()
            self.advance()
            return self.typed_literal(word, nxt, (tok.start, nxt.end))
        if word == "case":
            return self.case()
        if self.is_op(nxt, "("):
            return self.call()
        if word in _SUBQUERY_WORDS:
            raise self.error(f"subqueries are not allowed: {_show(self.text[tok.start :])}")
        if word in _CLOCK_WORDS:
            raise self.error(
                f"{_show(tok.text)} is not allowed: an expression cannot read the clock; "
                f"compare with a literal such as DATE '2026-01-31' "
                f'(write "{tok.text}" if it is a column)'
            )
        if word in _UNSUPPORTED_OPERATORS:
            raise self.error(
                f"{_UNSUPPORTED_OPERATORS[word]}: {_show(tok.text)} "
                f'(write "{tok.text}" if it is a column)'
            )
        if word in _KEYWORDS:
            raise self.unexpected("a value, a column or '('")
        return self.column()

    def typed_literal(self, word: str, tok: _Token, span: tuple[int, int]) -> Literal:
        try:
            if word == "date":
                return Literal("date", _parse_date(tok.value), span=span)
            return Literal("timestamp", _parse_timestamp(tok.value), span=span)
        except ValueError:
            example = "DATE 'YYYY-MM-DD'" if word == "date" else "TIMESTAMP 'YYYY-MM-DD HH:MM:SS'"
            raise _error(
                f"invalid {word.upper()} literal {_show(self.text[span[0] : span[1]])}: "
                f"write {example}",
                self.text, *span,
            ) from None  # fmt: skip

    def column(self) -> Column:
        first = self.advance()
        quoted = first.kind == "qident"
        if self.is_op(self.tok, "."):
            self.advance()
            second = self.tok
            if second.kind not in ("ident", "qident"):
                raise self.unexpected(f"a column name after {_show(first.text + '.')}")
            self.advance()
            if self.is_op(self.tok, "."):
                raise self.error(
                    "names have at most two parts (dataset.column): "
                    f"{_show(self.text[first.start : self.peek().end])}"
                )
            if self.is_op(self.tok, "("):
                raise _error(
                    f"function {_show(self.text[first.start : second.end])} is not allowed; "
                    f"allowed functions: {_ALLOWED_FUNCTIONS}",
                    self.text, first.start, second.end,
                )  # fmt: skip
            qualifier: str = first.value
            if qualifier not in self.qualifiers:
                where = self.text[first.start : second.end]
                if self.qualifiers:
                    names = ", ".join(sorted(self.qualifiers))
                    hint = _did_you_mean(qualifier, self.qualifiers)
                    raise _error(
                        f"unknown dataset {_show(qualifier)} in {_show(where)}: "
                        f"only the lookup dataset(s) {names} can be named{hint}",
                        self.text, first.start, second.end,
                    )  # fmt: skip
                raise _error(
                    f"{_show(where)} names another dataset, but this check has no lookup; "
                    "add lookup: {to: ..., on: [...]} to use its columns",
                    self.text, first.start, second.end,
                )  # fmt: skip
            return Column(
                ColumnRef(qualifier, second.value),
                quoted=second.kind == "qident",
                span=(first.start, second.end),
            )
        return Column(ColumnRef(None, first.value), quoted=quoted, span=(first.start, first.end))

    def case(self) -> Case:
        start = self.advance().start  # CASE
        operand = None
        if self.is_kw(self.tok, "end", "else", "then"):
            raise self.unexpected("WHEN")
        if not self.is_kw(self.tok, "when"):
            operand = self.expr()
        branches: list[tuple[Node, Node]] = []
        while self.is_kw(self.tok, "when"):
            self.advance()
            when = self.expr()
            self.expect_kw("then")
            branches.append((when, self.expr()))
        if not branches:
            raise self.unexpected("WHEN")
        default = None
        if self.is_kw(self.tok, "else"):
            self.advance()
            default = self.expr()
        if not self.is_kw(self.tok, "end"):
            raise self.unexpected("WHEN, ELSE or END")
        self.advance()
        return Case(operand, tuple(branches), default, span=self.span(start))

    def call(self) -> Node:
        name_tok = self.advance()
        name = name_tok.value.lower()
        open_paren = self.advance()
        start = name_tok.start
        if name in _SUBQUERY_WORDS:
            raise self.error(f"subqueries are not allowed: {_show(self.text[start:])}", name_tok)
        if name not in _FUNCTIONS and name not in _SPECIAL_FUNCTIONS:
            call_text = self._call_text(name_tok, open_paren)
            if name in _AGGREGATES:
                msg = (
                    f"aggregate function {_show(call_text)} is not allowed: "
                    "a condition is evaluated row by row"
                )
            elif name in _WINDOW_FUNCTIONS:
                msg = f"window function {_show(call_text)} is not allowed"
            elif name.startswith(("read_", "parquet_", "csv_", "json_")) or name in (
                "glob", "scan", "query", "query_table", "sniff_csv", "iceberg_scan",
                "delta_scan", "postgres_scan", "sqlite_scan", "dblink", "lo_import",
                "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "copy",
            ):  # fmt: skip
                msg = (
                    f"table function {_show(call_text)} is not allowed: "
                    "an expression cannot read files or tables"
                )
            else:
                msg = (
                    f"function {_show(call_text)} is not allowed; "
                    f"allowed functions: {_ALLOWED_FUNCTIONS}"
                )
            raise _error(msg, self.text, start, name_tok.end)
        if self.is_kw(self.tok, "distinct", "all"):
            raise self.error(f"{self.tok.text.upper()} is not allowed in {name}(...)")
        if self.is_op(self.tok, "*"):
            raise self.error(f"'*' is not allowed in {name}(...)")
        if name == "cast":
            node = self._cast(start)
        elif name == "extract":
            node = self._extract(start)
        elif name == "date_trunc":
            node = self._date_trunc(start)
        else:
            node = self._plain_call(name, start)
        if self.is_kw(self.tok, "over", "filter", "within"):
            raise self.error(
                f"window functions are not allowed: {_show(self.text[start : self.tok.end])}"
            )
        return node

    def _call_text(self, name_tok: _Token, open_paren: _Token) -> str:
        """The call's text up to its closing parenthesis, for messages."""
        depth, i = 1, self.pos
        while i < len(self.tokens) - 1 and depth:
            t = self.tokens[i]
            depth += 1 if self.is_op(t, "(") else -1 if self.is_op(t, ")") else 0
            i += 1
        end = self.tokens[i - 1].end if depth == 0 else open_paren.end
        return self.text[name_tok.start : end]

    def _plain_call(self, name: str, start: int) -> Call:
        args: list[Node] = []
        if not self.is_op(self.tok, ")"):
            while True:
                args.append(self.expr())
                if self.is_op(self.tok, ","):
                    self.advance()
                    continue
                break
        self.expect_op(")", f"',' or ')' in {name}(...)")
        span = self.span(start)
        low, high = _FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            if high is None:
                want = f"at least {low} argument{'s' if low > 1 else ''}"
            elif low == high:
                want = f"{low} argument{'s' if low > 1 else ''}"
            else:
                want = f"{low} to {high} arguments"
            raise _error(
                f"{name}() takes {want}, got {len(args)}: {_show(self.text[span[0] : span[1]])}",
                self.text, *span,
            )  # fmt: skip
        if name == "round" and len(args) == 2:
            digits = args[1]
            if not (isinstance(digits, Literal) and digits.kind == "int"):
                raise _error(
                    "the digits of round(x, n) must be an integer literal, not "
                    f"{_show(self.text[digits.span[0] : digits.span[1]])}",
                    self.text, *digits.span,
                )  # fmt: skip
            if not -15 <= digits.value <= 15:
                raise _error(
                    f"round(x, n) takes n between -15 and 15, not {digits.value}",
                    self.text, *digits.span,
                )  # fmt: skip
        return Call(name, tuple(args), span=span)

    def _cast(self, start: int) -> Cast:
        operand = self.expr()
        if not self.is_kw(self.tok, "as"):
            raise self.unexpected("AS in cast(x AS type)")
        self.advance()
        tok = self.tok
        if tok.kind != "ident":
            raise self.unexpected("a type name in cast(x AS type)")
        self.advance()
        type_name = tok.value.lower()
        if type_name == "double" and self.is_kw(self.tok, "precision"):
            self.advance()
        if type_name not in _CAST_TYPES:
            raise self.error(
                f"cannot cast to {_show(tok.text)}: types are "
                "integer, bigint, int, float, double, string, varchar, text, boolean, date, "
                "timestamp",
                tok,
            )
        self.expect_op(")", "')' after the type in cast(x AS type)")
        return Cast(operand, _CAST_TYPES[type_name], span=self.span(start))

    def _extract(self, start: int) -> Extract:
        tok = self.tok
        if tok.kind not in ("ident", "string"):
            raise self.unexpected("a unit in extract(unit FROM x)")
        unit = tok.value.lower()
        if unit not in _EXTRACT_UNITS:
            raise self.error(
                f"unknown unit {_show(tok.text)} in extract(): units are "
                + ", ".join(_EXTRACT_UNITS),
                tok,
            )
        self.advance()
        if not self.is_kw(self.tok, "from"):
            raise self.unexpected("FROM in extract(unit FROM x)")
        self.advance()
        operand = self.expr()
        self.expect_op(")", "')' in extract(unit FROM x)")
        return Extract(_EXTRACT_UNITS[unit][0], operand, span=self.span(start))

    def _date_trunc(self, start: int) -> DateTrunc:
        tok = self.tok
        if tok.kind != "string":
            raise self.unexpected("a 'unit' string in date_trunc('unit', x)")
        unit = tok.value.lower().strip()
        if unit not in _DATE_TRUNC_UNITS:
            raise self.error(
                f"unknown unit {_show(tok.value)} in date_trunc(): units are "
                + ", ".join(_DATE_TRUNC_UNITS),
                tok,
            )
        self.advance()
        self.expect_op(",", "',' in date_trunc('unit', x)")
        operand = self.expr()
        self.expect_op(")", "')' in date_trunc('unit', x)")
        return DateTrunc(unit, operand, span=self.span(start))


def _parse_date(raw: str) -> dt.date:
    raw = raw.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise ValueError(raw)
    return dt.date.fromisoformat(raw)


def _parse_timestamp(raw: str) -> dt.datetime:
    """ISO 8601, naive = UTC; an offset is converted to UTC."""
    raw = raw.strip()
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?", raw
    ):
        raise ValueError(raw)
    value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    candidates = list(candidates)
    folded = [c for c in candidates if c.lower() == name.lower()]
    if folded:
        return f"; did you mean {_show(folded[0])}? (names are case-sensitive)"
    import difflib

    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return f"; did you mean {_show(close[0])}?" if close else ""


# --------------------------------------------------------------------------
# The public expression


class Expression(_Frozen):
    """A parsed, validated, immutable expression."""

    text: str
    root: Node
    _compare = __match_args__ = ("text", "root")
    _repr = ("text",)

    def __init__(self, text: str, root: Node) -> None:
        _set(self, "text", text)
        _set(self, "root", root)

    def __str__(self) -> str:
        return self.text

    def columns(self) -> frozenset[ColumnRef]:
        """Every column the expression names."""
        return frozenset(n.ref for n in _walk(self.root) if isinstance(n, Column))

    def datasets(self) -> frozenset[str]:
        """The qualifiers (lookup dataset names) the expression uses."""
        return frozenset(r.dataset for r in self.columns() if r.dataset is not None)

    def to_ibis(self, resolve: Callable[[ColumnRef], ir.Value]) -> ir.Value:
        """Compile to an Ibis expression; ``resolve`` maps each column to an Ibis column.

        Raises ExpressionError when the types do not fit (e.g. ``name > 5`` on a
        string column), naming the fragment.
        """
        return _Compiler(self.text, resolve).compile(self.root)


def parse_expression(text: str, *, allowed_qualifiers: Iterable[str] = ()) -> Expression:
    """Parse and validate ``text``.

    Raises ExpressionError when the text is outside the grammar or names a
    dataset (``OTHER.col``) that is not in ``allowed_qualifiers``.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    if "\x00" in text:
        raise ExpressionError("the expression contains a NUL character")
    root = _Parser(text, frozenset(allowed_qualifiers)).parse()
    return Expression(text, root)


_CONTRACT_TYPES = {
    "integer": "int64",
    "int": "int64",
    "bigint": "int64",
    "float": "float64",
    "double": "float64",
    "string": "string",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


def check_columns(
    expr: Expression,
    available: Mapping[str | None, Mapping[str, str]],
    *,
    condition: bool = True,
    dataset_name: str | None = None,
) -> list[str]:
    """Problems with the columns ``expr`` names; an empty list when there are none.

    ``available`` maps a qualifier (None = the check's own dataset) to
    ``{column: contract type name}`` (integer, float, string, boolean, date,
    timestamp). When every column exists and every type name is known, the
    expression is also type-checked without reading data (e.g. comparing a
    string column with a number), and, if ``condition``, it must be a
    true/false condition. ``dataset_name`` names the own dataset in messages.
    """
    problems: list[str] = []
    seen: set[ColumnRef] = set()
    for node in _walk(expr.root):
        if not isinstance(node, Column) or node.ref in seen:
            continue
        ref = node.ref
        seen.add(ref)
        columns = available.get(ref.dataset)
        owner = ref.dataset or dataset_name or "the dataset"
        if columns is None:
            problems.append(f"unknown dataset {_show(ref.dataset or '')} in {_show(str(ref))}")
            continue
        if ref.name in columns:
            continue
        hint = _did_you_mean(ref.name, columns)
        if not hint and node.quoted and ref.dataset is None:
            hint = "; double quotes name a column, write 'text' in single quotes"
        names = list(columns)
        listed = ", ".join(names[:30]) + (
            f", ... ({len(names)} columns)" if len(names) > 30 else ""
        )
        problems.append(f"unknown column {_show(ref.name)} ({owner} has: {listed}){hint}")
    if problems:
        return problems

    import ibis

    tables: dict[str | None, Any] = {}
    for qualifier in {r.dataset for r in seen}:
        schema = {}
        for name, type_name in available[qualifier].items():
            ibis_type = _CONTRACT_TYPES.get(str(type_name).lower())
            if ibis_type is None:
                try:
                    ibis_type = ibis.dtype(type_name)
                except Exception:  # noqa: BLE001 - an unknown type: skip the type check
                    return []
            schema[name] = ibis_type
        tables[qualifier] = ibis.table(schema, name=qualifier or dataset_name or "data")
    try:
        value = expr.to_ibis(lambda ref: tables[ref.dataset][ref.name])
    except ExpressionError as exc:
        return [str(exc)]
    if condition:
        dtype = value.type()
        if not (dtype.is_boolean() or dtype.is_null()):
            problems.append(
                f"{_show(expr.text)} must be a condition (true or false), but it is "
                f"{_type_phrase(dtype)}"
            )
    return problems


# --------------------------------------------------------------------------
# Compilation to Ibis


def contract_type(dtype: Any) -> str:
    """An Ibis type in the contract's words (integer, float, string, boolean, date, timestamp)."""
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_floating() or dtype.is_decimal():
        return "float"
    if dtype.is_string():
        return "string"
    if dtype.is_date():
        return "date"
    if dtype.is_timestamp():
        return "timestamp"
    return str(dtype).split("(")[0].lower()


def _kind(dtype: Any) -> str:
    """What an operand can be compared with: numbers of any width are one kind."""
    if dtype.is_null():
        return "null"
    typ = contract_type(dtype)
    return "number" if typ in ("integer", "float") else typ


def _type_phrase(dtype: Any) -> str:
    if dtype.is_null():
        return "NULL"
    if dtype.is_integer():
        return "an integer"
    if dtype.is_floating():
        return "a float"
    if dtype.is_decimal():
        return "a decimal"
    kind = _kind(dtype)
    return f"a {kind}" if kind in ("string", "boolean", "date", "timestamp") else f"of type {kind}"


_COMPARE = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class _Compiler:
    def __init__(self, text: str, resolve: Callable[[ColumnRef], Any]):
        import ibis

        self.ibis = ibis
        self.text = text
        self.resolve = resolve

    def frag(self, node: Node) -> str:
        return _show(self.text[node.span[0] : node.span[1]])

    def fail(self, node: Node, message: str) -> ExpressionError:
        start, end = node.span
        return ExpressionError(
            f"{message} (at character {start + 1})", fragment=self.text[start:end], position=start
        )

    def describe(self, node: Node, value: Any) -> str:
        return f"{self.frag(node)} is {_type_phrase(value.type())}"

    def compile(self, node: Node) -> Any:
        try:
            return self.visit(node)
        except ExpressionError:
            raise
        except Exception as exc:  # noqa: BLE001 - any Ibis complaint becomes one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise self.fail(node, f"cannot evaluate {self.frag(node)}: {first[:200]}") from exc

    def visit(self, node: Node) -> Any:
        return getattr(self, "visit_" + type(node).__name__)(node)

    # -- helpers
    def null_like(self, value: Any, other: Any) -> Any:
        """A NULL literal takes the type of the value it meets."""
        if value.type().is_null() and not other.type().is_null():
            return self.ibis.null(other.type())
        return value

    def comparable(self, node: Node, pairs: list[tuple[Node, Any]]) -> list[Any]:
        """Check that the values can be compared; align dates with timestamps."""
        kinds = {_kind(v.type()) for _, v in pairs} - {"null"}
        if "string" in kinds and kinds & {"date", "timestamp"}:
            pairs = [self.temporal_text(node, n, v, kinds) for n, v in pairs]
            kinds = {_kind(v.type()) for _, v in pairs} - {"null"}
        if len(kinds) > 1 and kinds != {"date", "timestamp"}:
            described = " and ".join(self.describe(n, v) for n, v in pairs)
            raise self.fail(node, f"cannot compare: {described}")
        values = [v for _, v in pairs]
        zones = {v.type().timezone for v in values if v.type().is_timestamp()} - {None}
        if zones:
            # A column with a time zone: DATE and TIMESTAMP literals are UTC, so
            # make them explicit UTC instants rather than leave the backend to
            # read them in its session time zone.
            values = [
                self.utc_literal(n) if isinstance(n, Literal) and n.kind in ("date", "timestamp")
                else v
                for (n, _), v in zip(pairs, values, strict=True)
            ]  # fmt: skip
        if kinds == {"date", "timestamp"}:
            values = [v.cast("timestamp") if v.type().is_date() else v for v in values]
        typed = next((v for v in values if not v.type().is_null()), None)
        if typed is not None:
            values = [self.null_like(v, typed) for v in values]
        return values

    def temporal_text(
        self, node: Node, item: Node, value: Any, kinds: set[str]
    ) -> tuple[Node, Any]:
        """A 'YYYY-MM-DD[ HH:MM:SS]' string literal met by a date or timestamp
        becomes a DATE or TIMESTAMP literal (parsed here, not by the backend)."""
        if not (isinstance(item, Literal) and item.kind == "string"):
            return item, value
        for kind, parse in (("date", _parse_date), ("timestamp", _parse_timestamp)):
            try:
                literal = Literal(kind, parse(item.value), span=item.span)
            except ValueError:
                continue
            return literal, self.visit_Literal(literal)
        other = "timestamp" if "timestamp" in kinds else "date"
        raise self.fail(
            item,
            f"cannot compare a {other} with the text {_show(item.value)}: write "
            + ("DATE 'YYYY-MM-DD'" if other == "date" else "TIMESTAMP 'YYYY-MM-DD HH:MM:SS'"),
        )

    def utc_literal(self, node: Literal) -> Any:
        import ibis.expr.datatypes as dt_

        value = node.value
        if not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        return self.ibis.literal(value.replace(tzinfo=dt.UTC), type=dt_.Timestamp(timezone="UTC"))

    def compare(self, op: str, raw_left: Any, raw_right: Any, left: Any, right: Any) -> Any:
        """``left op right`` with SQL's rule that a comparison with NULL is NULL.

        (Ibis turns ``x == NULL`` into ``x IS NULL``; that is not SQL.)
        """
        if raw_left.type().is_null() or raw_right.type().is_null():
            return self.ibis.null("boolean")
        return _COMPARE[op](left, right)

    def require(self, node: Node, value: Any, kinds: tuple[str, ...], what: str) -> None:
        if _kind(value.type()) not in (*kinds, "null"):
            raise self.fail(node, f"{what}, but {self.describe(node, value)}")

    def numeric_operand(self, node: Node, op: str) -> Any:
        value = self.visit(node)
        self.require(node, value, ("number",), f"{op} needs numbers")
        return value

    # -- nodes
    def visit_Column(self, node: Column) -> Any:
        value = self.resolve(node.ref)
        if value is None:
            raise self.fail(node, f"unknown column {self.frag(node)}")
        return value

    def typed_literal(self, value: Any, dtype: str) -> Any:
        """A literal with an explicit CAST in the SQL.

        Without it, SQL reads ``1.005`` as an exact DECIMAL (on DuckDB,
        PostgreSQL and Spark alike) and ``7`` as a 32-bit INTEGER that can
        overflow; Ibis leaves out a cast to the type it already believes.
        """
        import ibis.expr.datatypes as dt_
        import ibis.expr.operations as ops

        literal = self.ibis.literal(value, type=dtype)
        return ops.Cast(literal.op(), to=dt_.dtype(dtype)).to_expr()

    def visit_Literal(self, node: Literal) -> Any:
        lit = self.ibis.literal
        if node.kind == "null":
            return self.ibis.null()
        if node.kind in ("int", "float"):
            return self.typed_literal(node.value, "int64" if node.kind == "int" else "float64")
        return lit(node.value, type={"int": "int64", "float": "float64", "string": "string",
                                     "bool": "boolean", "date": "date",
                                     "timestamp": "timestamp"}[node.kind])  # fmt: skip

    def visit_Unary(self, node: Unary) -> Any:
        value = self.visit(node.operand)
        if node.op == "not":
            self.require(node.operand, value, ("boolean",), "NOT needs a condition")
            if value.type().is_null():
                return self.ibis.null("boolean")
            return ~value
        self.require(node.operand, value, ("number",), "'-' needs a number")
        if value.type().is_null():
            return value
        return -value

    def visit_Binary(self, node: Binary) -> Any:
        op = node.op
        if op in ("and", "or"):
            left, right = self.visit(node.left), self.visit(node.right)
            self.require(node.left, left, ("boolean",), f"{op.upper()} needs conditions")
            self.require(node.right, right, ("boolean",), f"{op.upper()} needs conditions")
            left = left if not left.type().is_null() else self.ibis.null("boolean")
            right = right if not right.type().is_null() else self.ibis.null("boolean")
            return (left & right) if op == "and" else (left | right)
        if op in _COMPARE:
            pairs = [(node.left, self.visit(node.left)), (node.right, self.visit(node.right))]
            left, right = self.comparable(node, pairs)
            return self.compare(op, pairs[0][1], pairs[1][1], left, right)
        left = self.numeric_operand(node.left, f"'{op}'")
        right = self.numeric_operand(node.right, f"'{op}'")
        if left.type().is_null() or right.type().is_null():
            if op == "/":
                return self.ibis.null("float64")
            other = right if left.type().is_null() else left
            return self.ibis.null("int64" if other.type().is_null() else other.type())
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            return left.cast("float64") / right.cast("float64").nullif(0)
        return left % right.nullif(0)  # "%"

    def visit_IsNull(self, node: IsNull) -> Any:
        value = self.visit(node.operand)
        if value.type().is_null():
            return self.ibis.literal(not node.negated)
        return value.notnull() if node.negated else value.isnull()

    def visit_Between(self, node: Between) -> Any:
        pairs = [(n, self.visit(n)) for n in (node.operand, node.low, node.high)]
        value, low, high = self.comparable(node, pairs)
        raw_value, raw_low, raw_high = (v for _, v in pairs)
        # x BETWEEN a AND b is x >= a AND x <= b, with SQL's NULL rules.
        result = self.compare(">=", raw_value, raw_low, value, low) & self.compare(
            "<=", raw_value, raw_high, value, high
        )
        return ~result if node.negated else result

    def visit_InList(self, node: InList) -> Any:
        value = self.visit(node.operand)
        pairs = [(node.operand, value)] + [(v, self.visit(v)) for v in node.values]
        values = self.comparable(node, pairs)
        value, options = values[0], values[1:]
        if value.type().is_null():
            return self.ibis.null("boolean")
        if value.type().is_numeric() and any(o.type().is_floating() for o in options):
            options = [o.cast("float64") for o in options]
        result = value.isin(options)
        return ~result if node.negated else result

    def visit_Like(self, node: Like) -> Any:
        value = self.visit(node.operand)
        self.require(node.operand, value, ("string",), "LIKE needs a string")
        if value.type().is_null():
            return self.ibis.null("boolean")
        result = value.like(node.pattern)
        return ~result if node.negated else result

    def visit_Case(self, node: Case) -> Any:
        branches = []
        subject = self.visit(node.operand) if node.operand is not None else None
        for when_node, then_node in node.branches:
            raw_when = when = self.visit(when_node)
            if subject is not None:
                subject_value, when = self.comparable(
                    when_node, [(node.operand, subject), (when_node, raw_when)]
                )
                when = self.compare("=", subject, raw_when, subject_value, when)
            else:
                self.require(when_node, when, ("boolean",), "WHEN needs a condition")
                if when.type().is_null():
                    when = self.ibis.null("boolean")
            branches.append((when, then_node, self.visit(then_node)))
        results = [(n, v) for _, n, v in branches]
        if node.default is not None:
            results.append((node.default, self.visit(node.default)))
        aligned = self.comparable(node, results)
        thens = aligned[: len(branches)]
        default = aligned[len(branches)] if node.default is not None else None
        if all(v.type().is_null() for v in aligned):
            thens = [self.ibis.null("boolean") for _ in thens]
            default = None
        if default is not None and default.type().is_null():
            default = None
        return self.ibis.cases(
            *[(when, then) for (when, _, _), then in zip(branches, thens, strict=True)],
            else_=default,
        )

    def visit_Call(self, node: Call) -> Any:
        name = node.name
        if name == "coalesce":
            values = self.comparable(node, [(a, self.visit(a)) for a in node.args])
            if len(values) == 1:
                return values[0]
            if all(v.type().is_null() for v in values):
                return values[0]
            return self.ibis.coalesce(*values)
        arg_node = node.args[0]
        value = self.visit(arg_node)
        if name in ("lower", "upper", "trim", "length"):
            self.require(arg_node, value, ("string",), f"{name}() needs a string")
            if value.type().is_null():
                return self.ibis.null("int64" if name == "length" else "string")
            return {
                "lower": value.lower,
                "upper": value.upper,
                "trim": value.strip,
                "length": value.length,
            }[name]()
        self.require(arg_node, value, ("number",), f"{name}() needs a number")
        if value.type().is_null():
            return self.ibis.null("float64")
        if name == "abs":
            return value.abs()
        digits = node.args[1].value if len(node.args) == 2 else 0  # type: ignore[attr-defined]
        return self.round(value, digits)

    def round(self, value: Any, digits: int) -> Any:
        """Round half away from zero, the same on every backend."""
        ibis = self.ibis
        if value.type().is_integer():
            if digits >= 0:
                return value
            return self.round(value.cast("float64"), digits).cast(value.type())

        def double(v: float) -> Any:
            return self.typed_literal(v, "float64")

        x = value.cast("float64")
        scale = double(float(10 ** abs(digits)))
        magnitude = x.abs()
        scaled = magnitude * scale if digits >= 0 else magnitude / scale
        # FLOOR goes through BIGINT on some backends: leave huge values alone
        # (a double of 2**52 or more has no fractional part anyway).
        safe = scaled < double(float(2**52))
        floored = ibis.ifelse(safe, scaled + double(0.5), double(0.0)).floor().cast("float64")
        back = floored / scale if digits >= 0 else floored * scale
        return ibis.ifelse(safe, ibis.ifelse(x < 0, -back, back), x)

    def visit_Extract(self, node: Extract) -> Any:
        value = self.visit(node.operand)
        unit = node.unit
        date_ok = next(ok for u, ok in _EXTRACT_UNITS.values() if u == unit)
        kinds = ("date", "timestamp") if date_ok else ("timestamp",)
        self.require(
            node.operand, value, kinds,
            f"extract({unit} FROM x) needs {'a date or ' if date_ok else ''}a timestamp",
        )  # fmt: skip
        if value.type().is_null():
            return self.ibis.null("int32")
        if unit == "dow":  # 0 = Sunday ... 6 = Saturday
            return (value.day_of_week.index() + 1) % 7
        if unit == "isodow":  # 1 = Monday ... 7 = Sunday
            return value.day_of_week.index() + 1
        if unit == "doy":
            return value.day_of_year()
        if unit == "week":
            return value.week_of_year()
        if unit == "second":
            # Spark's EXTRACT(second) has a fraction (DECIMAL(8,6)), which Ibis
            # does not expect; take whole seconds everywhere.
            return value.second().cast("float64").floor()
        return getattr(value, unit)()

    def visit_DateTrunc(self, node: DateTrunc) -> Any:
        value = self.visit(node.operand)
        ibis_unit, date_ok = _DATE_TRUNC_UNITS[node.unit]
        kinds = ("date", "timestamp") if date_ok else ("timestamp",)
        self.require(
            node.operand, value, kinds,
            f"date_trunc('{node.unit}', x) needs {'a date or ' if date_ok else ''}a timestamp",
        )  # fmt: skip
        if value.type().is_null():
            return value
        return value.truncate(ibis_unit)

    def visit_Cast(self, node: Cast) -> Any:
        ibis = self.ibis
        value = self.visit(node.operand)
        target = node.to
        kind = _kind(value.type())
        allowed = {
            "integer": ("number", "boolean", "string"),
            "float": ("number", "boolean", "string"),
            "string": ("number", "boolean", "string", "date", "timestamp"),
            "boolean": ("number", "boolean", "string"),
            "date": ("date", "timestamp", "string"),
            "timestamp": ("date", "timestamp", "string"),
        }[target]
        if kind == "null":
            return ibis.null(_IBIS_TYPES[target])
        if kind not in allowed:
            raise self.fail(node, f"cannot cast to {target}: {self.describe(node.operand, value)}")
        if kind == "boolean" and target in ("integer", "float"):
            one, zero = (1, 0) if target == "integer" else (1.0, 0.0)
            return ibis.cases((value, one), (~value, zero)).cast(_IBIS_TYPES[target])
        if kind == "number" and target == "boolean":
            return value != 0
        if kind == "string" and target == "boolean":
            folded = value.strip().lower()
            return ibis.cases(
                (folded.isin(["true", "t", "1"]), True),
                (folded.isin(["false", "f", "0"]), False),
                else_=ibis.null("boolean"),
            )
        if target == "integer" and (value.type().is_floating() or value.type().is_decimal()):
            return self.round(value, 0).cast("int64")
        return value.cast(_IBIS_TYPES[target])
