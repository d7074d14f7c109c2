"""The demo's resilience story: loads once, tells the brief's story."""

from __future__ import annotations

import pytest

from sourcewise.demo import story
from sourcewise.resilience.models import Incident, ResiliencePlan

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
    current = Incident.objects.get(check_name="contact_in_target_segment")
    assert current.status == "reported" and current.severity == "critical"
    assert len(current.affected_customers) == 1240 and current.scenario is not None
    assert Incident.objects.count() == 2
