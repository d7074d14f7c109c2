"""The brief's incident, walked in real Chromium by both sides, from failure to postmortem.

The provider uploads a failing delivery in the page; its three failed checks open ONE
incident (the findings signal: one failure, one incident); a preventive control, on a feed
chosen from the engagement's feeds, adds a check to the feed's suite; the next delivery
passes; the incident closes with its postmortem.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
from pathlib import Path

from playwright.sync_api import expect

PASSWORD = "correct horse battery staple 42"  # the world fixture's password


def _helpers():
    path = Path(__file__).parent.parent / "monitoring" / "helpers.py"
    spec = importlib.util.spec_from_file_location("monitoring_test_helpers", path)
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TITLE = re.compile(r"^3 checks failed on Daily contact log: ")
SEGMENT_CHECK = "Contacts stay within the campaign's targeted segments"


def upload(page, path: Path, day: dt.date) -> None:
    """The provider uploads a day's log on the feed page; it is checked at once (immediate tasks)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Monitoring").click()
    page.get_by_role("link", name="Daily contact log").click()
    page.get_by_label("File").set_input_files(str(path))
    page.get_by_label("Day it covers").first.fill(day.isoformat())
    page.get_by_role("button", name="Upload and check").click()
    expect(page).to_have_url(re.compile(r"/monitoring/runs/\d+/$"))


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


def test_the_brief_incident_from_failure_to_postmortem(page, world, tmp_path):
    from sourcewise.monitoring.models import Feed
    from sourcewise.resilience import services
    from sourcewise.resilience.models import Incident

    helpers = _helpers()
    feeds = helpers.make_feeds(world)
    plan = services.plan_create(
        actor=world.buyer.manager, engagement=world.engagement, service="Outbound marketing calls",
        max_disruption_hours=48, max_customers_affected=10,
        customer_template="Dear customer, we contacted you by mistake. {buyer} is sorry.")
    services.scenario_add(
        actor=world.provider.manager, plan=plan, title="The targeting data integration fails",
        detected_by_feeds=["contact-log"], detected_by_checks=["contact_was_targeted"],
        response_steps="Pause the campaign", buyer_owner=world.buyer.manager,
        provider_owner=world.provider.manager)
    bad, good = tmp_path / "dialwell-contacts-20261120.parquet", tmp_path / "dialwell-contacts-20261121.parquet"
    bad.write_bytes(helpers.bad_day(dt.date(2026, 11, 20)))
    good.write_bytes(helpers.good_day(dt.date(2026, 11, 21)))

    # The provider uploads the day's log; it fails its segment check.
    sign_in(page, world.provider.manager.email)
    upload(page, bad, dt.date(2026, 11, 20))
    expect(page.locator("[data-run-status]")).to_have_text("Failed")
    # One failure, one incident: the run's three failed checks share it.
    assert Incident.objects.count() == 1
    incident = Incident.objects.get(checks__check_name="contact_was_targeted")
    assert incident.findings.count() == 3 and incident.checks.count() == 3
    finding = incident.findings.get(check_id="contact_was_targeted")
    customers = len(incident.affected_customers)
    assert customers > 10

    # The provider sees the incident with the affected customers, and acknowledges it.
    page.get_by_role("link", name="Incidents", exact=True).first.click()
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_text("Critical severity")).to_be_visible()
    expect(page.get_by_text(f"{customers} of a tolerance of 10")).to_be_visible()
    behind = page.get_by_role("region", name="Findings behind it")
    expect(behind.get_by_role("listitem")).to_have_count(3)
    expect(behind.get_by_role("link", name=SEGMENT_CHECK)).to_have_attribute("href", finding.get_absolute_url())
    expect(behind.get_by_role("link", name="affected customers, CSV").first).to_be_visible()
    expect(page.get_by_role("region", name="What happened").get_by_text(
        f"{SEGMENT_CHECK} (contact_was_targeted)")).to_be_visible()
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

    # The provider adds a control that is a new check on the feed.
    sign_in(page, world.provider.manager.email)
    page.goto(f"/incidents/{incident.pk}/")
    page.get_by_text("Add a preventive control").click()
    page.get_by_label("What the control does").fill("Check every contact has its contact time")
    page.get_by_label("Owner").select_option(value=str(world.provider.member.pk))
    page.get_by_label("Due on").fill("2030-01-31")
    control = page.locator("form", has=page.get_by_role("button", name="Add the control"))
    control.get_by_label("Kind").select_option(label="New check on a feed")
    # The feed is chosen among the engagement's feeds, not typed.
    page.get_by_label("Feed (for a new check)").select_option(label="Daily contact log (contact-log)")
    page.get_by_label("Check (YAML, in the suite format)").fill(
        "{id: contact_time_present, name: Every contact has its time, dataset: contacts, "
        "not_null: [contacted_at]}")
    page.get_by_role("button", name="Add the control").click()
    expect(status(page)).to_contain_text("Preventive control added")
    # The suite is the buyer's: the provider is not offered the action, and is told who takes it.
    expect(page.get_by_role("button", name="Add the check to contact-log")).to_have_count(0)
    expect(page.get_by_text("Waiting for Northwind Bank to add it to the suite")).to_be_visible()
    page.get_by_role("button", name="Move to remediating").click()
    expect(page.locator("#incident-status")).to_have_text("Remediating")
    sign_out(page)

    # The buyer adds the check to the feed's suite in one action from the incident.
    suite_before = Feed.objects.get(pk=feeds.contacts.pk).current_suite().number
    sign_in(page, world.buyer.manager.email)
    page.goto(f"/incidents/{incident.pk}/")
    page.get_by_role("button", name="Add the check to contact-log").click()
    expect(status(page)).to_contain_text("The check was added to contact-log")
    page.get_by_role("link", name="contact-log").first.click()
    expect(page.get_by_role("heading", name=f"Suite (version {suite_before + 1})")).to_be_visible()
    expect(page.get_by_label("Suite (YAML)")).to_have_value(re.compile("id: contact_time_present"))
    sign_out(page)

    # The next delivery passes, the new check with it; the provider puts the incident in review.
    sign_in(page, world.provider.manager.email)
    upload(page, good, dt.date(2026, 11, 21))
    expect(page.locator("[data-run-status]")).to_have_text("Passed")
    expect(page.get_by_text("Every contact has its time")).to_be_visible()
    page.goto(f"/incidents/{incident.pk}/")
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
    assert f"# Postmortem: {Incident.objects.get(pk=incident.pk).title}" in text
    assert "(chosen)" in text and "Check the targeting data" in text
    with page.expect_download() as pdf:
        page.get_by_role("link", name="Postmortem (PDF)").click()
    assert Path(pdf.value.path()).read_bytes()[:4] == b"%PDF"
    assert Incident.objects.get(pk=incident.pk).status == "closed"
