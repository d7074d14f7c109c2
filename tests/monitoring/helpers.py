"""Helpers for monitoring tests and the crawl: the story's feeds and delivery files."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from sourcewise.monitoring import story

DAY = dt.date(2026, 11, 20)
LAYOUT = story.Layout(customers=600)
SMALL_SUITE = story.SUITE.replace("row_count: {min: 100}", "row_count: {min: 10}")


@dataclass
class Story:
    contacts: object
    targets: object
    campaigns: object


def make_feeds(world, *, with_references: bool = True) -> Story:
    """The story's feeds on world.engagement, the reference data delivered, the suite saved."""
    from sourcewise.monitoring import services

    buyer, org = world.buyer.manager, world.buyer.organization
    common = dict(actor=buyer, organization=org, engagement=world.engagement)
    contacts = services.feed_create(
        **common, name="Daily contact log", slug="contact-log", expected_schema=story.CONTACT_SCHEMA,
        customer_columns=["customer_id"], key=["contact_id"], time_zone="Europe/London",
        description="Every outbound contact of the day.")
    targets = services.feed_create(
        **common, name="Campaign targets", slug="campaign-targets", kind="reference",
        expected_schema=story.TARGET_SCHEMA, customer_columns=["customer_id"], cadence="on_change")
    campaigns = services.feed_create(
        **common, name="Northwind campaigns", slug="campaigns", kind="reference",
        expected_schema=story.CAMPAIGN_SCHEMA, cadence="on_change")
    if with_references:
        services.delivery_receive(actor=buyer, organization=org, feed=targets, filename="targets.parquet",
                                  stream=io.BytesIO(story.parquet_bytes(story.targets_table(LAYOUT))))
        services.delivery_receive(actor=buyer, organization=org, feed=campaigns, filename="campaigns.parquet",
                                  stream=io.BytesIO(story.parquet_bytes(story.campaigns_table())))
        services.suite_save(actor=buyer, organization=org, feed=contacts, text=SMALL_SUITE, expected_number=None)
    return Story(contacts, targets, campaigns)


def good_day(day: dt.date = DAY) -> bytes:
    return story.parquet_bytes(story.contact_log(day, LAYOUT))


def bad_day(day: dt.date = DAY) -> bytes:
    return story.parquet_bytes(story.contact_log(day, LAYOUT, story.BadDay(off_target=15, missed=12, other_client=8)))


def jsonl_bytes(table) -> bytes:
    """A table as JSON Lines, timestamps written as ISO text (as providers send them)."""
    import json

    return b"".join(json.dumps(row, default=str).encode() + b"\n" for row in table.to_pylist())


def good_day_jsonl(day: dt.date = DAY) -> bytes:
    return jsonl_bytes(story.contact_log(day, LAYOUT))


def bad_day_jsonl(day: dt.date = DAY) -> bytes:
    return jsonl_bytes(story.contact_log(day, LAYOUT, story.BadDay(off_target=15, missed=12, other_client=8)))
