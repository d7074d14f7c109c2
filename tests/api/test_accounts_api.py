"""The accounts API through a real client: who you are, organisations, members, invitations, tokens."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.test import Client
from django.utils import timezone

from sourcewise.accounts import services as account_services
from sourcewise.accounts.models import ApiToken, Invitation, Membership
from sourcewise.core.models import AuditEvent

pytestmark = pytest.mark.django_db

JSON = "application/json"


def _locs(response) -> list[list]:
    return [error["loc"] for error in response.json()["detail"]]


# Authentication.


def test_me_with_a_token_names_the_user_the_organisation_and_the_role(world, client, bearer):
    response = client.get("/api/v1/me", **bearer(world.buyer.manager, world.buyer.organization))
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {
        "id": world.buyer.manager.pk,
        "email": "manager@northwind.test",
        "full_name": "Manager of Northwind Bank",
    }
    assert body["organization"]["slug"] == "northwind"
    assert body["role"] == "manager"
    assert body["via_token"] is True
    assert body["memberships"] == [{"organization": body["organization"], "role": "manager"}]


def test_me_with_a_token_lists_only_the_tokens_organisation(world, client, bearer):
    user = world.buyer.owner
    Membership.objects.create(user=user, organization=world.outsider.organization, role="viewer")
    body = client.get("/api/v1/me", **bearer(user, world.buyer.organization)).json()
    assert [m["organization"]["slug"] for m in body["memberships"]] == ["northwind"]


def test_me_with_a_session_lists_every_membership(world, login):
    user = world.buyer.owner
    Membership.objects.create(user=user, organization=world.outsider.organization, role="viewer")
    client = login(user, world.outsider.organization)
    body = client.get("/api/v1/me").json()
    assert body["via_token"] is False
    assert body["organization"]["slug"] == "unrelated"
    assert body["role"] == "viewer"
    assert {m["organization"]["slug"]: m["role"] for m in body["memberships"]} == {
        "northwind": "owner",
        "unrelated": "viewer",
    }


def test_no_credentials_answer_401(world, client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


@pytest.mark.parametrize("secret", ["sw_not-a-real-token", "garbage", ""])
def test_an_unknown_token_answers_401(world, client, secret):
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 401


def test_a_revoked_token_answers_401(world, client):
    token, secret = account_services.api_token_create(
        actor=world.buyer.member, organization=world.buyer.organization, name="old script"
    )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get("/api/v1/me", **headers).status_code == 200
    account_services.api_token_revoke(actor=world.buyer.member, token=token)
    assert client.get("/api/v1/me", **headers).status_code == 401
    assert client.get(f"/api/v1/engagements/{world.engagement.pk}", **headers).status_code == 401


def test_a_token_stops_working_when_its_user_leaves_the_organisation(world, client, bearer):
    headers = bearer(world.buyer.member, world.buyer.organization)
    Membership.objects.filter(
        user=world.buyer.member, organization=world.buyer.organization
    ).delete()
    assert client.get("/api/v1/me", **headers).status_code == 401


def test_using_a_token_records_when_it_was_last_used(world, client):
    token, secret = account_services.api_token_create(
        actor=world.buyer.member, organization=world.buyer.organization, name="nightly"
    )
    assert token.last_used_at is None
    before = timezone.now()
    client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}")
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at >= before


def test_session_writes_need_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.buyer.member)
    response = client.post("/api/v1/tokens", {"name": "x"}, content_type=JSON)
    assert response.status_code == 403
    assert not ApiToken.objects.filter(user=world.buyer.member).exists()


# Organisations.


def test_a_token_lists_only_its_own_organisation(world, client, bearer):
    user = world.buyer.owner
    Membership.objects.create(user=user, organization=world.outsider.organization, role="owner")
    response = client.get("/api/v1/organizations", **bearer(user, world.buyer.organization))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [org["slug"] for org in body["items"]] == ["northwind"]


def test_a_session_lists_every_organisation_of_its_user(world, login):
    user = world.buyer.owner
    Membership.objects.create(user=user, organization=world.outsider.organization, role="owner")
    body = login(user).get("/api/v1/organizations").json()
    assert [org["slug"] for org in body["items"]] == ["northwind", "unrelated"]


def test_get_an_organisation(world, client, bearer):
    org = world.buyer.organization
    response = client.get(f"/api/v1/organizations/{org.pk}", **bearer(world.buyer.viewer, org))
    assert response.status_code == 200
    assert response.json()["name"] == "Northwind Bank"
    assert set(response.json()) == {"id", "name", "slug", "industry", "created_at"}


def test_another_organisation_answers_404_like_a_missing_one(world, client, bearer):
    headers = bearer(world.outsider.owner, world.outsider.organization)
    other = client.get(f"/api/v1/organizations/{world.buyer.organization.pk}", **headers)
    missing = client.get("/api/v1/organizations/999999", **headers)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()


def test_a_token_of_one_organisation_cannot_reach_another_of_its_users(world, client, bearer):
    user = world.buyer.owner
    outsider = world.outsider.organization
    Membership.objects.create(user=user, organization=outsider, role="owner")
    headers = bearer(user, world.buyer.organization)
    for path in (
        f"/api/v1/organizations/{outsider.pk}",
        f"/api/v1/organizations/{outsider.pk}/members",
        f"/api/v1/organizations/{outsider.pk}/history",
    ):
        assert client.get(path, **headers).status_code == 404, path
    outsider_member = Membership.objects.get(user=world.outsider.viewer)
    response = client.patch(
        f"/api/v1/members/{outsider_member.pk}", {"role": "member"}, content_type=JSON, **headers
    )
    assert response.status_code == 404
    outsider_member.refresh_from_db()
    assert outsider_member.role == "viewer"


def test_members_of_an_organisation(world, client, bearer):
    org = world.buyer.organization
    response = client.get(
        f"/api/v1/organizations/{org.pk}/members", **bearer(world.buyer.viewer, org)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert [m["user"]["email"] for m in body["items"]] == [
        "manager@northwind.test",
        "member@northwind.test",
        "owner@northwind.test",
        "viewer@northwind.test",
    ]
    assert {m["role"] for m in body["items"]} == {"owner", "manager", "member", "viewer"}


def test_members_are_paginated(world, client, bearer):
    org = world.buyer.organization
    response = client.get(
        f"/api/v1/organizations/{org.pk}/members?limit=2&offset=1",
        **bearer(world.buyer.viewer, org),
    )
    body = response.json()
    assert body["count"] == 4
    assert [m["user"]["email"] for m in body["items"]] == [
        "member@northwind.test",
        "owner@northwind.test",
    ]
    too_many = client.get(
        f"/api/v1/organizations/{org.pk}/members?limit=100000", **bearer(world.buyer.viewer, org)
    )
    assert too_many.status_code == 422
    assert _locs(too_many) == [["query", "limit"]]


def test_an_organisations_history(world, client, bearer):
    org = account_services.organization_create(actor=world.outsider.member, name="Acme Collections")
    response = client.get(
        f"/api/v1/organizations/{org.pk}/history", **bearer(world.outsider.member, org)
    )
    assert response.status_code == 200
    body = response.json()
    # Newest first: the token made for this call, the founder's membership, the organisation.
    assert [e["action"] for e in body["items"]] == [
        "api_token.create", "membership.create", "organization.create"]
    event = body["items"][-1]
    assert event["action"] == "organization.create"
    assert event["actor_label"] == "member@unrelated.test"
    assert event["object_type"] == "accounts.organization"
    assert event["object_id"] == str(org.pk)
    assert event["object_repr"] == "Acme Collections"
    assert event["changes"]["name"] == {"before": None, "after": "Acme Collections"}
    assert set(event) == {
        "seq",
        "created_at",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changes",
    }


# Members.


def _membership(side, role: str) -> Membership:
    return Membership.objects.get(user=side.users[role], organization=side.organization)


def test_a_manager_changes_a_members_role(world, client, bearer):
    viewer = _membership(world.buyer, "viewer")
    response = client.patch(
        f"/api/v1/members/{viewer.pk}",
        {"role": "member"},
        content_type=JSON,
        **bearer(world.buyer.manager, world.buyer.organization),
    )
    assert response.status_code == 200
    assert response.json()["role"] == "member"
    assert response.json()["user"]["email"] == "viewer@northwind.test"
    viewer.refresh_from_db()
    assert viewer.role == "member"
    event = AuditEvent.objects.get(action="membership.change_role")
    assert event.actor == world.buyer.manager
    assert event.changes == {"role": {"before": "viewer", "after": "member"}}


def test_only_an_owner_makes_an_owner(world, client, bearer):
    member = _membership(world.buyer, "member")
    response = client.patch(
        f"/api/v1/members/{member.pk}",
        {"role": "owner"},
        content_type=JSON,
        **bearer(world.buyer.manager, world.buyer.organization),
    )
    assert response.status_code == 403
    assert "owner" in response.json()["detail"]
    member.refresh_from_db()
    assert member.role == "member"


def test_an_unknown_role_is_named(world, client, bearer):
    member = _membership(world.buyer, "member")
    response = client.patch(
        f"/api/v1/members/{member.pk}",
        {"role": "emperor"},
        content_type=JSON,
        **bearer(world.buyer.owner, world.buyer.organization),
    )
    assert response.status_code == 422
    assert _locs(response) == [["body", "role"]]


def test_a_manager_removes_a_member(world, client, bearer):
    member = _membership(world.buyer, "member")
    response = client.delete(
        f"/api/v1/members/{member.pk}", **bearer(world.buyer.manager, world.buyer.organization)
    )
    assert response.status_code == 204
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert AuditEvent.objects.filter(action="membership.remove").count() == 1


def test_the_last_owner_cannot_be_removed(world, client, bearer):
    owner = _membership(world.buyer, "owner")
    response = client.delete(
        f"/api/v1/members/{owner.pk}", **bearer(world.buyer.owner, world.buyer.organization)
    )
    assert response.status_code == 422
    assert _locs(response) == [["body", "role"]]
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_members_of_another_organisation_answer_404(world, client, bearer):
    member = _membership(world.buyer, "member")
    headers = bearer(world.outsider.owner, world.outsider.organization)
    assert (
        client.patch(
            f"/api/v1/members/{member.pk}", {"role": "viewer"}, content_type=JSON, **headers
        ).status_code
        == 404
    )
    assert client.delete(f"/api/v1/members/{member.pk}", **headers).status_code == 404
    member.refresh_from_db()
    assert member.role == "member"


# Invitations.


def test_a_manager_invites_someone(world, client, bearer):
    response = client.post(
        "/api/v1/invitations",
        {"email": "New.Person@Example.com", "role": "viewer"},
        content_type=JSON,
        **bearer(world.buyer.manager, world.buyer.organization),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "new.person@example.com"
    assert body["role"] == "viewer"
    assert body["state"] == "pending"
    assert body["organization"]["slug"] == "northwind"
    assert body["invited_by"]["email"] == "manager@northwind.test"
    assert dt.datetime.fromisoformat(body["expires_at"]) > timezone.now()
    invitation = Invitation.objects.get(pk=body["id"])
    assert "token" not in body and "token_hash" not in body
    assert invitation.token_hash not in response.content.decode()


def test_invitations_list_the_acting_organisations_only(world, client, bearer):
    account_services.invitation_create(
        actor=world.buyer.owner, organization=world.buyer.organization, email="a@example.com"
    )
    account_services.invitation_create(
        actor=world.outsider.owner, organization=world.outsider.organization, email="b@example.com"
    )
    response = client.get(
        "/api/v1/invitations", **bearer(world.buyer.viewer, world.buyer.organization)
    )
    assert response.status_code == 200
    assert [i["email"] for i in response.json()["items"]] == ["a@example.com"]
    assert "token_hash" not in response.content.decode()


def test_an_invalid_email_is_named(world, client, bearer):
    response = client.post(
        "/api/v1/invitations",
        {"email": "not an address"},
        content_type=JSON,
        **bearer(world.buyer.manager, world.buyer.organization),
    )
    assert response.status_code == 422
    assert _locs(response) == [["body", "email"]]
    assert "not an email address" in response.json()["detail"][0]["msg"]
    assert not Invitation.objects.exists()


def test_a_manager_revokes_an_invitation(world, client, bearer):
    invitation, _ = account_services.invitation_create(
        actor=world.buyer.owner, organization=world.buyer.organization, email="a@example.com"
    )
    headers = bearer(world.buyer.manager, world.buyer.organization)
    response = client.post(f"/api/v1/invitations/{invitation.pk}/revoke", **headers)
    assert response.status_code == 200
    assert response.json()["state"] == "revoked"
    assert response.json()["revoked_at"] is not None
    again = client.post(f"/api/v1/invitations/{invitation.pk}/revoke", **headers)
    assert again.status_code == 422
    assert "already revoked" in again.json()["detail"][0]["msg"]


def test_another_organisations_invitation_answers_404(world, client, bearer):
    invitation, _ = account_services.invitation_create(
        actor=world.buyer.owner, organization=world.buyer.organization, email="a@example.com"
    )
    response = client.post(
        f"/api/v1/invitations/{invitation.pk}/revoke",
        **bearer(world.outsider.owner, world.outsider.organization),
    )
    assert response.status_code == 404
    invitation.refresh_from_db()
    assert invitation.state == "pending"


# API tokens.


def test_creating_a_token_shows_the_secret_once_and_stores_only_its_hash(world, client, bearer):
    headers = bearer(world.buyer.viewer, world.buyer.organization)
    response = client.post(
        "/api/v1/tokens", {"name": "Nightly export"}, content_type=JSON, **headers
    )
    assert response.status_code == 201
    body = response.json()
    secret = body["token"]
    assert secret.startswith("sw_")
    assert body["name"] == "Nightly export"
    assert body["prefix"] == secret[:10]
    assert body["organization"]["slug"] == "northwind"
    assert body["revoked"] is False
    token = ApiToken.objects.get(pk=body["id"])
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = [str(value) for value in ApiToken.objects.filter(pk=token.pk).values().get().values()]
    assert secret not in stored
    # Never again: not in the list, not in the audit trail.
    listing = client.get("/api/v1/tokens", **headers)
    assert secret not in listing.content.decode()
    assert all("token" not in item for item in listing.json()["items"])
    assert not any(secret in str(e.changes) for e in AuditEvent.objects.all())
    # And the secret works.
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert me.status_code == 200 and me.json()["organization"]["slug"] == "northwind"


def test_a_session_creates_a_token_for_its_active_organisation(world, login):
    user = world.buyer.owner
    Membership.objects.create(user=user, organization=world.outsider.organization, role="member")
    client = login(user, world.outsider.organization)
    response = client.post("/api/v1/tokens", {"name": "from the browser"}, content_type=JSON)
    assert response.status_code == 201
    assert response.json()["organization"]["slug"] == "unrelated"
    assert (
        ApiToken.objects.get(pk=response.json()["id"]).organization == world.outsider.organization
    )


def test_a_token_needs_a_name(world, client, bearer):
    headers = bearer(world.buyer.member, world.buyer.organization)
    blank = client.post("/api/v1/tokens", {"name": "  "}, content_type=JSON, **headers)
    assert blank.status_code == 422
    assert _locs(blank) == [["body", "name"]]
    missing = client.post("/api/v1/tokens", {}, content_type=JSON, **headers)
    assert missing.status_code == 422
    assert _locs(missing) == [["body", "name"]]


def test_tokens_list_only_the_callers_own(world, client, bearer):
    account_services.api_token_create(
        actor=world.buyer.owner, organization=world.buyer.organization, name="the owner's"
    )
    headers = bearer(world.buyer.member, world.buyer.organization, name="mine")
    response = client.get("/api/v1/tokens", **headers)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [t["name"] for t in items] == ["mine"]
    assert items[0]["last_used_at"] is not None  # this very call used it
    assert set(items[0]) == {
        "id",
        "name",
        "prefix",
        "organization",
        "created_at",
        "last_used_at",
        "revoked",
    }


def test_revoking_a_token_through_the_api(world, client, bearer):
    token, secret = account_services.api_token_create(
        actor=world.buyer.member, organization=world.buyer.organization, name="to revoke"
    )
    headers = bearer(world.buyer.member, world.buyer.organization)
    response = client.post(f"/api/v1/tokens/{token.pk}/revoke", **headers)
    assert response.status_code == 200
    assert response.json()["revoked"] is True
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert client.get("/api/v1/me", **headers).status_code == 200


def test_a_colleagues_token_answers_404(world, client, bearer):
    token, secret = account_services.api_token_create(
        actor=world.buyer.owner, organization=world.buyer.organization, name="the owner's"
    )
    response = client.post(
        f"/api/v1/tokens/{token.pk}/revoke", **bearer(world.buyer.manager, world.buyer.organization)
    )
    assert response.status_code == 404
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


# Viewers may read but not change.


def test_a_viewer_token_cannot_change_the_organisation(world, client, bearer):
    org = world.buyer.organization
    headers = bearer(world.buyer.viewer, org)
    member = _membership(world.buyer, "member")
    invitation, _ = account_services.invitation_create(
        actor=world.buyer.owner, organization=org, email="a@example.com"
    )
    attempts = [
        client.patch(
            f"/api/v1/members/{member.pk}", {"role": "viewer"}, content_type=JSON, **headers
        ),
        client.delete(f"/api/v1/members/{member.pk}", **headers),
        client.post(
            "/api/v1/invitations", {"email": "b@example.com"}, content_type=JSON, **headers
        ),
        client.post(f"/api/v1/invitations/{invitation.pk}/revoke", **headers),
    ]
    assert [r.status_code for r in attempts] == [403, 403, 403, 403]
    assert all(r.json()["detail"] for r in attempts)
    member.refresh_from_db()
    invitation.refresh_from_db()
    assert member.role == "member"
    assert invitation.state == "pending"
    assert Invitation.objects.count() == 1


# The documentation.


def test_the_docs_page_renders(world, client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


def test_the_openapi_document_lists_every_route(world, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api/v1/me": {"get"},
        "/api/v1/organizations": {"get"},
        "/api/v1/organizations/{organization_id}": {"get"},
        "/api/v1/organizations/{organization_id}/members": {"get"},
        "/api/v1/organizations/{organization_id}/history": {"get"},
        "/api/v1/members/{membership_id}": {"patch", "delete"},
        "/api/v1/invitations": {"get", "post"},
        "/api/v1/invitations/{invitation_id}/revoke": {"post"},
        "/api/v1/tokens": {"get", "post"},
        "/api/v1/tokens/{token_id}/revoke": {"post"},
        "/api/v1/engagements": {"get", "post"},
        "/api/v1/engagements/{engagement_id}": {"get", "patch"},
        "/api/v1/engagements/{engagement_id}/accept": {"post"},
        "/api/v1/engagements/{engagement_id}/end": {"post"},
        "/api/v1/engagements/{engagement_id}/history": {"get"},
    }
    # Each app's own tests pin its routes; here, the shell's routes and their methods.
    listed = {path: set(methods) for path, methods in paths.items()}
    assert {path: listed.get(path) for path in expected} == expected
    created = paths["/api/v1/tokens"]["post"]["responses"]
    assert "201" in created and "token" in str(response.json()["components"]["schemas"])
    assert "422" in paths["/api/v1/engagements"]["post"]["responses"]
    assert "409" in paths["/api/v1/engagements/{engagement_id}"]["patch"]["responses"]
