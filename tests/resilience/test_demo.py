"""The demo's resilience story: loads once, tells the brief's story."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from sourcewise.demo import story
from sourcewise.monitoring.models import Finding
from sourcewise.resilience.models import Incident, IncidentFinding, ResiliencePlan

pytestmark = pytest.mark.django_db


def test_demo_tells_the_resilience_story_and_loads_once():
    story.load()
    story.load()
    outbound = ResiliencePlan.objects.get(engagement__name="Outbound marketing calls")
    assert outbound.scenarios.get().title == "The targeting data integration fails"
    assert not outbound.exercise_overdue()
    flagged = ResiliencePlan.objects.get(engagement__name="Collections")
    assert flagged.exercise_overdue()
    past = Incident.objects.get(status="closed")
    assert "## Lessons" in past.postmortem and past.signed_off_by.email == "owner@northwind.demo"
    # The brief's incident comes from monitoring's bad-day findings: one failure, one incident.
    failed = list(Finding.objects.filter(severity="error", status="failed").order_by("pk"))
    assert len(failed) == 3
    current = Incident.objects.get(source="finding")
    assert list(current.findings.order_by("pk")) == failed
    assert sorted(c.check_name for c in current.checks.all()) == sorted(f.check_id for f in failed)
    assert all(c.open for c in current.checks.all())
    assert current.title.startswith("3 checks failed on Daily contact log: ")
    assert "Contacts stay within the campaign's targeted segments" in current.title
    customers = {" / ".join(map(str, k)) for f in failed for k in f.customer_keys()}
    assert set(current.affected_customers) == customers and len(current.affected_customers) == len(customers)
    assert current.scenario is not None and current.severity == "critical"
    assert current.timeline.filter(kind="check").count() == 3
    assert not current.resembles.filter(reason="same failure scenario", similar__source="finding").exists()
    assert Incident.objects.count() == 2 and IncidentFinding.objects.count() == 3


def _hours(incident, label):
    return next(m for m in incident.measures() if m["label"] == label)


def test_demo_times_read_like_a_real_incident():
    story.load()
    past = Incident.objects.get(status="closed")
    ack = _hours(past, "acknowledge")
    assert ack["done"] and 0.5 <= ack["hours"] <= 1.0 and ack["within"]
    agreed = _hours(past, "agree a solution")
    assert 24 <= agreed["hours"] <= 48 and agreed["within"]
    assert 24 * 7 <= _hours(past, "close")["hours"] <= 24 * 10
    times = list(past.timeline.values_list("at", flat=True))
    assert times == sorted(times) and times[0] == past.reported_at
    assert past.closed_at < past.acknowledged_at + dt.timedelta(days=10)
    # The postmortem tells the same times as the page.
    assert f"Time to acknowledge: {ack['hours']} h" in past.postmortem
    # The bad day's incident: reported when the delivery was checked, acknowledged ~40 min later.
    current = Incident.objects.get(source="finding")
    assert current.status == "acknowledged"
    assert dt.timedelta(0) <= current.reported_at - current.occurred_at <= dt.timedelta(minutes=10)
    assert 0.5 <= _hours(current, "acknowledge")["hours"] <= 1.0
    assert current.reported_at < timezone.now() - dt.timedelta(days=1)
    # Loading again changes none of it.
    before = (current.version, current.acknowledged_at, past.closed_at, past.postmortem)
    story.load()
    current.refresh_from_db()
    past.refresh_from_db()
    assert (current.version, current.acknowledged_at, past.closed_at, past.postmortem) == before
