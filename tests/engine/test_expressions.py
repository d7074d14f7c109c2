"""The expression language: parsing, rejection, column checks, and evaluation.

The evaluation cases form one table, run on DuckDB, PostgreSQL and PySpark, so
that the same expression is proven to mean the same thing on every backend.
PostgreSQL and PySpark cases skip only when the server / the JVM is missing.
"""

from __future__ import annotations

import datetime as dt
import math
import types
import uuid

import ibis
import pyarrow as pa
import pytest

from sourcewise.engine.expressions import (
    ColumnRef,
    Expression,
    ExpressionError,
    check_columns,
    parse_expression,
)

D = dt.date
T = dt.datetime
N = None

pytestmark = pytest.mark.filterwarnings("ignore:The 'future.infer_string' option is deprecated")


@pytest.fixture
def settings():
    """Shadow pytest-django's ``settings`` for this module.

    tests/conftest.py has an autouse fixture that asks for ``settings``; these
    tests need neither Django nor a database, and must run with ``-p no:django``.
    """
    return types.SimpleNamespace()


# --------------------------------------------------------------------------
# Parsing

ACCEPTED = [
    "x = 1",
    "x != 1 AND x <> 2",
    "x < 1 OR x <= 1 OR x > 1 OR x >= 1",
    "x = -1.5",
    "x > 1e3",
    "x > .5",
    "s = 'it''s'",
    "b = TRUE OR b = FALSE OR b IS NULL",
    "d = DATE '2026-01-31'",
    "ts >= TIMESTAMP '2026-01-31 10:00:00'",
    "ts >= TIMESTAMP '2026-01-31T10:00:00.123456'",
    "x BETWEEN 0 AND 10",
    "x NOT BETWEEN -1 AND 1",
    "x IN (1, 2, 3)",
    "s NOT IN ('a', 'b')",
    "d IN (DATE '2026-01-01', DATE '2026-01-02')",
    "x IS NULL",
    "x IS NOT NULL",
    "s LIKE 'a%_'",
    "s NOT LIKE '%z'",
    "NOT (x = 1)",
    "NOT NOT b",
    "(x + 1) * 2 - 3 / 4 % 5 > -x",
    "+x > 0",
    "CASE WHEN x > 1 THEN 'a' WHEN x < 0 THEN 'b' ELSE 'c' END = 'a'",
    "CASE WHEN x > 1 THEN TRUE END",
    "CASE x WHEN 1 THEN 'one' ELSE 'other' END = 'one'",
    "lower(s) = 'a' AND upper(s) = 'A' AND trim(s) = 'a' AND length(s) = 1",
    "abs(x) < 5 AND round(x) = 1 AND round(x, 2) = 1.5 AND round(x, -1) = 10",
    "coalesce(x, y, 0) > 0",
    "date_trunc('month', d) = DATE '2026-01-01'",
    "DATE_TRUNC('Week', ts) IS NOT NULL",
    "extract(year FROM d) = 2026 AND EXTRACT(dow FROM d) = 0 AND extract(doy FROM d) > 1",
    "extract('month' FROM d) = 1",
    "cast(x AS integer) = 1 AND CAST(x AS bigint) = 1 AND cast(x AS int) = 1",
    "cast(x AS float) = 1 AND cast(x AS double) = 1 AND cast(x AS double precision) = 1",
    "cast(x AS string) = '1' AND cast(x AS varchar) = '1' AND cast(x AS text) = '1'",
    "cast(s AS boolean) AND cast(s AS date) = d AND cast(s AS timestamp) = ts",
    '"Weird Col" > 1',
    'lookup."Weird Col" = x',
    "client_id = lookup.client_id",
    "date = DATE '2026-01-31'",  # "date" not followed by a string is a column
    "timestamp IS NULL",
    "Contact_ID = 1",
    "x = 1",
    "\n  x = 1\n  AND y = 2\n",
    "-9223372036854775808 < x AND x < 9223372036854775807",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepts_every_grammar_element(text):
    expr = parse_expression(text, allowed_qualifiers=["lookup"])
    assert isinstance(expr, Expression)
    assert expr.text == text
    assert str(expr) == text


def test_columns_and_datasets():
    expr = parse_expression(
        'client_id = campaigns.client_id AND "Weird Col" > 1 AND Contact_ID IS NOT NULL',
        allowed_qualifiers=["campaigns", "targets"],
    )
    assert expr.columns() == {
        ColumnRef(None, "client_id"),
        ColumnRef("campaigns", "client_id"),
        ColumnRef(None, "Weird Col"),
        ColumnRef(None, "Contact_ID"),  # case kept exactly
    }
    assert expr.datasets() == {"campaigns"}
    assert parse_expression("1 = 1").columns() == frozenset()


def test_expressions_are_immutable_values():
    a = parse_expression("x = 1")
    b = parse_expression("x = 1")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.text = "y = 2"  # type: ignore[misc]
    # spans are not part of equality: the same tree from different spacing
    assert parse_expression("x=1").root == a.root


def test_precedence():
    # AND binds tighter than OR; NOT looser than comparison; * before +
    expr = parse_expression("a OR b AND NOT x = 1 + 2 * 3")
    root = expr.root
    assert root.op == "or"
    assert root.right.op == "and"
    assert root.right.right.op == "not"
    comparison = root.right.right.operand
    assert comparison.op == "="
    assert comparison.right.op == "+"
    assert comparison.right.right.op == "*"


# (text, fragment the message must contain)
REJECTED = [
    ("(SELECT 1)", "subqueries are not allowed"),
    ("x IN (SELECT a FROM t)", "subqueries are not allowed"),
    ("EXISTS (SELECT 1)", "subqueries are not allowed"),
    ("read_csv('/etc/passwd')", "read_csv('/etc/passwd')"),
    ("read_parquet('x.parquet') IS NULL", "cannot read files"),
    ("random() > 0.5", "'random()' is not allowed"),
    ("x = 1; DROP TABLE t", "semicolons are not allowed"),
    ("x = 1;", "semicolons are not allowed"),
    ("x = 1 -- hi", "comments are not allowed"),
    ("x = 1 /* hi */", "comments are not allowed"),
    ("current_date > d", "'current_date' is not allowed"),
    ("d < now()", "'now()' is not allowed"),
    ("pg_sleep(10)", "'pg_sleep(10)' is not allowed"),
    ("pg_catalog.pg_sleep(10)", "'pg_catalog.pg_sleep' is not allowed"),
    ("sqrt(x) > 1", "allowed functions: abs, cast, coalesce"),
    ("count(*) > 1", "aggregate function"),
    ("sum(x) > 1", "aggregate function"),
    ("lower(x) OVER (PARTITION BY y) = 'a'", "window functions are not allowed"),
    ("row_number() = 1", "window function"),
    ("*", "'*' is not allowed"),
    ("x::int = 1", "'::' casts are not supported"),
    ("a || b = 'ab'", "'||' is not supported"),
    ("x ILIKE 'a%'", "ILIKE is not supported"),
    ("x LIKE 'a\\%'", "backslashes are not allowed"),
    ("x LIKE y", "string literal after LIKE"),
    ("x LIKE 'a' ESCAPE '!'", "ESCAPE is not supported"),
    ("x IN (1, NULL)", "NULL inside IN"),
    ("x IN (y, 2)", "literal values"),
    ("x IN ()", "expected a value"),
    ("other.x = 1", "names another dataset, but this check has no lookup"),
    ("x = 1 AND $1 = 2", "unexpected character '$'"),
    ("x = = 1", "unexpected '='"),
    ("x >", "ends too early"),
    ("x = 'abc", "unterminated string"),
    ('"abc = 1', "unterminated quoted name"),
    ("a < b < c", "chained comparison"),
    ("x IS 5", "NULL after IS"),
    ("CASE WHEN x THEN 1", "expected WHEN, ELSE or END"),
    ("CASE END", "expected WHEN"),
    ("x = 1 )", "unexpected ')'"),
    ("(x = 1", "ends too early"),
    ("a b", "unexpected 'b'"),
    ("a.b.c = 1", "at most two parts"),
    ("lower()", "takes 1 argument, got 0"),
    ("lower(a, b)", "takes 1 argument, got 2"),
    ("round(x, y)", "must be an integer literal"),
    ("round(x, 1, 2)", "takes 1 to 2 arguments"),
    ("cast(x AS json)", "cannot cast to 'json'"),
    ("cast(x, integer)", "expected AS"),
    ("extract(century FROM d) = 1", "unknown unit 'century'"),
    ("extract(year, d) = 1", "expected FROM"),
    ("date_trunc('decade', d) = d", "unknown unit 'decade'"),
    ("date_trunc(month, d) = d", "'unit' string"),
    ("DATE '2026-13-01' = d", "invalid DATE literal"),
    ("TIMESTAMP 'yesterday' = ts", "invalid TIMESTAMP literal"),
    ("x = 99999999999999999999", "out of the 64-bit range"),
    ("x = 1abc", "malformed number"),
    ("", "empty"),
    ("   ", "empty"),
    ("x = INTERVAL '1 day'", "intervals are not supported"),
    ("lower(DISTINCT x) = 'a'", "DISTINCT is not allowed"),
    ("x = 1 UNION SELECT 2", "unexpected 'UNION'"),
    ("(" * 200 + "x" + ")" * 200, "nested too deeply"),
    ("NOT " * 200 + "x", "nested too deeply"),
]


@pytest.mark.parametrize(("text", "needle"), REJECTED, ids=[r[0][:40] for r in REJECTED])
def test_rejects_with_a_clear_one_line_message(text, needle):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, allowed_qualifiers=[])
    message = str(info.value)
    assert needle in message
    assert "\n" not in message
    assert len(message) < 400


