"""The providers pages through a real client: register, import, questionnaires, selection, relationship."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from sourcewise.providers import services
from sourcewise.providers.models import Answer, Assessment, ChangeNotice, Interaction, Provider

from .helpers import BAD_LEI, GOOD_ANSWERS, NEVER_FAILED_ANSWERS, candidate, due, linked_provider

pytestmark = pytest.mark.django_db


def test_register_page_lists_exports_and_adds(world, login):
    linked_provider(world)
    client = login(world.buyer.member)
    page = client.get("/providers/")
    assert b"Dialwell Outsourcing Ltd" in page.content
    rows = list(csv.reader(io.StringIO(b"".join(client.get("/providers/?format=csv").streaming_content).decode())))
    assert rows[0][:3] == ["Provider", "Status", "Tier"] and rows[1][0] == "Dialwell Outsourcing Ltd"
    dora = b"".join(client.get("/providers/?format=dora").streaming_content).decode()
    assert dora.startswith("RT.05 LEI of the provider,")
    response = client.post("/providers/new/", {"legal_name": "Bad Lei Ltd", "lei": BAD_LEI, "status": "candidate",
                                               "tier": "standard"})
    assert response.status_code == 422 and b"check digits" in response.content
    response = client.post("/providers/new/", {"legal_name": "Good Ltd", "country": "de", "status": "candidate",
                                               "tier": "important", "tier_reason": "Customer data"})
    assert response.status_code == 302
    assert Provider.objects.get(legal_name="Good Ltd").country == "DE"


def test_viewer_sees_the_register_but_cannot_add(world, login):
    client = login(world.buyer.viewer)
    assert client.get("/providers/").status_code == 200
    assert client.post("/providers/new/", {"legal_name": "X Ltd", "status": "candidate",
                                           "tier": "standard"}).status_code == 403
    assert not Provider.objects.exists()


def test_import_page_names_every_error(world, login):
    client = login(world.buyer.member)
    bad = SimpleUploadedFile("r.csv", b"legal_name,country,contract_start,service_name\nA Ltd,GB,2026-13-01,Calls\n")
    response = client.post("/providers/import/", {"file": bad})
    assert response.status_code == 422
    assert b"Line 2, column &#x27;contract_start&#x27;" in response.content
    good = SimpleUploadedFile("r.csv", b"legal_name,country\nA Ltd,GB\nB Ltd,FR\n")
    assert client.post("/providers/import/", {"file": good}).status_code == 302
    assert Provider.objects.count() == 2


def test_provider_page_and_honest_scorecard(world, login):
    provider = linked_provider(world)
    client = login(world.buyer.member)
    page = client.get(f"/providers/{provider.pk}/")
    assert b"Tier history" in page.content
    card = client.get(f"/providers/{provider.pk}/?tab=scorecard")
    assert b"No SLA data yet" in card.content and b"No incident data yet" in card.content
    assert b"due now" in card.content  # never assessed
    assert client.get(f"/providers/{provider.pk}/?tab=history").status_code == 200


def test_the_provider_answers_on_the_page_and_the_buyer_sees_flags(world, login):
    provider = linked_provider(world)
    assessment, _ = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    client = login(world.provider.member)
    page = client.get(f"/providers/assessments/{assessment.pk}/")
    assert b"Submit to Northwind Bank" in page.content and b"Red flag" not in page.content
    data = {"q-ever-failed": "No, never", "q-time-to-tell": "soon", "action": "save"}
    response = client.post(f"/providers/assessments/{assessment.pk}/answer/", data)
    assert response.status_code == 422 and b"is not a number" in response.content
    assert not Answer.objects.exists()
    data["q-time-to-tell"] = "3"
    data["action"] = "submit"
    assert client.post(f"/providers/assessments/{assessment.pk}/answer/", data).status_code == 302
    assessment.refresh_from_db()
    assert assessment.status == Assessment.Status.SUBMITTED
    locked = client.get(f"/providers/assessments/{assessment.pk}/")
    assert b"the answers are locked" in locked.content
    buyer = login(world.buyer.manager)
    page = buyer.get(f"/providers/assessments/{assessment.pk}/")
    assert b"Claims never to have had a service failure" in page.content
    assert b"Answer: \xe2\x80\x9cNo, never\xe2\x80\x9d" in page.content


def test_the_invitation_link_page(world, client):
    provider = candidate(world, "Linkonly Ltd")
    assessment, token = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    assert client.get("/providers/answer/not-a-real-token/").status_code == 404
    page = client.get(f"/providers/answer/{token}/")
    assert page.status_code == 200 and b"Northwind Bank asks Linkonly Ltd" in page.content
    assert client.post(f"/providers/answer/{token}/", {"q-ever-failed": "Yes: see our incident history",
                                                       "action": "submit"}).status_code == 302
    assessment.refresh_from_db()
    assert assessment.status == "submitted"
    response = client.post(f"/providers/answer/{token}/", {"q-ever-failed": "No, never", "action": "save"})
    assert response.status_code == 422 and b"reopens it" in response.content


def test_selection_compares_and_records_the_choice(world, login):
    selection = services.selection_create(actor=world.buyer.member, buyer=world.buyer.organization,
                                          service_name="Inbound complaints line")
    chosen = None
    for name, answers in (("Steadyline Ltd", GOOD_ANSWERS), ("Neverfail Ltd", NEVER_FAILED_ANSWERS)):
        provider = candidate(world, name)
        assessment, token = services.assessment_send(actor=world.buyer.member, provider=provider,
                                                     due_date=due(), selection=selection)
        services.assessment_answer(actor=None, assessment=assessment, answers=answers, token=token)
        services.assessment_submit(actor=None, assessment=assessment, token=token)
        chosen = chosen or assessment
    client = login(world.buyer.manager)
    page = client.get(f"/providers/selections/{selection.pk}/")
    assert b"Neverfail Ltd" in page.content and b"flagged" in page.content
    response = client.post(f"/providers/selections/{selection.pk}/choose/",
                           {"assessment": chosen.pk, "note": "Honest about its failures."}, follow=True)
    assert b"Steadyline Ltd is chosen" in response.content
    selection.refresh_from_db()
    assert selection.chosen == chosen


def test_relationship_page_alerts_when_it_only_speaks_at_problems(world, login):
    today = timezone.localdate()
    for days, kind in ((10, "escalation"), (40, "incident"), (70, "renewal"), (100, "escalation")):
        services.interaction_log(actor=world.buyer.member, engagement=world.engagement,
                                 organization=world.buyer.organization, date=today - dt.timedelta(days=days),
                                 kind=kind, initiated_by="buyer", title=f"Call {days}")
    client = login(world.provider.member)
    page = client.get(f"/providers/engagements/{world.engagement.pk}/relationship/")
    assert b"only speaks at problems and renewals" in page.content
    response = client.post(f"/providers/engagements/{world.engagement.pk}/relationship/", {
        "date": today.isoformat(), "kind": "workshop", "initiated_by": "provider", "title": "Script workshop",
        "follow_up": "Share new script", "follow_up_owner": "Dialwell ops"})
    assert response.status_code == 302
    assert Interaction.objects.get(title="Script workshop").follow_ups.get().owner == "Dialwell ops"
    engagement_page = client.get(f"/engagements/{world.engagement.pk}/")
    assert b"5 interactions in 12 months" in engagement_page.content


def test_change_notice_flow_between_the_two_sides(world, login):
    provider = login(world.provider.member)
    response = provider.post(f"/providers/engagements/{world.engagement.pk}/changes/new/", {
        "kind": "data_conversion", "title": "New data-conversion contractor", "description": "Moving to ConvertCo",
        "effective_date": (timezone.localdate() + dt.timedelta(days=20)).isoformat()})
    assert response.status_code == 302
    notice = ChangeNotice.objects.get()
    buyer = login(world.buyer.member)
    assert buyer.get(f"/providers/engagements/{world.engagement.pk}/changes/new/").status_code == 403
    response = buyer.post(f"/providers/changes/{notice.pk}/", {"kind": "objection", "text": "Not before an audit.",
                                                              "version": notice.version})
    assert response.status_code == 302
    notice.refresh_from_db()
    assert notice.status == "objected"
    # The outsider does not even learn that it exists.
    assert login(world.outsider.owner).get(f"/providers/changes/{notice.pk}/").status_code == 404


def test_reassessment_falls_due_by_tier(world, login):
    from sourcewise.providers.models import Assessment
    from sourcewise.providers.selectors import provider_list, reassessment_due

    provider = linked_provider(world, tier="critical")
    assessment, _ = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    services.assessment_submit(actor=world.provider.member, assessment=assessment)
    services.assessment_conclude(actor=world.buyer.manager, assessment=assessment, conclusion="approved")
    concluded = timezone.make_aware(dt.datetime(2026, 3, 10, 12))
    Assessment.objects.filter(pk=assessment.pk).update(concluded_at=concluded)
    row = provider_list(user=world.buyer.viewer, organization=world.buyer.organization).get()
    assert reassessment_due(row) == dt.date(2027, 3, 10)  # critical: every 12 months
    services.provider_set_tier(actor=world.buyer.manager, provider=provider, tier="standard", reason="Scope cut")
    row = provider_list(user=world.buyer.viewer, organization=world.buyer.organization).get()
    assert reassessment_due(row) == dt.date(2029, 3, 10)  # standard: every 36 months
    assert b"10 Mar 2029" in login(world.buyer.viewer).get("/providers/").content


def test_the_register_page_does_not_query_per_row(world, login, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(world.buyer.member)
    parent = linked_provider(world)
    services.provider_create(actor=world.buyer.member, buyer=world.buyer.organization, legal_name="Child 0 Ltd",
                             parent=parent)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/providers/").status_code == 200
    for i in range(1, 12):
        services.provider_create(actor=world.buyer.member, buyer=world.buyer.organization,
                                 legal_name=f"Child {i} Ltd", parent=parent)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/providers/")


def test_contract_edit_page_refuses_a_stale_form(world, login):
    provider = linked_provider(world)
    service = services.service_create(actor=world.buyer.member, provider=provider, name="Calls")
    contract = services.contract_create(actor=world.buyer.member, service=service, reference="C-1",
                                        start_date=dt.date(2026, 1, 1))
    client = login(world.buyer.member)
    form = {"reference": "C-1", "start_date": "2026-01-01", "renewal": "none", "currency": "EUR",
            "substitutability": "easy", "buyer_notice_days": "60", "version": "1"}
    assert client.post(f"/providers/contracts/{contract.pk}/edit/", form).status_code == 302
    stale = client.post(f"/providers/contracts/{contract.pk}/edit/", form | {"buyer_notice_days": "10"})
    assert stale.status_code == 422 and b"Someone else saved this contract" in stale.content
    contract.refresh_from_db()
    assert contract.buyer_notice_days == 60


def test_a_buyer_builds_its_own_template_on_the_page(world, login):
    from sourcewise.providers.models import Question, QuestionnaireTemplate

    client = login(world.buyer.member)
    response = client.post("/providers/templates/new/", {"name": "Data security", "first_section": "Access"})
    template = QuestionnaireTemplate.objects.get(name="Data security")
    assert response.status_code == 302
    section = template.sections.get()
    url = f"/providers/templates/{template.pk}/"
    bad = client.post(url, {"form": "question", "section": section.pk, "text": "Do you use MFA?", "kind": "choice",
                            "weight": 2, "options": "Yes = 100\nNo = lots"})
    assert bad.status_code == 422 and b"Line 2: write" in bad.content
    provider = linked_provider(world)
    with pytest.raises(Exception, match="no questions yet"):
        services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due(), template=template)
    good = client.post(url, {"form": "question", "section": section.pk, "text": "Do you use MFA?", "kind": "choice",
                             "weight": 2, "options": "Yes = 100\nNo = 0", "red_flag_when": "choice_is",
                             "red_flag_values": "No", "red_flag_explanation": "Accounts without MFA get taken over."})
    assert good.status_code == 302
    question = Question.objects.get(section=section)
    assert question.options == [{"label": "Yes", "score": 100}, {"label": "No", "score": 0}]
    assert question.red_flags == [{"when": "choice_is", "values": ["No"],
                                   "explanation": "Accounts without MFA get taken over."}]
    services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due(), template=template)
    locked = client.post(url, {"form": "section", "title": "Backups"})
    assert locked.status_code == 422 and b"so it no longer changes" in locked.content
    assert template.sections.count() == 1
    assert client.get(url).status_code == 200
    assert login(world.buyer.viewer).post(url, {"form": "section", "title": "Backups"}).status_code == 403
