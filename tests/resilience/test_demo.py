"""The demo's resilience story: loads once, tells the brief's story."""

from __future__ import annotations

import pytest

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
    # The brief's incident comes from monitoring's bad-day finding, with its customers.
    current = Incident.objects.get(check_name="contact_was_targeted")
    finding = Finding.objects.get(check_id="contact_was_targeted", status="failed")
    assert list(current.findings.all()) == [finding]
    assert current.source == "finding" and current.status == "reported" and current.severity == "critical"
    assert current.title == "Contacts stay within the campaign's targeted segments failed on Daily contact log"
    assert sorted(current.affected_customers) == sorted(" / ".join(map(str, k)) for k in finding.customer_keys())
    assert current.scenario is not None and current.source_url == finding.get_absolute_url()
    # Each failed error check of the bad day has one incident; warnings and the late day have none.
    failed = Finding.objects.filter(severity="error", status="failed")
    assert failed.count() == 3 and IncidentFinding.objects.count() == 3
    assert Incident.objects.filter(source="finding").count() == 3
    assert Incident.objects.count() == 4
