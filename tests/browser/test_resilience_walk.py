"""The brief's incident, walked in real Chromium by both sides, from failure to postmortem.

The failed delivery is reported through `incident_record_failure`, the seam monitoring
calls; the lead adds the delivery steps when monitoring lands.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

PASSWORD = "correct horse battery staple 42"  # the world fixture's password


def sign_in(page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name=re.compile("Sign out"))).to_be_visible()


def sign_out(page) -> None:
    page.get_by_role("button", name=re.compile("Sign out")).click()


def status(page):
    return page.get_by_role("status")


def test_the_brief_incident_from_failure_to_postmortem(page, world, monkeypatch):
    from sourcewise.resilience import services
    from sourcewise.resilience.models import Incident

    added = []

    def suite_add_check(**kwargs):  # stands in for monitoring's suite_add_check until merge
        added.append(kwargs)
        return f"Added to the suite of {kwargs['feed_name']}."

    monkeypatch.setattr(services, "check_applier", suite_add_check)
    plan = services.plan_create(
        actor=world.buyer.manager, engagement=world.engagement, service="Outbound marketing calls",
        max_disruption_hours=48, max_customers_affected=10,
        customer_template="Dear customer, we contacted you by mistake. {buyer} is sorry.")
    services.scenario_add(
        actor=world.provider.manager, plan=plan, title="The targeting data integration fails",
        detected_by_feeds=["contacts"], detected_by_checks=["contact_in_target_segment"],
        response_steps="Pause the campaign", buyer_owner=world.buyer.manager,
        provider_owner=world.provider.manager)
    # The demo delivery fails its segment check.
    incident = services.incident_record_failure(
        engagement=world.engagement, check_name="contact_in_target_segment", feed_name="contacts",
        severity="error", affected_customers=[f"C-{i}" for i in range(12)], failing_rows=15,
        summary="15 contacts outside the targeted segments")

    # The provider sees the incident with the affected customers, and acknowledges it.
    sign_in(page, world.provider.manager.email)
    page.get_by_role("link", name="Incidents", exact=True).first.click()
    page.get_by_role("link", name="contact_in_target_segment failed on contacts").click()
    expect(page.get_by_text("Critical severity")).to_be_visible()
    expect(page.get_by_text("12 of a tolerance of 10")).to_be_visible()
    page.get_by_label("Ownership and apology statement").fill(
        "Dialwell owns this failure and apologises to Northwind's customers.")
    page.get_by_label("Who caused it").select_option(label="The provider")
    page.get_by_role("button", name="Acknowledge").click()
    expect(status(page)).to_contain_text("Acknowledged")
    expect(page.get_by_text("Dear customer, we contacted you by mistake. Northwind Bank is sorry.")).to_be_visible()
    page.get_by_role("button", name="Move to investigating").click()
    expect(page.locator("#incident-status")).to_have_text("Investigating")

    # "Computer error" is refused, with the reason; a specific mechanism is accepted.
    cause = page.locator("form", has=page.get_by_role("button", name="Record the cause"))
    cause.get_by_label("Kind").select_option(label="Root cause")
    cause.get_by_label("Category").select_option(label="Technology")
    cause.get_by_label("Mechanism: how exactly it went wrong").fill("Computer error")
    page.get_by_role("button", name="Record the cause").click()
    expect(status(page)).to_contain_text("names no mechanism")
    cause.get_by_label("Category").select_option(label="Integration between systems")
    cause.get_by_label("Kind").select_option(label="Root cause")
    cause.get_by_label("Mechanism: how exactly it went wrong").fill(
        "The contractor's segment export kept last month's file because its date filter used UTC")
    page.get_by_role("button", name="Record the cause").click()
    expect(status(page)).to_contain_text("Cause recorded")

    # The options and their trade-offs.
    for title, cost, tradeoffs in (("Fix the export's date filter", "2 days", "Cheap; relies on the contractor"),
                                   ("Load segments directly from Northwind", "3 weeks", "Removes the contractor")):
        page.get_by_text("Propose an option").click()
        page.get_by_label("Option name").fill(title)
        page.get_by_label("Cost").fill(cost)
        page.get_by_label("Time to put in place").fill("1 week")
        page.get_by_label("Risk").fill("Low")
        page.get_by_label("Trade-offs").fill(tradeoffs)
        page.get_by_role("button", name="Add the option").click()
        expect(status(page)).to_contain_text("Option added")
    expect(page.get_by_text("A manager of Northwind Bank decides among the options.")).to_be_visible()
    sign_out(page)

    # The buyer weighs in and decides.
    sign_in(page, world.buyer.manager.email)
    page.goto(f"/incidents/{incident.pk}/")
    page.get_by_label("Your input on this option").first.fill("Fast, and we keep watching the contractor.")
    page.get_by_role("button", name="Comment").first.click()
    expect(status(page)).to_contain_text("Comment added")
    page.get_by_role("radio", name="Fix the export's date filter").check()
    page.get_by_label("Why").fill("Quickest to put right")
    page.get_by_role("button", name="Decide").click()
    expect(page.locator("#incident-status")).to_have_text("Solution agreed")
    sign_out(page)

    # The provider adds a control that is a new check, and adds it to the feed in one action.
    sign_in(page, world.provider.manager.email)
    page.goto(f"/incidents/{incident.pk}/")
    page.get_by_text("Add a preventive control").click()
    page.get_by_label("What the control does").fill("Check every contact is in a targeted segment")
    page.get_by_label("Owner").select_option(value=str(world.provider.member.pk))
    page.get_by_label("Due on").fill("2030-01-31")
    control = page.locator("form", has=page.get_by_role("button", name="Add the control"))
    control.get_by_label("Kind").select_option(label="New check on a feed")
    page.get_by_label("Feed (for a new check)").fill("contacts")
    page.get_by_label("Check (YAML, in the suite format)").fill(
        "{id: contact_in_target_segment, dataset: contacts, "
        "relationships: {to: targets, columns: [campaign_id, customer_id]}}")
    page.get_by_role("button", name="Add the control").click()
    expect(status(page)).to_contain_text("Preventive control added")
    page.get_by_role("button", name="Add the check to contacts").click()
    expect(status(page)).to_contain_text("The check was added to contacts")
    assert added[0]["check"]["id"] == "contact_in_target_segment"
    page.get_by_role("button", name="Move to remediating").click()
    page.get_by_role("button", name="Move to in review").click()
    expect(page.locator("#incident-status")).to_have_text("In review")
    expect(page.get_by_role("button", name=re.compile("Sign off"))).to_have_count(0)
    sign_out(page)

    # The buyer signs off; the provider closes with the lessons, and the postmortem downloads.
    sign_in(page, world.buyer.manager.email)
    page.goto(f"/incidents/{incident.pk}/")
    page.get_by_role("button", name="Sign off for Northwind Bank").click()
    expect(status(page)).to_contain_text("Signed off")
    sign_out(page)
    sign_in(page, world.provider.manager.email)
    page.goto(f"/incidents/{incident.pk}/")
    page.get_by_label("Lessons learned").fill("Check the targeting data before every campaign starts.")
    page.get_by_role("button", name="Close and write the postmortem").click()
    expect(page.locator("#incident-status")).to_have_text("Closed")
    with page.expect_download() as download:
        page.get_by_role("link", name="Postmortem (Markdown)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "# Postmortem: contact_in_target_segment failed on contacts" in text
    assert "(chosen)" in text and "Check the targeting data" in text
    with page.expect_download() as pdf:
        page.get_by_role("link", name="Postmortem (PDF)").click()
    assert Path(pdf.value.path()).read_bytes()[:4] == b"%PDF"
    assert Incident.objects.get(pk=incident.pk).status == "closed"
