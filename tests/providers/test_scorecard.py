"""The provider scorecard reads monitoring (SLA) and resilience (incidents), for the buyer's engagements only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django.utils.text import slugify

from sourcewise.accounts.models import Membership, Organization
from sourcewise.core import services as core_services
from sourcewise.monitoring import services as monitoring_services
from sourcewise.monitoring.models import CheckOutcome, CheckRun, Delivery, Finding, SuiteVersion
from sourcewise.providers import selectors
from sourcewise.resilience import services as resilience_services
from sourcewise.resilience.models import Incident, IncidentLink

from .helpers import linked_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer(db):
    from sourcewise.accounts.services import api_token_create

    def _bearer(user, organization):
        _token, secret = api_token_create(actor=user, organization=organization, name="test")
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    return _bearer

CHECKS = [("targets_contacted", "Every targeted customer was contacted"),
          ("in_segment", "Every contact is in a targeted segment")]


def monitored(engagement, actor, organization, *, days: list[tuple[int, dict[str, int]]], late: list[int] = (),
              kind: str = "delivery", name: str = "Daily contact log"):
    """A delivery feed on `engagement` with one finished run per (days ago, {check: failing rows}).

    A check with 0 failing rows passed; a run passes when all its checks do. Each failed check
    leaves a finding, as monitoring stores it; `late` adds late-delivery findings (days ago).
    """
    feed = monitoring_services.feed_create(actor=actor, organization=organization, engagement=engagement,
                                           name=name, slug=slugify(name), kind=kind)
    suite = SuiteVersion.objects.filter(feed=feed).first() or SuiteVersion.objects.create(
        feed=feed, number=1, text="version: 1")
    today = timezone.localdate()
    for ago, failing in days:
        period = today - dt.timedelta(days=ago)
        delivery = Delivery.objects.create(feed=feed, status="accepted", original_name=f"{period}.csv",
                                           stored_path=f"deliveries/{feed.pk}/{period}.csv", period=period)
        failed = any(failing.values())
        run = CheckRun.objects.create(delivery=delivery, feed=feed, suite_version=suite,
                                      status="failed" if failed else "passed", finished_at=timezone.now())
        for check_id, name in CHECKS:
            rows = failing.get(check_id, 0)
            CheckOutcome.objects.create(run=run, feed=feed, check_id=check_id, check_name=name, severity="error",
                                        status="failed" if rows else "passed", failing_rows=rows,
                                        total_rows=100, period=period)
            if rows:
                Finding.objects.create(feed=feed, run=run, check_id=check_id, check_name=name, severity="error",
                                       status="failed", failing_rows=rows, total_rows=100, period=period)
    for ago in late:
        Finding.objects.create(feed=feed, kind="late", check_id="late", check_name="Delivery on time",
                               severity="error", status="late", period=today - dt.timedelta(days=ago))
    return feed


def brightline(world):
    """A second buyer of Dialwell, with its own engagement (Dialwell serves both)."""
    org = Organization.objects.create(name="Brightline Insurance", slug="brightline")
    owner = type(world.buyer.owner).objects.create_user("owner@brightline.test", "pw-brightline-1",
                                                        full_name="Brightline owner")
    Membership.objects.create(user=owner, organization=org, role="owner")
    engagement = core_services.engagement_propose(
        actor=owner, organization=org, counterpart=world.provider.organization, our_side="buyer",
        name="Brightline campaigns", services="Insurance campaigns")
    engagement = core_services.engagement_accept(actor=world.provider.manager, engagement=engagement)
    return org, owner, engagement


def card_for(world, provider, user=None, organization=None):
    return selectors.provider_scorecard(provider, user=user or world.buyer.member,
                                        organization=organization or world.buyer.organization)


def test_sla_figures_come_from_monitoring_over_the_period(world):
    provider = linked_provider(world)
    monitored(world.engagement, world.buyer.manager, world.buyer.organization,
              days=[(1, {}), (2, {"targets_contacted": 12}), (3, {}), (4, {"in_segment": 5}),
                    (200, {"targets_contacted": 999})],  # outside the 90 days
              late=[2, 150])
    # The buyer's own reference data is not the provider's service level.
    monitored(world.engagement, world.buyer.manager, world.buyer.organization, kind="reference",
              name="Campaign targets", days=[(1, {"in_segment": 50})])
    sla = card_for(world, provider)["sla"]
    assert sla["period_days"] == 90 and sla["since"] == timezone.localdate() - dt.timedelta(days=90)
    assert sla["engagements"] == ["Outbound marketing calls"]
    assert (sla["runs"], sla["runs_passed"], sla["pass_rate"]) == (4, 2, 50)
    assert (sla["checks_run"], sla["checks_passed"], sla["check_pass_rate"]) == (8, 6, 75)
    assert sla["failing_rows"] == 17 and sla["late_deliveries"] == 1 and sla["findings"] == 3
    by_check = {c["check"]: c for c in sla["checks"]}
    assert by_check["Every targeted customer was contacted"]["pass_rate"] == 75
    assert by_check["Every targeted customer was contacted"]["failing_rows"] == 12


def test_incident_figures_count_time_to_acknowledge_and_recurrence(world):
    provider = linked_provider(world)
    plan = resilience_services.plan_create(actor=world.buyer.manager, engagement=world.engagement,
                                           service="Outbound calls", max_disruption_hours=24,
                                           max_customers_affected=100, acknowledge_within_hours=2)
    now = timezone.now()

    def opened(title: str, hours_ago: float, ack_after: float | None) -> Incident:
        incident = resilience_services.incident_open(actor=world.buyer.manager, engagement=world.engagement,
                                                     title=title, plan=plan)
        if ack_after is not None:
            resilience_services.incident_acknowledge(
                actor=world.provider.manager, incident=incident, expected_version=incident.version,
                statement="We own this failure and we are sorry for it.", caused_by="provider")
        fields = {"reported_at": now - dt.timedelta(hours=hours_ago)}
        if ack_after is not None:
            fields["acknowledged_at"] = fields["reported_at"] + dt.timedelta(hours=ack_after)
        Incident.objects.filter(pk=incident.pk).update(**fields)
        return incident

    opened("Dialler outage stopped outbound calls", 100, 1)
    opened("Wrong letter segment mailed", 80, 3)
    opened("Dialler outage stopped outbound calls again", 50, 0.5)  # resembles the first
    opened("SMS confirmation sent late", 10, None)  # past its 2 h target, not acknowledged
    ancient = opened("Old closed problem with the scheduler", 24 * 200, 1)
    Incident.objects.filter(pk=ancient.pk).update(status="closed")  # closed and out of the period
    assert IncidentLink.objects.filter(incident__title__endswith="again").exists()

    inc = card_for(world, provider)["incidents"]
    assert (inc["total"], inc["open"], inc["closed"]) == (4, 4, 0)
    assert inc["acknowledged"] == 3 and inc["median_hours_to_acknowledge"] == 1.0 and inc["median_label"] == "1.0 h"
    assert inc["acknowledge_targets_hours"] == [2]
    assert (inc["acknowledged_within_target"], inc["acknowledged_with_target"]) == (2, 3)
    assert inc["unacknowledged_past_target"] == 1 and inc["recurring"] == 1


def test_no_link_or_no_data_says_so_honestly(world, login):
    unlinked = linked_provider(world, legal_name="Unlinked Ltd", organization=None, lei="")
    linked = linked_provider(world)
    assert card_for(world, unlinked)["sla"] is None and card_for(world, unlinked)["incidents"] is None
    assert card_for(world, linked)["sla"] is None and card_for(world, linked)["incidents"] is None
    monitored(world.engagement, world.buyer.manager, world.buyer.organization, days=[(120, {})])
    assert card_for(world, linked)["sla"] is None  # only data older than the period
    client = login(world.buyer.member)
    for provider in (unlinked, linked):
        page = client.get(f"/providers/{provider.pk}/?tab=scorecard").content.decode()
        assert "No SLA data yet" in page and "No incident data yet" in page


def test_northwind_scorecard_for_dialwell_counts_only_northwinds_engagements(world, login, client, bearer):
    provider = linked_provider(world)
    org, owner, engagement = brightline(world)
    monitored(world.engagement, world.buyer.manager, world.buyer.organization,
              days=[(1, {}), (2, {"targets_contacted": 7})])
    monitored(engagement, owner, org, days=[(1, {"in_segment": 500}), (2, {"in_segment": 400}), (3, {})],
              late=[1, 2, 3])
    for _ in range(3):
        resilience_services.incident_open(actor=owner, engagement=engagement, title="Brightline outage")
    resilience_services.incident_open(actor=world.buyer.manager, engagement=world.engagement,
                                      title="Northwind complaint spike")
    # An advisor working for both buyers, acting for Northwind, sees Northwind's figures only.
    advisor = world.buyer.member
    Membership.objects.create(user=advisor, organization=org, role="member")
    card = card_for(world, provider, user=advisor, organization=world.buyer.organization)
    assert (card["sla"]["runs"], card["sla"]["failing_rows"], card["sla"]["late_deliveries"]) == (2, 7, 0)
    assert card["sla"]["engagements"] == ["Outbound marketing calls"]
    assert card["incidents"]["total"] == 1
    page = login(advisor, world.buyer.organization).get(f"/providers/{provider.pk}/?tab=scorecard").content.decode()
    assert "Brightline campaigns" not in page and "of 2 delivery checks passed" in page
    api = client.get(f"/api/v1/providers/{provider.pk}/scorecard",
                     **bearer(world.buyer.viewer, world.buyer.organization)).json()
    assert api["sla"]["runs"] == 2 and api["sla"]["failing_rows"] == 7 and api["incidents"]["total"] == 1
    assert api["sla"]["checks"][0]["feed"] == "Daily contact log"
    # The provider's own organisation never reads the buyer's register, scorecard included.
    provider_side = bearer(world.provider.owner, world.provider.organization)
    assert client.get(f"/api/v1/providers/{provider.pk}/scorecard", **provider_side).status_code == 404


def test_the_scorecard_page_charts_sla_and_incidents_with_tables(world, login):
    provider = linked_provider(world)
    monitored(world.engagement, world.buyer.manager, world.buyer.organization,
              days=[(1, {}), (2, {"targets_contacted": 12})], late=[3])
    resilience_services.incident_open(actor=world.buyer.manager, engagement=world.engagement,
                                      title="Complaint spike after the campaign")
    page = login(world.buyer.viewer).get(f"/providers/{provider.pk}/?tab=scorecard").content.decode()
    assert "No SLA data yet" not in page and "No incident data yet" not in page
    assert "50%</strong> of 2 delivery checks passed" in page and "1</strong> late delivery" in page
    assert "Pass rate of each check, percent" in page and page.count("<svg") >= 2
    assert "<th scope=\"row\">Daily contact log: Every targeted customer was contacted</th><td>50</td>" in page
    assert "1</strong> incident: 1 open, 0 closed" in page
    assert f"/monitoring/providers/{world.provider.organization.pk}/scorecard/" in page
