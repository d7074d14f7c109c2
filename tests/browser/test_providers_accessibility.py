"""axe-core finds no accessibility violations on the providers pages, for the buyer and the provider."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe

PASSWORD = "correct horse battery staple 42"  # the world fixture's password


def violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


def _populate(world) -> None:
    path = Path(__file__).parent.parent / "providers" / "crawl_targets.py"
    spec = importlib.util.spec_from_file_location("providers_crawl_targets", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.populate(world)


def sign_in(page, email: str) -> None:
    page.context.clear_cookies()
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def test_providers_pages_are_accessible(page, world):
    from sourcewise.providers.models import (
        Assessment,
        ChangeNotice,
        Provider,
        Selection,
        Subcontractor,
    )

    _populate(world)
    provider = Provider.objects.get(organization=world.provider.organization)
    assessment = Assessment.objects.get(provider=provider)
    open_one = Assessment.objects.exclude(pk=assessment.pk).get()
    selection = Selection.objects.get()
    notice = ChangeNotice.objects.get()
    engagement = world.engagement.pk
    from sourcewise.providers import services

    own = services.template_create(actor=world.buyer.member, organization=world.buyer.organization,
                                   definition={"name": "Data security", "sections": [{"title": "Access",
                                               "questions": []}]}, allow_empty=True)
    buyer_pages = [f"/providers/templates/{own.pk}/",
        "/providers/", "/providers/new/", "/providers/import/", f"/providers/{provider.pk}/",
        f"/providers/{provider.pk}/?tab=scorecard", f"/providers/{provider.pk}/assess/",
        f"/providers/assessments/{assessment.pk}/", "/providers/assessments/", "/providers/selections/",
        f"/providers/selections/{selection.pk}/", "/providers/templates/", "/providers/templates/new/",
        f"/providers/engagements/{engagement}/relationship/", f"/providers/changes/{notice.pk}/",
        f"/providers/assessments/{open_one.pk}/",
        f"/providers/{provider.pk}/contacts/new/", f"/providers/contacts/{provider.contacts.first().pk}/edit/",
        f"/providers/subcontractors/{Subcontractor.objects.filter(parent__isnull=False).get().pk}/edit/",
        f"/providers/{provider.pk}/?tab=scorecard&days=365",
    ]
    sign_in(page, world.buyer.manager.email)
    problems = []
    for path in buyer_pages:
        assert page.goto(path).ok, path
        problems += [f"{path}: {v}" for v in violations(page)]
    sign_in(page, world.provider.member.email)
    for path in ("/providers/", f"/providers/assessments/{assessment.pk}/",
                 f"/providers/assessments/{assessment.pk}/?tab=history",
                 f"/providers/engagements/{engagement}/changes/new/", f"/providers/changes/{notice.pk}/"):
        assert page.goto(path).ok, path
        problems += [f"{path}: {v}" for v in violations(page)]
    assert problems == []


def test_the_questionnaire_by_link_is_accessible(page, world):
    import datetime as dt

    from django.utils import timezone

    from sourcewise.providers import services

    provider = services.provider_create(actor=world.buyer.member, buyer=world.buyer.organization,
                                        legal_name="Linkonly Ltd", contacts=[{"name": "Bids", "email": "bids@linkonly.test"}])
    _a, token = services.assessment_send(actor=world.buyer.member, provider=provider,
                                         due_date=timezone.localdate() + dt.timedelta(days=9))
    page.goto(f"/providers/answer/{token}/")
    assert violations(page) == []
    page.get_by_label("Typically, how many hours pass").fill("soon")
    page.get_by_role("button", name="Save answers").click()
    assert violations(page) == []  # with the error shown
