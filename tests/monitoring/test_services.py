"""Monitoring's actions: feeds, suites, deliveries, runs and findings, as a user would notice them."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from sourcewise.core.errors import Conflict
from sourcewise.core.models import AuditEvent
from sourcewise.monitoring import services, story
from sourcewise.monitoring.models import CheckOutcome, CheckRun, Delivery, Finding, SuiteVersion
from sourcewise.monitoring.signals import findings_recorded

pytestmark = pytest.mark.django_db


def test_a_good_day_passes_and_a_bad_day_becomes_findings_with_the_affected_customers(
        feeds, deliver, helpers):
    good = deliver(feeds.contacts, helpers.good_day(dt.date(2026, 11, 19)))
    run = good.runs.get()
    run.refresh_from_db()
    assert run.status == "passed", run.reason
    assert run.suite_version.number == 2 and run.backend == "duckdb"
    assert run.result["status"] == "passed" and run.engine_seconds > 0

    bad = deliver(feeds.contacts, helpers.bad_day())
    run = bad.runs.get()
    run.refresh_from_db()
    assert run.status == "failed"
    found = {f.check_id: f for f in run.findings.all()}
    assert set(found) == {"contact_was_targeted", "campaign_is_northwinds", "targets_contacted"}
    assert found["contact_was_targeted"].failing_rows == 15 + 8
    assert found["campaign_is_northwinds"].failing_rows == 8
    assert found["targets_contacted"].failing_rows == 12
    # Samples carry the customer keys; the affected customers are exactly the missed ones.
    missed = found["targets_contacted"]
    assert all("customer_id" in row for row in missed.sample)
    keys = [k[0] for k in missed.customer_keys()]
    assert len(keys) == 12 and keys == sorted(keys)
    targeted = {r["customer_id"] for r in story.targets_table(helpers.LAYOUT).to_pylist()}
    assert set(keys) <= targeted
    rows = pq.read_table(missed.affected_file)
    assert rows.num_rows == 12 and "segment" in rows.column_names
    # The trend shows the passing day before the failing one.
    from sourcewise.monitoring.selectors import finding_trend

    assert [(o.status, o.failing_rows) for o in finding_trend(missed)] == [("passed", 0), ("failed", 12)]
    assert CheckOutcome.objects.filter(run=run).count() == len(run.result["checks"])


def test_a_feeds_next_run_reuses_the_compiled_plan_kept_with_the_data(feeds, deliver, helpers, settings):
    import os

    deliver(feeds.contacts, helpers.good_day(dt.date(2026, 11, 19)))
    plans = sorted(settings.ENGINE_PLAN_CACHE_DIR.glob("*.json"))
    assert plans, "the run kept its compiled plan under ENGINE_PLAN_CACHE_DIR"
    assert not any(Path(os.environ["SOURCEWISE_CACHE_DIR"]).glob("*.json"))
    written = {p: p.stat().st_mtime_ns for p in plans}
    run = deliver(feeds.contacts, helpers.good_day(dt.date(2026, 11, 20))).runs.get()
    run.refresh_from_db()
    assert run.status == "passed", run.reason
    # Same suite, same schema: the same plan served the second day (nothing new, nothing rewritten).
    assert {p: p.stat().st_mtime_ns for p in settings.ENGINE_PLAN_CACHE_DIR.glob("*.json")} == written


def test_findings_are_announced_once_the_run_is_stored(feeds, deliver, helpers):
    received = []

    def listener(sender, run, findings, **kwargs):
        received.append((run.pk, sorted(f.check_id for f in findings), Finding.objects.filter(run=run).count()))

    findings_recorded.connect(listener)
    try:
        delivery = deliver(feeds.contacts, helpers.bad_day())
    finally:
        findings_recorded.disconnect(listener)
    run = delivery.runs.get()
    assert received == [(run.pk, ["campaign_is_northwinds", "contact_was_targeted", "targets_contacted"], 3)]


def test_a_delivery_is_stored_with_its_checksum_and_never_changed(feeds, deliver, helpers):
    import hashlib

    data = helpers.good_day()
    delivery = deliver(feeds.contacts, data)
    assert delivery.status == "accepted"
    assert delivery.sha256 == hashlib.sha256(data).hexdigest() and delivery.size_bytes == len(data)
    assert delivery.path.read_bytes() == data
    assert delivery.columns["contacted_at"] == "timestamp"
    assert not list(delivery.path.parent.glob(".*.part"))
    delivery.original_name = "renamed.parquet"
    with pytest.raises(TypeError):
        delivery.save()
    with pytest.raises(TypeError):
        delivery.delete()
    assert AuditEvent.objects.filter(action="delivery.accept", object_id=str(delivery.pk)).exists()


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("contacts.csv", b"", "The file is empty."),
        ("contacts.parquet", b"contact_id,customer_id\n1,2\n", "not a Parquet file"),
        ("contacts.csv", b"PAR1\x00\x00garbage", "is a Parquet file"),
        ("contacts.xlsx", b"anything", "is not a .parquet, .csv, .csv.gz, .jsonl or .jsonl.gz file"),
        ("contacts.csv.gz", b"contact_id\n1\n", "not gzip-compressed"),
        ("contacts.csv", gzip.compress(b"contact_id\n1\n"), "its name does not end in .gz"),
        ("contacts.csv", b"contact_id,customer_id\n1,2\n", "column 'campaign_id' is missing"),
    ],
)
def test_a_bad_file_is_kept_as_a_rejected_delivery_with_the_reason(feeds, deliver, filename, data, reason):
    delivery = deliver(feeds.contacts, data, filename=filename)
    assert delivery.status == "rejected"
    assert reason in delivery.reason
    assert Delivery.objects.get(pk=delivery.pk).reason == delivery.reason
    assert not delivery.runs.exists()
    assert AuditEvent.objects.filter(action="delivery.reject", object_id=str(delivery.pk)).exists()


def test_truncated_files_are_rejected(feeds, deliver, helpers):
    data = helpers.good_day()
    parquet = deliver(feeds.contacts, data[: len(data) // 2])
    assert parquet.status == "rejected" and "truncated" in parquet.reason
    text = story.csv_bytes(story.contact_log(helpers.DAY, helpers.LAYOUT))
    packed = gzip.compress(text)
    cut = deliver(feeds.contacts, packed[: len(packed) // 2], filename="contacts.csv.gz")
    assert cut.status == "rejected" and "truncated or damaged" in cut.reason
    whole = deliver(feeds.contacts, packed, filename="contacts.csv.gz")
    assert whole.status == "accepted", whole.reason
    assert whole.runs.get().status == "passed"


def test_a_wrongly_typed_column_is_named(feeds, deliver):
    text = b"contact_id,customer_id,campaign_id,channel,contacted_at,handle_time_s,outcome\n" \
           b"1,abc,101,phone,2026-11-20 08:00:00,30,sale\n"
    delivery = deliver(feeds.contacts, text, filename="contacts.csv")
    assert delivery.status == "rejected"
    assert "column 'customer_id' is string, the feed expects integer" in delivery.reason


def test_a_file_over_the_limit_leaves_nothing_stored(feeds, deliver, settings, helpers):
    settings.UPLOAD_MAX_BYTES = 1000
    delivery = deliver(feeds.contacts, helpers.good_day())
    assert delivery.status == "rejected" and "larger than the limit" in delivery.reason
    assert delivery.stored_path == "" and delivery.sha256 == ""
    feed_dir = settings.STORAGE_ROOT / "deliveries" / str(feeds.contacts.engagement_id) / str(feeds.contacts.pk)
    assert not [p for p in feed_dir.rglob("*") if p.is_file()]  # not even a partial file


def test_only_members_of_the_engagement_deliver(feeds, world):
    for user, org in ((world.provider.viewer, world.provider.organization),
                      (world.outsider.owner, world.outsider.organization)):
        with pytest.raises(PermissionDenied):
            services.delivery_receive(actor=user, organization=org, feed=feeds.contacts,
                                      stream=io.BytesIO(b"x"), filename="x.csv")
    assert not Delivery.objects.filter(feed=feeds.contacts).exists()


def test_the_suite_is_validated_versioned_and_written_by_the_buyer(feeds, world):
    buyer = dict(actor=world.buyer.member, organization=world.buyer.organization, feed=feeds.contacts)
    with pytest.raises(ValidationError) as exc:
        services.suite_save(**buyer, text="version: 1\nname: x\ndatasets:\n  c: {path: /etc/passwd}\nchecks: []\n",
                            expected_number=2)
    assert "never a path" in " ".join(exc.value.message_dict["text"])
    with pytest.raises(ValidationError) as exc:
        services.suite_save(**buyer, text=story.SUITE.replace("unique: [contact_id]", "unique: []"),
                            expected_number=2)
    assert "contact_id_unique" in " ".join(exc.value.message_dict["text"])
    with pytest.raises(ValidationError) as exc:
        services.suite_save(**buyer, text="checks: [", expected_number=2)
    assert "Invalid YAML at line 1" in " ".join(exc.value.message_dict["text"])
    with pytest.raises(PermissionDenied):
        services.suite_save(actor=world.provider.manager, organization=world.provider.organization,
                            feed=feeds.contacts, text=story.SUITE, expected_number=2)
    saved = services.suite_save(**buyer, text=story.SUITE, expected_number=2, note="Bigger days")
    assert saved.number == 3
    with pytest.raises(Conflict):
        services.suite_save(**buyer, text=story.SUITE + "\n", expected_number=2)
    assert SuiteVersion.objects.filter(feed=feeds.contacts).count() == 3


def test_suite_add_check_adds_a_validated_version(feeds, world):
    buyer = dict(actor=world.buyer.manager, organization=world.buyer.organization, feed=feeds.contacts)
    version = services.suite_add_check(**buyer, check={
        "id": "outcome_known", "dataset": "contacts",
        "accepted_values": {"column": "outcome", "values": ["no_answer", "callback", "declined", "sale"]}})
    assert version.number == 3 and "outcome_known" in version.text
    with pytest.raises(ValidationError) as exc:
        services.suite_add_check(**buyer, check={"dataset": "contacts", "not_a_kind": ["x"]})
    assert "not_a_kind" in str(exc.value)
    assert feeds.contacts.current_suite().number == 3


def test_a_reference_feed_without_delivery_makes_the_run_fail_with_the_reason(world, deliver, helpers):
    feeds = helpers.make_feeds(world, with_references=False)
    services.suite_save(actor=world.buyer.manager, organization=world.buyer.organization, feed=feeds.contacts,
                        text=helpers.SMALL_SUITE, expected_number=None)
    run = deliver(feeds.contacts, helpers.good_day()).runs.get()
    run.refresh_from_db()
    assert run.status == "error"
    assert "feed 'campaign-targets' has no accepted delivery yet" in run.reason
    assert "suite.yaml" not in run.reason  # no server path in what the user reads


def test_a_run_can_be_repeated_on_the_same_delivery(feeds, deliver, helpers, world, django_capture_on_commit_callbacks):
    delivery = deliver(feeds.contacts, helpers.bad_day())
    with django_capture_on_commit_callbacks(execute=True):
        again = services.run_repeat(actor=world.buyer.member, organization=world.buyer.organization,
                                    delivery=delivery)
    again.refresh_from_db()
    assert again.status == "failed" and again.findings.count() == 3
    assert delivery.runs.count() == 2


def test_a_killed_worker_is_retried_once_then_marked_failed(feeds, world, helpers, django_capture_on_commit_callbacks):
    delivery = services.delivery_receive(
        actor=world.provider.member, organization=world.provider.organization, feed=feeds.contacts,
        stream=io.BytesIO(helpers.bad_day()), filename="c.parquet")  # queued; its task never ran
    run = delivery.runs.get()
    # A worker picked it up and died: running, with a heartbeat long ago, and half-written files.
    services._claim(run.pk)
    half = services.storage.storage_root() / "runs" / str(run.pk) / ".attempt-1-x" / "failures"
    half.mkdir(parents=True)
    (half / "contact_was_targeted.parquet").write_bytes(b"half")
    later = run.queued_at + dt.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        # Also re-queues the reference deliveries' runs, whose tasks never ran either.
        assert services.runs_recover_stale(now=later) == 3
    run.refresh_from_db()
    assert run.status == "failed" and run.attempt == 2 and "retried" in run.reason
    assert run.findings.count() == 3  # the retry stored a whole result, once
    # A second death after the retry: the run is marked as not run, with the reason.
    other = services.delivery_receive(
        actor=world.provider.member, organization=world.provider.organization, feed=feeds.contacts,
        stream=io.BytesIO(helpers.bad_day()), filename="d.parquet").runs.get()
    services._claim(other.pk)
    CheckRun.objects.filter(pk=other.pk).update(attempt=2)
    assert services.runs_recover_stale(now=later) == 1
    other.refresh_from_db()
    assert other.status == "error" and "not retried again" in other.reason
    assert not other.findings.exists() and other.result is None


def test_a_late_delivery_raises_a_finding_by_itself_once(feeds, world, deliver, helpers):
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    on_time = dt.datetime(2026, 11, 18, 5, 30, tzinfo=london)
    late = dt.datetime(2026, 11, 19, 9, 15, tzinfo=london)
    deliver(feeds.contacts, helpers.good_day(dt.date(2026, 11, 18)), received_at=on_time)
    deliver(feeds.contacts, helpers.good_day(dt.date(2026, 11, 19)), received_at=late,
            period=dt.date(2026, 11, 19))
    now = dt.datetime(2026, 11, 20, 7, 0, tzinfo=london)
    raised = services.late_deliveries_scan(now=now)
    by_day = {f.period: f for f in raised}
    assert set(by_day) == {dt.date(2026, 11, 19), dt.date(2026, 11, 20)}
    assert "arrived 3 h 15 min after the due time of 06:00 Europe/London" in by_day[dt.date(2026, 11, 19)].message
    assert "No delivery for Fri 20 Nov 2026 had arrived by 06:00" in by_day[dt.date(2026, 11, 20)].message
    assert services.late_deliveries_scan(now=now) == []
    assert Finding.objects.filter(kind="late").count() == 2
    # Reference feeds that change on their own schedule are never late.
    assert not Finding.objects.filter(feed=feeds.targets).exists()


def test_scheduler_runs_each_apps_periodic_jobs():
    from sourcewise.core.scheduler import Job, Scheduler, discover_jobs

    names = {job.name for job in discover_jobs()}
    assert {"monitoring.late_deliveries", "monitoring.stale_runs"} <= names
    calls = []

    def boom():
        raise RuntimeError("a broken job")

    scheduler = Scheduler([Job("a", 60, lambda: calls.append("a")), Job("b", 10, boom)])
    assert scheduler.run_due(now=0) == ["a", "b"]
    assert scheduler.run_due(now=5) == []
    assert scheduler.run_due(now=11) == ["b"]
    assert calls == ["a"]


def test_feeds_check_their_settings(world):
    with pytest.raises(ValidationError) as exc:
        services.feed_create(actor=world.buyer.member, organization=world.buyer.organization,
                             engagement=world.engagement, name="", slug="a b", time_zone="Mars/Olympus",
                             expected_schema={"x": "decimal"}, customer_columns=["y"])
    errors = exc.value.message_dict
    assert set(errors) >= {"name", "slug", "time_zone", "expected_schema", "customer_columns"}
    with pytest.raises(PermissionDenied):
        services.feed_create(actor=world.buyer.viewer, organization=world.buyer.organization,
                             engagement=world.engagement, name="x", slug="x")


def test_a_csv_of_affected_rows_streams_every_row(feeds, deliver, helpers):
    from sourcewise.monitoring import files

    run = deliver(feeds.contacts, helpers.bad_day()).runs.get()
    finding = run.findings.get(check_id="contact_was_targeted")
    lines = list(csv.reader("".join(files.parquet_as_csv(finding.affected_file)).splitlines()))
    assert lines[0][:3] == ["contact_id", "customer_id", "campaign_id"]
    assert len(lines) == 1 + 23


@pytest.mark.django_db(transaction=True)  # the worker closes its connection, as in production
def test_the_worker_runs_a_queued_check_from_the_database_queue(feeds, world, helpers, settings):
    from django.core.management import call_command

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    delivery = services.delivery_receive(
        actor=world.provider.member, organization=world.provider.organization, feed=feeds.contacts,
        stream=io.BytesIO(helpers.bad_day()), filename="c.parquet")
    run = delivery.runs.get()
    assert run.status == "queued"
    call_command("worker", "--max-tasks", "1", "--no-scheduler", "--interval", "0.1")
    run.refresh_from_db()
    assert run.status == "failed" and run.findings.count() == 3


def test_a_slow_worker_given_up_on_cannot_overwrite_the_retry(feeds, world, helpers,
                                                              django_capture_on_commit_callbacks):
    delivery = services.delivery_receive(
        actor=world.provider.member, organization=world.provider.organization, feed=feeds.contacts,
        stream=io.BytesIO(helpers.bad_day()), filename="c.parquet")
    run = delivery.runs.get()
    services._claim(run.pk)  # attempt 1 starts, then goes silent
    with django_capture_on_commit_callbacks(execute=True):
        services.runs_recover_stale(now=run.queued_at + dt.timedelta(hours=1))  # attempt 2 runs
    run.refresh_from_db()
    assert run.status == "failed" and run.attempt == 2
    # Attempt 1 wakes up and fails late: the finished run is left as it is.
    assert services._finish_error(run.pk, 1, "a late error") == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and "a late error" not in run.reason and run.findings.count() == 3


COMMENTED_SUITE = """\
# What Northwind expects of Dialwell's contact log (agreed 2026-11-01, clause 7.2).
version: 1
name: outbound-contact-log   # the name on the scorecard
datasets:
  contacts: {feed: contact-log, key: [contact_id]}   # the delivery being checked
  targets: {feed: campaign-targets, key: [campaign_id, customer_id]}
  campaigns: {feed: campaigns, key: [campaign_id]}

