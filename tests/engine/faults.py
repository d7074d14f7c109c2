"""Small generated datasets with known faults of every kind, and the counts a correct engine finds.

The expected counts are written out by hand (EXPECTED) and recomputed from the rows in
plain Python (oracle()); a test checks that the two agree, so neither can drift unnoticed.
"""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

N = 2000
BASE = dt.datetime(2026, 11, 20, 0, 0, 0)
AS_OF = "2026-11-22T07:00:00Z"

NULL_CUSTOMER = {3, 50, 77, 500, 901}
NULL_CAMPAIGN = {4, 60, 1500}
UNKNOWN_CAMPAIGN = {7, 17, 27, 37}  # campaign 11 is in no table
FAX = {10, 20, 30, 40}
CAPITAL_PHONE = {11, 21}
NULL_CHANNEL = {12, 22, 32}
NEGATIVE_TIME = {100, 101, 102}
LONG_TIME = {103, 104}
NULL_TIME = {105, 106, 107, 108}
BAD_POSTCODE = {200: "ABCD12", 201: "ABCD12", 202: "ABCD12", 203: "123AB", 204: "1234ab", 205: "1234ab", 206: "1234AB "}
NULL_POSTCODE = {207, 208}
WRONG_CLIENT = set(range(300, 306))
SLOW_ANSWER_CAMPAIGN = 5  # every other row of campaign 5 is answered late


def contact_rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(N):
        contact_id: int | None = i + 1
        if 1990 <= i <= 1999:
            contact_id = i - 1989  # ten keys, each twice
        if i in (1980, 1981):
            contact_id = None  # a NULL key twice: one more duplicated key
        campaign_id: int | None = i % 10 + 1
        if i in NULL_CAMPAIGN:
            campaign_id = None
        elif i in UNKNOWN_CAMPAIGN:
            campaign_id = 11
        channel: str | None = ["phone", "sms", "email"][i % 3]
        if i in FAX:
            channel = "fax"
        elif i in CAPITAL_PHONE:
            channel = "Phone"
        elif i in NULL_CHANNEL:
            channel = None
        handle: int | None = (i * 7) % 7000
        if i in NEGATIVE_TIME:
            handle = -5
        elif i in LONG_TIME:
            handle = 9000
        elif i in NULL_TIME:
            handle = None
        postcode: str | None = f"{1000 + i % 9000:04d}AB"
        if i in BAD_POSTCODE:
            postcode = BAD_POSTCODE[i]
        elif i in NULL_POSTCODE:
            postcode = None
        client_id = (campaign_id % 3 + 1) if campaign_id is not None else 1
        if i in WRONG_CLIENT:
            client_id = 99
        answered = i % 25  # 21 of 25 rows within 20 s
        if campaign_id == SLOW_ANSWER_CAMPAIGN and i % 2 == 0:
            answered = 60
        ts = BASE + dt.timedelta(minutes=i)
        rows.append(
            {
                "contact_id": contact_id,
                "customer_id": None if i in NULL_CUSTOMER else i % 200 + 1,
                "campaign_id": campaign_id,
                "client_id": client_id,
                "channel": channel,
                "handle_time_s": handle,
                "answered_after_s": float(answered),
                "postcode": postcode,
                "contact_ts": ts,
                "contact_date": ts.date(),
            }
        )
    return rows


def campaign_rows(duplicate: bool = False) -> list[dict[str, Any]]:
    rows = [{"campaign_id": c, "client_id": c % 3 + 1, "title": f"Campaign {c}"} for c in range(1, 11)]
    if duplicate:
        rows.append({"campaign_id": 7, "client_id": 1, "title": "Campaign 7 again"})
    return rows


