"""Several contacts per provider: one primary, edited with a version check, audited, in exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from sourcewise.core.errors import Conflict
from sourcewise.core.models import AuditEvent
from sourcewise.providers import csv_io, selectors, services
from sourcewise.providers.models import Provider, ProviderContact

from .helpers import due, linked_provider

pytestmark = pytest.mark.django_db


def _contacts(provider):
    return [(c.name, c.role, c.is_primary) for c in selectors.provider_contacts(provider)]


def test_contacts_are_added_one_primary_and_every_change_audited(world):
    provider = linked_provider(world, contacts=[{"name": "Sam Carter", "email": "AM@dialwell.test"}])
    assert _contacts(provider) == [("Sam Carter", "account_manager", True)]
    assert provider.contacts.get().email == "am@dialwell.test"
    dpo = services.contact_add(actor=world.buyer.member, provider=provider, name="Priya Nair", role="dpo",
                               email="dpo@dialwell.test", phone="+353 1 555 0100")
    assert not dpo.is_primary
    # Making the DPO primary demotes the account manager: one primary at a time.
    services.contact_update(actor=world.buyer.member, contact=dpo, expected_version=1, is_primary=True)
    assert _contacts(provider) == [("Priya Nair", "dpo", True), ("Sam Carter", "account_manager", False)]
    with pytest.raises(Conflict):
        services.contact_update(actor=world.buyer.member, contact=dpo, expected_version=1, phone="1")
    with pytest.raises(ValidationError) as exc:
        services.contact_update(actor=world.buyer.member, contact=dpo, expected_version=2, is_primary=False)
    assert "make another contact primary" in str(exc.value)
    # Removing the primary contact hands the role to the next one.
    services.contact_remove(actor=world.buyer.member, contact=dpo)
    assert _contacts(provider) == [("Sam Carter", "account_manager", True)]
    actions = list(AuditEvent.objects.filter(object_type="providers.provider", object_id=str(provider.pk))
                   .order_by("seq").values_list("action", flat=True))
    assert actions == ["provider.create", "provider.contact.add", "provider.contact.update",
                       "provider.contact.remove"]
    removal = AuditEvent.objects.get(action="provider.contact.remove")
    assert removal.changes["primary contact"] == {"before": "Priya Nair", "after": "Sam Carter"}


def test_bad_contacts_are_refused_with_the_field_named(world):
    provider = linked_provider(world)
    with pytest.raises(ValidationError) as exc:
        services.contact_add(actor=world.buyer.member, provider=provider, name=" ", role="boss",
                             email="not-an-email", phone="call me")
    assert set(exc.value.message_dict) == {"name", "role", "email", "phone"}
    with pytest.raises(ValidationError) as exc:
        linked_provider(world, legal_name="Two Primaries Ltd", contacts=[
            {"name": "A", "is_primary": True}, {"name": "B", "is_primary": True}])
    assert "Only one contact" in str(exc.value)
    assert not Provider.objects.filter(legal_name="Two Primaries Ltd").exists()
    with pytest.raises(PermissionDenied):
        services.contact_add(actor=world.buyer.viewer, provider=provider, name="Viewer's friend")
    assert not ProviderContact.objects.exists()


def test_the_primary_contact_fills_the_csv_and_dora_exports_and_the_invitation(world, login):
    provider = services.provider_create(
        actor=world.buyer.member, buyer=world.buyer.organization, legal_name="Calls Ltd", country="GB",
        contacts=[{"name": "Escalation Desk", "role": "escalation", "email": "esc@calls.test"},
                  {"name": "Alex Bid", "email": "bids@calls.test", "is_primary": True}])
    service = services.service_create(actor=world.buyer.member, provider=provider, name="Inbound calls")
    services.subcontractor_create(actor=world.buyer.member, service=service, legal_name="Dialler Co",
                                  function="Dialler")
    client = login(world.buyer.member)
    rows = list(csv.DictReader(io.StringIO(b"".join(
        client.get("/providers/?format=csv").streaming_content).decode())))
    assert (rows[0]["Contact"], rows[0]["Contact email"]) == ("Alex Bid", "bids@calls.test")
    dora = list(csv.DictReader(io.StringIO(b"".join(
        client.get("/providers/?format=dora").streaming_content).decode())))
    assert [(r["RT.05 Name of the provider"], r["Primary contact"], r["Primary contact email"]) for r in dora] == [
        ("Calls Ltd", "Alex Bid", "bids@calls.test"), ("Dialler Co", "", "")]
    page = client.get(f"/providers/{provider.pk}/assess/")
    assert b'value="bids@calls.test"' in page.content
    assessment, token = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    assert token and assessment.invite_email == "bids@calls.test"


def test_contacts_on_the_page(world, login):
    provider = linked_provider(world)
    client = login(world.buyer.member)
    response = client.post(f"/providers/{provider.pk}/contacts/new/", {"name": "", "role": "dpo", "email": "x"})
    assert response.status_code == 422 and b"email address" in response.content
    response = client.post(f"/providers/{provider.pk}/contacts/new/",
                           {"name": "Priya Nair", "role": "dpo", "email": "dpo@dialwell.test"})
    assert response.status_code == 302
    contact = provider.contacts.get()
    assert contact.is_primary  # the first contact is the primary one
    page = client.get(f"/providers/{provider.pk}/")
    assert b"Priya Nair" in page.content and b"Data protection officer" in page.content
    response = client.post(f"/providers/contacts/{contact.pk}/edit/",
                           {"name": "Priya Nair", "role": "security", "email": "sec@dialwell.test",
                            "is_primary": "on", "version": 1})
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.role, contact.email, contact.version) == ("security", "sec@dialwell.test", 2)
    stale = client.post(f"/providers/contacts/{contact.pk}/edit/",
                        {"name": "Old", "role": "dpo", "is_primary": "on", "version": 1})
    assert stale.status_code == 422 and b"Someone else saved this contact" in stale.content
    # A remove pressed on an older page is refused with the reason, and the contact stays.
    refused = client.post(f"/providers/contacts/{contact.pk}/remove/", {"version": 1}, follow=True)
    assert b"Someone else saved this contact" in refused.content and b"newer version" in refused.content
    assert provider.contacts.filter(pk=contact.pk).exists()
    assert client.post(f"/providers/contacts/{contact.pk}/remove/", {"version": 2}).status_code == 302
    assert not provider.contacts.exists()
    # Another buyer's people reach none of it.
    other = services.contact_add(actor=world.buyer.member, provider=provider, name="Kept")
    outsider = login(world.outsider.owner)
    assert outsider.get(f"/providers/contacts/{other.pk}/edit/").status_code == 404
    assert outsider.post(f"/providers/contacts/{other.pk}/remove/").status_code == 404
    assert provider.contacts.filter(pk=other.pk).exists()


def test_contacts_through_the_api(world, client):
    from sourcewise.accounts.services import api_token_create

    _t, secret = api_token_create(actor=world.buyer.member, organization=world.buyer.organization, name="t")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def call(method, path, body=None):
        return client.generic(method, path, json.dumps(body) if body is not None else "",
                              content_type="application/json", **auth)

    response = call("POST", "/api/v1/providers", {"legal_name": "Api Calls Ltd", "contacts": [
        {"name": "Sam", "email": "sam@api.test"}, {"name": "Dee", "role": "dpo", "email": "nope"}]})
    assert response.status_code == 422
    assert "Contact 2" in json.dumps(response.json())
    response = call("POST", "/api/v1/providers", {"legal_name": "Api Calls Ltd", "contacts": [
        {"name": "Sam", "email": "sam@api.test"}]})
    assert response.status_code == 201
    body = response.json()
    assert [(c["name"], c["is_primary"]) for c in body["contacts"]] == [("Sam", True)]
    pid = body["id"]
    response = call("POST", f"/api/v1/providers/{pid}/contacts", {"name": "Sec", "role": "security",
                                                                    "is_primary": True})
    assert response.status_code == 201
    sec = response.json()
    assert call("PATCH", f"/api/v1/provider-contacts/{sec['id']}", {"version": 0, "phone": "1"}).status_code == 409
    response = call("PATCH", f"/api/v1/provider-contacts/{sec['id']}", {"version": 1, "phone": "+44 20 7946 0000"})
    assert response.status_code == 200 and response.json()["phone"] == "+44 20 7946 0000"
    listed = call("GET", f"/api/v1/providers/{pid}/contacts").json()
    assert [(c["name"], c["is_primary"]) for c in listed] == [("Sec", True), ("Sam", False)]
    assert call("DELETE", f"/api/v1/provider-contacts/{sec['id']}?version=2").status_code == 204
    assert [c["name"] for c in call("GET", f"/api/v1/providers/{pid}").json()["contacts"]] == ["Sam"]
    # Another organisation's token gets 404 for the same contact.
    _t, other = api_token_create(actor=world.outsider.owner, organization=world.outsider.organization, name="o")
    sam = listed[1]["id"]
    assert client.patch(f"/api/v1/provider-contacts/{sam}", json.dumps({"version": 1, "name": "x"}),
                        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 404


def test_csv_contact_columns_become_the_primary_contact(world):
    created = csv_io.register_import(actor=world.buyer.member, buyer=world.buyer.organization, content=(
        "legal_name,country,contact_name,contact_email\nA Ltd,GB,Ann Able,ann@a.test\nB Ltd,FR,,\n"))
    a, b = sorted(created, key=lambda p: p.legal_name)
    assert _contacts(a) == [("Ann Able", "account_manager", True)]
    assert _contacts(b) == []
    with pytest.raises(csv_io.ImportRefused) as exc:
        csv_io.register_import(actor=world.buyer.member, buyer=world.buyer.organization, content=(
            "legal_name,country,contact_name,contact_email\nC Ltd,GB,Cee,not-an-email\n"))
    assert exc.value.problems == ["Line 2, column 'contact_email': 'not-an-email' is not an email address."]
    assert not Provider.objects.filter(legal_name="C Ltd").exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_the_old_contact_fields_into_the_primary_contact():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from sourcewise.accounts.models import Organization

    before, after = [("providers", "0002_contacts_subcontractor_dates_evidence")], [
        ("providers", "0004_drop_provider_contact_fields")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    buyer = old.get_model("accounts", "Organization").objects.create(name="Old Bank", slug="old-bank")
    OldProvider = old.get_model("providers", "Provider")
    with_contact = OldProvider.objects.create(buyer_id=buyer.pk, legal_name="Named Ltd",
                                              contact_name="Sam Carter", contact_email="sam@named.test")
    email_only = OldProvider.objects.create(buyer_id=buyer.pk, legal_name="Email Ltd", contact_email="a@e.test")
    OldProvider.objects.create(buyer_id=buyer.pk, legal_name="Nobody Ltd")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    contacts = {(c.provider_id, c.name, c.email, c.is_primary) for c in ProviderContact.objects.all()}
    assert contacts == {(with_contact.pk, "Sam Carter", "sam@named.test", True),
                        (email_only.pk, "a@e.test", "a@e.test", True)}
    assert Organization.objects.filter(slug="old-bank").exists()
