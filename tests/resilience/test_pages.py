"""The resilience pages through a real client: the walk, the refusals and the exports."""

from __future__ import annotations

import pytest

from sourcewise.resilience.models import Incident

from .conftest import walk

pytestmark = pytest.mark.django_db


def test_landing_lists_incidents_and_flags_plans_never_exercised(world, login, plan, incident):
    client = login(world.provider.member)
    page = client.get("/incidents/")
    assert page.status_code == 200
    text = page.content.decode()
    assert incident.title in text and "Not exercised in 12 months" in text
    csv = client.get("/incidents/?format=csv")
    assert b"Calls to contacts outside the targeted segments" in b"".join(csv.streaming_content)


def test_report_an_incident_by_hand(world, login, plan):
    client = login(world.buyer.member)
    response = client.post("/incidents/new/", {"engagement": world.engagement.pk, "title": "Wrong script read",
                                               "affected_customers": "C-1, C-2"})
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.pk}/"
    assert incident.affected_customers == ["C-1", "C-2"] and incident.source == "manual"
    page = client.get(response["Location"]).content.decode()
    assert "Wrong script read" in page and "Acknowledge" in page


def test_computer_error_is_refused_on_the_page_with_the_reason(world, login, incident):
    walk(world, incident, "investigating")
    client = login(world.provider.member)
    response = client.post(f"/incidents/{incident.pk}/causes/", {"kind": "root", "category": "technology",
                                                                 "mechanism": "Computer error"}, follow=True)
    assert "names no mechanism" in response.content.decode()
    assert not incident.causes.exists()


def test_provider_cannot_sign_off_for_the_buyer_on_the_page(world, login, incident):
    walk(world, incident, "in_review")
    client = login(world.provider.owner)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Sign off for" not in page
    response = client.post(f"/incidents/{incident.pk}/sign-off/", {"version": incident.version})
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.signed_off_at is None


def test_stale_edit_is_refused_and_the_newer_version_shown(world, login, incident):
    other = login(world.buyer.member)
    other.post(f"/incidents/{incident.pk}/edit/", {"title": "Their title", "description": "Theirs",
                                                    "version": 1})
    mine = login(world.provider.member)
    response = mine.post(f"/incidents/{incident.pk}/edit/", {"title": "My title", "description": "Mine",
                                                             "version": 1})
    assert response.status_code == 409
    text = response.content.decode()
    assert "Someone else saved this incident" in text and "Their title" in text and "My title" in text
    incident.refresh_from_db()
    assert incident.title == "Their title"


def test_illegal_move_on_the_page_says_why(world, login, incident):
    client = login(world.provider.member)
    response = client.post(f"/incidents/{incident.pk}/advance/", {"to": "in_review",
                                                                  "version": incident.version}, follow=True)
    assert "cannot move to in review" in response.content.decode()