def target_rows() -> list[dict[str, Any]]:
    """Every (campaign, customer) pair the contacts use, except (10, 150)."""
    pairs = sorted(
        {
            (r["campaign_id"], r["customer_id"])
            for r in contact_rows()
            if r["campaign_id"] is not None and r["customer_id"] is not None and r["campaign_id"] <= 10
        }
    )
    rows = [{"campaign_id": c, "customer_id": k} for c, k in pairs if (c, k) != (10, 150)]
    # Two targets never contacted, and one with a NULL key (which passes).
    return [*rows, {"campaign_id": 3, "customer_id": 999}, {"campaign_id": 4, "customer_id": 998},
            {"campaign_id": None, "customer_id": 5}]


SCHEMAS = {
    "contacts": pa.schema(
        [
            ("contact_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("campaign_id", pa.int64()),
            ("client_id", pa.int64()),
            ("channel", pa.string()),
            ("handle_time_s", pa.int64()),
            ("answered_after_s", pa.float64()),
            ("postcode", pa.string()),
            ("contact_ts", pa.timestamp("us")),
            ("contact_date", pa.date32()),
        ]
    ),
    "campaigns": pa.schema([("campaign_id", pa.int64()), ("client_id", pa.int64()), ("title", pa.string())]),
    "targets": pa.schema([("campaign_id", pa.int64()), ("customer_id", pa.int64())]),
}


def tables(duplicate_campaign: bool = False) -> dict[str, pa.Table]:
    return {
        "contacts": pa.Table.from_pylist(contact_rows(), schema=SCHEMAS["contacts"]),
        "campaigns": pa.Table.from_pylist(campaign_rows(duplicate_campaign), schema=SCHEMAS["campaigns"]),
        "targets": pa.Table.from_pylist(target_rows(), schema=SCHEMAS["targets"]),
    }


def write_parquet(directory: Path, duplicate_campaign: bool = False) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in tables(duplicate_campaign).items():
        path = directory / f"{name}.parquet"
        pq.write_table(table, path)
        paths[name] = path
    return paths


def checks() -> list[dict[str, Any]]:
    """One check of every kind (and a few variants), each finding a known fault."""
    return [
        {"id": "contact_id_unique", "dataset": "contacts", "unique": ["contact_id"]},
        {"id": "ids_not_null", "dataset": "contacts", "not_null": ["customer_id", "campaign_id"]},
        {"id": "channel_known", "dataset": "contacts",
         "accepted_values": {"column": "channel", "values": ["phone", "sms", "email"]}},
        {"id": "handle_time_range", "dataset": "contacts",
         "range": {"column": "handle_time_s", "min": 0, "max": 7200}},
        {"id": "postcode_pattern", "dataset": "contacts",
         "pattern": {"column": "postcode", "regex": "[0-9]{4}[A-Z]{2}"}},
        {"id": "client_matches_campaign", "dataset": "contacts",
         "lookup": {"to": "campaigns", "on": ["campaign_id"]},
         "row_condition": "client_id = campaigns.client_id"},
        {"id": "answered_or_short", "dataset": "contacts",
         "row_condition": "answered_after_s < 24 OR handle_time_s BETWEEN 0 AND 100"},
        {"id": "contact_in_targets", "dataset": "contacts",
         "relationships": {"to": "targets", "columns": ["campaign_id", "customer_id"]}},
        {"id": "targets_contacted", "dataset": "targets",
         "relationships": {"to": "contacts", "columns": ["campaign_id", "customer_id"]}},
        {"id": "campaign_known", "dataset": "contacts",
         "relationships": {"to": "campaigns", "columns": ["campaign_id"]},
         "tolerance": {"max_failing": 4}},
        {"id": "enough_rows", "dataset": "contacts", "row_count": {"min": 1000, "max": 1_000_000}},
        {"id": "too_few_rows", "dataset": "contacts", "row_count": {"min": 5000}, "severity": "warn"},
        {"id": "fresh", "dataset": "contacts", "freshness": {"column": "contact_ts", "max_age": "26h"}},
        {"id": "stale", "dataset": "contacts", "freshness": {"column": "contact_date", "max_age": "12h"}},
        {"id": "mean_handle", "dataset": "contacts",
         "metric": {"column": "handle_time_s", "stat": "mean", "min": 0, "max": 5000}},
        {"id": "median_handle", "dataset": "contacts",
         "metric": {"column": "handle_time_s", "stat": "quantile", "q": 0.5, "max": 3000}},
        {"id": "customers_distinct", "dataset": "contacts",
         "metric": {"column": "customer_id", "stat": "distinct_count", "min": 200, "max": 200}},
        {"id": "channel_nulls", "dataset": "contacts",
         "metric": {"column": "channel", "stat": "null_ratio", "max": 0.001}},
        {"id": "answered_share", "dataset": "contacts",
         "share": {"condition": "answered_after_s <= 20", "min": 0.8}},
        {"id": "answered_share_by_campaign", "dataset": "contacts", "severity": "warn",
         "share": {"condition": "answered_after_s <= 20", "min": 0.8, "group_by": ["campaign_id"]}},
        {"id": "max_handle_by_day", "dataset": "contacts",
         "metric": {"column": "handle_time_s", "stat": "max", "max": 7000, "group_by": ["contact_date"]}},
        {"id": "contacts_schema", "dataset": "contacts",
         "schema": {"columns": {"contact_id": "integer", "channel": "string", "contact_ts": "timestamp",
                                "contact_date": "date", "answered_after_s": "float",
                                "handle_time_s": "string", "missing_col": "integer"}}},
    ]


EXPECTED: dict[str, dict[str, Any]] = {
    "contact_id_unique": {"status": "failed", "failing_rows": 22, "observed": {"duplicate_keys": 11}},
    "ids_not_null": {"status": "failed", "failing_rows": 8},
    "channel_known": {"status": "failed", "failing_rows": 6},
    "handle_time_range": {"status": "failed", "failing_rows": 5},
    "postcode_pattern": {"status": "failed", "failing_rows": 7},
    "client_matches_campaign": {"status": "failed", "failing_rows": 6},
    "answered_or_short": {"status": "failed", "failing_rows": 236},
    "contact_in_targets": {"status": "failed", "failing_rows": 14},
    "targets_contacted": {"status": "failed", "failing_rows": 2, "total_rows": 202},
    "campaign_known": {"status": "passed", "failing_rows": 4},
    "enough_rows": {"status": "passed", "value": 2000},
    "too_few_rows": {"status": "warned", "value": 2000},
    "fresh": {"status": "passed", "value": 78_060.0},
    "stale": {"status": "failed", "value": 111_600.0},
    "mean_handle": {"status": "passed", "value": 3509.2349699398796},
    "median_handle": {"status": "failed", "value": 3510.5},
    "customers_distinct": {"status": "passed", "value": 200},
    "channel_nulls": {"status": "failed", "value": 0.0015},
    "answered_share": {"status": "failed", "value": 0.7605},
    "answered_share_by_campaign": {"status": "warned", "failing_groups": 2},
    "max_handle_by_day": {"status": "failed", "failing_groups": 1},
    "contacts_schema": {"status": "failed"},
}


def oracle() -> dict[str, dict[str, Any]]:
    """The expected results, computed from the rows in plain Python."""
    rows = contact_rows()
    targets = {(r["campaign_id"], r["customer_id"]) for r in target_rows()}
    campaigns = {r["campaign_id"]: r for r in campaign_rows()}
    keys: dict[Any, int] = {}
    for r in rows:
        keys[r["contact_id"]] = keys.get(r["contact_id"], 0) + 1
    dup_rows = sum(n for n in keys.values() if n > 1)
    dup_keys = sum(1 for n in keys.values() if n > 1)

    def client_fails(r: dict) -> bool:
        c = campaigns.get(r["campaign_id"])
        return c is not None and r["client_id"] != c["client_id"]

    def answered_or_short_fails(r: dict) -> bool:
        a = r["answered_after_s"] < 24
        h = r["handle_time_s"]
        b = None if h is None else 0 <= h <= 100
        # three-valued OR: FALSE only when both sides are FALSE
        return a is False and b is False

    import re

    handles = [r["handle_time_s"] for r in rows if r["handle_time_s"] is not None]
    newest_ts = max(r["contact_ts"] for r in rows)
    newest_date = max(r["contact_date"] for r in rows)
    as_of = dt.datetime(2026, 11, 22, 7, 0, 0)
    by_campaign: dict[Any, list[bool]] = {}
    for r in rows:
        by_campaign.setdefault(r["campaign_id"], []).append(r["answered_after_s"] <= 20)
    by_day: dict[Any, int] = {}
    for r in rows:
        if r["handle_time_s"] is not None:
            by_day[r["contact_date"]] = max(by_day.get(r["contact_date"], -(10**9)), r["handle_time_s"])
    return {
        "contact_id_unique": {"failing_rows": dup_rows, "duplicate_keys": dup_keys},
        "ids_not_null": {"failing_rows": sum(r["customer_id"] is None or r["campaign_id"] is None for r in rows)},
        "channel_known": {
            "failing_rows": sum(r["channel"] is not None and r["channel"] not in ("phone", "sms", "email") for r in rows)
        },
        "handle_time_range": {
            "failing_rows": sum(r["handle_time_s"] is not None and not 0 <= r["handle_time_s"] <= 7200 for r in rows)
        },
        "postcode_pattern": {
            "failing_rows": sum(
                r["postcode"] is not None and not re.fullmatch("[0-9]{4}[A-Z]{2}", r["postcode"]) for r in rows
            )
        },
        "client_matches_campaign": {"failing_rows": sum(client_fails(r) for r in rows)},
        "answered_or_short": {"failing_rows": sum(answered_or_short_fails(r) for r in rows)},
        "contact_in_targets": {
            "failing_rows": sum(
                r["campaign_id"] is not None
                and r["customer_id"] is not None
                and (r["campaign_id"], r["customer_id"]) not in targets
                for r in rows
            )
        },
        "targets_contacted": {
            "failing_rows": sum(
                r["campaign_id"] is not None
                and r["customer_id"] is not None
                and (r["campaign_id"], r["customer_id"]) not in {(c["campaign_id"], c["customer_id"]) for c in rows}
                for r in target_rows()
            ),
            "total_rows": len(target_rows()),
        },
        "campaign_known": {
            "failing_rows": sum(r["campaign_id"] is not None and r["campaign_id"] not in campaigns for r in rows)
        },
        "fresh": {"value": (as_of - newest_ts).total_seconds()},
        "stale": {"value": (as_of - dt.datetime.combine(newest_date, dt.time())).total_seconds()},
        "mean_handle": {"value": statistics.fmean(handles)},
        "median_handle": {"value": statistics.quantiles(handles, n=4, method="inclusive")[1]},
        "customers_distinct": {"value": len({r["customer_id"] for r in rows if r["customer_id"] is not None})},
        "channel_nulls": {"value": sum(r["channel"] is None for r in rows) / N},
        "answered_share": {"value": sum(r["answered_after_s"] <= 20 for r in rows) / N},
        "answered_share_by_campaign": {
            "failing_groups": sum(sum(v) / len(v) < 0.8 for v in by_campaign.values()),
            "groups": len(by_campaign),
        },
        "max_handle_by_day": {"failing_groups": sum(v > 7000 for v in by_day.values()), "groups": len(by_day)},
    }


def suite_document(sources: dict[str, dict[str, Any]], name: str = "outbound-faults") -> dict[str, Any]:
    datasets = {
        "contacts": {**sources["contacts"], "key": ["contact_id"]},
        "campaigns": {**sources["campaigns"], "key": ["campaign_id"]},
        "targets": dict(sources["targets"]),
    }
    return {"version": 1, "name": name, "datasets": datasets, "checks": checks()}
