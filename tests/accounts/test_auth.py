"""Signing in and out, password reset, CSRF, switching organisation, and the first organisation."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from sourcewise.accounts.models import Membership, Organization, User
from sourcewise.core.middleware import SESSION_KEY
from sourcewise.core.models import AuditEvent, Engagement
from sourcewise.core.tenancy import Role

pytestmark = pytest.mark.django_db

GENERIC = "That email and password do not match an account."
PASSWORD = "correct horse battery staple 42"  # the `world` fixture's; checked below


def _signed_in_as(client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).email if user_id else None


def test_the_right_password_signs_in_and_lands_on_the_dashboard(world, client, password):
    assert password == PASSWORD
    response = client.post("/login/", {"username": "Owner@Northwind.test", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert _signed_in_as(client) == "owner@northwind.test"
    assert "<h1>Northwind Bank</h1>" in client.get("/").content.decode()


def test_a_signed_out_visitor_is_sent_to_sign_in(world, client):
    response = client.get("/engagements/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/engagements/"


@pytest.mark.parametrize(
    ("email", "password"),
    [("owner@northwind.test", "wrong password"), ("nobody@northwind.test", PASSWORD)],
)
def test_a_wrong_password_and_an_unknown_email_get_the_same_message(world, client, email, password):
    response = client.post("/login/", {"username": email, "password": password})
    assert response.status_code == 200
    html = response.content.decode()
    assert GENERIC in html
    assert "Too many" not in html
    assert _signed_in_as(client) is None


def test_an_inactive_account_gets_the_same_message(world, client):
    User.objects.filter(pk=world.buyer.owner.pk).update(is_active=False)
    response = client.post("/login/", {"username": "owner@northwind.test", "password": PASSWORD})
    assert GENERIC in response.content.decode()
    assert _signed_in_as(client) is None


def test_after_the_limit_even_the_right_password_is_refused(world, client, settings):
    assert settings.LOGIN_THROTTLE_LIMIT == 5
    for _ in range(5):
        html = client.post("/login/", {"username": "owner@northwind.test", "password": "guess"}).content.decode()
        assert GENERIC in html
    response = client.post("/login/", {"username": "owner@northwind.test", "password": PASSWORD})
    assert "Too many failed attempts. Try again in 15 minute(s)." in response.content.decode()
    assert _signed_in_as(client) is None


def test_four_failures_then_success_clears_the_count(world, client):
    for _ in range(4):
        client.post("/login/", {"username": "owner@northwind.test", "password": "guess"})
    assert client.post("/login/", {"username": "owner@northwind.test", "password": PASSWORD}).status_code == 302
    client.post("/logout/")
    for _ in range(4):
        client.post("/login/", {"username": "owner@northwind.test", "password": "guess"},
                    REMOTE_ADDR="10.0.0.2")
    assert client.post("/login/", {"username": "owner@northwind.test", "password": PASSWORD},
                       REMOTE_ADDR="10.0.0.2").status_code == 302


def test_signing_out_needs_a_post(world, login):
    client = login(world.buyer.owner)
    assert client.get("/logout/").status_code == 405
    assert _signed_in_as(client) == "owner@northwind.test"
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert _signed_in_as(client) is None
    assert client.get("/").status_code == 302


def test_password_reset_emails_a_link_that_sets_a_new_password(world, client):
    response = client.post("/password-reset/", {"email": "member@dialwell.test"})
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["member@dialwell.test"]
    assert message.subject == "Reset your Sourcewise password"
    link = re.search(r"https?://testserver(/password-reset/\S+/\S+/)", message.body).group(1)

    form_url = client.get(link)["Location"]  # Django swaps the token for a session marker
    assert "Choose a new password" in client.get(form_url).content.decode()
    new_password = "a brand new long passphrase 7"
    done = client.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"

    assert client.post("/login/", {"username": "member@dialwell.test", "password": PASSWORD}).status_code == 200
    assert client.post("/login/", {"username": "member@dialwell.test", "password": new_password}).status_code == 302
    client.post("/logout/")
    # The link works once.
    assert "This link is not valid any more" in client.get(link, follow=True).content.decode()


def test_password_reset_for_an_unknown_email_sends_nothing_and_says_the_same(world, client):
    response = client.post("/password-reset/", {"email": "stranger@example.test"})
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert mail.outbox == []


def test_forms_without_a_csrf_token_are_refused(world):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "owner@northwind.test", "password": PASSWORD})
    assert response.status_code == 403
    assert "The form could not be verified." in response.content.decode()
    assert _signed_in_as(client) is None

    client.force_login(world.buyer.manager)
    response = client.post(f"/engagements/{world.engagement.pk}/end/")
    assert response.status_code == 403
    world.engagement.refresh_from_db()
    assert world.engagement.status == "active"
    forged = client.post(f"/engagements/{world.engagement.pk}/end/",
                         {"csrfmiddlewaretoken": "forged" * 8})
    assert forged.status_code == 403
    world.engagement.refresh_from_db()
    assert world.engagement.status == "active"


def test_a_form_with_its_csrf_token_goes_through(world):
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    token = client.cookies["csrftoken"].value
    response = client.post("/login/", {"username": "owner@northwind.test", "password": PASSWORD,
                                       "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_switching_organisation_changes_what_the_dashboard_shows(world, login):
    Membership.objects.create(user=world.buyer.member, organization=world.outsider.organization,
                              role=Role.VIEWER)
    client = login(world.buyer.member)
    home = client.get("/").content.decode()
    assert "<h1>Northwind Bank</h1>" in home and "Outbound marketing calls" in home

    response = client.post("/switch-organization/", {"organization": world.outsider.organization.pk})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == world.outsider.organization.pk
    home = client.get("/").content.decode()
    assert "You are now acting for Unrelated Ltd." in home
    assert "<h1>Unrelated Ltd</h1>" in home
    assert "Unrelated collections" in home and "Outbound marketing calls" not in home


@pytest.mark.parametrize("choice", ["provider", "garbage", ""])
def test_switching_to_an_organisation_one_is_not_in_changes_nothing(world, login, choice):
    client = login(world.buyer.member)
    value = {"provider": str(world.provider.organization.pk), "garbage": "1 OR 1=1", "": ""}[choice]
    client.post("/switch-organization/", {"organization": value})
    assert client.session.get(SESSION_KEY) is None
    home = client.get("/").content.decode()
    assert "You are not a member of that organisation." in home
    assert "<h1>Northwind Bank</h1>" in home


def test_leaving_the_active_organisation_falls_back_to_another(world, login):
    Membership.objects.create(user=world.buyer.member, organization=world.outsider.organization,
                              role=Role.VIEWER)
    client = login(world.buyer.member, world.outsider.organization)
    assert "<h1>Unrelated Ltd</h1>" in client.get("/").content.decode()
    Membership.objects.filter(user=world.buyer.member, organization=world.outsider.organization).delete()
    assert "<h1>Northwind Bank</h1>" in client.get("/").content.decode()


def test_a_person_without_an_organisation_is_welcomed(db, client):
    user = User.objects.create_user("loner@example.test", PASSWORD)
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "Welcome to Sourcewise" in html
    assert "You are not a member of any organisation yet." in html
    assert client.get("/engagements/new/")["Location"] == "/"


def test_creating_an_organisation_makes_you_its_owner_and_acts_for_it(world, login):
    client = login(world.buyer.viewer)
    response = client.post("/organizations/new/", {"name": "Harbour Telecom", "industry": "Telecoms"})
    assert response.status_code == 302 and response["Location"] == "/organization/"
    org = Organization.objects.get(name="Harbour Telecom")
    assert org.slug == "harbour-telecom"
    assert Membership.objects.get(user=world.buyer.viewer, organization=org).role == Role.OWNER
    assert client.session[SESSION_KEY] == org.pk
    page = client.get("/organization/").content.decode()
    assert "Harbour Telecom is created; you are its owner." in page
    assert "<h1>Harbour Telecom</h1>" in page
    assert AuditEvent.objects.filter(action="organization.create", organization=org).count() == 1
    assert not Engagement.objects.visible_to(world.buyer.viewer, org).exists()


def test_an_organisation_needs_a_name(world, login):
    response = login(world.buyer.viewer).post("/organizations/new/", {"name": "  ", "industry": ""})
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert Organization.objects.count() == 4