def test_postmortem_downloads_as_markdown_and_pdf(world, login, incident):
    walk(world, incident, "closed")
    client = login(world.buyer.viewer)
    md = client.get(f"/incidents/{incident.pk}/postmortem.md")
    assert md.status_code == 200 and b"# Postmortem" in md.content
    assert "attachment" in md["Content-Disposition"]
    pdf = client.get(f"/incidents/{incident.pk}/postmortem.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_open_incident_has_no_postmortem_yet(world, login, incident):
    assert login(world.buyer.member).get(f"/incidents/{incident.pk}/postmortem.md").status_code == 404


def test_engagement_card_shows_open_incidents_and_plans(world, login, plan, incident):
    page = login(world.buyer.member).get(f"/engagements/{world.engagement.pk}/").content.decode()
    assert incident.title in page and "Not exercised in 12 months" in page


def test_plan_page_adds_a_scenario_and_an_exercise(world, login, plan):
    client = login(world.provider.manager)
    response = client.post(f"/resilience/plans/{plan.pk}/scenarios/", {
        "title": "Dialler outage", "detected_by_feeds": "calls", "detected_by_checks": "calls_row_count",
        "response_steps": "Switch to the backup site", "buyer_owner": world.buyer.manager.pk,
        "provider_owner": world.provider.manager.pk})
    assert response.status_code == 302
    client.post(f"/resilience/plans/{plan.pk}/exercises/", {"held_on": "2026-01-05", "result": "partial",
                                                            "gap": "Backup site needs a second line",
                                                            "gap_owner": world.provider.manager.pk,
                                                            "gap_due_on": "2026-02-01"})
    page = client.get(f"/resilience/plans/{plan.pk}/").content.decode()
    assert "Dialler outage" in page and "Backup site needs a second line" in page


def test_exercise_gap_is_marked_done_from_the_plan_page(world, login, plan):
    import datetime as dt

    from sourcewise.resilience import services
    from sourcewise.resilience.models import PreventiveControl

    services.exercise_record(actor=world.buyer.manager, plan=plan, held_on=dt.date(2026, 1, 5), result="partial",
                             gaps=[{"description": "Second dialler line", "owner": world.provider.member,
                                    "due_on": dt.date(2026, 2, 1)}])
    gap = PreventiveControl.objects.get()
    client = login(world.provider.member)
    assert "overdue" in client.get(f"/resilience/plans/{plan.pk}/").content.decode()
    response = client.post(f"/incidents/controls/{gap.pk}/complete/")
    assert response["Location"] == f"/resilience/plans/{plan.pk}/"
    gap.refresh_from_db()
    assert gap.done_at is not None


def test_an_incident_not_acknowledged_in_time_is_flagged(world, login, incident):
    import datetime as dt

    from django.utils import timezone

    client = login(world.buyer.member)
    assert "Acknowledgement overdue" not in client.get("/incidents/").content.decode()
    Incident.objects.filter(pk=incident.pk).update(reported_at=timezone.now() - dt.timedelta(hours=3))
    assert "Acknowledgement overdue" in client.get("/incidents/").content.decode()


def test_incident_history_tab_shows_its_audit_records_and_exports_them(world, login, incident):
    client = login(world.provider.member)
    page = client.get(f"/incidents/{incident.pk}/?tab=history").content.decode()
    assert "resilience.incident_open" in page and "member@northwind.test" in page
    csv = client.get(f"/incidents/{incident.pk}/?tab=history&format=csv")
    assert b"resilience.incident_open" in b"".join(csv.streaming_content)


def test_new_plan_page_refuses_a_bad_tolerance_and_creates_a_good_plan(world, login):
    client = login(world.buyer.manager)
    form = {"engagement": world.engagement.pk, "service": "Outbound calls", "max_disruption_hours": "0",
            "max_customers_affected": "100", "acknowledge_within_hours": "1", "solution_within_hours": "24"}
    response = client.post("/resilience/plans/new/", form)
    assert response.status_code == 422 and "greater than or equal to 1" in response.content.decode()
    response = client.post("/resilience/plans/new/", form | {"max_disruption_hours": "48"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Resilience plan: Outbound calls" in page and "Not exercised in the last 12 months" in page


def test_open_only_filter_hides_closed_incidents(world, login, incident):
    closed = walk(world, incident, "closed")
    from sourcewise.resilience import services

    services.incident_open(actor=world.buyer.member, engagement=world.engagement, title="Dialler outage in Leeds")
    client = login(world.buyer.member)
    page = client.get("/incidents/?open=1").content.decode()
    assert "Dialler outage in Leeds" in page and closed.title not in page
    assert closed.title in client.get("/incidents/").content.decode()


def test_a_hand_reported_incident_can_name_its_scenario_and_is_linked_to_past_ones(world, login, plan):
    scenario = plan.scenarios.get()
    client = login(world.provider.member)
    form = {"engagement": world.engagement.pk, "title": "Segment file not loaded", "scenario": scenario.pk}
    first = client.post("/incidents/new/", form)
    second = client.post("/incidents/new/", form | {"title": "Dialler used an old list"})
    assert first.status_code == second.status_code == 302
    latest = Incident.objects.order_by("-pk").first()
    assert latest.scenario == scenario and latest.resembles.get().reason == "same failure scenario"
    assert "same failure scenario" in client.get(second["Location"]).content.decode()


def test_the_control_form_offers_the_engagements_feeds(world, login, incident, contacts_feed):
    from sourcewise.monitoring.models import Feed

    private = Feed.objects.create(engagement=world.private_engagement, name="Private feed", slug="private")
    client = login(world.provider.member)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert '<select name="feed"' in page and f'<option value="{contacts_feed.pk}">Contacts (contacts)</option>' in page
    assert "Private feed" not in page
    form = {"description": "Check the segment of every contact", "owner": world.provider.manager.pk,
            "due_on": "2030-01-31", "kind": "new_check", "check": "{dataset: contacts, not_null: [segment_id]}"}
    refused = client.post(f"/incidents/{incident.pk}/controls/", {**form, "feed": private.pk}, follow=True)
    assert "Choose one of this engagement&#x27;s feeds" in refused.content.decode()
    missing = client.post(f"/incidents/{incident.pk}/controls/", form, follow=True)
    assert "Choose the feed whose suite gets the check." in missing.content.decode()
    assert not incident.controls.exists()
    client.post(f"/incidents/{incident.pk}/controls/", {**form, "feed": contacts_feed.pk})
    control = incident.controls.get()
    assert control.feed_name == "contacts" and control.check_spec["not_null"] == ["segment_id"]


def test_a_scenario_is_edited_on_its_page_and_a_stale_edit_shows_the_newer_version(world, login, plan):
    scenario = plan.scenarios.get()
    client = login(world.provider.member)
    plan_page = client.get(plan.get_absolute_url()).content.decode()
    assert f'href="/resilience/scenarios/{scenario.pk}/edit/"' in plan_page
    form = client.get(f"/resilience/scenarios/{scenario.pk}/edit/")
    assert form.status_code == 200 and "contact_in_target_segment" in form.content.decode()
    data = {"title": "Segments arrive stale", "detected_by_feeds": "contacts",
            "detected_by_checks": "contact_in_target_segment", "response_steps": "Stop the campaign",
            "buyer_owner": world.buyer.manager.pk, "provider_owner": world.provider.manager.pk, "version": 1}
    saved = client.post(f"/resilience/scenarios/{scenario.pk}/edit/", data)
    assert saved.status_code == 302 and saved["Location"] == plan.get_absolute_url()
    stale = login(world.buyer.member).post(f"/resilience/scenarios/{scenario.pk}/edit/",
                                           {**data, "title": "My older title"})
    text = stale.content.decode()
    assert stale.status_code == 409 and "Someone else saved this scenario" in text
    assert "The newer version (version 2)" in text and "Segments arrive stale" in text and "My older title" in text
    bad = client.post(f"/resilience/scenarios/{scenario.pk}/edit/", {**data, "version": 2, "response_steps": " "})
    assert bad.status_code == 422
    scenario.refresh_from_db()
    assert scenario.title == "Segments arrive stale" and scenario.version == 2


def test_deleting_a_scenario_on_the_page_is_refused_while_incidents_refer_to_it(world, login, plan):
    scenario = plan.scenarios.get()
    from sourcewise.resilience import services

    services.incident_open(actor=world.buyer.member, engagement=world.engagement, title="It failed",
                            scenario=scenario)
    client = login(world.buyer.member)
    refused = client.post(f"/resilience/scenarios/{scenario.pk}/delete/", {"version": 1}, follow=True)
    assert "1 incident refers to this scenario" in refused.content.decode()
    assert plan.scenarios.exists()
    Incident.objects.all().delete()
    assert login(world.buyer.viewer).post(f"/resilience/scenarios/{scenario.pk}/delete/").status_code == 403
    assert login(world.outsider.manager).post(f"/resilience/scenarios/{scenario.pk}/delete/").status_code == 404
    assert plan.scenarios.exists()
    client = login(world.buyer.member)
    done = client.post(f"/resilience/scenarios/{scenario.pk}/delete/", {"version": 1}, follow=True)
    assert "deleted" in done.content.decode() and not plan.scenarios.exists()


def test_an_exercise_is_edited_and_deleted_on_the_page(world, login, plan):
    import datetime as dt

    from sourcewise.resilience import services

    day = dt.date.today() - dt.timedelta(days=3)
    exercise = services.exercise_record(actor=world.buyer.member, plan=plan, held_on=day, result="passed")
    client = login(world.provider.member)
    assert f'href="/resilience/exercises/{exercise.pk}/edit/"' in client.get(plan.get_absolute_url()).content.decode()
    saved = client.post(f"/resilience/exercises/{exercise.pk}/edit/",
                        {"held_on": day.isoformat(), "result": "failed", "notes": "Nobody answered", "version": 1})
    assert saved.status_code == 302
    stale = client.post(f"/resilience/exercises/{exercise.pk}/edit/",
                        {"held_on": day.isoformat(), "result": "passed", "version": 1})
    assert stale.status_code == 409 and "Nobody answered" in stale.content.decode()
    gapped = services.exercise_record(actor=world.buyer.member, plan=plan, held_on=day, result="partial",
                                      gaps=[{"description": "Call list", "owner": world.buyer.member, "due_on": day}])
    refused = client.post(f"/resilience/exercises/{gapped.pk}/delete/", follow=True)
    assert "1 action came from this exercise&#x27;s gaps" in refused.content.decode()
    client.post(f"/resilience/exercises/{exercise.pk}/delete/", {"version": 2})
    assert list(plan.exercises.all()) == [gapped]
