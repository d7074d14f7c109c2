"""The brief's outbound-marketing story as data: a daily contact log, its targets and campaigns.

Dialwell runs Northwind's outbound campaigns and Brightline's. Each day it calls every
customer on Northwind's target list once. On a bad day a data-integration failure sends
contacts to customers outside the targeted segments, misses targeted customers, and logs
contacts for Brightline's campaign in Northwind's log. Used by the demo and the tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

NORTHWIND_CAMPAIGNS = (101, 102, 103, 104)
BRIGHTLINE_CAMPAIGN = 905
SEGMENTS = ("young-savers", "families", "dormant")  # customers c % 3; 'dormant' is never targeted

CONTACT_SCHEMA = {
    "contact_id": "integer", "customer_id": "integer", "campaign_id": "integer",
    "channel": "string", "contacted_at": "timestamp", "handle_time_s": "integer", "outcome": "string",
}
TARGET_SCHEMA = {"campaign_id": "integer", "customer_id": "integer", "segment": "string"}
CAMPAIGN_SCHEMA = {"campaign_id": "integer", "name": "string", "segment": "string"}

SUITE = """\
version: 1
name: outbound-contact-log
description: What Northwind expects of Dialwell's daily contact log.
datasets:
  contacts: {feed: contact-log, key: [contact_id]}
  targets: {feed: campaign-targets, key: [campaign_id, customer_id]}
  campaigns: {feed: campaigns, key: [campaign_id]}
checks:
  - id: contact_id_unique
    name: Every contact is logged once
    dataset: contacts
    unique: [contact_id]
  - id: contact_keys_present
    name: Every contact names its customer and campaign
    dataset: contacts
    not_null: [customer_id, campaign_id]
  - id: channel_known
    name: Channel is one of the contracted channels
    dataset: contacts
    accepted_values: {column: channel, values: [phone, sms, email]}
  - id: contact_was_targeted
    name: Contacts stay within the campaign's targeted segments
    dataset: contacts
    relationships: {to: targets, columns: [campaign_id, customer_id]}
  - id: campaign_is_northwinds
    name: Every contact belongs to one of Northwind's campaigns
    dataset: contacts
    relationships: {to: campaigns, columns: [campaign_id]}
  - id: targets_contacted
    name: Every targeted customer was contacted
    dataset: targets
    relationships: {to: contacts, columns: [campaign_id, customer_id]}
  - id: handle_time_plausible
    name: Handle time between 0 s and 2 h
    dataset: contacts
    range: {column: handle_time_s, min: 0, max: 7200}
    severity: warn
  - id: contacts_delivered
    name: The log is not truncated
    dataset: contacts
    row_count: {min: 100}
"""


@dataclass(frozen=True)
class Layout:
    customers: int = 3000

    def targets(self) -> list[tuple[int, int, str]]:
        """(campaign, customer, segment): campaign k targets one segment, spread over customers."""
        rows = []
        for i, campaign in enumerate(NORTHWIND_CAMPAIGNS):
            segment = i % 2  # young-savers or families
            for customer in range(1, self.customers + 1):
                if customer % 3 == segment and (customer // 3) % len(NORTHWIND_CAMPAIGNS) == i:
                    rows.append((campaign, customer, SEGMENTS[segment]))
        return rows


def targets_table(layout: Layout = Layout()) -> pa.Table:
    rows = layout.targets()
    return pa.table({
        "campaign_id": pa.array([r[0] for r in rows], pa.int64()),
        "customer_id": pa.array([r[1] for r in rows], pa.int64()),
        "segment": [r[2] for r in rows],
    })


def campaigns_table() -> pa.Table:
    return pa.table({
        "campaign_id": pa.array(list(NORTHWIND_CAMPAIGNS), pa.int64()),
        "name": [f"Northwind savings push {c}" for c in NORTHWIND_CAMPAIGNS],
        "segment": [SEGMENTS[i % 2] for i in range(len(NORTHWIND_CAMPAIGNS))],
    })


@dataclass(frozen=True)
class BadDay:
    """What the integration failure does to one day's log."""

    off_target: int = 0  # contacts to 'dormant' customers no campaign targets
    missed: int = 0  # targeted customers left out
    other_client: int = 0  # contacts logged for Brightline's campaign


def contact_log(day: dt.date, layout: Layout = Layout(), bad: BadDay = BadDay()) -> pa.Table:
    """One day's contact log: every target contacted once, plus the bad day's faults."""
    targets = layout.targets()
    if bad.missed:
        step = max(1, len(targets) // bad.missed)
        dropped = set(range(0, step * bad.missed, step))
        targets = [t for i, t in enumerate(targets) if i not in dropped]
    rows = [(campaign, customer) for campaign, customer, _ in targets]
    dormant = [c for c in range(1, layout.customers + 1) if c % 3 == 2]
    rows += [(NORTHWIND_CAMPAIGNS[i % len(NORTHWIND_CAMPAIGNS)], dormant[i % len(dormant)])
             for i in range(bad.off_target)]
    rows += [(BRIGHTLINE_CAMPAIGN, dormant[-1 - i % len(dormant)]) for i in range(bad.other_client)]
    base = dt.datetime.combine(day, dt.time(8, 0), tzinfo=dt.UTC)
    first_id = int(day.strftime("%Y%m%d")) * 100_000
    channels = ("phone", "sms", "email")
    outcomes = ("no_answer", "callback", "declined", "sale")
    n = len(rows)
    return pa.table({
        "contact_id": pa.array([first_id + i for i in range(n)], pa.int64()),
        "customer_id": pa.array([r[1] for r in rows], pa.int64()),
        "campaign_id": pa.array([r[0] for r in rows], pa.int64()),
        "channel": [channels[i % 3] for i in range(n)],
        "contacted_at": pa.array([base + dt.timedelta(seconds=17 * i % 43200) for i in range(n)],
                                 pa.timestamp("us", tz="UTC")),
        "handle_time_s": pa.array([30 + (i * 37) % 600 for i in range(n)], pa.int64()),
        "outcome": [outcomes[i % 4] for i in range(n)],
    })


def parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def csv_bytes(table: pa.Table) -> bytes:
    import pyarrow.csv as pc

    sink = pa.BufferOutputStream()
    pc.write_csv(table, sink)
    return sink.getvalue().to_pybytes()
