"""A person signs in, switches organisation and opens an engagement, in real Chromium."""

from __future__ import annotations

import re

from playwright.sync_api import expect

PASSWORD = "correct horse battery staple 42"  # the world fixture's password


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_switch_organisation_and_open_an_engagement(page, world):
    from sourcewise.accounts import services as accounts

    # The buyer's manager also works for the outsider organisation.
    accounts.membership_add(actor=world.outsider.owner, organization=world.outsider.organization,
                            user=world.buyer.manager, role="viewer")

    sign_in(page, world.buyer.manager.email, "wrong password")
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")

    sign_in(page, world.buyer.manager.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Bank")
    expect(page.get_by_role("link", name="Outbound marketing calls")).to_be_visible()

    # Switch to the other organisation: its engagement shows, the bank's does not.
    page.get_by_label("Acting for").select_option(label="Unrelated Ltd (Viewer)")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("status")).to_contain_text("now acting for Unrelated Ltd")
    expect(page.get_by_role("heading", level=1)).to_have_text("Unrelated Ltd")
    expect(page.get_by_role("link", name="Unrelated collections")).to_be_visible()
    expect(page.get_by_role("link", name="Outbound marketing calls")).to_have_count(0)

    # Back to the bank, through the keyboard-reachable switcher, and open the engagement.
    page.get_by_label("Acting for").select_option(label="Northwind Bank (Manager)")
    page.get_by_role("button", name="Switch").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Engagements").click()
    page.get_by_role("link", name="Outbound marketing calls").click()
    expect(page).to_have_url(re.compile(r"/engagements/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Outbound marketing calls")
    expect(page.get_by_text("Northwind Bank buys, Dialwell Outsourcing provides")).to_be_visible()

    # The History tab loads through HTMX and lists the proposal and acceptance.
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    expect(page.locator("#tab")).to_contain_text("engagement.accept")
    expect(page.locator("#tab")).to_contain_text("engagement.propose")


def test_keyboard_user_can_skip_to_content_and_sees_focus(page, world):
    sign_in(page, world.buyer.viewer.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Bank")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # A viewer is offered no way to write.
    expect(page.get_by_role("link", name="Propose an engagement")).to_have_count(0)
