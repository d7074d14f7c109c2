"""Co-learning through a real client: pages, the JSON API, the story export."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from sourcewise.accounts import services as accounts
from sourcewise.colearning import services
from sourcewise.colearning.models import Challenge, Idea, Observation, StudyRun

from .conftest import GOOD, HEADER, upload


def _api(client, user, organization):
    _token, secret = accounts.api_token_create(actor=user, organization=organization, name="t")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def _post_json(client, path, body, auth):
    return client.post(path, json.dumps(body), content_type="application/json", **auth)


def test_pages_walk_from_challenge_to_decision(world, login):
    provider = login(world.provider.member, world.provider.organization)
    response = provider.post(f"/co-learning/engagements/{world.engagement.pk}/challenges/new/", {
        "problem": "Reduce the cost of the collections process", "outcome": "Cost down 20%",
        "courage_access": "Shadow the arrears desk", "budget_shadowing_planned": "5000"})
    challenge = Challenge.objects.get()
    assert response.status_code == 302 and response["Location"] == challenge.get_absolute_url()
    page = provider.get(challenge.get_absolute_url()).content.decode()
    assert "Shadow the arrears desk" in page and "5000.00 planned" in page

    response = provider.post(f"/co-learning/challenges/{challenge.pk}/sessions/", {
        "kind": "shadowing", "held_on": "2026-01-12", "title": "Arrears desk", "provider_observers": "Sam"})
    assert response.status_code == 422
    assert "Record the consent" in response.content.decode()

    provider.post(f"/co-learning/challenges/{challenge.pk}/observations/", {
        "persona": "Customer in arrears", "experience": "Feels judged on calls"})
    observation = Observation.objects.get()
    assert observation.author_side == "provider"
    provider.post(f"/co-learning/challenges/{challenge.pk}/insights/", {
        "statement": "Shame stops early payers", "observations": [observation.pk]})
    insight = challenge.insights.get()
    provider.post(f"/co-learning/challenges/{challenge.pk}/ideas/", {
        "title": "Callback slots", "insights": [insight.pk], "expected_impact": "More contacts",
        "effort": "low", "test_proposed": "A/B for a month"})
    idea = Idea.objects.get()

    # The provider cannot decide; the client's manager can.
    response = provider.post(f"/co-learning/ideas/{idea.pk}/decide/", {
        "decision": "declined", "reason": "x", "version": idea.version})
    assert response.status_code == 403
    buyer = login(world.buyer.manager, world.buyer.organization)
    buyer.post(f"/co-learning/ideas/{idea.pk}/decide/", {
        "decision": "on_hold", "revisit_trigger": "After the new dialler is live", "version": idea.version})
    idea.refresh_from_db()
    assert idea.status == "on_hold"
    story = buyer.get(f"/co-learning/challenges/{challenge.pk}/story/?format=md")
    text = story.content.decode()
    assert story["Content-Disposition"].endswith('.md"')
    assert "## Decisions" in text and "On hold: Callback slots" in text and "After the new dialler" in text


def test_study_page_shows_charts_and_keeps_results_on_bad_upload(world, login):
    challenge = services.challenge_create(actor=world.buyer.member, engagement=world.engagement,
                                          problem="Collections cost", outcome="Down")
    study = services.study_create(actor=world.provider.member, challenge=challenge, name="Winter")
    client = login(world.provider.member, world.provider.organization)
    client.post(f"/co-learning/studies/{study.pk}/upload/", {"file": upload(GOOD)})
    page = client.get(f"/co-learning/studies/{study.pk}/").content.decode()
    assert "Right party contact rate" in page and "<polyline" in page
    response = client.post(f"/co-learning/studies/{study.pk}/upload/",
                           {"file": upload(HEADER.replace(",cost", "") + "2026-01-05,A1,r,1,1,1,1,1\n")},
                           follow=True)
    page = response.content.decode()
    assert "missing column: cost" in page and "keeps its previous results" in page
    study.refresh_from_db()
    assert study.current_run.number == 1 and StudyRun.objects.count() == 2


def test_outsider_gets_404_everywhere(world, login, challenge):
    client = login(world.outsider.owner, world.outsider.organization)
    assert client.get(challenge.get_absolute_url()).status_code == 404
    assert client.get(f"/co-learning/challenges/{challenge.pk}/story/?format=md").status_code == 404
    assert challenge.problem not in client.get("/co-learning/").content.decode()


def test_api_challenge_flow_with_conflict_and_errors(world, client, challenge):
    provider = _api(client, world.provider.member, world.provider.organization)
    response = client.get(f"/api/v1/colearning/challenges?engagement_id={world.engagement.pk}", **provider)
    assert [c["problem"] for c in response.json()["items"]] == [challenge.problem]
    response = client.patch(f"/api/v1/colearning/challenges/{challenge.pk}",
                            json.dumps({"version": 1, "budget_shadowing_spent": "2500"}),
                            content_type="application/json", **provider)
    assert response.status_code == 200 and response.json()["version"] == 2
    response = client.patch(f"/api/v1/colearning/challenges/{challenge.pk}",
                            json.dumps({"version": 1, "outcome": "x"}),
                            content_type="application/json", **provider)
    assert response.status_code == 409

    response = _post_json(client, f"/api/v1/colearning/challenges/{challenge.pk}/observations",
                          {"persona": "", "experience": "x"}, provider)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "persona"]
    obs = _post_json(client, f"/api/v1/colearning/challenges/{challenge.pk}/observations",
                     {"persona": "Agent", "experience": "Reads a script", "tags": ["script"]}, provider).json()
    insight = _post_json(client, f"/api/v1/colearning/challenges/{challenge.pk}/insights",
                         {"statement": "Scripts feel cold", "observation_ids": [obs["id"]]}, provider).json()
    idea = _post_json(client, f"/api/v1/colearning/challenges/{challenge.pk}/ideas",
                      {"title": "Warmer script", "insight_ids": [insight["id"]], "expected_impact": "Kept promises up",
                       "test_proposed": "Two desks for a month"}, provider)
    assert idea.status_code == 201
    idea = idea.json()
    decision = {"decision": "pursued", "version": idea["version"], "project_owner": "Viv",
                "milestones": [{"title": "Pilot", "due_on": "2026-04-01"}]}
    assert _post_json(client, f"/api/v1/colearning/ideas/{idea['id']}/decision", decision, provider).status_code == 403
    buyer = _api(client, world.buyer.manager, world.buyer.organization)
    decided = _post_json(client, f"/api/v1/colearning/ideas/{idea['id']}/decision", decision, buyer)
    assert decided.status_code == 200
    assert decided.json()["status"] == "pursued" and decided.json()["milestones"][0]["title"] == "Pilot"
    stale = _post_json(client, f"/api/v1/colearning/ideas/{idea['id']}/decision", decision, buyer)
    assert stale.status_code == 409


def test_api_upload_names_bad_columns(world, client, challenge):
    provider = _api(client, world.provider.member, world.provider.organization)
    study = _post_json(client, f"/api/v1/colearning/challenges/{challenge.pk}/studies",
                       {"name": "Winter", "grain": "week",
                        "metrics": [{"name": "per_call", "formula": "sum(amount_collected) / count()"}]},
                       provider).json()
    ok = client.post(f"/api/v1/colearning/studies/{study['id']}/upload", {"file": upload(GOOD)}, **provider)
    assert ok.status_code == 201 and ok.json()["status"] == "succeeded"
    bad = client.post(f"/api/v1/colearning/studies/{study['id']}/upload",
                      {"file": upload(HEADER.replace("account_id", "acct") + "2026-01-05,A1,r,1,1,1,x,1,1\n")},
                      **provider)
    assert bad.json()["status"] == "failed"
    assert "missing column: account_id" in bad.json()["errors"][0]
    assert "handle_seconds should be a number" in bad.json()["errors"][0]
    current = client.get(f"/api/v1/colearning/studies/{study['id']}", **provider).json()
    assert current["current_run"]["number"] == 1
    assert "per_call" in current["results"]["metrics"]


@pytest.mark.parametrize("mode", ["text", "semantic"])
def test_api_library_share_requires_consent(world, client, challenge, mode):
    provider = _api(client, world.provider.member, world.provider.organization)
    learning = _post_json(client, f"/api/v1/colearning/challenges/{challenge.pk}/learnings",
                          {"title": "Debt recovery calls", "body": "Northwind Bank debtors answer in the evening"},
                          provider).json()
    refused = client.post(f"/api/v1/colearning/learnings/{learning['id']}/share", **provider)
    assert refused.status_code == 422 and "not consented" in refused.content.decode()
    buyer = _api(client, world.buyer.manager, world.buyer.organization)
    assert client.post(f"/api/v1/colearning/learnings/{learning['id']}/consent", **buyer).status_code == 200
    shared = client.post(f"/api/v1/colearning/learnings/{learning['id']}/share", **provider)
    assert shared.status_code == 201 and "Northwind" not in shared.content.decode()
    q = "debtors" if mode == "text" else "customers owing money"
    found = client.get(f"/api/v1/colearning/library?q={q}&mode={mode}", **provider).json()
    assert [f["title"] for f in found] == ["Debt recovery calls"]
    outsider = _api(client, world.outsider.owner, world.outsider.organization)
    assert client.get(f"/api/v1/colearning/library?q={q}&mode={mode}", **outsider).json() == []


def test_engagement_card_story_page_and_milestones(world, login, challenge):
    observation = services.observation_create(actor=world.provider.member, challenge=challenge,
                                              persona="Agent", experience="Busy")
    insight = services.insight_create(actor=world.provider.member, challenge=challenge,
                                      statement="Agents are overloaded", observations=[observation])
    idea = services.idea_create(actor=world.provider.member, challenge=challenge, title="Fewer calls",
                                insights=[insight], expected_impact="x", test_proposed="y")
    services.idea_decide(actor=world.buyer.manager, idea=idea, decision="pursued", project_owner="Viv",
                         milestones=[("Pilot", dt.date(2026, 4, 1))])
    milestone = idea.milestones.get()
    client = login(world.provider.member, world.provider.organization)
    card = client.get(f"/engagements/{world.engagement.pk}/").content.decode()
    assert challenge.problem in card and "1 observation, 1 idea" in card
    page = client.get(f"/co-learning/challenges/{challenge.pk}/story/").content.decode()
    assert "5. Decisions" in page and "owner Viv" in page and "Agents are overloaded" in page

    viewer = login(world.buyer.viewer, world.buyer.organization)
    assert viewer.post(f"/co-learning/milestones/{milestone.pk}/done/").status_code == 403
    client = login(world.provider.member, world.provider.organization)
    client.post(f"/co-learning/milestones/{milestone.pk}/done/")
    milestone.refresh_from_db()
    assert milestone.done
    assert "Pilot (2026-04-01, done)" in client.get(
        f"/co-learning/challenges/{challenge.pk}/story/?format=md").content.decode()


def test_api_study_metrics_put(world, client, challenge):
    provider = _api(client, world.provider.member, world.provider.organization)
    study = _post_json(client, f"/api/v1/colearning/challenges/{challenge.pk}/studies", {"name": "W"},
                       provider).json()
    client.post(f"/api/v1/colearning/studies/{study['id']}/upload", {"file": upload(GOOD)}, **provider)
    current = client.get(f"/api/v1/colearning/studies/{study['id']}", **provider).json()
    body = {"version": current["version"], "metrics": [{"name": "avg_cost", "formula": "avg(cost)"}]}
    response = client.put(f"/api/v1/colearning/studies/{study['id']}/metrics", json.dumps(body),
                          content_type="application/json", **provider)
    assert response.status_code == 200 and "avg_cost" in response.json()["results"]["metrics"]
    stale = client.put(f"/api/v1/colearning/studies/{study['id']}/metrics", json.dumps(body),
                       content_type="application/json", **provider)
    assert stale.status_code == 409
    bad = client.put(f"/api/v1/colearning/studies/{study['id']}/metrics",
                     json.dumps({"version": response.json()["version"],
                                 "metrics": [{"name": "x", "formula": "sum(account_id)"}]}),
                     content_type="application/json", **provider)
    assert bad.status_code == 422 and "needs a number" in bad.content.decode()


def test_challenge_page_queries_do_not_grow_with_its_rows(world, login, challenge):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(world.buyer.manager, world.buyer.organization)

    def add_round(n):
        session = services.research_session_create(
            actor=world.provider.member, challenge=challenge, kind="interview", held_on=dt.date(2026, 1, n),
            title=f"Session {n}", provider_observers="Sam", consent=True,
            attachments=[upload("a", f"a{n}.txt"), upload("b", f"b{n}.txt")])
        obs = services.observation_create(actor=world.provider.member, challenge=challenge, session=session,
                                          persona=f"Persona {n}", experience="x", tags="a, b",
                                          attachments=[upload("c", f"c{n}.txt")])
        insight = services.insight_create(actor=world.provider.member, challenge=challenge,
                                          statement=f"Insight {n}", observations=[obs])
        idea = services.idea_create(actor=world.provider.member, challenge=challenge, title=f"Idea {n}",
                                    insights=[insight], expected_impact="x", test_proposed="y")
        services.idea_decide(actor=world.buyer.manager, idea=idea, decision="pursued", project_owner="V",
                             milestones=[("M", None)])
        services.idea_test_create(actor=world.buyer.member, idea=idea, hypothesis="h", metric="m")
        services.learning_create(actor=world.provider.member, challenge=challenge, title=f"L {n}", body="b")

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        return len(queries)

    story = f"/co-learning/challenges/{challenge.pk}/story/"
    add_round(1)
    one, one_story = count(challenge.get_absolute_url()), count(story)
    add_round(2)
    add_round(3)
    assert count(challenge.get_absolute_url()) == one
    assert count(story) == one_story  # the story lists every file too


def test_api_session_attachments_add_download_remove(world, client, login, challenge, tmp_path):
    provider = _api(client, world.provider.member, world.provider.organization)
    refused = _post_json(client, f"/api/v1/colearning/challenges/{challenge.pk}/sessions",
                         {"kind": "interview", "held_on": "2026-02-01", "title": "Call-back interviews",
                          "provider_observers": "Sam"}, provider)
    assert refused.status_code == 422 and "consent" in refused.content.decode()
    session = _post_json(client, f"/api/v1/colearning/challenges/{challenge.pk}/sessions",
                         {"kind": "interview", "held_on": "2026-02-01", "title": "Call-back interviews",
                          "provider_observers": "Sam", "consent": True, "tags": ["Timing"]}, provider).json()
    assert session["tags"] == ["timing"] and session["attachments"] == []
    first = client.post(f"/api/v1/colearning/sessions/{session['id']}/attachments",
                        {"file": upload("consent forms", "consent.txt")}, **provider)
    assert first.status_code == 201
    assert first.json()["name"] == "consent.txt" and first.json()["author_side"] == "provider"
    assert first.json()["author"] == world.provider.member.display_name
    second = client.post(f"/api/v1/colearning/sessions/{session['id']}/attachments",
                         {"file": upload("desk photo", "desk.jpg")}, **provider)
    assert second.status_code == 201
    listed = client.get(f"/api/v1/colearning/challenges/{challenge.pk}/sessions", **provider).json()
    assert [a["name"] for a in listed[0]["attachments"]] == ["consent.txt", "desk.jpg"]

    empty = client.post(f"/api/v1/colearning/sessions/{session['id']}/attachments",
                        {"file": upload("", "empty.txt")}, **provider)
    assert empty.status_code == 422 and "empty" in empty.content.decode()

    buyer = _api(client, world.buyer.member, world.buyer.organization)
    download = client.get(first.json()["download_url"], **buyer)
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"consent forms"
    outsider = _api(client, world.outsider.owner, world.outsider.organization)
    assert client.get(first.json()["download_url"], **outsider).status_code == 404
    assert client.delete(f"/api/v1/colearning/attachments/{first.json()['id']}", **outsider).status_code == 404
    # The buyer did not add it: it may not remove the provider's file.
    other_side = client.delete(f"/api/v1/colearning/attachments/{first.json()['id']}", **buyer)
    assert other_side.status_code == 403 and "provider" in other_side.json()["detail"]
    removed = client.delete(f"/api/v1/colearning/attachments/{first.json()['id']}", **provider)
    assert removed.status_code == 204
    assert client.get(first.json()["download_url"], **provider).status_code == 404
    assert client.get(f"/api/v1/colearning/attachments/{second.json()['id']}", **buyer).json()["name"] == "desk.jpg"


def test_api_observation_attachment_and_limit(world, client, challenge, settings):
    provider = _api(client, world.provider.member, world.provider.organization)
    observation = _post_json(client, f"/api/v1/colearning/challenges/{challenge.pk}/observations",
                             {"persona": "Agent", "experience": "Long calls"}, provider).json()
    assert observation["attachments"] == []
    settings.UPLOAD_MAX_BYTES = 10
    big = client.post(f"/api/v1/colearning/observations/{observation['id']}/attachments",
                      {"file": upload("x" * 11, "transcript.txt")}, **provider)
    assert big.status_code == 422 and "larger than the limit of 10" in big.content.decode()
    settings.UPLOAD_MAX_BYTES = 1000
    ok = client.post(f"/api/v1/colearning/observations/{observation['id']}/attachments",
                     {"file": upload("x" * 11, "transcript.txt")}, **provider)
    assert ok.status_code == 201
    listed = client.get(f"/api/v1/colearning/challenges/{challenge.pk}/observations", **provider).json()
    assert [a["size_bytes"] for a in listed[0]["attachments"]] == [11]
    viewer = _api(client, world.buyer.viewer, world.buyer.organization)
    assert client.post(f"/api/v1/colearning/observations/{observation['id']}/attachments",
                       {"file": upload("v", "v.txt")}, **viewer).status_code == 403


def test_pages_attach_download_and_remove(world, login, challenge):
    from sourcewise.colearning.models import Attachment

    provider = login(world.provider.member, world.provider.organization)
    response = provider.post(f"/co-learning/challenges/{challenge.pk}/sessions/", {
        "kind": "shadowing", "held_on": "2026-01-12", "title": "Arrears desk", "provider_observers": "Sam",
        "consent": "on", "attachments": [upload("notes", "notes.txt"), upload("photo", "desk.jpg")]})
    assert response.status_code == 302
    session = challenge.sessions.get()
    assert sorted(session.attachments.values_list("name", flat=True)) == ["desk.jpg", "notes.txt"]
    response = provider.post(f"/co-learning/challenges/{challenge.pk}/observations/", {
        "persona": "Agent", "experience": "Reads the wrong script", "session": session.pk,
        "attachments": [upload("script text", "script.txt")]})
    assert response.status_code == 302
    observation = challenge.observations.get()
    assert observation.attachments.get().name == "script.txt"

    page = provider.get(challenge.get_absolute_url()).content.decode()
    notes = session.attachments.get(name="notes.txt")
    assert f"/co-learning/attachments/{notes.pk}/" in page and "script.txt" in page
    assert "Attach a file<span class=\"visually-hidden\"> to the observation: Agent</span>" in page

    response = provider.post(f"/co-learning/sessions/{session.pk}/attachments/",
                             {"file": upload("", "empty.txt")}, follow=True)
    assert "The file was not attached: The submitted file is empty." in response.content.decode()
    response = provider.post(f"/co-learning/observations/{observation.pk}/attachments/",
                             {"file": upload("more", "more.txt")}, follow=True)
    assert "Attached more.txt." in response.content.decode()
    assert observation.attachments.count() == 2

    buyer = login(world.buyer.viewer, world.buyer.organization)
    download = buyer.get(f"/co-learning/attachments/{notes.pk}/")
    assert b"".join(download.streaming_content) == b"notes"
    assert 'filename="notes.txt"' in download["Content-Disposition"]
    # A viewer sees the files but offers no way to change them.
    viewer_page = buyer.get(challenge.get_absolute_url()).content.decode()
    assert "Attach a file" not in viewer_page and "Remove<" not in viewer_page
    assert buyer.post(f"/co-learning/attachments/{notes.pk}/remove/").status_code == 403
    outsider = login(world.outsider.owner, world.outsider.organization)
    assert outsider.get(f"/co-learning/attachments/{notes.pk}/").status_code == 404
    assert outsider.post(f"/co-learning/attachments/{notes.pk}/remove/").status_code == 404

    provider = login(world.provider.member, world.provider.organization)
    response = provider.post(f"/co-learning/attachments/{notes.pk}/remove/", follow=True)
    assert "Removed notes.txt." in response.content.decode()
    assert not Attachment.objects.filter(pk=notes.pk).exists()


def test_study_page_polls_while_a_large_upload_is_computed(world, login, challenge, settings):
    settings.COLEARNING_INLINE_MAX_BYTES = 10
    study = services.study_create(actor=world.provider.member, challenge=challenge, name="Big")
    client = login(world.provider.member, world.provider.organization)
    response = client.post(f"/co-learning/studies/{study.pk}/upload/", {"file": upload(GOOD)}, follow=True)
    page = response.content.decode()
    assert "being computed" in page and "Computing 1 upload" in page and 'hx-trigger="every 3s"' in page
    services.study_run_compute(run_id=StudyRun.objects.get().pk)
    page = client.get(f"/co-learning/studies/{study.pk}/").content.decode()
    assert "every 3s" not in page and "Right party contact rate" in page


def test_viewer_is_told_before_filling_the_form(world, login):
    viewer = login(world.buyer.viewer, world.buyer.organization)
    response = viewer.get(f"/co-learning/engagements/{world.engagement.pk}/challenges/new/")
    assert response.status_code == 403 and "member role or higher" in response.content.decode()
    assert "Start a challenge" not in viewer.get("/co-learning/").content.decode()


def _idea_with_test(world, challenge):
    obs = services.observation_create(actor=world.provider.member, challenge=challenge,
                                      persona="Agent", experience="Long calls")
    insight = services.insight_create(actor=world.provider.member, challenge=challenge,
                                      statement="Calls are too long", observations=[obs])
    idea = services.idea_create(actor=world.provider.member, challenge=challenge, title="Shorter script",
                                insights=[insight], expected_impact="Shorter calls", test_proposed="A/B")
    test = services.idea_test_create(actor=world.provider.member, idea=idea, hypothesis="A shorter script helps",
                                     metric="average_handle_time")
    return idea, test


def test_page_edits_an_idea_test_and_refuses_a_stale_edit(world, login, challenge):
    idea, test = _idea_with_test(world, challenge)
    client = login(world.buyer.member, world.buyer.organization)
    page = client.get(challenge.get_absolute_url()).content.decode()
    assert f"/co-learning/tests/{test.pk}/edit/" in page
    form = client.get(f"/co-learning/tests/{test.pk}/edit/")
    assert form.status_code == 200 and 'name="version" value="1"' in form.content.decode()

    missing = client.post(f"/co-learning/tests/{test.pk}/edit/", {
        "hypothesis": test.hypothesis, "metric": test.metric, "result": "", "outcome": "refuted", "version": 1})
    assert missing.status_code == 422 and "Record the result that supports" in missing.content.decode()
    saved = client.post(f"/co-learning/tests/{test.pk}/edit/", {
        "hypothesis": test.hypothesis, "metric": test.metric, "result": "No change in handle time",
        "outcome": "refuted", "version": 1})
    assert saved.status_code == 302 and saved["Location"].endswith(f"#idea-{idea.pk}")
    test.refresh_from_db()
    assert (test.outcome, test.version) == ("refuted", 2)

    stale = client.post(f"/co-learning/tests/{test.pk}/edit/", {
        "hypothesis": "Overwritten", "metric": test.metric, "result": "x", "outcome": "refuted", "version": 1})
    assert stale.status_code == 409
    assert "Someone else saved this test after you opened it" in stale.content.decode()
    test.refresh_from_db()
    assert test.hypothesis == "A shorter script helps"

    viewer = login(world.buyer.viewer, world.buyer.organization)
    assert viewer.get(f"/co-learning/tests/{test.pk}/edit/").status_code == 403
    outsider = login(world.outsider.owner, world.outsider.organization)
    assert outsider.get(f"/co-learning/tests/{test.pk}/edit/").status_code == 404


def test_api_patches_an_idea_test_with_409_on_a_stale_version(world, client, challenge):
    idea, test = _idea_with_test(world, challenge)
    provider = _api(client, world.provider.member, world.provider.organization)

    def patch(body, auth=provider):
        return client.patch(f"/api/v1/colearning/tests/{test.pk}", json.dumps(body),
                            content_type="application/json", **auth)

    bad = patch({"version": 1, "outcome": "confirmed"})
    assert bad.status_code == 422 and "Record the result" in bad.content.decode()
    ok = patch({"version": 1, "result": "-40 seconds per call", "outcome": "confirmed"})
    assert ok.status_code == 200
    assert ok.json()["version"] == 2 and ok.json()["outcome"] == "confirmed" and ok.json()["idea_id"] == idea.pk
    stale = patch({"version": 1, "metric": "cost"})
    assert stale.status_code == 409 and "Someone else saved this test" in stale.json()["detail"]
    outsider = _api(client, world.outsider.owner, world.outsider.organization)
    assert patch({"version": 2, "metric": "cost"}, outsider).status_code == 404
    ideas = client.get(f"/api/v1/colearning/challenges/{challenge.pk}/ideas", **provider).json()
    assert ideas[0]["tests"][0]["result"] == "-40 seconds per call"


def test_hold_on_a_trigger_says_when_the_client_is_asked_again(world, login, challenge, settings):
    settings.COLEARNING_TRIGGER_REVIEW_DAYS = 21
    idea, _test = _idea_with_test(world, challenge)
    client = login(world.buyer.manager, world.buyer.organization)
    page = client.get(challenge.get_absolute_url()).content.decode()
    assert "asked every 21 days after the hold whether it has happened" in page
    response = client.post(f"/co-learning/ideas/{idea.pk}/decide/", {
        "decision": "on_hold", "revisit_trigger": "When the dialler is replaced", "version": idea.version},
        follow=True)
    page = response.content.decode()
    assert "you will be asked every 21 days whether it has" in page
    assert "The client's managers are asked every 21 days whether this has happened" in page


def test_the_story_lists_the_files_kept_with_sessions_and_observations(world, login, challenge):
    session = services.research_session_create(
        actor=world.provider.member, challenge=challenge, kind="shadowing", held_on=dt.date(2026, 1, 5),
        title="Early-arrears desk", provider_observers="Sam", consent=True,
        attachments=[upload("signed by 4 agents", "consent forms.pdf")])
    observation = services.observation_create(
        actor=world.buyer.member, challenge=challenge, session=session, persona="Agent",
        experience="Long calls", attachments=[upload("x" * 2048, "call notes.txt")])
    services.observation_create(actor=world.buyer.member, challenge=challenge, persona="Customer",
                                experience="Calls at dinner time", pain_points="Called twice a day.")
    client = login(world.buyer.manager, world.buyer.organization)

    page = client.get(f"/co-learning/challenges/{challenge.pk}/story/").content.decode()
    for owner, name in ((session, "consent forms.pdf"), (observation, "call notes.txt")):
        attachment = owner.attachments.get()
        assert f'<a href="/co-learning/attachments/{attachment.pk}/">{name}</a>' in page
    assert page.count(" Files: ") == 2  # the observation without files says nothing

    text = client.get(f"/co-learning/challenges/{challenge.pk}/story/?format=md").content.decode()
    session_line = next(line for line in text.splitlines() if "Early-arrears desk" in line)
    assert session_line.endswith("Files: consent forms.pdf (18 bytes).")
    agent_line = next(line for line in text.splitlines() if line.startswith("- **Agent**"))
    assert agent_line.endswith("Files: call notes.txt (2.0 KB).")
    customer_line = next(line for line in text.splitlines() if line.startswith("- **Customer**"))
    assert "Files:" not in customer_line
    # A pain point that ends its own sentence gets no second full stop, on the page or here.
    assert customer_line.endswith("Pain points: Called twice a day.")
    assert "Called twice a day.." not in page
