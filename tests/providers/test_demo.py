"""The demo story's providers part: what the brief asks to show, loaded twice without duplicates."""

from __future__ import annotations

import pytest

from sourcewise.providers import selectors
from sourcewise.providers.models import Assessment, ChangeNotice, Interaction, Provider, Selection

pytestmark = pytest.mark.django_db


def test_the_demo_tells_the_providers_story_and_loads_twice(django_capture_on_commit_callbacks):
    from sourcewise.core.models import Engagement
    from sourcewise.demo import story

    with django_capture_on_commit_callbacks(execute=True):
        story.load()
    counts = (Provider.objects.count(), Interaction.objects.count(), Assessment.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        story.load()
    assert (Provider.objects.count(), Interaction.objects.count(), Assessment.objects.count()) == counts

    dialwell = Provider.objects.get(legal_name="Dialwell Outsourcing Ltd")
    assert dialwell.tier == "critical" and dialwell.tier_changes.count() == 2
    chain = selectors.subcontractor_chain(dialwell.services.get())
    assert [(depth, sub.legal_name) for depth, sub in chain] == [(0, "DialTech Cloud BV"),
                                                               (1, "ConvertCo Data Services")]
    outbound = Engagement.objects.get(name="Outbound marketing calls")
    assert selectors.relationship_health(outbound).alert
    assert "only speaks at problems" in selectors.relationship_health(outbound).alert
    assert selectors.relationship_health(Engagement.objects.get(name="Collections")).alert is None
    assert ChangeNotice.objects.get(engagement=outbound).status == "announced"
    selection = Selection.objects.get(service_name="Inbound complaints line")
    candidates, _rows = selectors.selection_comparison(selection)
    flags = {c.assessment.provider.legal_name: len(c.result.red_flags) for c in candidates}
    assert flags["Dialwell Outsourcing Ltd"] >= 3 and flags["Recova Collections Ltd"] == 0


def test_the_demo_pages_open_for_each_side(client, django_capture_on_commit_callbacks):
    from sourcewise.accounts.models import User
    from sourcewise.core.models import Engagement
    from sourcewise.demo import story

    with django_capture_on_commit_callbacks(execute=True):
        story.load()
    outbound = Engagement.objects.get(name="Outbound marketing calls")
    dialwell = Provider.objects.get(legal_name="Dialwell Outsourcing Ltd")
    selection = Selection.objects.get(service_name="Inbound complaints line")
    assessment = Assessment.objects.get(provider=dialwell)
    notice = ChangeNotice.objects.get(engagement=outbound)
    client.force_login(User.objects.get(email="vm@northwind.demo"))
    for path in ("/providers/", f"/providers/{dialwell.pk}/", f"/providers/{dialwell.pk}/?tab=scorecard",
                 f"/providers/selections/{selection.pk}/", f"/providers/assessments/{assessment.pk}/",
                 f"/providers/engagements/{outbound.pk}/relationship/", f"/providers/changes/{notice.pk}/",
                 "/providers/templates/", "/providers/assessments/", f"/engagements/{outbound.pk}/"):
        response = client.get(path)
        assert response.status_code == 200, path
    scorecard = client.get(f"/providers/{dialwell.pk}/?tab=scorecard").content.decode()
    assert "<svg" in scorecard and "Interactions per quarter" in scorecard
    assert "No SLA data yet" not in scorecard and "No incident data yet" not in scorecard
    assert "delivery checks passed" in scorecard and "median time to acknowledge" in scorecard
    client.force_login(User.objects.get(email="am@dialwell.demo"))
    landing = client.get("/providers/").content.decode()
    assert "Questionnaires for Dialwell Outsourcing to answer" in landing
    page = client.get(f"/providers/assessments/{assessment.pk}/").content.decode()
    assert "the answers are locked" in page and "Red flag" not in page and "No incident history given" not in page
    assert client.get(f"/providers/{dialwell.pk}/").status_code == 404  # the buyer's register stays private