def test_unknown_qualifier_names_the_allowed_ones():
    with pytest.raises(ExpressionError) as info:
        parse_expression("client_id = campaign.client_id", allowed_qualifiers=["campaigns"])
    message = str(info.value)
    assert "unknown dataset 'campaign' in 'campaign.client_id'" in message
    assert "campaigns" in message
    assert "did you mean 'campaigns'" in message
    assert info.value.fragment == "campaign.client_id"
    assert info.value.position == 12


def test_error_carries_position_and_fragment():
    with pytest.raises(ExpressionError) as info:
        parse_expression("x > 0 AND random() < 0.5")
    assert info.value.position == 10
    assert info.value.fragment == "random"
    assert "(at character 11)" in str(info.value)


def test_text_with_newlines_gives_a_one_line_message():
    with pytest.raises(ExpressionError) as info:
        parse_expression("x = 1\n;\nDROP TABLE t")
    assert "\n" not in str(info.value)


def test_non_text_and_huge_text_are_rejected():
    with pytest.raises(ExpressionError):
        parse_expression(42)  # type: ignore[arg-type]
    with pytest.raises(ExpressionError, match="longer than"):
        parse_expression("x = 1 AND " * 2000 + "x = 1")
    with pytest.raises(ExpressionError, match="NUL"):
        parse_expression("x = '\x00'")


