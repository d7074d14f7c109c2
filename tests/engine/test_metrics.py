"""KPIs over time: the metric language, its errors, and the collections set over a CSV."""

from __future__ import annotations

import pytest

from sourcewise.engine.metrics import (
    COLLECTIONS_COLUMNS,
    COLLECTIONS_METRICS,
    MetricError,
    compute_file_kpis,
    parse_metric,
)

HEADER = "call_date,account_id,segment,right_party_contact,promise_to_pay,promise_kept,handle_seconds,amount_collected,cost\n"
ROWS = [
    # January: 4 calls on 2 accounts, 2 right-party contacts, 1 promise, kept.
    "2026-01-05,A1,retail,true,true,true,100,50.0,5.0",
    "2026-01-06,A1,retail,false,false,false,20,0,1.0",
    "2026-01-20,A2,card,true,false,false,300,0,6.0",
    "2026-01-21,A2,card,false,false,false,60,0,2.0",
    # February: 2 calls on 2 accounts, both right-party, both promise, one kept.
    "2026-02-02,A1,retail,true,true,false,200,0,4.0",
    "2026-02-03,A3,card,true,true,true,100,150.0,6.0",
]


@pytest.fixture
def calls(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n")
    return str(path)


def _run(path, grain="month", metrics=None):
    metrics = metrics or {k: parse_metric(v) for k, v in COLLECTIONS_METRICS.items()}
    return compute_file_kpis(path, metrics=metrics, time_column="call_date", grain=grain,
                             segment_column="segment", required=COLLECTIONS_COLUMNS)


def test_collections_kpis_by_month(calls):
    result = _run(calls)
    assert result.row_count == 6
    overall = {r["period"]: r for r in result.rows if r["segment"] is None}
    jan, feb = overall["2026-01-01"], overall["2026-02-01"]
    assert jan["contacts_per_account"] == 2.0
    assert jan["right_party_contact_rate"] == 0.5
    assert jan["promise_to_pay_rate"] == 0.5
    assert jan["kept_promise_rate"] == 1.0
    assert jan["average_handle_time"] == 120.0
    assert jan["cost_per_amount_collected"] == pytest.approx(14.0 / 50.0)
    assert feb["kept_promise_rate"] == 0.5
    card_jan = next(r for r in result.rows if r["segment"] == "card" and r["period"] == "2026-01-01")
    # No promise in the card segment in January: the kept rate has no value, not an error.
    assert card_jan["kept_promise_rate"] is None
    assert card_jan["cost_per_amount_collected"] is None


def test_weekly_grain_starts_on_monday(calls):
    periods = {r["period"] for r in _run(calls, grain="week").rows}
    assert "2026-01-05" in periods and "2026-01-19" in periods


def test_user_defined_metric(calls):
    metrics = {"big_promises": parse_metric("count(promise_to_pay AND amount_collected > 100) + 0"),
               "collected_per_call": parse_metric("sum(amount_collected) / count()")}
    overall = {r["period"]: r for r in _run(calls, metrics=metrics).rows if r["segment"] is None}
    assert overall["2026-02-01"]["big_promises"] == 1
    assert overall["2026-01-01"]["collected_per_call"] == 12.5


def test_missing_and_mistyped_columns_are_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("call_date,account_id,segment,right_party_contact,promise_to_pay,handle_seconds,amount_collected,cost\n"
                    "2026-01-05,A1,retail,true,true,slow,50.0,5.0\n")
    with pytest.raises(MetricError) as info:
        _run(str(path))
    message = str(info.value)
    assert "missing column: promise_kept" in message
    assert "handle_seconds should be a number" in message


@pytest.mark.parametrize("text, fragment", [
    ("", "needs a formula"),
    ("amount_collected", "not an aggregate"),
    ("sum(amount_collected", "')' is missing"),
    ("sum(amount_collected); DROP TABLE x", "unexpected"),
    ("median(x)", "not an aggregate"),
    ("sum(select * from t)", "in sum("),
    ("1 + 2", "has no aggregate"),
])
def test_bad_formulas_are_refused_with_a_reason(text, fragment):
    with pytest.raises(MetricError) as info:
        parse_metric(text)
    assert fragment in str(info.value)


def test_unknown_column_in_a_user_metric_is_named(calls):
    with pytest.raises(MetricError, match="unknown column: payments"):
        _run(calls, metrics={"x": parse_metric("sum(payments)")})


def test_rows_without_a_segment_are_their_own_group(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text(HEADER + ROWS[0] + "\n" + ROWS[1].replace(",retail,", ",,") + "\n")
    rows = _run(str(path)).rows
    assert {r["segment"] for r in rows} == {None, "retail", "(none)"}
    overall = [r for r in rows if r["segment"] is None]
    assert len(overall) == 1 and overall[0]["contacts_per_account"] == 2.0
