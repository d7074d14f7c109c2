"""The demo's part of monitoring: called by demo.story.load() after the core story.

Dialwell delivers Northwind's daily contact log for two weeks. One day a data-integration
failure sends contacts outside the targeted segments, misses targeted customers and logs
contacts for Brightline's campaign; another day the log arrives late. Every file goes
through the same services as an upload in the page, and is checked at once.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo

from django.utils import timezone

from sourcewise.monitoring import services, story
from sourcewise.monitoring.models import CheckRun, Delivery, Feed

DAYS = 14
BAD_DAY = 9  # index of the day the integration failed (0 = the first day)
LATE_DAY = 4  # index of the day the log arrived late
LAYOUT = story.Layout(customers=6000)
BAD = story.BadDay(off_target=140, missed=95, other_client=60)
LONDON = zoneinfo.ZoneInfo("Europe/London")


def load(story_) -> None:
    """Add this app's part of the story; loading twice changes nothing."""
    engagement = story_.engagements["Outbound marketing calls"]
    if Feed.objects.filter(engagement=engagement, slug="contact-log").exists():
        return
    vm = story_.users["vm@northwind.demo"]
    ops = story_.users["ops@dialwell.demo"]
    am = story_.users["am@dialwell.demo"]
    northwind, dialwell = engagement.buyer, engagement.provider
    common = dict(actor=vm, organization=northwind, engagement=engagement)
    contacts = services.feed_create(
        **common, name="Daily contact log", slug="contact-log",
        description="Every outbound contact Dialwell made for Northwind's campaigns the day before.",
        expected_schema=story.CONTACT_SCHEMA, customer_columns=["customer_id"], key=["contact_id"],
        cadence=Feed.Cadence.DAILY, due_time=dt.time(6, 0), time_zone="Europe/London",
        buyer_owner=vm, provider_owner=am)
    targets = services.feed_create(
        **common, name="Campaign targets", slug="campaign-targets", kind=Feed.Kind.REFERENCE,
        description="The customers each campaign targets, by segment (young savers, families).",
        expected_schema=story.TARGET_SCHEMA, customer_columns=["customer_id"],
        key=["campaign_id", "customer_id"], cadence=Feed.Cadence.ON_CHANGE, buyer_owner=vm)
    campaigns = services.feed_create(
        **common, name="Northwind campaigns", slug="campaigns", kind=Feed.Kind.REFERENCE,
        description="Northwind's campaigns that Dialwell runs.", expected_schema=story.CAMPAIGN_SCHEMA,
        key=["campaign_id"], cadence=Feed.Cadence.ON_CHANGE, buyer_owner=vm)
    today = timezone.localdate(timezone=LONDON)
    first = today - dt.timedelta(days=DAYS)
    start = dt.datetime.combine(first - dt.timedelta(days=1), dt.time(9, 0), tzinfo=LONDON)
    for feed, table, name in ((targets, story.targets_table(LAYOUT), "targets.parquet"),
                              (campaigns, story.campaigns_table(), "campaigns.parquet")):
        _deliver(feed, table, name, actor=vm, organization=northwind, received_at=start)
    services.suite_save(actor=vm, organization=northwind, feed=contacts, text=story.SUITE,
                        expected_number=None, note="Reconcile the log with the targets and campaigns")
    for i in range(DAYS):
        day = first + dt.timedelta(days=i)
        arrives = dt.time(8, 40) if i == LATE_DAY else dt.time(5, 30)
        table = story.contact_log(day, LAYOUT, BAD if i == BAD_DAY else story.BadDay())
        _deliver(contacts, table, f"dialwell-contacts-{day:%Y%m%d}.parquet", actor=ops,
                 organization=dialwell, received_at=dt.datetime.combine(day, arrives, tzinfo=LONDON),
                 period=day)
    # As the worker's scheduler would have, on the morning after the last delivery.
    services.late_deliveries_scan(now=dt.datetime.combine(today - dt.timedelta(days=1), dt.time(7, 0),
                                                          tzinfo=LONDON))


def _deliver(feed: Feed, table, filename: str, **kwargs) -> Delivery:
    delivery = services.delivery_receive(feed=feed, stream=io.BytesIO(story.parquet_bytes(table)),
                                         filename=filename, source=Delivery.Source.DEMO, **kwargs)
    assert delivery.status == Delivery.Status.ACCEPTED, delivery.reason
    # Checked now rather than by the worker, so the demo opens with its findings.
    for run in delivery.runs.filter(status=CheckRun.Status.QUEUED):
        services.run_execute(run_id=run.pk)
    return delivery
