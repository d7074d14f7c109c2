"""Generate a synthetic outbound-marketing delivery with faults whose counts are known in advance.

Every value is a function of the row number, so the same `--rows` always gives the same
files, and every injected fault sits in its own residue class of the row number: the
expected result of each check in `suite.yaml` is computed here by arithmetic, not by
querying the data, and written to `expected.json` next to the Parquet files. The
hand-written SQL (bench/handwritten.py) and the test in tests/bench/ verify that the data
really has those counts; the benchmark then demands the same counts from every tool.

The data is produced by DuckDB `COPY (SELECT ... FROM range(n)) TO ...`, streaming, so
100M rows need neither the rows in memory nor more than a few GB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

# The faulty rows of each kind: row i is faulty when i % 1000 equals the slot. Slots are
# distinct, so each row carries at most one injected fault (a fault may still fail two
# checks, e.g. an unknown customer is also outside the target list; counted below).
SLOT_DUPLICATE_ID = 17  # contact_id repeats the previous row's
SLOT_NULL_CUSTOMER = 101
SLOT_NULL_CAMPAIGN = 202
SLOT_BAD_CHANNEL = 303  # 'Phone' / 'whatsapp'
SLOT_HANDLE_OUT_OF_RANGE = 404  # -5 s / 9000 s
SLOT_HANDLE_NULL = 405  # NULL passes a range check
SLOT_BAD_PHONE = 505  # no '+' / too short (when the channel has a phone)
SLOT_OFF_TARGET = 606  # a customer of the untargeted 'dormant' segment
SLOT_UNKNOWN_CUSTOMER = 707  # a customer_id missing from customers
SLOT_OTHER_CLIENT = 808  # client_id of another client than the campaign's
SLOT_SHORT_SALE = 909  # a 'sale' after 5-44 s on the phone

CAMPAIGNS = 293
CLIENTS = 12
DAYS = 30
FIRST_DAY = "2026-10-23"
WORKDAY_S = 12 * 3600  # contacts happen 08:00-20:00
AGENTS = 450
# A (campaign, day) group is "bad" (every call waits > 20 s) when both hold:
BAD_CAMPAIGN_MOD, BAD_CAMPAIGN_REM = 17, 5  # on campaign_id
BAD_DAY_MOD = 3  # on the day's index since FIRST_DAY
MALFORMED_CAMPAIGN_REM = 42  # campaigns with c % 100 == 42 end before they start
AS_OF = "2026-11-22T07:00:00Z"  # the run's as-of time for `freshness`
MIN_ROWS = 20_000  # below this, some (campaign, day) groups would be empty


@dataclass(frozen=True)
class Layout:
    """Sizes derived from the number of contacts; every formula below uses these."""

    rows: int
    customers: int  # U: customer_id 1..U; ids divisible by 10 are 'dormant', never targeted
    targets_per_campaign: int  # Tc
    contactable_per_campaign: int  # Qc: target positions q with q % 10 != 3
    first_key_fault_row: int  # L: rows below it never lose their target (see below)

    @property
    def targetable(self) -> int:  # V: customers that may be targeted
        return self.customers * 9 // 10

    @property
    def targets(self) -> int:
        return CAMPAIGNS * self.targets_per_campaign

    @property
    def target_shift(self) -> int:  # spreads each campaign's targets over the customers
        return 7919 % self.targetable


def layout_for(rows: int) -> Layout:
    if rows < MIN_ROWS:
        raise SystemExit(f"--rows must be at least {MIN_ROWS:,}")
    customers = max(rows // 100 * 10, 1000)
    tc = max(rows // (5 * CAMPAIGNS), 10)
    qc = sum(1 for q in range(tc) if q % 10 != 3)
    # Rows i < C*Qc visit every contactable target once (i % C is the campaign, i // C the
    # target position), so keeping their keys intact makes "targets never contacted"
    # exactly the positions q % 10 == 3.
    return Layout(rows, customers, tc, qc, CAMPAIGNS * qc)


def count_residue(n: int, period: int, residue: int, lo: int = 0) -> int:
    """How many i in [lo, n) have i % period == residue."""
    first = lo + (residue - lo) % period
    return 0 if first >= n else (n - 1 - first) // period + 1


def count_periodic(n: int, period: int, predicate, lo: int = 0) -> int:
    """How many i in [lo, n) satisfy a predicate that depends only on i % period."""
    return sum(count_residue(n, period, r, lo) for r in range(period) if predicate(r))


def channel_of(i: int) -> str:
    """The channel of row i (mirrors the SQL in contacts_sql)."""
    if i % 1000 == SLOT_BAD_CHANNEL:
        return "Phone" if (i // 1000) % 2 == 0 else "whatsapp"
    b = (i // 3) % 10
    return "phone" if b < 6 else "sms" if b < 8 else "email"


def outcome_of(i: int) -> str:
    if i % 1000 == SLOT_SHORT_SALE:
        return "sale"
    return ("sale", "sale", "callback", "callback", "callback", "callback",
            "not_interested", "not_interested", "not_interested", "not_interested",
            "not_interested", "no_answer", "no_answer", "no_answer", "no_answer",
            "no_answer", "voicemail", "voicemail", "voicemail", "voicemail")[(i // 7) % 20]


OUTCOME_SQL = (
    "['sale','sale','callback','callback','callback','callback',"
    "'not_interested','not_interested','not_interested','not_interested','not_interested',"
    "'no_answer','no_answer','no_answer','no_answer','no_answer',"
    "'voicemail','voicemail','voicemail','voicemail'][(i // 7) % 20 + 1]"
)


def contacts_sql(lay: Layout) -> str:
    n, c_, qc, v_, s_, u_, l_ = (
        lay.rows, CAMPAIGNS, lay.contactable_per_campaign, lay.targetable,
        lay.target_shift, lay.customers, lay.first_key_fault_row,
    )
    bad_day = f"(contact_date - DATE '{FIRST_DAY}') % {BAD_DAY_MOD} = 0"
    bad_campaign = f"campaign_id % {BAD_CAMPAIGN_MOD} = {BAD_CAMPAIGN_REM}"
    return f"""
    WITH base AS (
        SELECT i, i % 1000 AS slot, i // 1000 AS m, i % {c_} AS c,
               (i // {c_}) % {qc} AS k, (i * {DAYS * WORKDAY_S}) // {n} AS s
        FROM range({n}) r(i)
    ), keyed AS (
        SELECT *, (k // 9) * 10 + k % 9 + CASE WHEN k % 9 >= 3 THEN 1 ELSE 0 END AS q
        FROM base
    ), raw AS (
        SELECT
            i,
            CASE WHEN slot = {SLOT_DUPLICATE_ID} THEN i ELSE i + 1 END AS contact_id,
            CASE WHEN i >= {l_} AND slot = {SLOT_NULL_CUSTOMER} THEN NULL
                 WHEN i >= {l_} AND slot = {SLOT_OFF_TARGET} THEN 10 * (1 + m % {u_ // 10})
                 WHEN i >= {l_} AND slot = {SLOT_UNKNOWN_CUSTOMER} THEN {u_} + 1 + m % 1000
                 ELSE ((q + c * {s_}) % {v_}) // 9 * 10 + 1 + ((q + c * {s_}) % {v_}) % 9
            END::BIGINT AS customer_id,
            CASE WHEN i >= {l_} AND slot = {SLOT_NULL_CAMPAIGN} THEN NULL ELSE c + 1 END::INTEGER
                AS campaign_id,
            (CASE WHEN slot = {SLOT_OTHER_CLIENT} THEN 1 + (c + 1) % {CLIENTS}
                  ELSE 1 + c % {CLIENTS} END)::INTEGER AS client_id,
            CASE WHEN slot = {SLOT_BAD_CHANNEL} THEN
                     CASE WHEN m % 2 = 0 THEN 'Phone' ELSE 'whatsapp' END
                 WHEN (i // 3) % 10 < 6 THEN 'phone'
                 WHEN (i // 3) % 10 < 8 THEN 'sms' ELSE 'email' END AS channel,
            DATE '{FIRST_DAY}' + (s // {WORKDAY_S})::INTEGER AS contact_date,
            (DATE '{FIRST_DAY}' + (s // {WORKDAY_S})::INTEGER)::TIMESTAMP
                + INTERVAL 8 HOUR + to_seconds(s % {WORKDAY_S}) AS contacted_at,
            CASE WHEN slot = {SLOT_SHORT_SALE} THEN 'sale' ELSE {OUTCOME_SQL} END AS outcome,
            slot, m
        FROM keyed
    )
    SELECT
        contact_id, customer_id, campaign_id, client_id, channel, contact_date, contacted_at,
        (CASE WHEN slot = {SLOT_HANDLE_OUT_OF_RANGE} THEN CASE WHEN m % 2 = 0 THEN -5 ELSE 9000 END
              WHEN slot = {SLOT_HANDLE_NULL} THEN NULL
              WHEN slot = {SLOT_SHORT_SALE} THEN 5 + m % 40
              WHEN outcome = 'sale' THEN 60 + (i * 37) % 1500
              ELSE 10 + (i * 37) % 1200 END)::INTEGER AS handle_time_s,
        -- Decided on the delivered campaign_id: a NULL campaign is never in a bad group.
        (CASE WHEN {bad_campaign} AND {bad_day} THEN 21 + i % 40
              ELSE (i * 31) % 21 END)::INTEGER AS answered_after_s,
        outcome,
        (1 + (i // 5) % {AGENTS})::INTEGER AS agent_id,
        CASE WHEN channel = 'email' THEN NULL
             WHEN slot = {SLOT_BAD_PHONE} AND m % 2 = 0
                 THEN '447' || lpad(((i * 7919) % 1000000000)::VARCHAR, 9, '0')
             WHEN slot = {SLOT_BAD_PHONE}
                 THEN '+447' || lpad(((i * 7919) % 10000000)::VARCHAR, 7, '0')
             ELSE '+447' || lpad(((i * 7919) % 1000000000)::VARCHAR, 9, '0') END AS phone
    FROM raw
    """  # noqa: S608 - numbers only, no input


def targets_sql(lay: Layout) -> str:
    tc, v_, s_ = lay.targets_per_campaign, lay.targetable, lay.target_shift
    return f"""
    SELECT (j % {CAMPAIGNS} + 1)::INTEGER AS campaign_id,
           (((j // {CAMPAIGNS}) + (j % {CAMPAIGNS}) * {s_}) % {v_} // 9 * 10 + 1
             + (((j // {CAMPAIGNS}) + (j % {CAMPAIGNS}) * {s_}) % {v_}) % 9)::BIGINT AS customer_id,
           (1 + (j * 13) % 5)::INTEGER AS priority,
           DATE '2026-10-01' + (j % 20)::INTEGER AS listed_on
    FROM range({CAMPAIGNS * tc}) r(j)
    """  # noqa: S608 - numbers only, no input


def campaigns_sql() -> str:
    return f"""
    SELECT (c + 1)::INTEGER AS campaign_id,
           (1 + c % {CLIENTS})::INTEGER AS client_id,
           ['Broadband upgrade', 'Mobile retention', 'Energy switch', 'Insurance renewal',
            'Card activation', 'Loyalty winback'][c % 6 + 1] || ' ' || (c + 1) AS name,
           DATE '2026-10-01' + (c % 20)::INTEGER AS start_date,
           CASE WHEN c % 100 = {MALFORMED_CAMPAIGN_REM}
                THEN DATE '2026-10-01' + (c % 20)::INTEGER - 3
                ELSE DATE '2026-10-01' + (c % 20)::INTEGER + 60 END AS end_date
    FROM range({CAMPAIGNS}) r(c)
    """  # noqa: S608 - numbers only, no input


def customers_sql(lay: Layout) -> str:
    return f"""
    SELECT u::BIGINT AS customer_id,
           CASE WHEN u % 10 = 0 THEN 'dormant'
                ELSE ['prospect', 'active', 'lapsed'][u % 3 + 1] END AS segment,
           ['north', 'south', 'east', 'west', 'central'][u % 5 + 1] AS region,
           DATE '2015-01-01' + (u % 3650)::INTEGER AS customer_since,
           u % 7 <> 0 AS marketing_opt_in
    FROM range(1, {lay.customers + 1}) r(u)
    """  # noqa: S608 - numbers only, no input


def expected_results(lay: Layout) -> dict:
    """The result of every check in suite.yaml, by arithmetic on the row numbers."""
    n, lo = lay.rows, lay.first_key_fault_row

    def slot(s: int, lo_: int = 0) -> int:
        return count_residue(n, 1000, s, lo_)

    def failed(rows: int) -> str:
        return "failed" if rows else "passed"

    # Period 3000 covers both the slot (i % 1000) and the channel ((i // 3) % 10).
    bad_phones = count_periodic(
        n, 3000, lambda r: r % 1000 == SLOT_BAD_PHONE and channel_of(r) != "email")
    emails = count_periodic(n, 3000, lambda r: channel_of(r) == "email")
    # A 'sale' shorter than 60 s: the injected ones, plus out-of-range -5 s on a sale row.
    # Period 14000 covers i % 1000, (i // 1000) % 2 and (i // 7) % 20.
    short_sales = slot(SLOT_SHORT_SALE) + count_periodic(
        n, 14000,
        lambda r: r % 1000 == SLOT_HANDLE_OUT_OF_RANGE and (r // 1000) % 2 == 0
        and outcome_of(r) == "sale")
    off_target, unknown = slot(SLOT_OFF_TARGET, lo), slot(SLOT_UNKNOWN_CUSTOMER, lo)
    duplicates = slot(SLOT_DUPLICATE_ID)
    nulls = slot(SLOT_NULL_CUSTOMER, lo) + slot(SLOT_NULL_CAMPAIGN, lo)
    bad_campaigns = sum(1 for c in range(1, CAMPAIGNS + 1)
                        if c % BAD_CAMPAIGN_MOD == BAD_CAMPAIGN_REM)
    bad_days = sum(1 for d in range(DAYS) if d % BAD_DAY_MOD == 0)
    missed_targets = CAMPAIGNS * sum(
        1 for q in range(lay.targets_per_campaign) if q % 10 == 3)
    malformed = sum(1 for c in range(CAMPAIGNS) if c % 100 == MALFORMED_CAMPAIGN_REM)

    def row_level(rows: int, total: int) -> dict:
        return {"status": failed(rows), "failing_rows": rows, "total_rows": total}

    return {
        "contact_id_unique": {**row_level(2 * duplicates, n),
                              "observed": {"duplicate_keys": duplicates}},
        "contact_keys_present": row_level(nulls, n),
        "channel_known": row_level(slot(SLOT_BAD_CHANNEL), n),
        "handle_time_plausible": row_level(slot(SLOT_HANDLE_OUT_OF_RANGE), n),
        "phone_well_formed": row_level(bad_phones, n),
        "sale_needs_a_conversation": row_level(short_sales, n),
        "campaign_of_this_client": row_level(slot(SLOT_OTHER_CLIENT), n),
        "contact_was_targeted": row_level(off_target + unknown, n),
        "customer_known": row_level(unknown, n),
        "answered_within_20s": {"status": "warned", "failing_groups": bad_campaigns * bad_days},
        "contacts_fresh": {"status": "passed"},
        "contacts_delivered": {"status": "passed", "value": n},
        "contacts_schema": {"status": "failed"},
        "agents_on_shift": {"status": "passed", "value": AGENTS},
        "phone_mostly_present": {"status": "passed", "value": emails / n},
        "targets_contacted": row_level(missed_targets, lay.targets),
        "campaign_dates_ordered": row_level(malformed, CAMPAIGNS),
        "customer_id_unique": row_level(0, lay.customers),
    }


def generate(rows: int, out: Path, *, threads: int = 2, memory_limit: str = "3GB") -> dict:
    lay = layout_for(rows)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit,
                                 "preserve_insertion_order": False,
                                 "temp_directory": str(out / ".tmp")})
    tables = {
        "campaigns": campaigns_sql(),
        "customers": customers_sql(lay),
        "targets": targets_sql(lay),
        "contacts": contacts_sql(lay),
    }
    for name, sql in tables.items():
        started = time.perf_counter()
        partial = out / f".{name}.parquet.partial"
        con.execute(f"COPY ({sql}) TO '{partial}' (FORMAT parquet)")
        os.replace(partial, out / f"{name}.parquet")  # never leave a half-written file
        print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    expected = {
        "rows": rows,
        "as_of": AS_OF,
        "layout": asdict(lay) | {"targets": lay.targets, "campaigns": CAMPAIGNS},
        "checks": expected_results(lay),
    }
    # Written last: its presence means the data set is complete.
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, help="default: bench-data/<rows>/")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="3GB")
    args = parser.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent.parent / "bench-data" / str(args.rows)
    started = time.perf_counter()
    generate(args.rows, out, threads=args.threads, memory_limit=args.memory_limit)
    print(f"{args.rows:,} contacts in {out} ({time.perf_counter() - started:.1f} s)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