# --------------------------------------------------------------------------
# check_columns

CONTACTS = {
    "contact_id": "integer",
    "handle_time_s": "float",
    "channel": "string",
    "answered": "boolean",
    "contact_date": "date",
    "started_at": "timestamp",
    "client_id": "integer",
    "Weird Col": "string",
}
CAMPAIGNS = {"campaign_id": "integer", "client_id": "integer", "name": "string"}
AVAILABLE = {None: CONTACTS, "campaigns": CAMPAIGNS}


def _check(text, **kwargs):
    expr = parse_expression(text, allowed_qualifiers=["campaigns"])
    return check_columns(expr, AVAILABLE, **kwargs)


def test_check_columns_fine():
    assert _check("client_id = campaigns.client_id") == []
    assert _check("handle_time_s BETWEEN 0 AND 7200 AND channel IN ('phone', 'sms')") == []
    assert _check("\"Weird Col\" LIKE 'a%'") == []
    assert _check("answered") == []
    assert _check("started_at >= contact_date") == []


def test_check_columns_unknown_column():
    problems = _check("handel_time > 3", dataset_name="contacts")
    assert len(problems) == 1
    assert problems[0].startswith(
        "unknown column 'handel_time' (contacts has: contact_id, handle_time_s, channel, "
    )
    assert "did you mean 'handle_time_s'" in problems[0]


def test_check_columns_case_mismatch_suggests():
    (problem,) = _check("Channel = 'sms'", dataset_name="contacts")
    assert "unknown column 'Channel'" in problem
    assert "did you mean 'channel'? (names are case-sensitive)" in problem


def test_check_columns_lookup_column():
    (problem,) = _check("client_id = campaigns.clientid")
    assert problem.startswith("unknown column 'clientid' (campaigns has: campaign_id, client_id")


def test_check_columns_double_quoted_text_hint():
    (problem,) = _check('channel = "phone"')
    assert "double quotes name a column" in problem


def test_check_columns_each_unknown_once():
    problems = _check("nope > 1 AND nope < 5 AND other_nope = 1")
    assert [p.split(" (")[0] for p in problems] == [
        "unknown column 'nope'",
        "unknown column 'other_nope'",
    ]


