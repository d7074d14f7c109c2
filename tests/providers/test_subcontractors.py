"""Subcontractor chains: edited with a version check, moved with their own subcontractors, removed
unless others work for them, and imported from CSV all or nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.exceptions import ValidationError

from sourcewise.core.errors import Conflict
from sourcewise.core.models import AuditEvent
from sourcewise.providers import csv_io, services
from sourcewise.providers.models import Subcontractor

from .helpers import linked_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(world):
    provider = linked_provider(world)
    service = services.service_create(actor=world.buyer.member, provider=provider, name="Outbound calls")
    vendor = services.subcontractor_create(actor=world.buyer.member, service=service, legal_name="DialTech",
                                           function="Dialler")
    hosting = services.subcontractor_create(actor=world.buyer.member, service=service, parent=vendor,
                                            legal_name="CloudHost", function="Hosting")
    backup = services.subcontractor_create(actor=world.buyer.member, service=service, parent=hosting,
                                           legal_name="ColdStore", function="Backups")
    return provider, service, vendor, hosting, backup


def _ranks(service):
    return {s.legal_name: (s.rank, s.parent.legal_name if s.parent else None)
            for s in Subcontractor.objects.filter(service=service).select_related("parent")}


def test_a_subcontractor_is_edited_and_moved_with_its_own_chain(world, chain):
    provider, service, vendor, hosting, backup = chain
    services.subcontractor_update(actor=world.buyer.member, subcontractor=hosting, expected_version=1,
                                  country="de", start_date=dt.date(2026, 1, 1), parent=None)
    hosting.refresh_from_db()
    assert (hosting.country, hosting.rank, hosting.version) == ("DE", 2, 2)
    assert _ranks(service) == {"DialTech": (2, None), "CloudHost": (2, None), "ColdStore": (3, "CloudHost")}
    event = AuditEvent.objects.get(action="provider.subcontractor.update")
    assert event.changes["rank"] == {"before": 3, "after": 2}
    assert event.changes["country"] == {"before": "", "after": "DE"}
    with pytest.raises(Conflict):
        services.subcontractor_update(actor=world.buyer.member, subcontractor=hosting, expected_version=1,
                                      function="Other")
    with pytest.raises(ValidationError) as exc:
        services.subcontractor_update(actor=world.buyer.member, subcontractor=hosting, expected_version=2,
                                      parent=backup)
    assert "cannot work for itself or for one of its own subcontractors" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        services.subcontractor_update(actor=world.buyer.member, subcontractor=hosting, expected_version=2,
                                      start_date=dt.date(2026, 5, 1), end_date=dt.date(2026, 4, 1), function=" ")
    assert set(exc.value.message_dict) == {"end_date", "function"}


def test_a_subcontractor_others_work_for_is_not_removed(world, chain):
    _provider, service, vendor, hosting, backup = chain
    with pytest.raises(ValidationError) as exc:
        services.subcontractor_remove(actor=world.buyer.member, subcontractor=vendor)
    assert "CloudHost works for it" in str(exc.value)
    with pytest.raises(Conflict):
        services.subcontractor_remove(actor=world.buyer.member, subcontractor=backup, expected_version=7)
    services.subcontractor_remove(actor=world.buyer.member, subcontractor=backup, expected_version=1)
    assert set(_ranks(service)) == {"DialTech", "CloudHost"}
    event = AuditEvent.objects.get(action="provider.subcontractor.remove")
    assert event.changes["legal_name"] == {"before": "ColdStore", "after": None}


def test_subcontractors_on_the_page(world, login, chain):
    provider, service, vendor, hosting, backup = chain
    client = login(world.buyer.member)
    page = client.get(f"/providers/{provider.pk}/")
    assert f"/providers/subcontractors/{hosting.pk}/edit/".encode() in page.content
    form = client.get(f"/providers/subcontractors/{hosting.pk}/edit/")
    # It cannot be put under itself or under its own subcontractor.
    assert b"DialTech" in form.content and f'value="{backup.pk}"'.encode() not in form.content
    response = client.post(f"/providers/subcontractors/{hosting.pk}/edit/", {
        "legal_name": "CloudHost GmbH", "function": "Hosting", "parent": "", "start_date": "2026-02-30",
        "version": 1})
    assert response.status_code == 422 and b"valid date" in response.content
    response = client.post(f"/providers/subcontractors/{hosting.pk}/edit/", {
        "legal_name": "CloudHost GmbH", "function": "Hosting", "parent": "", "start_date": "2026-02-01",
        "version": 1})
    assert response.status_code == 302
    assert _ranks(service)["CloudHost GmbH"] == (2, None) and _ranks(service)["ColdStore"] == (3, "CloudHost GmbH")
    stale = client.post(f"/providers/subcontractors/{hosting.pk}/edit/", {
        "legal_name": "Late", "function": "Hosting", "version": 1})
    assert stale.status_code == 422 and b"Someone else saved this subcontractor" in stale.content
    refused = client.post(f"/providers/subcontractors/{hosting.pk}/remove/", follow=True)
    assert b"ColdStore works for it" in refused.content
    # Moving CloudHost moved ColdStore a rank up too: its version went up with it.
    assert Subcontractor.objects.get(pk=backup.pk).version == 2
    assert client.post(f"/providers/subcontractors/{backup.pk}/remove/", {"version": 2}).status_code == 302
    assert not Subcontractor.objects.filter(pk=backup.pk).exists()
    outsider = login(world.outsider.owner)
    assert outsider.post(f"/providers/subcontractors/{vendor.pk}/remove/").status_code == 404
    assert outsider.get(f"/providers/subcontractors/{vendor.pk}/edit/").status_code == 404


def test_subcontractors_through_the_api(world, client, chain):
    from sourcewise.accounts.services import api_token_create

    _provider, service, vendor, hosting, backup = chain
    _t, secret = api_token_create(actor=world.buyer.member, organization=world.buyer.organization, name="t")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def patch(pk, body):
        return client.patch(f"/api/v1/provider-subcontractors/{pk}", json.dumps(body),
                            content_type="application/json", **auth)

    response = patch(backup.pk, {"version": 1, "parent_id": vendor.pk, "end_date": "2027-01-01"})
    assert response.status_code == 200
    assert (response.json()["rank"], response.json()["parent_id"], response.json()["version"]) == (3, vendor.pk, 2)
    assert patch(backup.pk, {"version": 1, "function": "x"}).status_code == 409
    response = patch(backup.pk, {"version": 2, "parent_id": 999999})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "parent_id"]
    response = client.delete(f"/api/v1/provider-subcontractors/{vendor.pk}", **auth)
    assert response.status_code == 422 and "work for it" in json.dumps(response.json())
    assert client.delete(f"/api/v1/provider-subcontractors/{backup.pk}?version=2", **auth).status_code == 204
    listed = client.get(f"/api/v1/providers/{service.provider_id}/services", **auth).json()
    assert {s["legal_name"] for s in listed[0]["subcontractors"]} == {"DialTech", "CloudHost"}


HEADER = "provider,service,legal_name,function,parent,rank,country,start_date,end_date\n"


def test_the_subcontractor_import_is_all_or_nothing_with_every_error_named(world, chain):
    provider, service, vendor, hosting, backup = chain
    before = Subcontractor.objects.count()
    bad = HEADER + (
        "Unknown Ltd,Outbound calls,A,Hosting,,,,,\n"
        f"{provider.legal_name},Inbound calls,B,Hosting,,,,,\n"
        f"{provider.legal_name},Outbound calls,C,Hosting,DialTech,2,,,\n"
        f"{provider.legal_name},Outbound calls,D,Hosting,,,,2026-13-01,\n"
        f"{provider.legal_name},Outbound calls,E,Hosting,Nowhere Ltd,,,,\n"
        f"{provider.legal_name},Outbound calls,F,Hosting,,,,2026-05-01,2026-04-01\n"
    )
    with pytest.raises(csv_io.ImportRefused) as exc:
        csv_io.subcontractor_import(actor=world.buyer.member, buyer=world.buyer.organization, content=bad)
    assert exc.value.problems == [
        "Line 2, column 'provider': 'Unknown Ltd' is not in your register.",
        f"Line 3, column 'service': {provider.legal_name} runs no service named 'Inbound calls' in your register.",
        "Line 4, column 'rank': '2' does not fit the chain: under DialTech the rank is 3.",
        "Line 5, column 'start_date': '2026-13-01' is not a date; write it as YYYY-MM-DD.",
        "Line 6, column 'parent': 'Nowhere Ltd' is not in the chain of Outbound calls, neither registered "
        "nor on an earlier line.",
        "Line 7, column 'end_date': The end date comes before the start date.",
    ]
    assert Subcontractor.objects.count() == before
    with pytest.raises(csv_io.ImportRefused) as exc:
        csv_io.subcontractor_import(actor=world.buyer.member, buyer=world.buyer.organization,
                                    content="provider,legal_name\nX,Y\n")
    assert "missing column(s) 'service', 'function'" in exc.value.problems[0]


def test_the_subcontractor_import_builds_chains_on_the_page_and_api(world, login, client, chain):
    provider, service, vendor, hosting, backup = chain
    good = HEADER + (
        f"{provider.legal_name},Outbound calls,ScriptCo,Call scripts,DialTech,3,GB,2026-01-01,\n"
        f"{provider.legal_name},Outbound calls,Translator,Translations,ScriptCo,,FR,,\n"
    )
    page = login(world.buyer.member)
    from django.core.files.uploadedfile import SimpleUploadedFile

    refused = page.post("/providers/import/", {"kind": "subcontractors", "file": SimpleUploadedFile(
        "s.csv", (HEADER + f"{provider.legal_name},Outbound calls,Q,Hosting,,9,,,\n").encode())})
    assert refused.status_code == 422 and b"Line 2, column &#x27;rank&#x27;" in refused.content
    response = page.post("/providers/import/", {"kind": "subcontractors",
                                                "file": SimpleUploadedFile("s.csv", good.encode())})
    assert response.status_code == 302
    assert _ranks(service)["ScriptCo"] == (3, "DialTech") and _ranks(service)["Translator"] == (4, "ScriptCo")
    assert AuditEvent.objects.filter(action="provider.subcontractor.import").count() == 1
    from sourcewise.accounts.services import api_token_create

    _t, secret = api_token_create(actor=world.buyer.member, organization=world.buyer.organization, name="t")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    again = client.post("/api/v1/provider-subcontractor-import", json.dumps({"csv": good}),
                        content_type="application/json", **auth)
    assert again.status_code == 422
    assert "ScriptCo is already in the chain of Outbound calls" in json.dumps(again.json())
    more = HEADER + f"{provider.legal_name},Outbound calls,Archive,Archiving,ColdStore,5,,,\n"
    response = client.post("/api/v1/provider-subcontractor-import", json.dumps({"csv": more}),
                           content_type="application/json", **auth)
    assert response.status_code == 201 and response.json() == {"created": 1}
