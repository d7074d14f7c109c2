"""Fixtures of resilience tests: a plan with a scenario, and an incident walked to any state."""

from __future__ import annotations

import datetime as dt

import pytest

from sourcewise.resilience import services
from sourcewise.resilience.models import Incident


@pytest.fixture
def plan(world):
    plan = services.plan_create(
        actor=world.buyer.manager, engagement=world.engagement, service="Outbound marketing calls",
        max_disruption_hours=48, max_customers_affected=100, acknowledge_within_hours=2,
        solution_within_hours=24,
        customer_template="Dear customer, we contacted you by mistake about {service}. {buyer} is sorry.",
    )
    services.scenario_add(
        actor=world.provider.manager, plan=plan, title="The targeting data integration fails",
        detected_by_feeds=["contacts"], detected_by_checks=["contact_in_target_segment"],
        response_steps="Stop the campaign\nRe-import the segments", buyer_owner=world.buyer.manager,
        provider_owner=world.provider.manager,
    )
    return plan


@pytest.fixture
def contacts_feed(world):
    """A monitoring feed of world.engagement that a control's new check can go into."""
    from sourcewise.monitoring.services import feed_create

    return feed_create(actor=world.buyer.manager, organization=world.buyer.organization,
                       engagement=world.engagement, name="Contacts", slug="contacts",
                       expected_schema={"contact_id": "string", "segment_id": "string"})


ROOT_CAUSE = ("The nightly targeting export kept last month's segment file because its date "
              "filter compared local time against UTC")


def walk(world, incident: Incident, to: str) -> Incident:
    """Take an incident through the real actions up to state `to` (sign-off included for closed)."""
    order = ["acknowledged", "investigating", "solution_agreed", "remediating", "in_review", "closed"]
    incident.refresh_from_db()
    start = order.index(incident.status) + 1 if incident.status in order else 0
    for step in order[start: order.index(to) + 1]:
        incident.refresh_from_db()
        v = incident.version
        if step == "acknowledged":
            services.incident_acknowledge(
                actor=world.provider.manager, incident=incident, expected_version=v,
                statement="We own this failure and we are sorry for the calls it caused.",
                caused_by="provider")
        elif step == "investigating":
            services.incident_advance(actor=world.provider.member, incident=incident,
                                      to="investigating", expected_version=v)
        elif step == "solution_agreed":
            services.cause_add(actor=world.provider.member, incident=incident, kind="root",
                               category="integration", mechanism=ROOT_CAUSE)
            option = services.option_add(actor=world.provider.manager, incident=incident,
                                         title="Fix the export's time zone", cost="2 days",
                                         time="1 week", risk="low", tradeoffs="Cheap, slow")
            services.incident_decide(actor=world.buyer.manager, incident=incident, option=option,
                                     expected_version=v)
        elif step == "remediating":
            services.control_add(actor=world.provider.member, incident=incident,
                                 description="Check every contact is in a targeted segment",
                                 owner=world.provider.manager, due_on=dt.date.today() + dt.timedelta(days=7))
            services.incident_advance(actor=world.provider.member, incident=incident,
                                      to="remediating", expected_version=v)
        elif step == "in_review":
            services.incident_advance(actor=world.provider.member, incident=incident,
                                      to="in_review", expected_version=v)
        elif step == "closed":
            services.incident_sign_off(actor=world.buyer.manager, incident=incident, expected_version=v)
            incident.refresh_from_db()
            services.incident_close(actor=world.provider.manager, incident=incident,
                                    expected_version=incident.version,
                                    lessons="Check the targeting data before every campaign.")
        incident.refresh_from_db()
    return incident


@pytest.fixture
def incident(world, plan):
    return services.incident_open(
        actor=world.buyer.member, engagement=world.engagement,
        title="Calls to contacts outside the targeted segments",
        description="Customers outside the campaign's segments were called.",
        affected_customers=["C-1", "C-2", "C-3"],
    )