def test_check_columns_lookup_not_available():
    expr = parse_expression("x = campaigns.client_id", allowed_qualifiers=["campaigns"])
    problems = check_columns(expr, {None: {"x": "integer"}})
    assert problems == ["unknown dataset 'campaigns' in 'campaigns.client_id'"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("channel > 5", "cannot compare: 'channel' is a string and '5' is an integer"),
        (
            "channel = contact_date",
            "cannot compare: 'channel' is a string and 'contact_date' is a date",
        ),
        ("channel + 1 > 2", "'+' needs numbers, but 'channel' is a string"),
        ("answered AND contact_id", "AND needs conditions, but 'contact_id' is an integer"),
        ("NOT channel", "NOT needs a condition"),
        ("lower(contact_id) = 'a'", "lower() needs a string"),
        ("abs(channel) > 1", "abs() needs a number"),
        ("contact_id LIKE '1%'", "LIKE needs a string"),
        ("extract(hour FROM contact_date) = 1", "needs a timestamp, but 'contact_date' is a date"),
        ("date_trunc('hour', contact_date) = contact_date", "needs a timestamp"),
        ("extract(year FROM channel) = 1", "needs a date or a timestamp"),
        ("cast(contact_date AS integer) = 1", "cannot cast to integer: 'contact_date' is a date"),
        ("channel IN (1, 2)", "cannot compare"),
        (
            "contact_date = 'yesterday'",
            "cannot compare a date with the text 'yesterday': write DATE",
        ),
        ("started_at > '31/01/2026'", "write TIMESTAMP 'YYYY-MM-DD HH:MM:SS'"),
        ("CASE WHEN answered THEN 1 ELSE 'x' END = 1", "cannot compare"),
        ("coalesce(channel, 0) = 0", "cannot compare"),
        ("CASE WHEN contact_id THEN 1 END = 1", "WHEN needs a condition"),
        ("handle_time_s + 1", "must be a condition (true or false), but it is a float"),
        ("channel", "must be a condition (true or false), but it is a string"),
    ],
)
def test_check_columns_reports_type_problems(text, needle):
    problems = _check(text)
    assert len(problems) == 1, problems
    assert needle in problems[0]
    assert "\n" not in problems[0]


def test_check_columns_non_condition_allowed_when_asked():
    assert _check("handle_time_s + 1", condition=False) == []


def test_check_columns_unknown_type_names_skip_the_type_check():
    expr = parse_expression("x > 5")
    assert check_columns(expr, {None: {"x": "some-odd-type"}}) == []
    assert check_columns(expr, {None: {"x": "int32"}}) == []  # Ibis type names work too


def test_to_ibis_type_error_is_an_expression_error():
    table = ibis.table({"s": "string"}, name="t")
    expr = parse_expression("s > 5")
    with pytest.raises(ExpressionError, match="cannot compare"):
        expr.to_ibis(lambda ref: table[ref.name])


def test_to_ibis_builds_no_sql_from_user_text():
    """A string literal stays a literal: quotes cannot break out of it."""
    table = ibis.table({"s": "string"}, name="t")
    expr = parse_expression("s = 'x'' OR 1=1 --'")
    sql = ibis.to_sql(table.filter(expr.to_ibis(lambda ref: table[ref.name])), dialect="duckdb")
    assert "'x'' OR 1=1 --'" in sql
    data = ibis.memtable({"s": ["x' OR 1=1 --", "y"]})
    matching = data.filter(expr.to_ibis(lambda ref: data[ref.name])).count()
    assert ibis.duckdb.connect().execute(matching) == 1


# --------------------------------------------------------------------------
# Evaluation: one table of cases, three backends

DATA = pa.table(
    {
        "k": pa.array([1, 2, 3, 4, 5], pa.int64()),
        "i": pa.array([1, 7, None, -3, 0], pa.int64()),
        "f": pa.array([2.5, -2.5, None, 2.675, 0.5], pa.float64()),
        "s": pa.array(["abc", "Abc", None, " x\t", "é_c%"], pa.string()),
        "b": pa.array([True, False, None, True, False], pa.bool_()),
        "d": pa.array(
            [D(2026, 1, 31), D(2026, 2, 1), None, D(2024, 12, 30), D(2024, 2, 29)], pa.date32()
        ),
        "ts": pa.array(
            [
                T(2026, 1, 31, 10, 5, 7),
                T(2026, 2, 1, 0, 0, 0),
                None,
                T(2025, 12, 31, 23, 59, 59),
                T(2024, 2, 29, 12, 30, 0, 250000),
            ],
            pa.timestamp("us"),
        ),
        "n": pa.array(["12", " 7 ", None, "-3", "0"], pa.string()),
        "Weird Col": pa.array([1, 2, 3, 4, 5], pa.int64()),
        # stands in for a lookup dataset's column: other.v
        "other_v": pa.array([1, 8, 3, None, 0], pa.int64()),
    }
)
# d:  Sat 2026-01-31, Sun 2026-02-01, NULL, Mon 2024-12-30, Thu 2024-02-29

