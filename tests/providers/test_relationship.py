"""Change notices' rules, overdue reviews, evidence files, and templates of one's own."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from sourcewise.core.models import AuditEvent
from sourcewise.providers import services
from sourcewise.providers.models import ChangeNotice, QuestionnaireTemplate
from sourcewise.providers.notify import send_reminders

from .helpers import due, linked_provider

pytestmark = pytest.mark.django_db


def _announce(world, days: int = 20, **extra):
    return services.change_notice_announce(
        actor=world.provider.member, engagement=world.engagement, organization=world.provider.organization,
        kind="subcontractor", title="New dialler vendor", description="Switching to DialTech",
        effective_date=timezone.localdate() + dt.timedelta(days=days), **extra)


def test_a_change_must_be_announced_before_it_happens_by_the_provider(world):
    with pytest.raises(ValidationError) as exc:
        _announce(world, days=0)
    assert "effective_date" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        services.change_notice_announce(
            actor=world.buyer.manager, engagement=world.engagement, organization=world.buyer.organization,
            kind="tooling", title="x", description="x", effective_date=due())
    notice = _announce(world)
    assert notice.review_by == notice.effective_date - dt.timedelta(days=7)


def test_each_side_responds_its_own_way_and_every_response_is_audited(world):
    notice = _announce(world)
    with pytest.raises(ValidationError) as exc:  # the buyer cannot withdraw the provider's change
        services.change_notice_respond(actor=world.buyer.member, notice=notice,
                                       organization=world.buyer.organization, kind="withdrawal", text="x")
    assert "kind" in exc.value.message_dict
    services.change_notice_respond(actor=world.buyer.member, notice=notice, organization=world.buyer.organization,
                                   kind="evidence_request", text="Send DialTech's ISO 27001 certificate.")
    services.change_notice_respond(actor=world.provider.member, notice=notice,
                                   organization=world.provider.organization, kind="evidence", text="Attached.")
    services.change_notice_respond(actor=world.buyer.member, notice=notice, organization=world.buyer.organization,
                                   kind="acceptance", text="Accepted.")
    notice.refresh_from_db()
    assert notice.status == "accepted"
    with pytest.raises(ValidationError, match="only comments"):
        services.change_notice_respond(actor=world.buyer.member, notice=notice,
                                       organization=world.buyer.organization, kind="objection", text="Wait")
    actions = list(AuditEvent.objects.filter(object_type="providers.changenotice").order_by("seq")
                   .values_list("action", flat=True))
    assert actions == ["change_notice.announce", "change_notice.evidence_request", "change_notice.evidence",
                       "change_notice.acceptance"]
    with pytest.raises(PermissionDenied):
        services.change_notice_respond(actor=world.buyer.viewer, notice=notice,
                                       organization=world.buyer.organization, kind="comment", text="x")


def test_an_overdue_review_reminds_the_buyers_people_once_a_day(world):
    notice = _announce(world)
    ChangeNotice.objects.filter(pk=notice.pk).update(review_by=timezone.localdate() - dt.timedelta(days=1))
    mail.outbox.clear()
    assert send_reminders() == 1
    assert world.buyer.manager.email in mail.outbox[0].to and world.provider.member.email not in mail.outbox[0].to
    assert mail.outbox[0].subject == "Overdue review: New dialler vendor"
    assert send_reminders() == 0
    tomorrow = timezone.now() + dt.timedelta(days=1)
    assert send_reminders(now=tomorrow) == 1


def test_the_buyer_cannot_object_once_the_change_has_happened(world):
    notice = _announce(world, days=3)
    ChangeNotice.objects.filter(pk=notice.pk).update(effective_date=timezone.localdate(),
                                                     review_by=timezone.localdate())
    with pytest.raises(ValidationError, match="taken effect"):
        services.change_notice_respond(actor=world.buyer.member, notice=notice,
                                       organization=world.buyer.organization, kind="objection", text="No")


def test_file_evidence_is_uploaded_by_the_provider_and_downloaded_by_the_buyer(world, login, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    provider = linked_provider(world)
    assessment, _ = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    client = login(world.provider.member)
    upload = SimpleUploadedFile("alert-runbook.pdf", b"%PDF-1.4 runbook", content_type="application/pdf")
    response = client.post(f"/providers/assessments/{assessment.pk}/answer/",
                           {"q-monitoring-evidence": upload, "action": "save"})
    assert response.status_code == 302
    buyer = login(world.buyer.member)
    download = buyer.get(f"/providers/assessments/{assessment.pk}/evidence/monitoring-evidence/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.4 runbook"
    outsider = login(world.outsider.owner)
    assert outsider.get(f"/providers/assessments/{assessment.pk}/evidence/monitoring-evidence/").status_code == 404


def test_a_template_of_ones_own_through_the_api(world, client):
    from sourcewise.accounts.services import api_token_create

    _t, secret = api_token_create(actor=world.buyer.member, organization=world.buyer.organization, name="t")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    bad = {"name": "Security", "sections": [{"title": "Access", "questions": [
        {"text": "Do you use MFA?", "kind": "choice", "options": [{"score": 100}],
         "red_flags": [{"when": "sometimes", "explanation": ""}]}]}]}
    response = client.post("/api/v1/due-diligence/templates", json.dumps(bad), content_type="application/json", **auth)
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert "Section 1, question 1: A choice question needs options" in message
    assert "Unknown red-flag rule 'sometimes'" in message
    assert not QuestionnaireTemplate.objects.exists()
    good = {"name": "Security", "sections": [{"title": "Access", "questions": [
        {"key": "mfa", "text": "Do you use MFA?", "kind": "choice", "weight": 2,
         "options": [{"label": "Yes", "score": 100}, {"label": "No", "score": 0}],
         "red_flags": [{"when": "choice_is", "values": ["No"], "explanation": "No MFA."}]}]}]}
    response = client.post("/api/v1/due-diligence/templates", json.dumps(good), content_type="application/json",
                           **auth)
    assert response.status_code == 201
    template = QuestionnaireTemplate.objects.get(pk=response.json()["id"])
    assert template.sections.get().questions.get().red_flags[0]["explanation"] == "No MFA."


def test_announcing_a_change_emails_the_buyers_people(world, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _announce(world)
    assert mail.outbox[0].subject == "Planned change from Dialwell Outsourcing: New dialler vendor"
    assert world.buyer.member.email in mail.outbox[0].to and world.buyer.viewer.email not in mail.outbox[0].to


def test_the_provider_is_told_why_its_answers_were_reopened(world, login, django_capture_on_commit_callbacks):
    provider = linked_provider(world)
    assessment, _ = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.assessment_submit(actor=world.provider.member, assessment=assessment)
    assert mail.outbox[0].to == [world.buyer.member.email] and "submitted" in mail.outbox[0].subject
    services.assessment_reopen(actor=world.buyer.manager, assessment=assessment,
                               reason="Attach your alert runbook, please.")
    page = login(world.provider.member).get(f"/providers/assessments/{assessment.pk}/")
    assert b"reopened the answers: Attach your alert runbook, please." in page.content


def test_the_periodic_job_is_declared_for_the_worker():
    from sourcewise.providers.periodic import JOBS

    assert [("providers-reminders", 3600, send_reminders)] == JOBS
