"""Resilience objects on world.engagement, hidden from the outsider, for the isolation crawl."""

from __future__ import annotations

import datetime as dt

FORM_DATA = {
    "title": "Crawler incident title", "statement": "Crawler owns this and is very sorry indeed",
    "caused_by": "provider", "mechanism": "The crawler changed the export job filter to use the wrong zone",
    "kind": "root", "category": "data", "cost": "1", "time": "1", "risk": "low", "tradeoffs": "x",
    "text": "Crawler comment", "reason": "Crawler reopens", "lessons": "Crawler lessons",
    "to": "investigating", "service": "Crawler service", "max_disruption_hours": "4",
    "max_customers_affected": "10", "held_on": "2026-01-01", "result": "passed",
    "due_on": "2026-12-31", "url": "https://crawler.example.test/hook",
    "secret": "crawler secret of enough length", "response_steps": "x",
    "detected_by_feeds": "contacts", "detected_by_checks": "x", "affected_customers": "C-9",
}


def populate(world) -> None:
    from sourcewise.resilience import services

    buyer, provider = world.buyer, world.provider
    from sourcewise.monitoring.models import Feed
    from sourcewise.monitoring.services import feed_create

    if not Feed.objects.filter(engagement=world.engagement, slug="northwind-contacts").exists():
        feed_create(actor=buyer.manager, organization=buyer.organization, engagement=world.engagement,
                    name="Northwind private contacts", slug="northwind-contacts",
                    expected_schema={"contact_id": "string"})
    plan = services.plan_create(
        actor=buyer.manager, engagement=world.engagement, service="Northwind outbound campaigns",
        max_disruption_hours=24, max_customers_affected=50,
        customer_template="Northwind private apology template",
    )
    services.scenario_add(
        actor=provider.manager, plan=plan, title="Northwind targeting integration fails",
        detected_by_feeds=["northwind-contacts"], detected_by_checks=["northwind_segment_check"],
        response_steps="Northwind private response step", buyer_owner=buyer.manager,
        provider_owner=provider.manager,
    )
    services.exercise_record(
        actor=buyer.manager, plan=plan, held_on=dt.date(2024, 5, 1), result="partial",
        notes="Northwind private exercise notes",
        gaps=[{"description": "Northwind private exercise gap", "owner": provider.manager,
               "due_on": dt.date(2024, 6, 1)}],
    )
    closed = services.incident_record_failure(
        engagement=world.engagement, check_name="northwind_segment_check", feed_name="northwind-contacts",
        severity="error", affected_customers=["NW-CUSTOMER-1"], failing_rows=3,
        summary="Northwind private failure summary",
    )
    v = lambda: closed.__class__.objects.get(pk=closed.pk).version  # noqa: E731
    services.incident_acknowledge(actor=provider.manager, incident=closed, expected_version=v(),
                                  statement="Dialwell owns the Northwind failure and apologises",
                                  caused_by="provider")
    services.incident_advance(actor=provider.manager, incident=closed, to="investigating", expected_version=v())
    services.cause_add(actor=provider.manager, incident=closed, kind="root", category="integration",
                       mechanism="Northwind private mechanism: the export job kept the old segment file")
    option = services.option_add(actor=provider.manager, incident=closed, title="Northwind private option",
                                 cost="Northwind cost", time="Northwind time", risk="Northwind risk",
                                 tradeoffs="Northwind private tradeoffs")
    services.option_comment(actor=buyer.member, option=option, text="Northwind private comment")
    services.incident_decide(actor=buyer.manager, incident=closed, option=option, expected_version=v())
    services.control_add(actor=provider.member, incident=closed, description="Northwind private control",
                         owner=provider.manager, due_on=dt.date(2030, 1, 1), kind="new_check",
                         feed_name="northwind-contacts",
                         check={"dataset": "contacts", "not_null": ["northwind_segment"]})
    services.incident_advance(actor=provider.manager, incident=closed, to="remediating", expected_version=v())
    services.incident_advance(actor=provider.manager, incident=closed, to="in_review", expected_version=v())
    services.incident_sign_off(actor=buyer.manager, incident=closed, expected_version=v())
    services.incident_close(actor=provider.manager, incident=closed, expected_version=v(),
                            lessons="Northwind private lessons")
    services.incident_open(actor=buyer.member, engagement=world.engagement,
                           title="Northwind private open incident", affected_customers=["NW-CUSTOMER-2"])
    services.webhook_configure(actor=buyer.manager, organization=buyer.organization,
                               url="https://hooks.northwind.test/sourcewise", secret="northwind webhook secret 123")
    # Monitoring's failed checks (its crawl targets come first) open incidents linked to them.
    from sourcewise.monitoring.models import Finding
    from sourcewise.resilience.findings import record_findings

    record_findings(Finding.objects.filter(feed__engagement=world.engagement, severity="error", status="failed"))
