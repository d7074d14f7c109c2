"""The scorecard's period is a choice (30, 90, 180 or 365 days): every figure follows it, the page says it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from sourcewise.providers import selectors, services
from sourcewise.resilience import services as resilience_services
from sourcewise.resilience.models import Incident

from .helpers import linked_provider
from .test_scorecard import bearer, monitored  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.django_db

AGES = (10, 60, 150, 300)  # days ago: one in each of the periods 30, 90, 180 and 365


@pytest.fixture
def history(world):
    provider = linked_provider(world)
    monitored(world.engagement, world.buyer.manager, world.buyer.organization,
              days=[(ago, {"targets_contacted": ago}) for ago in AGES])
    today, now = timezone.localdate(), timezone.now()
    for ago in AGES:
        incident = resilience_services.incident_open(actor=world.buyer.manager, engagement=world.engagement,
                                                     title=f"Closed incident of {ago} days ago")
        Incident.objects.filter(pk=incident.pk).update(status="closed", reported_at=now - dt.timedelta(days=ago))
        services.interaction_log(actor=world.buyer.member, engagement=world.engagement,
                                 organization=world.buyer.organization, date=today - dt.timedelta(days=ago),
                                 kind="escalation", initiated_by="buyer", title=f"Escalation {ago} days ago")
    return provider


def test_every_figure_uses_the_chosen_period(world, history):
    for days, expected in ((30, 1), (90, 2), (180, 3), (365, 4)):
        card = selectors.provider_scorecard(history, user=world.buyer.member,
                                            organization=world.buyer.organization, days=days)
        assert card["period_days"] == days and card["since"] == timezone.localdate() - dt.timedelta(days=days)
        assert card["sla"]["runs"] == expected and card["sla"]["period_days"] == days
        assert card["sla"]["failing_rows"] == sum(AGES[:expected])
        assert card["incidents"]["total"] == expected and card["incidents"]["period_days"] == days
        [(_engagement, health)] = card["relationship"]
        assert health.interactions == expected and health.period_days == days
    # The default is 90 days.
    card = selectors.provider_scorecard(history, user=world.buyer.member, organization=world.buyer.organization)
    assert card["period_days"] == 90 and card["sla"]["runs"] == 2


def test_other_periods_are_refused_with_the_choices_named():
    assert selectors.scorecard_period(None) == 90 and selectors.scorecard_period("180") == 180
    for bad in ("7", "abc", "-30", "90.5"):
        with pytest.raises(ValueError, match="one of 30, 90, 180, 365 days"):
            selectors.scorecard_period(bad)


def test_the_page_offers_the_period_and_says_which(world, login, history):
    client = login(world.buyer.viewer)
    page = client.get(f"/providers/{history.pk}/?tab=scorecard&days=30").content.decode()
    assert "Figures of the last <strong>30 days</strong>" in page
    assert '<option value="30" selected>' in page
    assert "1</strong> interactions in 30 days" in page and "of 1 delivery check passed" in page
    page = client.get(f"/providers/{history.pk}/?tab=scorecard").content.decode()
    assert "Figures of the last <strong>90 days</strong>" in page and "of 2 delivery checks passed" in page
    refused = client.get(f"/providers/{history.pk}/?tab=scorecard&days=7")
    assert refused.status_code == 400
    assert "The period is one of 30, 90, 180, 365 days, not &#x27;7&#x27;." in refused.content.decode()
    assert "delivery check" not in refused.content.decode()


def test_the_api_takes_days(world, client, bearer, history):  # noqa: F811
    auth = bearer(world.buyer.viewer, world.buyer.organization)
    body = client.get(f"/api/v1/providers/{history.pk}/scorecard?days=365", **auth).json()
    assert (body["period_days"], body["sla"]["runs"], body["incidents"]["total"], body["interactions"]) == (
        365, 4, 4, 4)
    body = client.get(f"/api/v1/providers/{history.pk}/scorecard", **auth).json()
    assert (body["period_days"], body["sla"]["runs"], body["interactions"]) == (90, 2, 2)
    response = client.get(f"/api/v1/providers/{history.pk}/scorecard?days=45", **auth)
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["query", "days"], "type": "invalid",
                                          "msg": "The period is one of 30, 90, 180, 365 days, not '45'."}]