# (id, expression, expected value for k = 1..5)
CASES = [
    # comparisons and SQL NULL logic
    ("eq", "i = 1", [True, False, N, False, False]),
    ("ne", "i != 1", [False, True, N, True, True]),
    ("ne2", "i <> 1", [False, True, N, True, True]),
    ("lt", "i < 0", [False, False, N, True, False]),
    ("ge", "i >= 1", [True, True, N, False, False]),
    ("int_float", "f > 1", [True, False, N, True, False]),
    ("int_vs_decimal_lit", "i = 7.0", [False, True, N, False, False]),
    ("eq_null", "i = NULL", [N, N, N, N, N]),
    ("not", "NOT (i = 1)", [False, True, N, True, True]),
    ("and", "b AND i > 0", [True, False, N, False, False]),
    ("null_and_false", "i > 0 AND FALSE", [False, False, False, False, False]),
    ("null_or_true", "i > 0 OR TRUE", [True, True, True, True, True]),
    ("or", "i > 0 OR b", [True, True, N, True, False]),
    ("bool_eq", "b = TRUE", [True, False, N, True, False]),
    ("lookup_col", "i = other.v", [True, False, N, N, True]),
    ("quoted_col", '"Weird Col" > 2', [False, False, True, True, True]),
    # BETWEEN / IN / IS NULL / LIKE
    ("between", "i BETWEEN 0 AND 5", [True, False, N, False, True]),
    ("not_between", "i NOT BETWEEN 0 AND 5", [False, True, N, True, False]),
    ("between_float", "f BETWEEN -2.5 AND 2.5", [True, True, N, False, True]),
    ("in", "i IN (1, 0)", [True, False, N, False, True]),
    ("not_in", "i NOT IN (1, 0)", [False, True, N, True, False]),
    ("in_float", "i IN (7.0, 2.5)", [False, True, N, False, False]),
    ("in_str", "s IN ('abc', 'x')", [True, False, N, False, False]),
    ("in_date", "d IN (DATE '2026-02-01')", [False, True, N, False, False]),
    ("is_null", "i IS NULL", [False, False, True, False, False]),
    ("is_not_null", "s IS NOT NULL", [True, True, False, True, True]),
    ("like", "s LIKE 'a%'", [True, False, N, False, False]),
    ("like_case", "s LIKE 'A%'", [False, True, N, False, False]),
    ("like_underscore", "s LIKE '_bc'", [True, True, N, False, False]),
    ("not_like", "s NOT LIKE '%c%'", [False, False, N, True, False]),
    ("like_unicode", "s LIKE '__c%'", [True, True, N, False, True]),
    # arithmetic
    ("div", "i / 2", [0.5, 3.5, N, -1.5, 0.0]),
    ("div_literals", "7 / 2 + 0 * i", [3.5, 3.5, N, 3.5, 3.5]),
    ("div_zero", "i / 0", [N, N, N, N, N]),
    ("div_by_col", "6 / i", [6.0, 6 / 7, N, -2.0, N]),
    ("mod", "i % 2", [1, 1, N, -1, 0]),
    ("mod_zero", "i % 0", [N, N, N, N, N]),
    ("mod_float", "f % 1", [0.5, -0.5, N, 0.675, 0.5]),
    ("arith", "i + 1 - 2 * i", [0, -6, N, 4, 1]),
    ("neg", "-i", [-1, -7, N, 3, 0]),
    ("mixed", "i * 1.5 + f", [4.0, 8.0, N, -1.825, 0.5]),
    ("precedence", "1 + 2 * 3 = 7 AND (1 + 2) * 3 = 9 AND -2 * -3 = 6", [True] * 5),
    # functions
    ("lower", "lower(s)", ["abc", "abc", N, " x\t", "é_c%"]),
    ("upper", "upper(s)", ["ABC", "ABC", N, " X\t", "É_C%"]),
    ("trim", "trim(s)", ["abc", "Abc", N, "x", "é_c%"]),
    ("length", "length(s)", [3, 3, N, 3, 4]),
    ("abs", "abs(i)", [1, 7, N, 3, 0]),
    ("round", "round(f)", [3.0, -3.0, N, 3.0, 1.0]),
    ("round2", "round(f, 2)", [2.5, -2.5, N, 2.68, 0.5]),
    ("round1", "round(f, 1)", [2.5, -2.5, N, 2.7, 0.5]),
    ("round_int", "round(i)", [1, 7, N, -3, 0]),
    ("round_neg_digits", "round(i * 5, -1)", [10, 40, N, -20, 0]),
    ("round_binary", "round(1.005, 2) + 0 * i", [1.0, 1.0, N, 1.0, 1.0]),
    ("coalesce", "coalesce(i, other.v, -1)", [1, 7, 3, -3, 0]),
    ("coalesce_float", "coalesce(f, 0)", [2.5, -2.5, 0.0, 2.675, 0.5]),
    ("coalesce_null", "coalesce(NULL, i)", [1, 7, N, -3, 0]),
    # CASE
    (
        "case",
        "CASE WHEN i > 1 THEN 'big' WHEN i < 0 THEN 'neg' ELSE 'small' END",
        ["small", "big", "small", "neg", "small"],
    ),
    ("case_no_else", "CASE i WHEN 1 THEN 'one' WHEN 7 THEN 'seven' END", ["one", "seven", N, N, N]),
    ("case_numeric", "CASE WHEN b THEN 1 ELSE 0.5 END", [1.0, 0.5, 0.5, 1.0, 0.5]),
    ("case_null_then", "CASE WHEN b THEN NULL ELSE i END", [N, 7, N, N, 0]),
    # cast
    ("cast_float_int", "cast(f AS integer)", [3, -3, N, 3, 1]),
    ("cast_int_str", "cast(i AS string)", ["1", "7", N, "-3", "0"]),
    ("cast_str_int", "cast(n AS integer) + 1", [13, 8, N, -2, 1]),
    ("cast_str_float", "cast(n AS double) / 4", [3.0, 1.75, N, -0.75, 0.0]),
    ("cast_bool_int", "cast(b AS integer)", [1, 0, N, 1, 0]),
    ("cast_int_bool", "cast(i AS boolean)", [True, True, N, True, False]),
    ("cast_str_bool", "cast(lower(s) AS boolean)", [N, N, N, N, N]),
    ("cast_lit_bool", "cast(' True ' AS boolean) AND NOT cast('0' AS boolean)", [True] * 5),
    ("cast_str_date", "cast('2026-01-31' AS date) = d", [True, False, N, False, False]),
    (
        "cast_ts_date",
        "cast(ts AS date)",
        [D(2026, 1, 31), D(2026, 2, 1), N, D(2025, 12, 31), D(2024, 2, 29)],
    ),
    (
        "cast_date_ts",
        "cast(d AS timestamp)",
        [T(2026, 1, 31), T(2026, 2, 1), N, T(2024, 12, 30), T(2024, 2, 29)],
    ),
    (
        "cast_date_str",
        "cast(d AS string)",
        ["2026-01-31", "2026-02-01", N, "2024-12-30", "2024-02-29"],
    ),
    ("cast_bool_str", "cast(b AS string)", ["true", "false", N, "true", "false"]),
    # dates and timestamps
    ("date_lit", "d = DATE '2026-01-31'", [True, False, N, False, False]),
    ("date_text", "d = '2026-01-31'", [True, False, N, False, False]),
    ("date_text_in", "d IN ('2026-01-31', '2024-02-29')", [True, False, N, False, True]),
    (
        "ts_text",
        "ts BETWEEN '2026-01-01' AND '2026-01-31 10:05:07'",
        [True, False, N, False, False],
    ),
    ("ts_lit", "ts >= TIMESTAMP '2026-01-31 10:05:07'", [True, True, N, False, False]),
    ("ts_vs_date", "ts < DATE '2026-01-01'", [False, False, N, True, True]),
    ("date_vs_ts", "d = TIMESTAMP '2026-01-31 00:00:00'", [True, False, N, False, False]),
    ("ts_lit_offset", "ts = TIMESTAMP '2026-01-31T11:05:07+01:00'", [True, False, N, False, False]),
    (
        "trunc_month",
        "date_trunc('month', d)",
        [D(2026, 1, 1), D(2026, 2, 1), N, D(2024, 12, 1), D(2024, 2, 1)],
    ),
    (
        "trunc_week",
        "date_trunc('week', d)",
        [D(2026, 1, 26), D(2026, 1, 26), N, D(2024, 12, 30), D(2024, 2, 26)],
    ),
    (
        "trunc_quarter",
        "date_trunc('quarter', d)",
        [D(2026, 1, 1), D(2026, 1, 1), N, D(2024, 10, 1), D(2024, 1, 1)],
    ),
    (
        "trunc_year_ts",
        "date_trunc('year', ts)",
        [T(2026, 1, 1), T(2026, 1, 1), N, T(2025, 1, 1), T(2024, 1, 1)],
    ),
    (
        "trunc_day_ts",
        "date_trunc('day', ts)",
        [T(2026, 1, 31), T(2026, 2, 1), N, T(2025, 12, 31), T(2024, 2, 29)],
    ),
    (
        "trunc_hour",
        "date_trunc('hour', ts)",
        [T(2026, 1, 31, 10), T(2026, 2, 1), N, T(2025, 12, 31, 23), T(2024, 2, 29, 12)],
    ),
    (
        "trunc_minute",
        "date_trunc('minute', ts)",
        [T(2026, 1, 31, 10, 5), T(2026, 2, 1), N, T(2025, 12, 31, 23, 59), T(2024, 2, 29, 12, 30)],
    ),
    (
        "trunc_second",
        "date_trunc('second', ts)",
        [
            T(2026, 1, 31, 10, 5, 7),
            T(2026, 2, 1),
            N,
            T(2025, 12, 31, 23, 59, 59),
            T(2024, 2, 29, 12, 30),
        ],
    ),
    ("year", "extract(year FROM d)", [2026, 2026, N, 2024, 2024]),
    ("quarter", "extract(quarter FROM d)", [1, 1, N, 4, 1]),
    ("month", "extract(month FROM d)", [1, 2, N, 12, 2]),
    ("day", "extract(day FROM d)", [31, 1, N, 30, 29]),
    ("dow", "extract(dow FROM d)", [6, 0, N, 1, 4]),
    ("dayofweek", "extract(dayofweek FROM ts)", [6, 0, N, 3, 4]),
    ("isodow", "extract(isodow FROM d)", [6, 7, N, 1, 4]),
    ("doy", "extract(doy FROM d)", [31, 32, N, 365, 60]),
    ("week", "extract(week FROM d)", [5, 5, N, 1, 9]),
    ("hour", "extract(hour FROM ts)", [10, 0, N, 23, 12]),
    ("minute", "extract(minute FROM ts)", [5, 0, N, 59, 30]),
    ("second", "extract(second FROM ts)", [7, 0, N, 59, 0]),
    ("year_ts", "extract(year FROM ts) = 2026", [True, True, N, False, False]),
    # literals alone
    ("string_escape", "s = 'it''s'", [False, False, N, False, False]),
    ("true", "TRUE", [True] * 5),
    ("null", "NULL", [N] * 5),
]
CASE_IDS = [c[0] for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS)


