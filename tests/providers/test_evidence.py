"""Evidence files: streamed through core.storage on the page and the API, refused when empty or too
large, locked once submitted, given by the provider's people or a candidate's link."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from sourcewise.core.models import AuditEvent
from sourcewise.providers import services
from sourcewise.providers.models import Answer

from .helpers import candidate, due, linked_provider

pytestmark = pytest.mark.django_db

KEY = "monitoring-evidence"


def _files(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def sent(world):
    provider = linked_provider(world)
    assessment, _ = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    return assessment


@pytest.fixture
def bearer(db):
    from sourcewise.accounts.services import api_token_create

    def _bearer(user, organization):
        _token, secret = api_token_create(actor=user, organization=organization, name="test")
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    return _bearer


def test_the_page_stores_evidence_whole_under_storage_and_keeps_its_name(world, login, sent, _storage):
    client = login(world.provider.member)
    upload = SimpleUploadedFile("alert-runbook.pdf", b"%PDF-1.4 runbook", content_type="application/pdf")
    response = client.post(f"/providers/assessments/{sent.pk}/answer/", {f"q-{KEY}": upload, "action": "save"})
    assert response.status_code == 302
    answer = Answer.objects.get(assessment=sent, question__key=KEY)
    assert answer.evidence.name.startswith("providers/evidence/") and answer.evidence.name.endswith(".pdf")
    assert (_storage / answer.evidence.name).read_bytes() == b"%PDF-1.4 runbook"
    assert (answer.evidence_name, answer.evidence_size) == ("alert-runbook.pdf", 16)
    assert not [name for name in _files(_storage) if name.endswith(".part")]
    event = AuditEvent.objects.get(action="assessment.answer")
    assert event.changes[KEY]["after"] == "alert-runbook.pdf" and event.changes[KEY]["sha256"] == answer.evidence_sha256
    assert b"Given: alert-runbook.pdf" in client.get(f"/providers/assessments/{sent.pk}/").content
    buyer = login(world.buyer.member)
    assert b"Download alert-runbook.pdf" in buyer.get(f"/providers/assessments/{sent.pk}/").content
    download = buyer.get(f"/providers/assessments/{sent.pk}/evidence/{KEY}/")
    assert b"".join(download.streaming_content) == b"%PDF-1.4 runbook"
    assert 'filename="alert-runbook.pdf"' in download["Content-Disposition"]


def test_empty_and_oversized_files_are_refused_and_leave_nothing(world, login, sent, settings, _storage):
    client = login(world.provider.member)
    response = client.post(f"/providers/assessments/{sent.pk}/answer/",
                           {f"q-{KEY}": SimpleUploadedFile("empty.pdf", b""), "q-time-to-tell": "2",
                            "action": "save"})
    assert response.status_code == 422 and b"empty.pdf&#x27; is empty" in response.content
    settings.UPLOAD_MAX_BYTES = 10
    response = client.post(f"/providers/assessments/{sent.pk}/answer/",
                           {f"q-{KEY}": SimpleUploadedFile("big.pdf", b"x" * 11), "action": "save"})
    assert response.status_code == 422 and b"larger than the limit of 10 bytes" in response.content
    assert _files(_storage) == []
    # Nothing half-written: the other answer of the refused form was not saved either.
    assert not Answer.objects.filter(assessment=sent).exists()


def test_a_file_is_discarded_when_the_rest_of_the_form_is_refused(world, login, sent, _storage):
    client = login(world.provider.member)
    response = client.post(f"/providers/assessments/{sent.pk}/answer/",
                           {f"q-{KEY}": SimpleUploadedFile("ok.pdf", b"evidence"), "q-time-to-tell": "soon",
                            "action": "save"})
    assert response.status_code == 422 and b"is not a number" in response.content
    assert _files(_storage) == [] and not Answer.objects.filter(assessment=sent).exists()


def test_evidence_through_the_api(world, client, bearer, sent, _storage):
    provider_auth = bearer(world.provider.member, world.provider.organization)
    url = f"/api/v1/due-diligence/assessments/{sent.pk}/evidence/{KEY}"
    response = client.post(url, {"file": SimpleUploadedFile("soc2.pdf", b"SOC 2 report")}, **provider_auth)
    assert response.status_code == 200
    answers = {q["key"]: q["answer"] for q in response.json()["questions"]}
    assert answers[KEY] == "soc2.pdf"
    assert response.json()["score"] is None  # the provider never sees the buyer's scores
    response = client.post(url, {"file": SimpleUploadedFile("empty.pdf", b"")}, **provider_auth)
    assert response.status_code == 422 and "is empty" in response.json()["detail"][0]["msg"]
    response = client.post(f"/api/v1/due-diligence/assessments/{sent.pk}/evidence/time-to-tell",
                           {"file": SimpleUploadedFile("a.pdf", b"a")}, **provider_auth)
    assert response.status_code == 422 and "file evidence" in str(response.json())
    # The buyer cannot answer for the provider; another organisation cannot find it.
    buyer_auth = bearer(world.buyer.member, world.buyer.organization)
    assert client.post(url, {"file": SimpleUploadedFile("b.pdf", b"b")}, **buyer_auth).status_code == 403
    outsider_auth = bearer(world.outsider.owner, world.outsider.organization)
    assert client.post(url, {"file": SimpleUploadedFile("c.pdf", b"c")}, **outsider_auth).status_code == 404
    stored = _files(_storage)
    assert len(stored) == 1
    # Submitted: locked until the buyer's manager reopens it.
    services.assessment_submit(actor=world.provider.member, assessment=sent)
    response = client.post(url, {"file": SimpleUploadedFile("late.pdf", b"late")}, **provider_auth)
    assert response.status_code == 422 and "reopens it" in str(response.json())
    assert _files(_storage) == stored
    services.assessment_reopen(actor=world.buyer.manager, assessment=sent, reason="Send the 2026 report.")
    response = client.post(url, {"file": SimpleUploadedFile("soc2-2026.pdf", b"SOC 2 2026")}, **provider_auth)
    assert response.status_code == 200
    assert Answer.objects.get(assessment=sent, question__key=KEY).evidence_name == "soc2-2026.pdf"
    changes = [e.changes[KEY]["after"] for e in AuditEvent.objects.filter(action="assessment.answer").order_by("seq")]
    assert changes == ["soc2.pdf", "soc2-2026.pdf"]


def test_a_candidate_uploads_evidence_with_its_link(world, client, _storage):
    provider = candidate(world, "Linkonly Ltd")
    assessment, token = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    url = f"/api/v1/due-diligence/invitations/{token}/evidence/{KEY}"
    response = client.post(url, {"file": SimpleUploadedFile("dr-plan.pdf", b"DR plan")})
    assert response.status_code == 200
    assert response.json()["file_name"] == "dr-plan.pdf" and response.json()["size"] == 7
    answer = Answer.objects.get(assessment=assessment, question__key=KEY)
    assert answer.answered_by_label == "bids@candidate.test (by invitation link)"
    assert client.post("/api/v1/due-diligence/invitations/not-a-real-token/evidence/" + KEY,
                       {"file": SimpleUploadedFile("x.pdf", b"x")}).status_code == 404
    # A new link makes the old one stop working, for uploads too.
    services.assessment_resend_link(actor=world.buyer.member, assessment=assessment)
    assert client.post(url, {"file": SimpleUploadedFile("y.pdf", b"y")}).status_code == 404
    assert len(_files(_storage)) == 1
