"""The provider scorecard with SLA and incident figures: readable in a browser and free of axe violations."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

PASSWORD = "correct horse battery staple 42"  # the world fixture's password


def _scorecard_helpers():
    path = Path(__file__).parent.parent / "providers" / "test_scorecard.py"
    name = "providers_scorecard_helpers"
    if name not in sys.modules:
        sys.path.insert(0, str(path.parent.parent))
        spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=None)
        module = importlib.util.module_from_spec(spec)
        module.__package__ = "providers"
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_the_scorecard_with_sla_and_incidents_is_accessible(page, world):
    from sourcewise.providers import services
    from sourcewise.resilience import services as resilience_services

    helpers = _scorecard_helpers()
    provider = services.provider_create(actor=world.buyer.member, buyer=world.buyer.organization,
                                        legal_name="Dialwell Outsourcing Ltd", country="IE",
                                        organization=world.provider.organization, status="current")
    helpers.monitored(world.engagement, world.buyer.manager, world.buyer.organization,
                      days=[(1, {}), (2, {"targets_contacted": 12}), (3, {})], late=[4])
    resilience_services.incident_open(actor=world.buyer.manager, engagement=world.engagement,
                                      title="Complaint spike after the campaign")
    page.goto("/login/")
    page.get_by_label("Email").fill(world.buyer.viewer.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    assert page.goto(f"/providers/{provider.pk}/?tab=scorecard").ok
    sla = page.get_by_role("region", name="SLA results")
    assert "of 3 delivery checks passed" in sla.inner_text()
    assert sla.get_by_role("img", name="Pass rate of each check, percent").is_visible()
    incidents = page.get_by_role("region", name="Incidents")
    assert "incident: 1 open, 0 closed" in incidents.inner_text()
    assert "No resilience plan sets a target" in incidents.inner_text()
    results = Axe().run(page)
    assert [v["id"] for v in results.response["violations"]] == []
