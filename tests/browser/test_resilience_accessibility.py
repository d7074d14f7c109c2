"""axe-core finds no accessibility violations on the resilience pages, with real content."""

from __future__ import annotations

import datetime as dt

from axe_playwright_python.sync_playwright import Axe

PASSWORD = "correct horse battery staple 42"  # the world fixture's password


def violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


def test_resilience_pages_are_accessible(page, world):
    from sourcewise.resilience import services

    plan = services.plan_create(actor=world.buyer.manager, engagement=world.engagement,
                                service="Outbound marketing calls", max_disruption_hours=48,
                                max_customers_affected=100)
    scenario = services.scenario_add(actor=world.buyer.manager, plan=plan, title="The targeting data integration fails",
                          detected_by_feeds=["contacts"], detected_by_checks=["segment"],
                          response_steps="Pause\nReload", buyer_owner=world.buyer.manager,
                          provider_owner=world.provider.manager)
    exercise = services.exercise_record(actor=world.buyer.manager, plan=plan, held_on=dt.date(2024, 1, 1),
                                        result="partial")
    reported = services.incident_open(actor=world.buyer.member, engagement=world.engagement,
                                      title="Calls outside the segments", affected_customers=["C-1"])
    investigating = services.incident_open(actor=world.buyer.member, engagement=world.engagement,
                                           title="Calls outside the segments again")
    services.incident_acknowledge(actor=world.provider.manager, incident=investigating, expected_version=1,
                                  caused_by="provider", statement="We own it and we are sorry for it.")
    services.incident_advance(actor=world.provider.manager, incident=investigating, to="investigating",
                              expected_version=2)
    services.option_add(actor=world.provider.manager, incident=investigating, title="Fix", cost="1",
                        time="1", risk="low", tradeoffs="none")
    page.goto("/login/")
    page.get_by_label("Email").fill(world.buyer.manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    found = {}
    for path in ["/incidents/", "/incidents/new/", f"/incidents/{reported.pk}/",
                 f"/incidents/{investigating.pk}/", f"/incidents/{investigating.pk}/?tab=history",
                 f"/incidents/{reported.pk}/edit/",
                 "/resilience/plans/new/", f"/resilience/plans/{plan.pk}/",
                 f"/resilience/plans/{plan.pk}/edit/", f"/resilience/scenarios/{scenario.pk}/edit/",
                 f"/resilience/exercises/{exercise.pk}/edit/", "/resilience/webhook/",
                 f"/engagements/{world.engagement.pk}/"]:
        page.goto(path)
        # Closed <details> hide their forms from axe; open them so every form is checked.
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        if problems := violations(page):
            found[path] = problems
    assert found == {}