def _resolver(table):
    def resolve(ref: ColumnRef):
        if ref.dataset is None:
            return table[ref.name]
        assert ref.dataset == "other"
        return table[f"other_{ref.name}"]

    return resolve


def _normal(value):
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if type(value).__name__ == "Decimal":
        return float(value)
    return value


def _same(actual, expected) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, float) or isinstance(actual, float):
        return math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(expected, dt.datetime) != isinstance(actual, dt.datetime):
        return False
    return actual == expected


def _evaluate(con, table) -> dict[str, list | Exception]:
    """All cases in one query (one Spark job); on failure, case by case."""
    resolve = _resolver(table)
    exprs = {}
    results: dict[str, list | Exception] = {}
    for case_id, text, _ in CASES:
        try:
            exprs[case_id] = parse_expression(text, allowed_qualifiers=["other"]).to_ibis(resolve)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            results[case_id] = exc

    def run(columns):
        query = table.select(k=table.k, **columns).order_by("k")
        out = con.to_pyarrow(query)
        return {name: [_normal(v) for v in out.column(name).to_pylist()] for name in columns}

    try:
        results.update(run(exprs))
    except Exception:  # noqa: BLE001
        for case_id, value in exprs.items():
            try:
                results.update(run({case_id: value}))
            except Exception as exc:  # noqa: BLE001
                results[case_id] = exc
    return results


