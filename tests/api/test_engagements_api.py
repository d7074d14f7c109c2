"""The engagements API through a real client: propose, read, edit, accept, end, history."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sourcewise.accounts.models import Membership
from sourcewise.core import services
from sourcewise.core.models import AuditEvent, Engagement

pytestmark = pytest.mark.django_db

JSON = "application/json"


def _locs(response) -> list[list]:
    return [error["loc"] for error in response.json()["detail"]]


def _proposal(world, name: str = "Collections pilot") -> Engagement:
    """A second engagement, proposed by the buyer and not yet accepted."""
    return services.engagement_propose(
        actor=world.buyer.manager,
        organization=world.buyer.organization,
        counterpart=world.provider.organization,
        our_side="buyer",
        name=name,
    )


def _proposal_body(**overrides) -> dict:
    return {
        "counterpart": "dialwell",
        "our_side": "buyer",
        "name": "Inbound support",
        "services": "Contact centre",
        "description": "Overflow calls",
        "start_date": "2027-01-01",
        "end_date": "2027-12-31",
        **overrides,
    }


# Reading.


def test_list_engagements_of_the_acting_organisation(world, client, bearer):
    response = client.get(
        "/api/v1/engagements", **bearer(world.provider.viewer, world.provider.organization)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [item] = body["items"]
    assert item["id"] == world.engagement.pk
    assert item["name"] == "Outbound marketing calls"
    assert item["buyer"] == {
        "id": world.buyer.organization.pk,
        "name": "Northwind Bank",
        "slug": "northwind",
    }
    assert item["provider"]["slug"] == "dialwell"
    assert item["proposed_by"]["slug"] == "northwind"
    assert item["our_side"] == "provider"
    assert item["status"] == "active"
    assert item["version"] == 2


def test_the_outsider_lists_only_its_own_engagement(world, client, bearer):
    body = client.get(
        "/api/v1/engagements", **bearer(world.outsider.viewer, world.outsider.organization)
    ).json()
    assert [e["name"] for e in body["items"]] == ["Unrelated collections"]


def test_list_filters_by_status_and_text_and_is_ordered(world, client, bearer):
    _proposal(world, "Collections pilot")
    _proposal(world, "Asset operations")
    headers = bearer(world.buyer.viewer, world.buyer.organization)
    names = [e["name"] for e in client.get("/api/v1/engagements", **headers).json()["items"]]
    assert names == ["Asset operations", "Collections pilot", "Outbound marketing calls"]
    proposed = client.get("/api/v1/engagements?status=proposed", **headers).json()
    assert [e["name"] for e in proposed["items"]] == ["Asset operations", "Collections pilot"]
    assert proposed["count"] == 2
    found = client.get("/api/v1/engagements?q=OUTBOUND", **headers).json()
    assert [e["name"] for e in found["items"]] == ["Outbound marketing calls"]
    by_partner = client.get("/api/v1/engagements?q=dialwell&status=active", **headers).json()
    assert [e["name"] for e in by_partner["items"]] == ["Outbound marketing calls"]
    bad = client.get("/api/v1/engagements?status=paused", **headers)
    assert bad.status_code == 422
    assert _locs(bad) == [["query", "status"]]


def test_list_is_paginated(world, client, bearer):
    for n in range(5):
        _proposal(world, f"Pilot {n}")
    headers = bearer(world.buyer.viewer, world.buyer.organization)
    page = client.get("/api/v1/engagements?limit=2&offset=2", **headers).json()
    assert page["count"] == 6
    assert [e["name"] for e in page["items"]] == ["Pilot 1", "Pilot 2"]


def test_listing_costs_the_same_queries_for_one_row_or_many(
    world, client, bearer, django_assert_max_num_queries
):
    headers = bearer(world.buyer.viewer, world.buyer.organization)
    client.get("/api/v1/engagements", **headers)  # token use noted: later calls do not write
    with CaptureQueriesContext(connection) as one:
        client.get("/api/v1/engagements", **headers)
    for n in range(6):
        _proposal(world, f"Pilot {n}")
    with django_assert_max_num_queries(len(one)):
        body = client.get("/api/v1/engagements", **headers).json()
    assert body["count"] == 7


def test_get_an_engagement_from_either_side(world, client, bearer):
    path = f"/api/v1/engagements/{world.engagement.pk}"
    buyer = client.get(path, **bearer(world.buyer.viewer, world.buyer.organization))
    provider = client.get(path, **bearer(world.provider.viewer, world.provider.organization))
    assert buyer.status_code == provider.status_code == 200
    assert buyer.json()["our_side"] == "buyer"
    assert provider.json()["our_side"] == "provider"
    assert buyer.json()["services"] == "Outbound campaigns"


def test_the_outsider_gets_404_exactly_like_a_missing_engagement(world, client, bearer):
    headers = bearer(world.outsider.owner, world.outsider.organization)
    other = client.get(f"/api/v1/engagements/{world.engagement.pk}", **headers)
    missing = client.get("/api/v1/engagements/999999", **headers)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json() == {"detail": "Not found."}


def test_every_engagement_route_answers_404_to_the_outsider(world, client, bearer):
    headers = bearer(world.outsider.owner, world.outsider.organization)
    pk = world.engagement.pk
    responses = {
        "get": client.get(f"/api/v1/engagements/{pk}", **headers),
        "history": client.get(f"/api/v1/engagements/{pk}/history", **headers),
        "patch": client.patch(
            f"/api/v1/engagements/{pk}",
            {"name": "Mine", "version": 2},
            content_type=JSON,
            **headers,
        ),
        "accept": client.post(f"/api/v1/engagements/{pk}/accept", **headers),
        "end": client.post(f"/api/v1/engagements/{pk}/end", **headers),
    }
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 404)
    world.engagement.refresh_from_db()
    assert (world.engagement.name, world.engagement.status) == (
        "Outbound marketing calls",
        "active",
    )


def test_a_token_of_one_organisation_cannot_see_another_of_its_users(world, client, bearer):
    user = world.buyer.owner
    Membership.objects.create(user=user, organization=world.outsider.organization, role="owner")
    headers = bearer(user, world.buyer.organization)
    names = [e["name"] for e in client.get("/api/v1/engagements", **headers).json()["items"]]
    assert names == ["Outbound marketing calls"]
    private = world.private_engagement.pk
    assert client.get(f"/api/v1/engagements/{private}", **headers).status_code == 404
    assert client.get(f"/api/v1/engagements/{private}/history", **headers).status_code == 404
    assert client.post(f"/api/v1/engagements/{private}/end", **headers).status_code == 404


def test_a_session_acts_for_its_active_organisation(world, login):
    client = login(world.provider.member, world.provider.organization)
    response = client.get("/api/v1/engagements")
    assert response.status_code == 200
    assert [e["our_side"] for e in response.json()["items"]] == ["provider"]


# Proposing.


def test_a_manager_proposes_an_engagement(world, client, bearer):
    headers = bearer(world.buyer.manager, world.buyer.organization)
    response = client.post("/api/v1/engagements", _proposal_body(), content_type=JSON, **headers)
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Inbound support"
    assert body["buyer"]["slug"] == "northwind" and body["provider"]["slug"] == "dialwell"
    assert body["proposed_by"]["slug"] == "northwind"
    assert body["our_side"] == "buyer"
    assert body["status"] == "proposed"
    assert (body["start_date"], body["end_date"]) == ("2027-01-01", "2027-12-31")
    assert body["version"] == 1
    engagement = Engagement.objects.get(pk=body["id"])
    assert engagement.services == "Contact centre"
    assert (
        AuditEvent.objects.filter(action="engagement.propose", object_id=str(engagement.pk)).count()
        == 1
    )


def test_proposing_as_the_provider(world, client, bearer):
    headers = bearer(world.provider.owner, world.provider.organization)
    body = _proposal_body(counterpart="northwind", our_side="provider")
    response = client.post("/api/v1/engagements", body, content_type=JSON, **headers)
    assert response.status_code == 201
    assert response.json()["buyer"]["slug"] == "northwind"
    assert response.json()["our_side"] == "provider"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"start_date": "2027-02-30"}, "start_date"),
        ({"end_date": "next year"}, "end_date"),
        ({"our_side": "middleman"}, "our_side"),
        ({"name": 42}, "name"),
        ({"name": "   "}, "name"),
        ({"counterpart": "no-such-organisation"}, "counterpart"),
        ({"counterpart": "northwind"}, "counterpart"),  # itself
        ({"start_date": "2027-06-01", "end_date": "2027-01-01"}, "end_date"),
        ({"status": "active"}, "status"),  # not settable
    ],
)
def test_a_bad_proposal_names_the_field(world, client, bearer, changes, field):
    headers = bearer(world.buyer.manager, world.buyer.organization)
    response = client.post(
        "/api/v1/engagements", _proposal_body(**changes), content_type=JSON, **headers
    )
    assert response.status_code == 422, response.content
    assert _locs(response) == [["body", field]]
    assert response.json()["detail"][0]["msg"]
    assert not Engagement.objects.filter(name="Inbound support").exists()


def test_missing_fields_are_all_named(world, client, bearer):
    headers = bearer(world.buyer.manager, world.buyer.organization)
    response = client.post("/api/v1/engagements", {"name": "x"}, content_type=JSON, **headers)
    assert response.status_code == 422
    assert sorted(_locs(response)) == [["body", "counterpart"], ["body", "our_side"]]


@pytest.mark.parametrize("raw", ['{"name": "Broken",', "not json at all", '{"name": "x"}}'])
def test_malformed_json_answers_422(world, client, bearer, raw):
    headers = bearer(world.buyer.manager, world.buyer.organization)
    response = client.post("/api/v1/engagements", raw, content_type=JSON, **headers)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert "not valid JSON" in error["msg"]


def test_an_empty_body_answers_422(world, client, bearer):
    headers = bearer(world.buyer.manager, world.buyer.organization)
    response = client.post("/api/v1/engagements", "", content_type=JSON, **headers)
    assert response.status_code == 422
    assert _locs(response) == [["body"]]


def test_a_member_may_not_propose(world, client, bearer):
    headers = bearer(world.buyer.member, world.buyer.organization)
    response = client.post("/api/v1/engagements", _proposal_body(), content_type=JSON, **headers)
    assert response.status_code == 403
    assert "manager" in response.json()["detail"]


# Editing.


def test_a_manager_edits_with_the_version_they_read(world, client, bearer):
    path = f"/api/v1/engagements/{world.engagement.pk}"
    headers = bearer(world.provider.manager, world.provider.organization)
    version = client.get(path, **headers).json()["version"]
    response = client.patch(
        path,
        {"name": "Outbound calls, phase 2", "end_date": "2027-06-30", "version": version},
        content_type=JSON,
        **headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Outbound calls, phase 2"
    assert body["end_date"] == "2027-06-30"
    assert body["services"] == "Outbound campaigns"  # not sent, not changed
    assert body["version"] == version + 1
    event = AuditEvent.objects.get(action="engagement.update")
    assert event.changes["name"] == {
        "before": "Outbound marketing calls",
        "after": "Outbound calls, phase 2",
    }
    assert event.organization == world.provider.organization


def test_null_clears_a_date(world, client, bearer):
    path = f"/api/v1/engagements/{world.engagement.pk}"
    headers = bearer(world.buyer.manager, world.buyer.organization)
    response = client.patch(path, {"start_date": None, "version": 2}, content_type=JSON, **headers)
    assert response.status_code == 200
    assert response.json()["start_date"] is None


def test_a_stale_version_answers_409_and_changes_nothing(world, client, bearer):
    path = f"/api/v1/engagements/{world.engagement.pk}"
    buyer = bearer(world.buyer.manager, world.buyer.organization)
    provider = bearer(world.provider.manager, world.provider.organization)
    first = client.patch(path, {"name": "Buyer's name", "version": 2}, content_type=JSON, **buyer)
    assert first.status_code == 200
    second = client.patch(
        path, {"name": "Provider's name", "version": 2}, content_type=JSON, **provider
    )
    assert second.status_code == 409
    assert "Someone else saved" in second.json()["detail"]
    world.engagement.refresh_from_db()
    assert world.engagement.name == "Buyer's name"
    assert world.engagement.version == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No version"}, "version"),
        ({"end_date": "2027-99-01", "version": 2}, "end_date"),
        ({"status": "ended", "version": 2}, "status"),
        ({"buyer": 3, "version": 2}, "buyer"),
        ({"start_date": "2030-01-01", "end_date": "2029-01-01", "version": 2}, "end_date"),
        ({"name": "", "version": 2}, "name"),
        ({"version": "two"}, "version"),
    ],
)
def test_a_bad_edit_names_the_field(world, client, bearer, body, field):
    path = f"/api/v1/engagements/{world.engagement.pk}"
    headers = bearer(world.buyer.manager, world.buyer.organization)
    response = client.patch(path, body, content_type=JSON, **headers)
    assert response.status_code == 422, response.content
    assert _locs(response) == [["body", field]]
    world.engagement.refresh_from_db()
    assert world.engagement.version == 2


def test_a_token_acts_with_its_organisations_role_only(world, client, bearer):
    # The buyer's viewer is also a manager at the provider: acting for the buyer, they are a viewer.
    user = world.buyer.viewer
    Membership.objects.create(user=user, organization=world.provider.organization, role="manager")
    path = f"/api/v1/engagements/{world.engagement.pk}"
    as_buyer = bearer(user, world.buyer.organization)
    denied = client.patch(path, {"name": "Renamed", "version": 2}, content_type=JSON, **as_buyer)
    assert denied.status_code == 403
    assert client.post(f"{path}/end", **as_buyer).status_code == 403
    as_provider = bearer(user, world.provider.organization)
    allowed = client.patch(
        path, {"name": "Renamed", "version": 2}, content_type=JSON, **as_provider
    )
    assert allowed.status_code == 200


# Accepting and ending.


def test_the_other_sides_manager_accepts(world, client, bearer):
    proposal = _proposal(world)
    path = f"/api/v1/engagements/{proposal.pk}/accept"
    own_side = client.post(path, **bearer(world.buyer.owner, world.buyer.organization))
    assert own_side.status_code == 403
    response = client.post(path, **bearer(world.provider.manager, world.provider.organization))
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert response.json()["start_date"] is not None
    again = client.post(path, **bearer(world.provider.manager, world.provider.organization))
    assert again.status_code == 422
    assert "not proposed" in again.json()["detail"][0]["msg"]


def test_accepting_needs_the_role_on_the_side_the_token_acts_for(world, client, bearer):
    proposal = _proposal(world)  # by the buyer: the provider's manager accepts
    user = world.buyer.member  # also a manager at the provider
    Membership.objects.create(user=user, organization=world.provider.organization, role="manager")
    path = f"/api/v1/engagements/{proposal.pk}/accept"
    assert client.post(path, **bearer(user, world.buyer.organization)).status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == "proposed"
    response = client.post(path, **bearer(user, world.provider.organization))
    assert response.status_code == 200
    assert (
        AuditEvent.objects.filter(action="engagement.accept", object_id=str(proposal.pk))
        .get()
        .organization
        == world.provider.organization
    )


def test_a_manager_ends_an_engagement(world, client, bearer):
    path = f"/api/v1/engagements/{world.engagement.pk}/end"
    headers = bearer(world.buyer.manager, world.buyer.organization)
    response = client.post(path, **headers)
    assert response.status_code == 200
    assert response.json()["status"] == "ended"
    assert response.json()["end_date"] is not None
    again = client.post(path, **headers)
    assert again.status_code == 422
    assert "already ended" in again.json()["detail"][0]["msg"]


def test_ending_on_a_given_date(world, client, bearer):
    world.engagement.start_date = None
    world.engagement.save()
    path = f"/api/v1/engagements/{world.engagement.pk}/end"
    headers = bearer(world.provider.owner, world.provider.organization)
    bad = client.post(f"{path}?end_date=someday", **headers)
    assert bad.status_code == 422
    assert _locs(bad) == [["query", "end_date"]]
    response = client.post(f"{path}?end_date=2026-12-31", **headers)
    assert response.status_code == 200
    assert response.json()["end_date"] == "2026-12-31"


def test_a_viewer_token_cannot_write_to_a_visible_engagement(world, client, bearer):
    proposal = _proposal(world)
    headers = bearer(world.provider.viewer, world.provider.organization)
    pk = world.engagement.pk
    attempts = {
        "propose": client.post(
            "/api/v1/engagements",
            _proposal_body(counterpart="northwind", our_side="provider"),
            content_type=JSON,
            **headers,
        ),
        "edit": client.patch(
            f"/api/v1/engagements/{pk}", {"name": "x", "version": 2}, content_type=JSON, **headers
        ),
        "accept": client.post(f"/api/v1/engagements/{proposal.pk}/accept", **headers),
        "end": client.post(f"/api/v1/engagements/{pk}/end", **headers),
    }
    assert {name: r.status_code for name, r in attempts.items()} == dict.fromkeys(attempts, 403)
    assert all("role" in r.json()["detail"] for r in attempts.values())
    world.engagement.refresh_from_db()
    proposal.refresh_from_db()
    assert (world.engagement.name, world.engagement.status, proposal.status) == (
        "Outbound marketing calls",
        "active",
        "proposed",
    )


# History.


def test_an_engagements_history_is_shared_by_both_sides(world, client, bearer):
    services.engagement_update(
        actor=world.buyer.manager, engagement=world.engagement, expected_version=2, name="Renamed"
    )
    path = f"/api/v1/engagements/{world.engagement.pk}/history"
    response = client.get(path, **bearer(world.provider.viewer, world.provider.organization))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [e["action"] for e in body["items"]] == [
        "engagement.update",
        "engagement.accept",
        "engagement.propose",
    ]
    seqs = [e["seq"] for e in body["items"]]
    assert seqs == sorted(seqs, reverse=True)
    latest = body["items"][0]
    assert latest["actor_label"] == "manager@northwind.test"
    assert latest["object_type"] == "core.engagement"
    assert latest["object_id"] == str(world.engagement.pk)
    assert latest["object_repr"] == "Renamed"
    assert latest["changes"] == {"name": {"before": "Outbound marketing calls", "after": "Renamed"}}
    buyer_view = client.get(path, **bearer(world.buyer.viewer, world.buyer.organization)).json()
    assert buyer_view == body
    one = client.get(
        f"{path}?limit=1&offset=1", **bearer(world.buyer.viewer, world.buyer.organization)
    )
    assert [e["action"] for e in one.json()["items"]] == ["engagement.accept"]
