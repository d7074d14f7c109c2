"""The resilience API through a real client with real tokens: the story, and refusals."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from sourcewise.resilience.models import Incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, world):
    from sourcewise.accounts.services import api_token_create

    def call(user, org, method, path, body=None):
        _token, secret = api_token_create(actor=user, organization=org, name="t")
        return client.generic(method, f"/api/v1{path}", json.dumps(body) if body is not None else "",
                              content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")

    return call


def test_incident_story_through_the_api(world, api, plan, contacts_feed):
    b, p = (world.buyer, world.buyer.organization), (world.provider, world.provider.organization)
    r = api(b[0].member, b[1], "POST", "/incidents", {
        "engagement_id": world.engagement.pk, "title": "Calls outside the targeted segments",
        "affected_customers": ["C-1", "C-2"]})
    assert r.status_code == 201, r.content
    inc = r.json()
    assert inc["source"] == "api" and inc["status"] == "reported" and inc["plan_id"] == plan.pk
    iid = inc["id"]
    r = api(p[0].manager, p[1], "POST", f"/incidents/{iid}/acknowledge", {
        "version": inc["version"], "statement": "We own this and we are sorry for the calls.",
        "caused_by": "provider"})
    assert r.status_code == 200 and r.json()["owned_toward_customers_by"] == "buyer"
    assert "Northwind Bank is sorry" in r.json()["customer_message"]
    version = r.json()["version"]
    r = api(p[0].member, p[1], "POST", f"/incidents/{iid}/advance", {"version": version, "to": "investigating"})
    assert r.status_code == 200
    version = r.json()["version"]
    r = api(p[0].member, p[1], "POST", f"/incidents/{iid}/causes",
            {"kind": "root", "category": "technology", "mechanism": "computer error"})
    assert r.status_code == 422
    assert "names no mechanism" in r.json()["detail"][0]["msg"]
    assert r.json()["detail"][0]["loc"] == ["body", "mechanism"]
    r = api(p[0].member, p[1], "POST", f"/incidents/{iid}/causes", {
        "kind": "root", "category": "integration",
        "mechanism": "The segment export kept last month's file because its date filter used UTC"})
    assert r.status_code == 201
    r = api(p[0].manager, p[1], "POST", f"/incidents/{iid}/options", {
        "title": "Fix the filter", "cost": "1 day", "time": "2 days", "risk": "low", "tradeoffs": "none"})
    option_id = r.json()["options"][0]["id"]
    r = api(b[0].member, b[1], "POST", f"/incident-options/{option_id}/comments", {"text": "Fine by us"})
    assert r.status_code == 201 and r.json()["options"][0]["comments"][0]["side"] == "buyer"
    r = api(p[0].owner, p[1], "POST", f"/incidents/{iid}/decide", {"version": version, "option_id": option_id})
    assert r.status_code == 403
    r = api(b[0].manager, b[1], "POST", f"/incidents/{iid}/decide", {"version": version, "option_id": option_id})
    assert r.status_code == 200 and r.json()["status"] == "solution_agreed"
    version = r.json()["version"]
    r = api(p[0].member, p[1], "POST", f"/incidents/{iid}/controls", {
        "description": "Check targeting", "owner": "manager@dialwell.test", "due_on": "2030-01-01",
        "kind": "new_check", "feed": contacts_feed.pk,
        "check": {"dataset": "contacts", "not_null": ["segment_id"]}})
    assert r.status_code == 201 and r.json()["controls"][0]["check"]["not_null"] == ["segment_id"]
    assert r.json()["controls"][0]["feed_name"] == "contacts"
    for to in ("remediating", "in_review"):
        r = api(p[0].member, p[1], "POST", f"/incidents/{iid}/advance", {"version": version, "to": to})
        version = r.json()["version"]
    r = api(p[0].manager, p[1], "POST", f"/incidents/{iid}/sign-off", {"version": version})
    assert r.status_code == 403 and "Only a manager of Northwind" in r.json()["detail"]
    r = api(b[0].manager, b[1], "POST", f"/incidents/{iid}/sign-off", {"version": version})
    version = r.json()["version"]
    r = api(p[0].manager, p[1], "POST", f"/incidents/{iid}/close", {"version": version, "lessons": "Check first"})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = api(b[0].viewer, b[1], "GET", f"/incidents/{iid}/postmortem")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/markdown")
    assert b"## Lessons" in r.content


def test_stale_version_answers_409_and_changes_nothing(world, api, incident):
    org = world.buyer.organization
    r = api(world.buyer.member, org, "PATCH", f"/incidents/{incident.pk}", {"version": 1, "title": "New title"})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = api(world.buyer.manager, org, "PATCH", f"/incidents/{incident.pk}", {"version": 1, "title": "Other"})
    assert r.status_code == 409 and "version 2" in r.json()["detail"]
    assert Incident.objects.get().title == "New title"


def test_illegal_transition_answers_422_with_the_reason(world, api, incident):
    r = api(world.provider.member, world.provider.organization, "POST", f"/incidents/{incident.pk}/advance",
            {"version": incident.version, "to": "in_review"})
    assert r.status_code == 422 and "cannot move to in review" in r.json()["detail"][0]["msg"]


def test_outsider_gets_404_and_viewer_403(world, api, incident, plan):
    r = api(world.outsider.owner, world.outsider.organization, "GET", f"/incidents/{incident.pk}")
    assert r.status_code == 404
    r = api(world.outsider.owner, world.outsider.organization, "GET", "/incidents")
    assert r.json()["count"] == 0
    r = api(world.buyer.viewer, world.buyer.organization, "PATCH", f"/resilience/plans/{plan.pk}",
            {"version": plan.version, "service": "X"})
    assert r.status_code == 403


def test_plan_api_flags_a_plan_never_exercised(world, api):
    r = api(world.buyer.manager, world.buyer.organization, "POST", "/resilience/plans", {
        "engagement_id": world.engagement.pk, "service": "Collections", "max_disruption_hours": 4,
        "max_customers_affected": 20})
    assert r.status_code == 201 and r.json()["exercise_overdue"] is True
    pid = r.json()["id"]
    r = api(world.provider.member, world.provider.organization, "POST", f"/resilience/plans/{pid}/scenarios", {
        "title": "Dialler outage", "detected_by_feeds": ["calls"], "detected_by_checks": ["row_count"],
        "response_steps": "Switch site", "buyer_owner": "manager@northwind.test",
        "provider_owner": "nobody@nowhere.test"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "provider_owner"]


def test_exercise_gaps_controls_and_the_check_seam_through_the_api(world, api, plan, incident, monkeypatch,
                                                                   contacts_feed):
    from sourcewise.resilience import services

    org = world.provider.organization
    r = api(world.provider.manager, org, "POST", f"/resilience/plans/{plan.pk}/exercises", {
        "held_on": "2026-03-01", "result": "partial",
        "gaps": [{"description": "Nobody had the executives' numbers", "owner": "member@northwind.test",
                  "due_on": "2026-04-01"}]})
    assert r.status_code == 201 and r.json()["last_exercised_on"] == "2026-03-01"
    r = api(world.provider.member, org, "POST", f"/incidents/{incident.pk}/controls", {
        "description": "Segment check", "owner": "manager@dialwell.test", "due_on": "2030-01-01",
        "kind": "new_check", "feed": "contacts", "check": {"dataset": "contacts", "nonsense": 1}})
    assert r.status_code == 422 and "unknown key 'nonsense'" in r.json()["detail"][0]["msg"]
    # The feed by name: an unknown one is refused naming it and the engagement's feeds.
    r = api(world.provider.member, org, "POST", f"/incidents/{incident.pk}/controls", {
        "description": "Segment check", "owner": "manager@dialwell.test", "due_on": "2030-01-01",
        "kind": "new_check", "feed": "Call recordings", "check": {"dataset": "contacts", "not_null": ["segment"]}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "feed"]
    assert "No feed \u201cCall recordings\u201d" in r.json()["detail"][0]["msg"]
    assert "contacts (Contacts)" in r.json()["detail"][0]["msg"]
    # Another engagement's feed, by id, is unknown here too (and not named).
    from sourcewise.monitoring.models import Feed

    # (the private engagement is only proposed: its feed is made directly)
    private = Feed.objects.create(engagement=world.private_engagement, name="Private feed", slug="private")
    r = api(world.provider.member, org, "POST", f"/incidents/{incident.pk}/controls", {
        "description": "Segment check", "owner": "manager@dialwell.test", "due_on": "2030-01-01",
        "kind": "new_check", "feed": private.pk, "check": {"dataset": "contacts", "not_null": ["segment"]}})
    assert r.status_code == 422 and "Private feed" not in r.json()["detail"][0]["msg"]
    assert not incident.controls.exists()
    r = api(world.provider.member, org, "POST", f"/incidents/{incident.pk}/controls", {
        "description": "Segment check", "owner": "manager@dialwell.test", "due_on": "2030-01-01",
        "kind": "new_check", "feed": "Contacts", "check": {"dataset": "contacts", "not_null": ["segment"]}})
    assert r.status_code == 201, r.content
    control_id = r.json()["controls"][0]["id"]
    monkeypatch.setattr(services, "check_applier", lambda **kw: f"Added to {kw['feed_name']}.")
    r = api(world.buyer.viewer, world.buyer.organization, "POST", f"/preventive-controls/{control_id}/apply-check")
    assert r.status_code == 403
    r = api(world.buyer.member, world.buyer.organization, "POST", f"/preventive-controls/{control_id}/apply-check")
    assert r.status_code == 200 and r.json()["applied_note"] == "Added to contacts."


def test_reopen_through_the_api_needs_a_reason_and_the_current_version(world, api, incident):
    from .conftest import walk

    closed = walk(world, incident, "closed")
    org = world.buyer.organization
    r = api(world.buyer.member, org, "POST", f"/incidents/{closed.pk}/reopen",
            {"version": closed.version - 1, "reason": "It came back"})
    assert r.status_code == 409
    r = api(world.buyer.member, org, "POST", f"/incidents/{closed.pk}/reopen", {"version": closed.version, "reason": " "})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
    r = api(world.buyer.member, org, "POST", f"/incidents/{closed.pk}/reopen",
            {"version": closed.version, "reason": "It came back"})
    assert r.status_code == 200 and r.json()["status"] == "investigating"
    r = api(world.buyer.member, org, "GET", "/incidents?open=true")
    assert [i["id"] for i in r.json()["items"]] == [closed.pk]


def test_webhook_is_set_by_a_manager_and_its_secret_never_shown(world, api):
    org = world.buyer.organization
    body = {"url": "https://hooks.northwind.test/in", "secret": "sixteen characters or more"}
    assert api(world.buyer.member, org, "PUT", "/resilience/webhook", body).status_code == 403
    assert api(world.buyer.manager, org, "GET", "/resilience/webhook").status_code == 404
    r = api(world.buyer.manager, org, "PUT", "/resilience/webhook", body)
    assert r.status_code == 200 and r.json()["url"] == body["url"]
    r = api(world.buyer.manager, org, "GET", "/resilience/webhook")
    assert r.status_code == 200 and body["secret"] not in r.content.decode()
    r = api(world.provider.manager, world.provider.organization, "GET", "/resilience/webhook")
    assert r.status_code == 404  # another organisation's webhook is not theirs


def test_the_openapi_document_lists_the_resilience_routes(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    ours = {path: set(methods) for path, methods in paths.items()
            if path.startswith(("/api/v1/incident", "/api/v1/resilience", "/api/v1/preventive-controls"))}
    assert ours == {
        "/api/v1/resilience/plans": {"get", "post"},
        "/api/v1/resilience/plans/{plan_id}": {"get", "patch"},
        "/api/v1/resilience/plans/{plan_id}/scenarios": {"post"},
        "/api/v1/resilience/plans/{plan_id}/exercises": {"post"},
        "/api/v1/resilience/scenarios/{scenario_id}": {"patch", "delete"},
        "/api/v1/resilience/exercises/{exercise_id}": {"patch", "delete"},
        "/api/v1/resilience/webhook": {"get", "put"},
        "/api/v1/incidents": {"get", "post"},
        "/api/v1/incidents/{incident_id}": {"get", "patch"},
        "/api/v1/incidents/{incident_id}/acknowledge": {"post"},
        "/api/v1/incidents/{incident_id}/advance": {"post"},
        "/api/v1/incidents/{incident_id}/causes": {"post"},
        "/api/v1/incidents/{incident_id}/options": {"post"},
        "/api/v1/incident-options/{option_id}/comments": {"post"},
        "/api/v1/incidents/{incident_id}/decide": {"post"},
        "/api/v1/incidents/{incident_id}/controls": {"post"},
        "/api/v1/preventive-controls/{control_id}/apply-check": {"post"},
        "/api/v1/preventive-controls/{control_id}/complete": {"post"},
        "/api/v1/incidents/{incident_id}/sign-off": {"post"},
        "/api/v1/incidents/{incident_id}/close": {"post"},
        "/api/v1/incidents/{incident_id}/reopen": {"post"},
        "/api/v1/incidents/{incident_id}/postmortem": {"get"},
    }
    assert "409" in paths["/api/v1/incidents/{incident_id}"]["patch"]["responses"]
    assert "409" in paths["/api/v1/resilience/scenarios/{scenario_id}"]["patch"]["responses"]
    assert "409" in paths["/api/v1/resilience/exercises/{exercise_id}"]["patch"]["responses"]


def test_scenarios_and_exercises_are_edited_and_deleted_through_the_api(world, api, plan):
    from sourcewise.resilience import services

    scenario = plan.scenarios.get()
    buyer, org = world.buyer.member, world.buyer.organization
    r = api(buyer, org, "PATCH", f"/resilience/scenarios/{scenario.pk}",
            {"version": 1, "title": "Stale segments", "provider_owner": "member@dialwell.test"})
    assert r.status_code == 200, r.content
    assert r.json()["title"] == "Stale segments" and r.json()["version"] == 2
    assert r.json()["provider_owner"] == "member@dialwell.test"
    r = api(buyer, org, "PATCH", f"/resilience/scenarios/{scenario.pk}", {"version": 1, "title": "Mine"})
    assert r.status_code == 409 and "now version 2" in r.json()["detail"]
    r = api(buyer, org, "PATCH", f"/resilience/scenarios/{scenario.pk}",
            {"version": 2, "buyer_owner": "member@dialwell.test"})
    assert r.status_code == 422 and "not a member of Northwind" in r.json()["detail"][0]["msg"]
    services.incident_open(actor=buyer, engagement=world.engagement, title="It failed", scenario=scenario)
    r = api(buyer, org, "DELETE", f"/resilience/scenarios/{scenario.pk}")
    assert r.status_code == 422 and "1 incident refers to this scenario" in r.content.decode()
    assert api(world.outsider.manager, world.outsider.organization, "DELETE",
               f"/resilience/scenarios/{scenario.pk}").status_code == 404
    exercise = services.exercise_record(actor=buyer, plan=plan, held_on=dt.date(2026, 3, 1), result="passed")
    r = api(world.provider.member, world.provider.organization, "PATCH", f"/resilience/exercises/{exercise.pk}",
            {"version": 1, "result": "partial", "notes": "Slow start"})
    assert r.status_code == 200 and (r.json()["result"], r.json()["version"]) == ("partial", 2)
    r = api(buyer, org, "PATCH", f"/resilience/exercises/{exercise.pk}", {"version": 1, "notes": "x"})
    assert r.status_code == 409
    assert api(world.buyer.viewer, org, "DELETE", f"/resilience/exercises/{exercise.pk}").status_code == 403
    r = api(buyer, org, "DELETE", f"/resilience/exercises/{exercise.pk}?version=2")
    assert r.status_code == 204 and not plan.exercises.exists()
    r = api(buyer, org, "GET", f"/resilience/plans/{plan.pk}")
    assert r.json()["scenarios"][0]["version"] == 2
