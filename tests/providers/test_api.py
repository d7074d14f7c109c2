"""The providers API: same services, same scoping, 404 for hidden and missing alike, 409 for stale versions."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from sourcewise.providers import services
from sourcewise.providers.models import Provider

from .helpers import BAD_LEI, GOOD_LEI, NEVER_FAILED_ANSWERS, due, linked_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer(db):
    from sourcewise.accounts.services import api_token_create

    def _bearer(user, organization):
        _token, secret = api_token_create(actor=user, organization=organization, name="test")
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    return _bearer


def _post(client, path, body, auth, method="post"):
    return getattr(client, method)(path, json.dumps(body), content_type="application/json", **auth)


def test_register_through_the_api(world, client, bearer):
    auth = bearer(world.buyer.member, world.buyer.organization)
    response = _post(client, "/api/v1/providers", {"legal_name": "Api Ltd", "lei": BAD_LEI}, auth)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "lei"]
    response = _post(client, "/api/v1/providers", {"legal_name": "Api Ltd", "lei": GOOD_LEI,
                                                   "organization": "dialwell", "tier": "important"}, auth)
    assert response.status_code == 201
    provider = response.json()
    assert provider["organization"] == "dialwell" and provider["tier"] == "important"
    stale = _post(client, f"/api/v1/providers/{provider['id']}", {"version": 7, "country": "IE"}, auth, "patch")
    assert stale.status_code == 409
    ok = _post(client, f"/api/v1/providers/{provider['id']}", {"version": 1, "country": "ie"}, auth, "patch")
    assert ok.json()["country"] == "IE" and ok.json()["version"] == 2
    service = _post(client, f"/api/v1/providers/{provider['id']}/services", {"name": "Calls"}, auth).json()
    contract = _post(client, f"/api/v1/provider-services/{service['id']}/contracts",
                     {"reference": "C-9", "start_date": "2026-01-01", "buyer_notice_days": 90}, auth)
    assert contract.status_code == 201
    listed = client.get(f"/api/v1/providers/{provider['id']}/services", **auth).json()
    assert listed[0]["contracts"][0]["reference"] == "C-9"
    # Another organisation, and the provider itself, get 404 for the register entry.
    for user, org in ((world.outsider.owner, world.outsider.organization),
                      (world.provider.owner, world.provider.organization)):
        assert client.get(f"/api/v1/providers/{provider['id']}", **bearer(user, org)).status_code == 404


def test_import_through_the_api_names_lines(world, client, bearer):
    auth = bearer(world.buyer.member, world.buyer.organization)
    response = _post(client, "/api/v1/provider-import", {"csv": "legal_name,country\nA Ltd,GB\nA Ltd,GB\n"}, auth)
    assert response.status_code == 422
    assert "Line 3, column 'legal_name'" in response.json()["detail"][0]["msg"]
    assert not Provider.objects.exists()


def test_questionnaire_through_the_api_hides_the_buyers_judgement_from_the_provider(world, client, bearer):
    provider = linked_provider(world)
    buyer = bearer(world.buyer.member, world.buyer.organization)
    sent = _post(client, f"/api/v1/providers/{provider.pk}/assessments", {"due_date": due().isoformat()}, buyer)
    assert sent.status_code == 201 and sent.json()["invitation_link"] is None
    assessment_id = sent.json()["id"]
    dialwell = bearer(world.provider.member, world.provider.organization)
    answered = _post(client, f"/api/v1/due-diligence/assessments/{assessment_id}/answers",
                     {"answers": NEVER_FAILED_ANSWERS}, dialwell, "put")
    assert answered.status_code == 200
    assert answered.json()["score"] is None and answered.json()["red_flags"] is None
    assert _post(client, f"/api/v1/due-diligence/assessments/{assessment_id}/submit", {}, dialwell).status_code == 200
    locked = _post(client, f"/api/v1/due-diligence/assessments/{assessment_id}/answers",
                   {"answers": {"ever-failed": "Yes: see our incident history"}}, dialwell, "put")
    assert locked.status_code == 422
    seen = client.get(f"/api/v1/due-diligence/assessments/{assessment_id}", **buyer).json()
    assert {f["question_key"] for f in seen["red_flags"]} >= {"ever-failed", "incident-history"}
    # The provider cannot reopen, review or conclude: those routes are the buyer's.
    assert _post(client, f"/api/v1/due-diligence/assessments/{assessment_id}/reopen", {"reason": "x"},
                 dialwell).status_code == 404
    outsider = bearer(world.outsider.owner, world.outsider.organization)
    assert client.get(f"/api/v1/due-diligence/assessments/{assessment_id}", **outsider).status_code == 404


def test_relationship_and_change_notices_through_the_api(world, client, bearer):
    today = timezone.localdate()
    buyer = bearer(world.buyer.member, world.buyer.organization)
    dialwell = bearer(world.provider.member, world.provider.organization)
    eid = world.engagement.pk
    logged = _post(client, f"/api/v1/engagements/{eid}/interactions", {
        "date": today.isoformat(), "kind": "workshop", "initiated_by": "buyer", "title": "Script workshop",
        "follow_ups": [{"description": "Send scripts", "owner": "Dialwell"}]}, buyer)
    assert logged.status_code == 201 and logged.json()["proactive"] is True
    health = client.get(f"/api/v1/engagements/{eid}/relationship-health", **dialwell).json()
    assert health["interactions"] == 1 and health["open_follow_ups"] == 1
    future = (today + dt.timedelta(days=30)).isoformat()
    assert _post(client, f"/api/v1/engagements/{eid}/change-notices", {
        "kind": "location", "title": "Move", "description": "To Porto", "effective_date": future},
        buyer).status_code == 403  # only the provider announces
    notice = _post(client, f"/api/v1/engagements/{eid}/change-notices", {
        "kind": "location", "title": "Move to Porto", "description": "Second site", "effective_date": future},
        dialwell).json()
    response = _post(client, f"/api/v1/change-notices/{notice['id']}/responses",
                     {"kind": "evidence_request", "text": "Show the site audit.", "version": 1}, buyer)
    assert response.json()["status"] == "evidence"
    stale = _post(client, f"/api/v1/change-notices/{notice['id']}/responses",
                  {"kind": "comment", "text": "late", "version": 1}, buyer)
    assert stale.status_code == 409
    outsider = bearer(world.outsider.owner, world.outsider.organization)
    assert client.get(f"/api/v1/change-notices/{notice['id']}", **outsider).status_code == 404


def test_scorecard_says_no_sla_data_rather_than_inventing_it(world, client, bearer):
    provider = linked_provider(world)
    services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    card = client.get(f"/api/v1/providers/{provider.pk}/scorecard",
                      **bearer(world.buyer.viewer, world.buyer.organization)).json()
    assert card["sla"] is None and card["incidents"] is None
    assert card["due_diligence_score"] is None and card["reassessment_due"] is None


def test_register_list_filters(world, client, bearer):
    linked_provider(world)
    services.provider_create(actor=world.buyer.member, buyer=world.buyer.organization, legal_name="Other Ltd",
                             tier="critical")
    auth = bearer(world.buyer.viewer, world.buyer.organization)
    names = [p["legal_name"] for p in client.get("/api/v1/providers?tier=critical", **auth).json()["items"]]
    assert names == ["Other Ltd"]
    assert client.get("/api/v1/providers", **bearer(world.outsider.owner, world.outsider.organization)).json()[
        "count"] == 0