@pytest.fixture(scope="module")
def duckdb_results():
    con = ibis.duckdb.connect()
    return _evaluate(con, ibis.memtable(DATA))


@pytest.fixture(scope="module")
def postgres_results():
    pytest.importorskip("psycopg")
    try:
        con = ibis.postgres.connect(
            host="127.0.0.1", user="postgres", database="test", connect_timeout=5
        )
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL is not available: {exc}")
    name = f"sw_expr_{uuid.uuid4().hex[:12]}"
    try:
        table = con.create_table(name, obj=DATA, temp=True)
        return _evaluate(con, table)
    finally:
        # ibis's drop_table emits an empty DROP with sqlglot >= 30, so drop by hand.
        with con.raw_sql(f'DROP TABLE IF EXISTS "{name}"'):
            pass
        con.disconnect()


@pytest.fixture(scope="module")
def expressions_spark():
    """One small local SparkSession for this module.

    If another fixture (e.g. the engine tests' session-wide one) already runs a
    session, borrow it and leave it running; stop only a session started here.
    """
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    owned = session is None
    if owned:
        try:
            session = (
                SparkSession.builder.master("local[1]")
                .appName("sourcewise-test-expressions")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "1")
                .config("spark.default.parallelism", "1")
                .config("spark.driver.memory", "512m")
                .getOrCreate()
            )
        except Exception as exc:  # noqa: BLE001 - no JVM, no Spark
            pytest.skip(f"PySpark cannot start: {exc}")
        session.sparkContext.setLogLevel("ERROR")
    zone = session.conf.get("spark.sql.session.timeZone")
    session.conf.set("spark.sql.session.timeZone", "UTC")
    try:
        yield session
    finally:
        if owned:
            session.stop()
        else:
            session.conf.set("spark.sql.session.timeZone", zone)


