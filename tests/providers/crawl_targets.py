"""Targets for the isolation crawl: Northwind's register, due diligence and the relationship with Dialwell."""

from __future__ import annotations

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

FORM_DATA = {
    "legal_name": "Crawler Provider Ltd", "country": "GB", "tier": "critical", "reason": "crawler reason",
    "due_date": "2099-01-01", "date": "2026-01-01", "kind": "comment", "initiated_by": "buyer",
    "title": "Crawler title", "text": "crawler text", "effective_date": "2099-01-01",
    "service_name": "Crawler service", "note": "crawler note", "score": "50", "comment": "crawler",
    "conclusion": "approved", "assessment": "1", "reference": "CR-1", "function": "crawling",
    "criticality": "low", "renewal": "none", "substitutability": "easy", "currency": "EUR",
    "action": "submit",
}


def populate(world) -> None:
    from sourcewise.providers import services

    today = timezone.localdate()
    buyer, member, manager = world.buyer.organization, world.buyer.member, world.buyer.manager
    dialwell = services.provider_create(
        actor=member, buyer=buyer, legal_name="Dialwell Outsourcing Limited (register entry)",
        country="IE", organization=world.provider.organization, status="current",
        contacts=[{"name": "Secret Contact Person", "email": "secret-contact@example.test"}], tier="important", tier_reason="Secret tier reasoning here",
    )
    service = services.service_create(actor=member, provider=dialwell, name="Secret outbound service",
                                       description="Secret service description")
    services.contract_create(actor=member, service=service, reference="SECRET-CONTRACT-1",
                             start_date=dt.date(2026, 1, 1), exit_plan="Secret exit plan text")
    vendor = services.subcontractor_create(actor=member, service=service, legal_name="Secret Dialler Vendor",
                                           function="Secret dialler function", start_date=dt.date(2025, 6, 1))
    services.contact_add(actor=member, provider=dialwell, name="Secret Escalation Manager", role="escalation",
                         email="secret-escalation@example.test", phone="+353 1 555 0199")
    services.subcontractor_create(actor=member, service=service, parent=vendor,
                                  legal_name="Secret Conversion Contractor", function="Secret conversion")
    selection = services.selection_create(actor=member, buyer=buyer, service_name="Secret complaints line")
    assessment, _ = services.assessment_send(actor=member, provider=dialwell, due_date=today + dt.timedelta(days=9),
                                             selection=selection)
    services.assessment_answer(actor=world.provider.member, assessment=assessment,
                               answers={"incident-history": "Secret incident history answer",
                                        "monitoring-evidence": SimpleUploadedFile(
                                            "secret-runbook-evidence.pdf", b"%PDF secret runbook")})
    services.assessment_submit(actor=world.provider.member, assessment=assessment)
    services.assessment_review(actor=member, assessment=assessment, score=60, comment="Secret reviewer comment")
    candidate = services.provider_create(actor=member, buyer=buyer, legal_name="Secret Candidate Calls Ltd",
                                         contacts=[{"name": "Secret Bids Desk", "email": "secret-candidate@example.test"}])
    services.assessment_send(actor=member, provider=candidate, due_date=today + dt.timedelta(days=9),
                             selection=selection)
    services.interaction_log(
        actor=member, engagement=world.engagement, organization=buyer, date=today, kind="qbr",
        initiated_by="buyer", title="Secret quarterly review", topics="Secret topics discussed",
        follow_ups=[{"description": "Secret follow-up action", "owner": "Secret owner"}],
    )
    notice = services.change_notice_announce(
        actor=world.provider.member, engagement=world.engagement, organization=world.provider.organization,
        kind="data_conversion", title="Secret new conversion contractor",
        description="Secret change description", effective_date=today + dt.timedelta(days=30),
    )
    services.change_notice_respond(actor=manager, notice=notice, organization=buyer, kind="comment",
                                   text="Secret buyer comment on the change")
