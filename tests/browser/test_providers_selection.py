"""Choosing a provider in real Chromium: a candidate answers through its link, the buyer compares and chooses."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from playwright.sync_api import expect

PASSWORD = "correct horse battery staple 42"  # the world fixture's password


def sign_in(page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_compare_two_candidates_flag_the_one_that_never_failed_and_record_the_choice(page, world):
    from sourcewise.providers import builtin, services
    from sourcewise.providers.models import Selection

    due = timezone.localdate() + dt.timedelta(days=14)
    selection = services.selection_create(actor=world.buyer.manager, buyer=world.buyer.organization,
                                          service_name="Inbound complaints line")
    tokens = {}
    for name in ("Steadyline Ltd", "Neverfail Ltd"):
        provider = services.provider_create(actor=world.buyer.manager, buyer=world.buyer.organization,
                                            legal_name=name, country="GB", contacts=[{"name": "Bids", "email": f"bids@{name[:5]}.test"}])
        _assessment, tokens[name] = services.assessment_send(actor=world.buyer.manager, provider=provider,
                                                             due_date=due, selection=selection)

    # Neverfail answers through its invitation link, without an account, and submits.
    page.goto(f"/providers/answer/{tokens['Neverfail Ltd']}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Service failures")
    page.get_by_role("group", name="Have you ever had a service failure").get_by_label(builtin.NEVER_FAILED).check()
    page.get_by_label("How many service failures affecting a client").fill("0")
    page.get_by_role("group", name="Do you have a procedure to help a client recover").get_by_label(
        "Yes, documented", exact=True).check()
    page.get_by_role("button", name="Submit to Northwind Bank").click()
    expect(page.get_by_role("status").first).to_contain_text("Submitted")

    # Steadyline answers well through its link too.
    page.goto(f"/providers/answer/{tokens['Steadyline Ltd']}/")
    page.get_by_role("group", name="Have you ever had a service failure").get_by_label(
        "Yes: see our incident history").check()
    page.get_by_label("How many service failures affecting a client").fill("3")
    page.get_by_label("List your significant incidents").fill("2025-03 dialler outage, 4h; root cause fixed.")
    page.get_by_role("group", name="Do you have a procedure to help a client recover").get_by_label(
        "Yes, documented and rehearsed in the last 12 months").check()
    page.get_by_role("group", name="Do you analyse the root cause").get_by_label(
        "Always, with a written post-mortem shared with the client").check()
    page.get_by_role("button", name="Submit to Northwind Bank").click()
    expect(page.get_by_role("status").first).to_contain_text("Submitted")

    # The buyer's manager compares the two side by side.
    sign_in(page, world.buyer.manager.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Providers").click()
    page.get_by_role("link", name="Selections").first.click()
    page.get_by_role("link", name="Inbound complaints line").click()
    table = page.get_by_role("table", name="Candidates for Inbound complaints line")
    expect(table).to_contain_text("Claims never to have had a service failure")
    flags = table.get_by_role("row", name="Red flags")
    expect(flags.get_by_role("cell").nth(0)).to_contain_text("Red flag")  # Neverfail (alphabetical first)
    expect(flags.get_by_role("cell").nth(1)).to_have_text("None")

    page.get_by_label("Why Steadyline Ltd").fill("Open about its failures and how it fixes them.")
    page.get_by_role("button", name="Choose Steadyline Ltd").click()
    expect(page.get_by_role("status").first).to_contain_text("Steadyline Ltd is chosen for Inbound complaints line")
    expect(page.get_by_text("Chosen: Steadyline Ltd")).to_be_visible()
    assert Selection.objects.get(pk=selection.pk).chosen.provider.legal_name == "Steadyline Ltd"
