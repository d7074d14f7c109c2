"""Invitations (send, accept, refuse unusable links) and changing members' roles."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from sourcewise.accounts import services
from sourcewise.accounts.models import Invitation, Membership, User
from sourcewise.core.models import AuditEvent
from sourcewise.core.tenancy import Role

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long and unusual passphrase 81"


@pytest.fixture
def invite(world, django_capture_on_commit_callbacks):
    """Invite an address to the buyer as its manager would; return the emailed token."""

    def _invite(email: str = "newcomer@example.test", role: str = Role.MEMBER) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            _invitation, token = services.invitation_create(
                actor=world.buyer.manager, organization=world.buyer.organization, email=email, role=role
            )
        return token

    return _invite


def _counts():
    return User.objects.count(), Membership.objects.count(), AuditEvent.objects.count()


def test_a_manager_invites_through_the_page_and_the_link_is_emailed(world, login, django_capture_on_commit_callbacks):
    client = login(world.buyer.manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/organization/invitations/", {"email": "Newcomer@Example.test", "role": "viewer"})
    assert response.status_code == 302
    assert "Invitation sent to newcomer@example.test." in client.get(response["Location"]).content.decode()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["newcomer@example.test"]
    assert message.subject == "You are invited to Northwind Bank on Sourcewise"
    token = re.search(r"http://127\.0\.0\.1:8000/invitations/([\w-]+)/", message.body).group(1)
    invitation = Invitation.objects.get(token_hash=Invitation.hash_token(token))
    assert (invitation.email, invitation.role, invitation.state) == ("newcomer@example.test", "viewer", "pending")
    assert token not in invitation.token_hash

    listing = client.get("/organization/?tab=invitations").content.decode()
    assert "newcomer@example.test" in listing and "pending" in listing


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_invite(world, login, role, django_capture_on_commit_callbacks):
    user = getattr(world.buyer, role)
    with pytest.raises(PermissionDenied):
        services.invitation_create(actor=user, organization=world.buyer.organization, email="x@example.test")
    with django_capture_on_commit_callbacks(execute=True):
        response = login(user).post("/organization/invitations/", {"email": "x@example.test", "role": "member"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_only_an_owner_invites_an_owner(world):
    with pytest.raises(PermissionDenied):
        services.invitation_create(actor=world.buyer.manager, organization=world.buyer.organization,
                                   email="boss@example.test", role=Role.OWNER)
    services.invitation_create(actor=world.buyer.owner, organization=world.buyer.organization,
                               email="boss@example.test", role=Role.OWNER)


def test_a_newcomer_accepts_creates_an_account_and_is_signed_in(world, client, invite):
    token = invite(role=Role.VIEWER)
    page = client.get(f"/invitations/{token}/").content.decode()
    assert "Join Northwind Bank" in page and "newcomer@example.test" in page

    response = client.post(f"/invitations/{token}/", {"full_name": "New Comer", "password": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(email="newcomer@example.test")
    assert user.full_name == "New Comer" and user.check_password(NEW_PASSWORD)
    assert Membership.objects.get(user=user).organization == world.buyer.organization
    assert Membership.objects.get(user=user).role == Role.VIEWER
    home = client.get("/").content.decode()
    assert "Welcome to Northwind Bank." in home and "<h1>Northwind Bank</h1>" in home
    assert Invitation.objects.get().state == "accepted"

    # The link is spent.
    again = client.get(f"/invitations/{token}/")
    assert again.status_code == 410
    assert "This invitation has already been used." in again.content.decode()


def test_a_signed_in_person_accepts_and_joins(world, login, invite):
    token = invite(email=world.outsider.member.email, role=Role.MEMBER)
    client = login(world.outsider.member)
    assert f"You are signed in as {world.outsider.member.email}" in client.get(
        f"/invitations/{token}/").content.decode()
    users = User.objects.count()
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 302
    assert Membership.objects.get(user=world.outsider.member, organization=world.buyer.organization).role == "member"
    assert User.objects.count() == users
    # They now act for the organisation they joined.
    assert "<h1>Northwind Bank</h1>" in client.get("/").content.decode()


def test_an_invitation_cannot_be_taken_by_someone_else_signed_in(world, login, invite):
    token = invite(email="alice@example.test")
    before = _counts()
    response = login(world.outsider.member).post(f"/invitations/{token}/")
    assert response.status_code == 422
    assert "This invitation is for alice@example.test" in response.content.decode()
    assert _counts() == before
    assert Invitation.objects.get().state == "pending"
    with pytest.raises(ValidationError):
        services.invitation_accept(token=token, user=world.provider.viewer)


def test_an_existing_account_must_sign_in_to_accept(world, client, invite):
    token = invite(email=world.outsider.member.email)
    before = _counts()
    response = client.post(f"/invitations/{token}/", {"full_name": "Impostor", "password": NEW_PASSWORD})
    assert response.status_code == 422
    assert "exists: sign in to accept" in response.content.decode()
    assert _counts() == before
    assert not world.outsider.member.check_password(NEW_PASSWORD)


def _expire(token: str) -> None:
    Invitation.objects.filter(token_hash=Invitation.hash_token(token)).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )


def _revoke(token: str) -> None:
    invitation = Invitation.objects.get(token_hash=Invitation.hash_token(token))
    services.invitation_revoke(actor=invitation.invited_by, invitation=invitation)


def _use(token: str) -> None:
    services.invitation_accept(token=token, full_name="First", password=NEW_PASSWORD)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_expire, "This invitation has expired. Ask the person who invited you for a new one."),
        (_revoke, "This invitation was withdrawn."),
        (_use, "This invitation has already been used."),
        (None, "This invitation link is not valid. Ask for a new invitation."),
    ],
    ids=["expired", "revoked", "used", "unknown"],
)
def test_an_unusable_link_says_why_and_creates_nothing(world, client, invite, spoil, reason):
    token = invite()
    if spoil is None:
        token = token[:-4] + "XXXX"
    else:
        spoil(token)
    before = _counts()
    for response in (
        client.get(f"/invitations/{token}/"),
        client.post(f"/invitations/{token}/", {"full_name": "Late Comer", "password": NEW_PASSWORD}),
    ):
        assert response.status_code == 410
        html = response.content.decode()
        assert reason in html and "Nothing was created." in html
    assert _counts() == before
    assert _signed_in_as_nobody(client)


def _signed_in_as_nobody(client) -> bool:
    return client.session.get("_auth_user_id") is None


def test_an_expired_link_does_not_let_a_signed_in_person_join(world, login, invite):
    token = invite(email=world.outsider.member.email)
    _expire(token)
    before = _counts()
    response = login(world.outsider.member).post(f"/invitations/{token}/")
    assert response.status_code == 410
    assert _counts() == before


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "This password is too short."),
        ("password123", "This password is too common."),
        ("12345678901234", "This password is entirely numeric."),
        ("newcomer@example.test", "The password is too similar to the email."),
    ],
)
def test_a_weak_password_is_refused_and_nothing_is_created(world, client, invite, password, message):
    token = invite()
    before = _counts()
    response = client.post(f"/invitations/{token}/", {"full_name": "New Comer", "password": password})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert _counts() == before
    assert Invitation.objects.get().state == "pending"
    assert _signed_in_as_nobody(client)


# --- roles ------------------------------------------------------------------------------


def _membership(user) -> Membership:
    return Membership.objects.get(user=user)


def test_a_manager_changes_a_members_role_through_the_page(world, login):
    client = login(world.buyer.manager)
    member = _membership(world.buyer.member)
    response = client.post(f"/organization/members/{member.pk}/role/", {"role": "viewer"})
    assert response.status_code == 302
    assert f"{world.buyer.member} is now viewer." in client.get("/organization/").content.decode()
    member.refresh_from_db()
    assert member.role == Role.VIEWER


def test_a_manager_cannot_make_or_unmake_owners(world, login):
    client = login(world.buyer.manager)
    member, owner = _membership(world.buyer.member), _membership(world.buyer.owner)
    assert client.post(f"/organization/members/{member.pk}/role/", {"role": "owner"}).status_code == 403
    assert client.post(f"/organization/members/{owner.pk}/role/", {"role": "member"}).status_code == 403
    assert client.post(f"/organization/members/{owner.pk}/remove/").status_code == 403
    member.refresh_from_db()
    owner.refresh_from_db()
    assert (member.role, owner.role) == (Role.MEMBER, Role.OWNER)


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_change_roles(world, login, role):
    client = login(getattr(world.buyer, role))
    target = _membership(world.buyer.viewer if role == "member" else world.buyer.member)
    assert client.post(f"/organization/members/{target.pk}/role/", {"role": "manager"}).status_code == 403
    assert client.post(f"/organization/members/{target.pk}/remove/").status_code == 403
    assert Membership.objects.get(pk=target.pk).role == target.role


def test_an_owner_makes_an_owner(world, login):
    manager = _membership(world.buyer.manager)
    login(world.buyer.owner).post(f"/organization/members/{manager.pk}/role/", {"role": "owner"})
    manager.refresh_from_db()
    assert manager.role == Role.OWNER


def test_the_last_owner_cannot_be_demoted_or_removed(world, login):
    owner = _membership(world.buyer.owner)
    client = login(world.buyer.owner)
    page = client.post(f"/organization/members/{owner.pk}/role/", {"role": "manager"}, follow=True)
    assert "An organisation keeps at least one owner." in page.content.decode()
    page = client.post(f"/organization/members/{owner.pk}/remove/", follow=True)
    assert "An organisation keeps at least one owner." in page.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER

    # With a second owner, the first may step down.
    services.membership_set_role(actor=world.buyer.owner, membership=_membership(world.buyer.manager),
                                 role=Role.OWNER)
    client.post(f"/organization/members/{owner.pk}/role/", {"role": "manager"})
    owner.refresh_from_db()
    assert owner.role == Role.MANAGER


def test_a_manager_removes_a_member(world, login):
    member = _membership(world.buyer.member)
    response = login(world.buyer.manager).post(f"/organization/members/{member.pk}/remove/", follow=True)
    assert f"{world.buyer.member} is no longer a member." in response.content.decode()
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert AuditEvent.objects.filter(action="membership.remove", organization=world.buyer.organization).exists()


def test_members_of_another_organisation_are_not_found(world, login):
    theirs = _membership(world.provider.member)
    client = login(world.buyer.owner)
    assert client.post(f"/organization/members/{theirs.pk}/role/", {"role": "viewer"}).status_code == 404
    assert client.post(f"/organization/members/{theirs.pk}/remove/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == Role.MEMBER
