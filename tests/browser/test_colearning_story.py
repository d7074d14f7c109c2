"""The demo's collections story, walked in real Chromium: from challenge to decisions to the library."""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from sourcewise.demo.story import DEMO_PASSWORD


def sign_in(page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def violations(page) -> list[str]:
    return [f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in Axe().run(page).response["violations"]]


def sign_out(page) -> None:
    page.get_by_role("button", name=re.compile("Sign out")).click()


def test_collections_story_from_challenge_to_library(page):
    from sourcewise.demo import story

    story.load()

    # Recova's account manager opens the shared challenge and records an observation.
    sign_in(page, "am@recova.demo")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Co-learning").click()
    page.get_by_role("link", name="Reduce the cost of the collections process").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reduce the cost of the collections process")
    expect(page.locator("#research")).to_contain_text("A week at the early-arrears desk")
    expect(page.locator("#ideas")).to_contain_text("Pursued")
    expect(page.locator("#ideas")).to_contain_text("Declined")
    expect(page.locator("#ideas")).to_contain_text("On hold")
    found = {"challenge": violations(page)}

    page.get_by_text("Record an observation").click()
    page.get_by_label("Who (role or persona)").fill("Team leader")
    page.get_by_label("What they experience").fill("Spends Mondays re-planning shifts by hand")
    page.get_by_role("button", name="Record the observation").click()
    expect(page.get_by_role("status")).to_contain_text("Observation recorded")
    expect(page.locator("#observations")).to_contain_text("Spends Mondays re-planning shifts")

    # A session keeps any number of files; the side that added one may remove it.
    session = page.locator("#research li", has_text="A week at the early-arrears desk")
    session.get_by_label("Attach a file to the session: A week at the early-arrears desk").set_input_files(
        files=[{"name": "desk-layout.txt", "mimeType": "text/plain", "buffer": b"Four desks, one phone each"}])
    session.get_by_role("button", name="Attach to the session: A week at the early-arrears desk").click()
    expect(page.get_by_role("status")).to_contain_text("Attached desk-layout.txt")
    session = page.locator("#research li", has_text="A week at the early-arrears desk")
    expect(session.get_by_role("link", name="desk-layout.txt")).to_be_visible()
    found["attachments"] = violations(page)
    session = page.locator("#research li", has_text="A week at the early-arrears desk")
    with page.expect_download() as download:
        session.get_by_role("link", name="desk-layout.txt").click()
    assert download.value.suggested_filename == "desk-layout.txt"
    # Removing asks first; dismissing keeps the file, accepting removes it.
    page.once("dialog", lambda dialog: dialog.dismiss())
    session.get_by_role("button", name="Remove desk-layout.txt").click()
    expect(session.get_by_role("link", name="desk-layout.txt")).to_be_visible()
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    session.get_by_role("button", name="Remove desk-layout.txt").click()
    expect(page.get_by_role("status")).to_contain_text("Removed desk-layout.txt")
    assert asked == ["Remove desk-layout.txt?"]
    expect(page.locator("#research")).not_to_contain_text("desk-layout.txt")

    # A test's result is recorded when it ends.
    page.get_by_role("link", name=re.compile("^Edit the test: Evening callbacks")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Edit the test of")
    found["test edit"] = violations(page)
    page.get_by_label("Result").fill("Right-party contact up 9 points in the pilot")
    page.get_by_label("Outcome").select_option("confirmed")
    page.get_by_role("button", name="Save the test").click()
    expect(page.get_by_role("status")).to_contain_text("Test saved")
    expect(page.locator("#ideas")).to_contain_text("Right-party contact up 9 points in the pilot")

    # The data study: KPIs by month, charted; one segment at a time.
    page.get_by_role("link", name="Six months of early-collections calls", exact=True).click()
    expect(page.get_by_role("img", name=re.compile("Right party contact rate by period"))).to_be_visible()
    found["study"] = violations(page)
    page.get_by_label("Segment").select_option("hardship")
    expect(page.locator("#results-body")).to_contain_text("segment hardship")

    # A bad file is refused by name, and the results stay.
    page.get_by_label("Call records (CSV with a header row)").set_input_files(files=[{
        "name": "bad.csv", "mimeType": "text/csv",
        "buffer": b"call_date,account_id,segment\n2026-01-05,A1,retail\n"}])
    page.get_by_role("button", name="Upload and compute").click()
    expect(page.get_by_role("status")).to_contain_text("missing columns: right_party_contact")
    expect(page.get_by_role("img", name=re.compile("Right party contact rate"))).to_be_visible()

    # The library finds the shared learning by meaning, without naming the client.
    page.goto("/co-learning/library/")
    page.get_by_label("Search").fill("customers unreachable during the day")
    page.get_by_label("Match").select_option("semantic")
    page.get_by_role("button", name="Search").click()
    results = page.locator("#library-results")
    expect(results).to_contain_text("Call early-arrears customers when they can answer")
    expect(results).not_to_contain_text("Northwind")
    found["library"] = violations(page)
    sign_out(page)

    # Northwind's vendor manager reads the story and downloads the report.
    sign_in(page, "vm@northwind.demo")
    page.goto("/co-learning/")
    page.get_by_role("link", name="Reduce the cost of the collections process").click()
    page.get_by_role("link", name="The story so far").click()
    expect(page.get_by_role("heading", name="5. Decisions")).to_be_visible()
    expect(page.locator("article")).to_contain_text("Our regulator expects a conversation")
    found["story"] = violations(page)
    assert {k: v for k, v in found.items() if v} == {}
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as Markdown").click()
    assert download.value.suggested_filename == "reduce-the-cost-of-the-collections-process.md"