@pytest.fixture(scope="module")
def spark_results(expressions_spark):
    con = ibis.pyspark.connect(expressions_spark)
    name = f"sw_expr_{uuid.uuid4().hex[:12]}"
    # Not ibis.memtable: on PySpark it loses the values of nullable integer
    # columns (they come back NULL), so register a DataFrame instead.
    expressions_spark.createDataFrame(DATA).createOrReplaceTempView(name)
    try:
        return _evaluate(con, con.table(name))
    finally:
        expressions_spark.catalog.dropTempView(name)


BACKENDS = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("spark", id="spark", marks=pytest.mark.spark),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("case_id", "text", "expected"), CASES, ids=CASE_IDS)
def test_evaluates_the_same_on_every_backend(request, backend, case_id, text, expected):
    results = request.getfixturevalue(f"{backend}_results")
    actual = results[case_id]
    if isinstance(actual, Exception):
        raise actual
    assert len(actual) == len(expected)
    mismatches = [
        (k, a, e)
        for k, (a, e) in enumerate(zip(actual, expected, strict=True), start=1)
        if not _same(a, e)
    ]
    assert not mismatches, f"{text!r} on {backend}: (k, actual, expected) {mismatches}"


def test_row_condition_counts_on_duckdb():
    """How the compiler will use it: FALSE fails, NULL passes; share counts TRUE only."""
    table = ibis.memtable(DATA)
    cond = parse_expression("i > 0").to_ibis(_resolver(table))
    failing = (cond == False).fill_null(False).cast("int64").sum()  # noqa: E712
    true_count = cond.fill_null(False).cast("int64").sum()
    con = ibis.duckdb.connect()
    assert con.execute(table.aggregate(failing=failing, true=true_count)).to_dict("records") == [
        {"failing": 2, "true": 2}
    ]


def test_literals_against_a_time_zone_column_are_utc_whatever_the_session_zone():
    data = pa.table(
        {
            "tz": pa.array(
                [T(2026, 1, 31, 10, tzinfo=dt.UTC), T(2026, 1, 31, 8, tzinfo=dt.UTC)],
                pa.timestamp("us", tz="UTC"),
            )
        }
    )
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'America/New_York'")
    table = ibis.memtable(data)
    for text, expected in [
        ("tz >= TIMESTAMP '2026-01-31 09:00:00'", [True, False]),
        ("tz < DATE '2026-02-01'", [True, True]),
        ("tz IN (TIMESTAMP '2026-01-31 10:00:00')", [True, False]),
        ("tz BETWEEN DATE '2026-01-31' AND TIMESTAMP '2026-01-31 08:00:00'", [False, True]),
    ]:
        value = parse_expression(text).to_ibis(lambda ref: table[ref.name])
        assert con.to_pyarrow(table.select(x=value)).column("x").to_pylist() == expected, text
