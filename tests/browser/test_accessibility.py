"""axe-core finds no accessibility violations on the shell's pages."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

PASSWORD = "correct horse battery staple 42"  # the world fixture's password


def violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


def test_sign_in_page_is_accessible(page, world):
    page.goto("/login/")
    assert violations(page) == []
    page.get_by_label("Email").fill("nobody@example.test")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert violations(page) == []  # with the error shown


SHELL_PAGES = [
    "/", "/engagements/", "/engagements/{engagement}/", "/engagements/{engagement}/?tab=history",
    "/engagements/{engagement}/edit/", "/engagements/new/", "/organization/",
    "/organization/?tab=invitations", "/organization/?tab=history", "/account/tokens/",
    "/providers/", "/monitoring/", "/incidents/", "/co-learning/", "/organizations/new/",
]


def test_shell_pages_are_accessible(page, world):
    page.goto("/login/")
    page.get_by_label("Email").fill(world.buyer.manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    found = {}
    for path in SHELL_PAGES:
        page.goto(path.format(engagement=world.engagement.pk))
        if problems := violations(page):
            found[path] = problems
    assert found == {}
