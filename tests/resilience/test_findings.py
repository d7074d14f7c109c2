"""Monitoring's findings open incidents; a control's check goes into the feed's suite (issues 4 and 5)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from sourcewise.monitoring.models import Finding
from sourcewise.resilience import findings as resilience_findings
from sourcewise.resilience import services
from sourcewise.resilience.models import Incident, IncidentFinding, PreventiveControl

pytestmark = pytest.mark.django_db


def _helpers():
    path = Path(__file__).parents[1] / "monitoring" / "helpers.py"
    name = "monitoring_test_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


H = _helpers()


@pytest.fixture
def feeds(world):
    return H.make_feeds(world)


@pytest.fixture
def story_plan(world):
    plan = services.plan_create(
        actor=world.buyer.manager, engagement=world.engagement, service="Outbound marketing calls",
        max_disruption_hours=48, max_customers_affected=20)
    services.scenario_add(
        actor=world.provider.manager, plan=plan, title="The targeting data integration fails",
        detected_by_feeds=["contact-log", "no-such-feed"],
        detected_by_checks=["contact_was_targeted", "targets_contacted", "not_a_check"],
        response_steps="Pause the campaign", buyer_owner=world.buyer.manager,
        provider_owner=world.provider.manager)
    return plan


@pytest.fixture
def deliver(world, django_capture_on_commit_callbacks):
    """Deliver as the provider; the check runs and the findings signal fires on commit."""
    from sourcewise.monitoring import services as monitoring

    def _deliver(feed, data: bytes, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return monitoring.delivery_receive(
                actor=world.provider.member, organization=world.provider.organization, feed=feed,
                stream=io.BytesIO(data), filename="contacts.parquet", **kwargs)

    return _deliver


def test_a_failed_delivery_opens_one_incident_with_the_findings_customers(world, feeds, story_plan, deliver):
    deliver(feeds.contacts, H.bad_day())
    failed = list(Finding.objects.filter(status="failed", severity="error").order_by("pk"))
    assert len(failed) == 3
    # One failure, one incident: the three failed checks of the run share it.
    assert Incident.objects.count() == 1 and IncidentFinding.objects.count() == 3
    finding = next(f for f in failed if f.check_id == "contact_was_targeted")
    incident = finding.incidents.get()
    assert list(incident.findings.order_by("pk")) == failed
    assert incident.source == "finding"
    assert sorted(c.check_name for c in incident.checks.all()) == sorted(f.check_id for f in failed)
    assert incident.title.startswith("3 checks failed on Daily contact log: ")
    for f in failed:
        assert f.check_name in incident.title
        assert incident.timeline.filter(kind="check", text__startswith=f.check_name).exists()
    assert incident.feed_name == "contact-log" and incident.source_url == failed[0].get_absolute_url()
    expected = sorted({str(k[0]) for f in failed for k in f.customer_keys()})
    assert expected and sorted(incident.affected_customers) == expected
    assert incident.failing_rows == sum(f.failing_rows for f in failed)
    # The plan's scenario names the check; more customers than the tolerance of 20 is critical.
    assert incident.scenario.title == "The targeting data integration fails"
    assert len(expected) >= 20 and incident.severity == "critical"
    assert not incident.resembles.exists()
    # A warning opens nothing.
    assert not Finding.objects.filter(severity="warn", incidents__isnull=False).exists()


def test_the_next_failure_adds_to_the_open_incident_and_a_passing_day_opens_nothing(world, feeds, deliver):
    deliver(feeds.contacts, H.good_day())
    assert not Incident.objects.exists()
    deliver(feeds.contacts, H.bad_day(dt.date(2026, 11, 20)))
    first = Incident.objects.get(checks__check_name="targets_contacted")
    deliver(feeds.contacts, H.bad_day(dt.date(2026, 11, 21)), period=dt.date(2026, 11, 21))
    again = Incident.objects.get(checks__check_name="targets_contacted")
    assert again.pk == first.pk and again.findings.count() == 6
    assert again.failing_rows == sum(f.failing_rows for f in again.findings.all())
    assert again.timeline.filter(kind="failure").count() == 3
    assert Incident.objects.count() == 1


def test_the_same_finding_offered_twice_is_counted_once(world, feeds, deliver):
    deliver(feeds.contacts, H.bad_day())
    incident = Incident.objects.get(checks__check_name="contact_was_targeted")
    before = (incident.failing_rows, incident.version)
    resilience_findings.record_findings(Finding.objects.filter(status="failed"))
    incident.refresh_from_db()
    assert (incident.failing_rows, incident.version) == before
    assert IncidentFinding.objects.count() == 3


def test_late_deliveries_open_an_incident_only_when_the_plan_names_them(world, feeds, story_plan, deliver):
    from zoneinfo import ZoneInfo

    from sourcewise.monitoring import services as monitoring

    london = ZoneInfo("Europe/London")
    deliver(feeds.contacts, H.good_day(dt.date(2026, 11, 18)),
            received_at=dt.datetime(2026, 11, 18, 5, 30, tzinfo=london), period=dt.date(2026, 11, 18))
    late = monitoring.late_deliveries_scan(now=dt.datetime(2026, 11, 20, 7, 0, tzinfo=london))
    assert len(late) == 2 and resilience_findings.record_findings(late) == []
    assert not Incident.objects.exists()
    scenario = story_plan.scenarios.get()
    scenario.detected_by_checks = [*scenario.detected_by_checks, "late_delivery"]
    scenario.save()
    opened = resilience_findings.record_findings(late)
    assert len(opened) == 1 and opened[0].title == "Daily contact log delivered late"
    assert opened[0].findings.count() == len(late) and opened[0].scenario == scenario
    check = opened[0].checks.get()
    assert check.check_name == "late_delivery:contact-log" and check.label.startswith("Daily contact log")


def test_each_late_feed_has_its_own_open_incident(world, feeds, story_plan):
    from sourcewise.monitoring.models import Feed
    from sourcewise.monitoring.services import feed_create

    scenario = story_plan.scenarios.get()
    scenario.detected_by_checks = [*scenario.detected_by_checks, "late_delivery"]
    scenario.save()
    other = feed_create(actor=world.buyer.manager, organization=world.buyer.organization,
                        engagement=world.engagement, name="Call recordings index", slug="recordings",
                        expected_schema={"call_id": "string"}, cadence=Feed.Cadence.DAILY)

    def late(feed, day):
        return Finding.objects.create(kind=Finding.Kind.LATE, feed=feed, check_id="late_delivery",
                                      check_name=f"{feed.name} delivered by 06:00", severity="error",
                                      status="late", message=f"{feed.name} missed {day}", period=day)

    first = resilience_findings.record_findings([late(feeds.contacts, dt.date(2026, 11, 18)),
                                                 late(other, dt.date(2026, 11, 18))])
    assert len(first) == 2 and {i.title for i in first} == {"Daily contact log delivered late",
                                                            "Call recordings index delivered late"}
    again = resilience_findings.record_findings([late(other, dt.date(2026, 11, 19))])
    recordings = next(i for i in first if i.feed_name == "recordings")
    assert [i.pk for i in again] == [recordings.pk] and recordings.findings.count() == 2
    assert Incident.objects.count() == 2


def test_a_finding_of_another_engagement_is_refused(world, feeds, deliver):
    deliver(feeds.contacts, H.bad_day())
    finding = Finding.objects.filter(status="failed").first()
    with pytest.raises(ValidationError) as caught:
        services.incident_record_failure(
            engagement=world.private_engagement, check_name="x", feed_name="f", severity="error",
            affected_customers=[], failing_rows=1, summary="s", finding=finding)
    assert "another engagement" in caught.value.message_dict["finding"][0]


NEW_CHECK = {"id": "contact_in_business_hours", "name": "Contacts within contact hours",
             "dataset": "contacts", "not_null": ["contacted_at"]}


def _control(world, feed_name="contact-log", check=None):
    incident = services.incident_open(actor=world.buyer.member, engagement=world.engagement,
                                      title="Calls outside the segments")
    return services.control_add(
        actor=world.provider.member, incident=incident, kind="new_check", description="Contact hours",
        owner=world.provider.manager, due_on=dt.date.today(), feed_name=feed_name,
        check=check or NEW_CHECK)


def test_a_control_adds_its_check_to_the_feeds_suite_as_a_new_version(world, feeds):
    before = feeds.contacts.current_suite().number
    control = _control(world, feed_name="Daily contact log")  # the feed's name works as well as its slug
    applied = services.control_apply_check(actor=world.buyer.member, control=control)
    suite = feeds.contacts.current_suite()
    assert suite.number == before + 1 and "contact_in_business_hours" in suite.text
    assert applied.applied_at and f"version {suite.number}" in applied.applied_note


def test_applying_a_check_is_refused_clearly_and_changes_nothing(world, feeds):
    before = feeds.contacts.current_suite().number
    with pytest.raises(ValidationError) as caught:
        _control(world, feed_name="contacts")
    assert "No feed \u201ccontacts\u201d" in caught.value.message_dict["feed"][0]
    assert "contact-log (Daily contact log)" in caught.value.message_dict["feed"][0]
    # A feed renamed after the control named it is refused when the check is added.
    unknown = _control(world)
    PreventiveControl.objects.filter(pk=unknown.pk).update(feed_name="contacts")
    unknown.refresh_from_db()
    with pytest.raises(ValidationError) as caught:
        services.control_apply_check(actor=world.buyer.member, control=unknown)
    assert "No feed \u201ccontacts\u201d" in caught.value.message_dict["feed_name"][0]
    known = _control(world)
    with pytest.raises(ValidationError, match="Only Northwind"):
        services.control_apply_check(actor=world.provider.manager, control=known)
    bad = _control(world, check={"dataset": "nowhere", "not_null": ["x"]})
    with pytest.raises(ValidationError):
        services.control_apply_check(actor=world.buyer.member, control=bad)
    assert feeds.contacts.current_suite().number == before
    for control in (unknown, known, bad):
        control.refresh_from_db()
        assert control.applied_at is None


def test_pages_and_api_link_incident_and_findings(world, feeds, story_plan, deliver, client, login):
    deliver(feeds.contacts, H.bad_day())
    finding = Finding.objects.get(check_id="contact_was_targeted", status="failed")
    incident = finding.incidents.get()
    login(world.buyer.viewer)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Findings behind it" in page and f'href="{finding.get_absolute_url()}"' in page
    assert f"/monitoring/findings/{finding.pk}/download/?what=customers" in page
    assert f'href="{feeds.contacts.get_absolute_url()}">contact-log</a>' in page
    shown = client.get(finding.get_absolute_url()).content.decode()
    assert f'href="{incident.get_absolute_url()}"' in shown and incident.title in shown.replace("&#x27;", "'")
    plan_page = client.get(story_plan.get_absolute_url()).content.decode()
    assert f'<a href="{feeds.contacts.get_absolute_url()}">contact-log</a>' in plan_page
    assert f'<a href="{feeds.contacts.get_absolute_url()}">contact_was_targeted</a>' in plan_page
    assert "no-such-feed" in plan_page and '">no-such-feed</a>' not in plan_page
    for check in incident.checks.all():
        assert f"{check.label} ({check.check_name})" in page.replace("&#x27;", "'")
    data = client.get(f"/api/v1/incidents/{incident.pk}").json()
    failed = Finding.objects.filter(status="failed", severity="error").order_by("pk")
    assert [f["id"] for f in data["findings"]] == [f.pk for f in failed]
    assert {c["check_name"] for c in data["checks"]} == {f.check_id for f in failed}
    assert all(c["open"] and c["feed_name"] == "contact-log" for c in data["checks"])
    assert data["findings"][0]["affected_customers_url"].endswith("?what=customers")
    login(world.outsider.manager)
    assert client.get(incident.get_absolute_url()).status_code == 404
    assert client.get(finding.get_absolute_url()).status_code == 404
