"""The register: providers, services, contracts, subcontractor chains, tiering, CSV in and out."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from sourcewise.core.models import AuditEvent
from sourcewise.providers import csv_io, services
from sourcewise.providers.models import Provider, TierChange, lei_problem

from .helpers import BAD_LEI, GOOD_LEI, linked_provider

pytestmark = pytest.mark.django_db


def test_lei_checksum_is_iso_17442():
    assert lei_problem(GOOD_LEI) is None
    assert "check digits" in lei_problem(BAD_LEI)
    assert "20 characters" in lei_problem("ABC")


def test_a_member_registers_a_provider_with_its_first_tier(world):
    provider = linked_provider(world, tier="important", tier_reason="Handles customer data.")
    assert provider.buyer == world.buyer.organization
    [change] = TierChange.objects.filter(provider=provider)
    assert (change.tier, change.reason) == ("important", "Handles customer data.")
    assert AuditEvent.objects.filter(action="provider.create", object_id=str(provider.pk)).exists()


def test_an_invalid_lei_is_refused_and_nothing_is_written(world):
    with pytest.raises(ValidationError) as exc:
        linked_provider(world, lei=BAD_LEI)
    assert "check digits" in str(exc.value.message_dict["lei"])
    assert not Provider.objects.exists()


def test_viewers_cannot_register_and_other_buyers_cannot_see(world):
    with pytest.raises(PermissionDenied):
        services.provider_create(actor=world.buyer.viewer, buyer=world.buyer.organization,
                                 legal_name="X Ltd")
    provider = linked_provider(world)
    assert not Provider.objects.visible_to(world.outsider.owner).filter(pk=provider.pk).exists()
    # The linked provider's people do not see the buyer's register either.
    assert not Provider.objects.visible_to(world.provider.owner).filter(pk=provider.pk).exists()


def test_tier_changes_keep_their_reasons(world):
    provider = linked_provider(world)
    with pytest.raises(PermissionDenied):
        services.provider_set_tier(actor=world.buyer.member, provider=provider, tier="critical", reason="x")
    with pytest.raises(ValidationError) as exc:
        services.provider_set_tier(actor=world.buyer.manager, provider=provider, tier="critical", reason=" ")
    assert "reason" in exc.value.message_dict
    services.provider_set_tier(actor=world.buyer.manager, provider=provider, tier="critical",
                               reason="Runs a critical function: customer contact.")
    provider.refresh_from_db()
    assert provider.tier == "critical"
    assert [c.tier for c in provider.tier_changes.all()] == ["critical", "standard"]


def test_a_subcontractor_chain_has_ranks(world):
    provider = linked_provider(world)
    service = services.service_create(
        actor=world.buyer.member, provider=provider, name="Outbound calls", criticality="critical",
        criticality_reason="Customer contact at scale.", personal_data=True, data_handled="Phone numbers",
    )
    vendor = services.subcontractor_create(actor=world.buyer.member, service=service,
                                           legal_name="DialTech", function="Dialler platform", country="NL")
    converter = services.subcontractor_create(actor=world.buyer.member, service=service, parent=vendor,
                                              legal_name="ConvertCo", function="Data conversion")
    assert (vendor.rank, converter.rank) == (2, 3)
    with pytest.raises(ValidationError) as exc:
        services.service_create(actor=world.buyer.member, provider=provider, name="X", criticality="critical")
    assert "criticality_reason" in exc.value.message_dict


def test_contract_dates_must_be_ordered(world):
    provider = linked_provider(world)
    service = services.service_create(actor=world.buyer.member, provider=provider, name="Calls")
    with pytest.raises(ValidationError) as exc:
        services.contract_create(actor=world.buyer.member, service=service, reference="C-1",
                                 start_date=dt.date(2026, 5, 1), end_date=dt.date(2026, 1, 1))
    assert "end_date" in exc.value.message_dict


HEADER = "legal_name,country,lei,tier,service_name,contract_reference,contract_start,contract_end\n"


def test_csv_import_adds_providers_services_and_contracts(world):
    content = HEADER + (
        f"Acme Contact Ltd,GB,{GOOD_LEI},important,Inbound line,AC-1,2026-01-01,2027-12-31\n"
        "Beta Calls BV,NL,,,,,,\n"
    )
    created = csv_io.register_import(actor=world.buyer.member, buyer=world.buyer.organization,
                                     content=content.encode())
    assert [p.legal_name for p in created] == ["Acme Contact Ltd", "Beta Calls BV"]
    acme = created[0]
    assert acme.tier == "important"
    assert acme.services.get().contracts.get().end_date == dt.date(2027, 12, 31)


def test_a_malformed_csv_is_refused_whole_with_every_line_and_column_named(world):
    linked_provider(world)  # "Dialwell Outsourcing Ltd" is already registered
    content = HEADER + (
        "Good One Ltd,GB,,,,,,\n"
        f"Bad Dates Ltd,GB,{BAD_LEI},,Line,R-1,2026-02-31,\n"
        "Good One Ltd,GB,,,,,,\n"
        "Dialwell Outsourcing Ltd,IE,,,,,,\n"
        "No Country Ltd,Germany,,gold,,,,\n"
    )
    with pytest.raises(csv_io.ImportRefused) as exc:
        csv_io.register_import(actor=world.buyer.member, buyer=world.buyer.organization, content=content)
    problems = exc.value.problems
    assert any(p.startswith("Line 3, column 'lei'") for p in problems)
    assert any(p.startswith("Line 3, column 'contract_start'") and "2026-02-31" in p for p in problems)
    assert any(p.startswith("Line 4, column 'legal_name'") and "duplicate of line 2" in p for p in problems)
    assert any(p.startswith("Line 5, column 'legal_name'") and "already in your register" in p for p in problems)
    assert any(p.startswith("Line 6, column 'country'") for p in problems)
    assert any(p.startswith("Line 6, column 'tier'") for p in problems)
    assert Provider.objects.count() == 1  # nothing half-imported


def test_missing_columns_are_named(world):
    with pytest.raises(csv_io.ImportRefused) as exc:
        csv_io.register_import(actor=world.buyer.member, buyer=world.buyer.organization,
                               content="name,lei\nAcme,\n")
    assert "Line 1: missing column(s) 'legal_name', 'country'." in exc.value.problems
    assert any("unknown column(s) 'name'" in p for p in exc.value.problems)


def test_dora_export_names_its_columns_and_lists_the_chain(world):
    from sourcewise.providers.selectors import register_for_export

    provider = linked_provider(world)
    service = services.service_create(actor=world.buyer.member, provider=provider, name="Calls")
    services.contract_create(actor=world.buyer.member, service=service, reference="=HYPERLINK(1)",
                             start_date=dt.date(2026, 1, 1), buyer_notice_days=90, exit_plan="Hand back")
    services.subcontractor_create(actor=world.buyer.member, service=service, legal_name="DialTech",
                                  function="Dialler")
    response = csv_io.dora_csv_response(
        register_for_export(user=world.buyer.viewer, organization=world.buyer.organization), "dora")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["RT.05 Subcontracting rank"] for r in rows] == ["1", "2"]
    assert rows[0]["RT.05 LEI of the provider"] == GOOD_LEI
    assert rows[0]["RT.02 Notice period for the financial entity (days)"] == "90"
    assert rows[0]["RT.07 Exit plan exists"] == "yes"
    assert rows[1]["RT.05 Recipient of subcontracting"] == "Dialwell Outsourcing Ltd"
    assert rows[0]["RT.02 Contractual arrangement reference"] == "'=HYPERLINK(1)"  # neutralised


def test_services_and_contracts_are_edited_with_a_lock_and_audited(world):
    from sourcewise.core.errors import Conflict

    provider = linked_provider(world)
    service = services.service_create(actor=world.buyer.member, provider=provider, name="Calls")
    contract = services.contract_create(actor=world.buyer.member, service=service, reference="C-1",
                                        start_date=dt.date(2026, 1, 1), buyer_notice_days=30)
    services.contract_update(actor=world.buyer.member, contract=contract, expected_version=1, buyer_notice_days=90)
    with pytest.raises(Conflict):
        services.contract_update(actor=world.buyer.member, contract=contract, expected_version=1, governing_law="IE")
    with pytest.raises(ValidationError) as exc:
        services.contract_update(actor=world.buyer.member, contract=contract, expected_version=2,
                                 end_date=dt.date(2025, 1, 1))
    assert "end_date" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        services.service_update(actor=world.buyer.viewer, service=service, expected_version=1, category="x")
    services.service_update(actor=world.buyer.member, service=service, expected_version=1, criticality="critical",
                            criticality_reason="Customer contact")
    event = AuditEvent.objects.filter(action="provider.contract.update").get()
    assert event.changes == {"buyer_notice_days": {"before": 30, "after": 90}}
    contract.refresh_from_db()
    assert (contract.buyer_notice_days, contract.version) == (90, 2)
