"""The provider's own history of a questionnaire (never the buyer's judgement), and reminders that
carry a working link for a candidate without an account."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core import mail

from sourcewise.core.models import AuditEvent
from sourcewise.providers import services
from sourcewise.providers.models import ReminderSent
from sourcewise.providers.notify import send_reminders

from .helpers import GOOD_ANSWERS, candidate, due, linked_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed(world):
    """Sent, answered, changed, submitted, reviewed by the buyer, reopened, and changed again."""
    provider = linked_provider(world)
    assessment, _ = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    services.assessment_answer(actor=world.provider.member, assessment=assessment, answers=GOOD_ANSWERS)
    services.assessment_answer(actor=world.provider.owner, assessment=assessment, answers={"time-to-tell": 3})
    services.assessment_submit(actor=world.provider.member, assessment=assessment)
    services.assessment_review(actor=world.buyer.member, assessment=assessment, score=41,
                               comment="Private: their dashboards look thin")
    services.assessment_reopen(actor=world.buyer.manager, assessment=assessment, reason="Say how fast you tell us.")
    services.assessment_answer(actor=world.provider.member, assessment=assessment, answers={"time-to-tell": 1})
    return assessment


def test_the_provider_sees_who_changed_its_answers_and_never_the_buyers_review(world, login, reviewed):
    client = login(world.provider.member)
    page = client.get(f"/providers/assessments/{reviewed.pk}/?tab=history")
    assert page.status_code == 200
    content = page.content.decode()
    assert "assessment.answer" in content and "assessment.submit" in content and "assessment.reopen" in content
    assert world.provider.owner.email in content  # who changed time-to-tell from 2 to 3
    assert "Say how fast you tell us." in content
    assert "assessment.review" not in content and "Private: their dashboards look thin" not in content
    assert "41" not in [cell.strip() for cell in content.split("<td>")]
    rows = list(csv.DictReader(io.StringIO(b"".join(
        client.get(f"/providers/assessments/{reviewed.pk}/?tab=history&format=csv").streaming_content).decode())))
    assert [r["Action"] for r in rows].count("assessment.answer") == 3
    assert {r["Action"] for r in rows} == {"assessment.send", "assessment.answer", "assessment.submit",
                                          "assessment.reopen"}
    time_changes = [json.loads(r["Changes"])["time-to-tell"] for r in rows
                    if r["Action"] == "assessment.answer" and "time-to-tell" in r["Changes"]]
    assert {"before": "3", "after": "1"} in time_changes and {"before": "2", "after": "3"} in time_changes
    # The buyer sees its own review in the same history.
    buyer = login(world.buyer.member)
    buyer_page = buyer.get(f"/providers/assessments/{reviewed.pk}/?tab=history").content.decode()
    assert "assessment.review" in buyer_page and "Private: their dashboards look thin" in buyer_page
    outsider = login(world.outsider.owner)
    assert outsider.get(f"/providers/assessments/{reviewed.pk}/?tab=history").status_code == 404


def test_the_history_through_the_api(world, client, reviewed):
    from sourcewise.accounts.services import api_token_create

    def get(user, organization):
        _t, secret = api_token_create(actor=user, organization=organization, name="t")
        return client.get(f"/api/v1/due-diligence/assessments/{reviewed.pk}/history",
                          HTTP_AUTHORIZATION=f"Bearer {secret}")

    provider_items = get(world.provider.viewer, world.provider.organization).json()["items"]
    assert {i["action"] for i in provider_items} == {"assessment.send", "assessment.answer", "assessment.submit",
                                                    "assessment.reopen"}
    assert "dashboards look thin" not in json.dumps(provider_items)
    buyer_items = get(world.buyer.viewer, world.buyer.organization).json()["items"]
    assert "assessment.review" in {i["action"] for i in buyer_items}
    assert get(world.outsider.owner, world.outsider.organization).status_code == 404


def test_a_candidates_reminder_carries_a_new_link_and_the_old_one_stops(world, client):
    provider = candidate(world, "Slowreply Ltd")
    assessment, first = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due(2))
    mail.outbox.clear()
    assert send_reminders() == 1
    [reminder] = mail.outbox
    assert reminder.to == ["bids@candidate.test"] and "Reminder" in reminder.subject
    assert "replaces the one in earlier emails" in reminder.body
    link = reminder.body.split("/providers/answer/")[1].split("/")[0]
    assert services.assessment_for_token(link) == assessment
    with pytest.raises(services.LinkUnusable):
        services.assessment_for_token(first)
    assert client.get(f"/providers/answer/{link}/").status_code == 200
    assert client.get(f"/providers/answer/{first}/").status_code == 404
    event = AuditEvent.objects.get(action="assessment.link.reminder")
    assert event.actor_label == "system" and event.object_id == str(assessment.pk)
    # Once a day: a second run neither emails nor changes the link the candidate just got.
    assert send_reminders() == 0
    assert len(mail.outbox) == 1 and services.assessment_for_token(link) == assessment


def test_a_failed_reminder_email_leaves_the_earlier_link_working(world, monkeypatch):
    from sourcewise.providers import notify

    provider = candidate(world, "Slowreply Ltd")
    assessment, first = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due(1))

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(notify, "send_mail", broken)
    with pytest.raises(ConnectionRefusedError):
        send_reminders()
    assert services.assessment_for_token(first) == assessment
    assert not ReminderSent.objects.exists()
    assert not AuditEvent.objects.filter(action="assessment.link.reminder").exists()


def test_a_submitted_candidate_gets_no_reminder_and_keeps_its_link(world):
    provider = candidate(world, "Donealready Ltd")
    assessment, token = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due(1))
    services.assessment_submit(actor=None, assessment=assessment, token=token)
    mail.outbox.clear()
    assert send_reminders() == 0 and mail.outbox == []
    assert services.assessment_for_token(token) == assessment
