"""axe-core finds no accessibility violations on monitoring's pages, with a failed run in them."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

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


def violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


def test_monitoring_pages_are_accessible(page, world):
    from sourcewise.monitoring import services

    helpers = _helpers()
    feeds = helpers.make_feeds(world)
    delivery = services.delivery_receive(
        actor=world.provider.member, organization=world.provider.organization, feed=feeds.contacts,
        stream=io.BytesIO(helpers.bad_day()), filename="log.parquet")
    run = delivery.runs.get()
    services.run_execute(run_id=run.pk)
    finding = run.findings.get(check_id="targets_contacted")
    page.goto("/login/")
    page.get_by_label("Email").fill(world.buyer.manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    paths = [
        "/monitoring/", f"/monitoring/feeds/{feeds.contacts.pk}/", f"/monitoring/feeds/{feeds.contacts.pk}/edit/",
        f"/monitoring/engagements/{world.engagement.pk}/feeds/new/", f"/monitoring/deliveries/{delivery.pk}/",
        f"/monitoring/runs/{run.pk}/", "/monitoring/findings/", f"/monitoring/findings/{finding.pk}/",
        f"/monitoring/engagements/{world.engagement.pk}/scorecard/",
        f"/monitoring/providers/{world.provider.organization.pk}/scorecard/",
        f"/engagements/{world.engagement.pk}/",
    ]
    found = {}
    for path in paths:
        page.goto(path)
        if problems := violations(page):
            found[path] = problems
    assert found == {}