checks:
  # Clause 7.2 (a): every contact once.
  - id: contact_id_unique
    dataset: contacts
    unique: [contact_id]

  # Clause 7.2 (b): only Northwind's campaigns, looked up by campaign.
  - id: campaign_segment_known
    dataset: contacts
    lookup: {to: campaigns, on: [campaign_id]}
    row_condition: "campaigns.segment IS NOT NULL"   # YAML 1.2: on is a key, not true
    severity: warn
# Added by the buyer's analysts below this line.
"""


def test_suite_add_check_keeps_every_comment_and_line(feeds, world):
    from sourcewise.monitoring import suites

    buyer = dict(actor=world.buyer.manager, organization=world.buyer.organization, feed=feeds.contacts)
    services.suite_save(**buyer, text=COMMENTED_SUITE, expected_number=None)
    version = services.suite_add_check(**buyer, check={
        "id": "campaign_named", "name": "Every contact's campaign has a name", "dataset": "contacts",
        "lookup": {"to": "campaigns", "on": ["campaign_id"]}, "row_condition": "campaigns.name IS NOT NULL"})
    old, new = COMMENTED_SUITE.splitlines(), version.text.splitlines()
    # Every line as it was, in its place; the new check is one block after the last check.
    cut = old.index("# Added by the buyer's analysts below this line.")
    assert new[:cut] == old[:cut] and new[-1] == old[-1]
    added = new[cut:-1]
    assert added[0] == "  - id: campaign_named" and all(line.startswith("    ") for line in added[1:])
    assert version.note == "Added campaign_named"
    # It validates, and `on` stays a key (YAML 1.2 booleans) in the old check and the new one.
    assert services.suite_validate(feed=feeds.contacts, text=version.text) == []
    doc = suites._load_yaml(version.text)
    assert [c["lookup"]["on"] for c in doc["checks"][1:]] == [["campaign_id"], ["campaign_id"]]
    assert True not in doc["checks"][2]["lookup"]


def test_suite_add_check_extends_a_flow_list_and_a_suite_without_checks():
    from sourcewise.monitoring import suites

    flow = "version: 1  # one\nchecks: [{id: a, dataset: d, unique: [x]}]  # all of them\nname: s\n"
    text = suites.add_check(flow, {"id": "b", "dataset": "d", "not_null": ["x"]})
    assert text.splitlines()[0] == "version: 1  # one" and text.splitlines()[2] == "name: s"
    assert text.splitlines()[1].endswith("]  # all of them")
    assert [c["id"] for c in suites._load_yaml(text)["checks"]] == ["a", "b"]
    bare = "# no checks yet\nversion: 1\nname: s\n"
    text = suites.add_check(bare, {"id": "b", "dataset": "d", "on": "x"})
    assert text.startswith(bare) and suites._load_yaml(text)["checks"] == [{"id": "b", "dataset": "d", "on": "x"}]
    # A value JSON cannot write (a date) in a flow list: the suite is written out again, still whole.
    dated = suites.add_check("version: 1\nchecks: []\n", {"id": "d", "since": dt.date(2026, 1, 1)})
    assert suites._load_yaml(dated)["checks"] == [{"id": "d", "since": dt.date(2026, 1, 1)}]
