"""Due diligence: sending, answering (account or link), locking, scoring, red flags, reviews, choice."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from sourcewise.core.errors import Conflict
from sourcewise.core.models import AuditEvent
from sourcewise.providers import selectors, services
from sourcewise.providers.models import Answer, Assessment, Review

from .helpers import GOOD_ANSWERS, NEVER_FAILED_ANSWERS, candidate, due, linked_provider

pytestmark = pytest.mark.django_db


def _sent_to_linked(world, django_capture_on_commit_callbacks):
    provider = linked_provider(world)
    with django_capture_on_commit_callbacks(execute=True):
        assessment, token = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    return assessment, token


def test_the_linked_providers_people_answer_and_see_only_their_assessment(world, django_capture_on_commit_callbacks):
    assessment, token = _sent_to_linked(world, django_capture_on_commit_callbacks)
    assert token is None
    assert world.provider.member.email in mail.outbox[0].to
    # Dialwell sees the questionnaire, not the register or reviews; the outsider sees nothing.
    assert Assessment.objects.visible_to(world.provider.member, world.provider.organization).get() == assessment
    assert not Assessment.objects.visible_to(world.outsider.owner).exists()
    services.assessment_answer(actor=world.provider.member, assessment=assessment, answers=GOOD_ANSWERS)
    assert Answer.objects.filter(assessment=assessment).count() == len(GOOD_ANSWERS)
    # The buyer's people cannot answer for the provider, nor can a provider viewer.
    for actor in (world.buyer.manager, world.provider.viewer):
        with pytest.raises(PermissionDenied):
            services.assessment_answer(actor=actor, assessment=assessment, answers={"time-to-tell": 1})


def test_scores_are_weighted_and_a_good_answer_raises_no_flag(world, django_capture_on_commit_callbacks):
    assessment, _ = _sent_to_linked(world, django_capture_on_commit_callbacks)
    services.assessment_answer(actor=world.provider.member, assessment=assessment, answers=GOOD_ANSWERS)
    result = selectors.assessment_result(assessment)
    assert result.red_flags == []
    # Every question full marks except monitoring (50: two of four useful signals),
    # the missing file (0), reporting-how (67); weights 3, 1 and 1 of a total 24.
    assert result.total == round((24 * 100 - 3 * 50 - 1 * 100 - 1 * 33) / 24)


def test_claiming_never_to_have_failed_is_flagged_with_the_question_and_answer(
    world, django_capture_on_commit_callbacks
):
    assessment, _ = _sent_to_linked(world, django_capture_on_commit_callbacks)
    services.assessment_answer(actor=world.provider.member, assessment=assessment,
                               answers=NEVER_FAILED_ANSWERS | {"root-cause": "No", "recovery-procedure": "No"})
    flags = {f.question_key: f for f in selectors.assessment_result(assessment).red_flags}
    assert set(flags) == {"ever-failed", "failures-24-months", "incident-history", "root-cause",
                          "recovery-procedure"}
    assert flags["ever-failed"].answer == "No, never"
    assert "never to have had a service failure" in flags["ever-failed"].explanation
    assert flags["incident-history"].answer == "no answer"


def test_bad_answers_are_refused_naming_the_question(world, django_capture_on_commit_callbacks):
    assessment, _ = _sent_to_linked(world, django_capture_on_commit_callbacks)
    with pytest.raises(ValidationError) as exc:
        services.assessment_answer(actor=world.provider.member, assessment=assessment,
                                   answers={"time-to-tell": "soon", "ever-failed": "Maybe", "nope": 1,
                                            "monitoring-description": "kept?"})
    errors = exc.value.message_dict
    assert set(errors) == {"time-to-tell", "ever-failed", "nope"}
    assert "not a number" in errors["time-to-tell"][0]
    assert not Answer.objects.exists()  # nothing half-written


def test_a_submitted_questionnaire_is_locked_until_the_buyer_reopens_it(world, django_capture_on_commit_callbacks):
    assessment, _ = _sent_to_linked(world, django_capture_on_commit_callbacks)
    services.assessment_answer(actor=world.provider.member, assessment=assessment, answers=GOOD_ANSWERS)
    services.assessment_submit(actor=world.provider.member, assessment=assessment)
    with pytest.raises(ValidationError, match="reopens it"):
        services.assessment_answer(actor=world.provider.member, assessment=assessment,
                                   answers={"time-to-tell": 48})
    with pytest.raises(PermissionDenied):
        services.assessment_reopen(actor=world.buyer.member, assessment=assessment, reason="x")
    with pytest.raises(PermissionDenied):  # the provider cannot reopen its own
        services.assessment_reopen(actor=world.provider.manager, assessment=assessment, reason="x")
    services.assessment_reopen(actor=world.buyer.manager, assessment=assessment,
                               reason="Give the real time to tell.")
    services.assessment_answer(actor=world.provider.member, assessment=assessment, answers={"time-to-tell": 48})
    actions = list(AuditEvent.objects.filter(object_id=str(assessment.pk), object_type="providers.assessment")
                   .order_by("seq").values_list("action", flat=True))
    assert actions == ["assessment.send", "assessment.answer", "assessment.submit", "assessment.reopen",
                       "assessment.answer"]
    last = AuditEvent.objects.filter(action="assessment.answer").order_by("-seq").first()
    assert last.changes == {"time-to-tell": {"before": "2", "after": "48"}}


def test_a_candidate_without_an_account_answers_through_its_link(world, django_capture_on_commit_callbacks):
    provider = candidate(world, "Quietcall Ltd")
    with django_capture_on_commit_callbacks(execute=True):
        assessment, token = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    assert token and token not in assessment.invite_token_hash
    assert mail.outbox[0].to == ["bids@candidate.test"] and token in mail.outbox[0].body
    assert services.assessment_for_token(token) == assessment
    with pytest.raises(services.LinkUnusable):
        services.assessment_for_token(token + "x")
    with pytest.raises(PermissionDenied):
        services.assessment_answer(actor=None, assessment=assessment, answers={}, token="wrong")
    services.assessment_answer(actor=None, assessment=assessment, answers=GOOD_ANSWERS, token=token)
    services.assessment_submit(actor=None, assessment=assessment, token=token)
    assert AuditEvent.objects.filter(action="assessment.submit",
                                     actor_label="bids@candidate.test (by invitation link)").exists()


def test_reviews_and_a_managers_conclusion(world, django_capture_on_commit_callbacks):
    assessment, _ = _sent_to_linked(world, django_capture_on_commit_callbacks)
    with pytest.raises(ValidationError):
        services.assessment_review(actor=world.buyer.member, assessment=assessment, score=80, comment="early")
    services.assessment_submit(actor=world.provider.member, assessment=assessment)
    services.assessment_review(actor=world.buyer.member, assessment=assessment, score=70, comment="Solid.")
    assert not Review.objects.visible_to(world.provider.owner).exists()  # reviews stay with the buyer
    with pytest.raises(PermissionDenied):
        services.assessment_conclude(actor=world.buyer.member, assessment=assessment, conclusion="approved")
    with pytest.raises(ValidationError) as exc:
        services.assessment_conclude(actor=world.buyer.manager, assessment=assessment, conclusion="conditions")
    assert "note" in exc.value.message_dict
    with pytest.raises(Conflict):
        services.assessment_conclude(actor=world.buyer.manager, assessment=assessment,
                                     conclusion="approved", expected_version=1)
    services.assessment_conclude(actor=world.buyer.manager, assessment=assessment, conclusion="conditions",
                                 note="Quarterly incident reports.")
    assessment.refresh_from_db()
    assert assessment.get_conclusion_display() == "Approved with conditions"


def test_a_conclusion_pressed_on_an_older_page_is_refused_and_says_so(world, login,
                                                                      django_capture_on_commit_callbacks):
    assessment, _ = _sent_to_linked(world, django_capture_on_commit_callbacks)
    services.assessment_submit(actor=world.provider.member, assessment=assessment)
    assessment.refresh_from_db()
    client = login(world.buyer.manager, world.buyer.organization)
    url = f"/providers/assessments/{assessment.pk}/conclude/"
    page = client.post(url, {"conclusion": "approved", "note": "", "version": assessment.version - 1}, follow=True)
    assert "The assessment changed after you opened it" in page.content.decode()
    assert "newer version" in page.content.decode()
    assessment.refresh_from_db()
    assert assessment.conclusion == ""
    client.post(url, {"conclusion": "approved", "note": "", "version": assessment.version})
    assessment.refresh_from_db()
    assert assessment.conclusion == "approved"


def test_comparing_two_candidates_and_recording_the_choice(world):
    selection = services.selection_create(actor=world.buyer.member, buyer=world.buyer.organization,
                                          service_name="Inbound complaints line")
    tokens = {}
    for name, answers in (("Steadyline Ltd", GOOD_ANSWERS), ("Neverfail Ltd", NEVER_FAILED_ANSWERS)):
        provider = candidate(world, name)
        assessment, token = services.assessment_send(actor=world.buyer.member, provider=provider,
                                                     due_date=due(), selection=selection)
        services.assessment_answer(actor=None, assessment=assessment, answers=answers, token=token)
        services.assessment_submit(actor=None, assessment=assessment, token=token)
        tokens[name] = assessment
    candidates, rows = selectors.selection_comparison(selection)
    assert [c.assessment.provider.legal_name for c in candidates] == ["Neverfail Ltd", "Steadyline Ltd"]
    assert [len(c.result.red_flags) for c in candidates] == [3, 0]
    assert candidates[1].result.total > candidates[0].result.total
    ever = next(r for r in rows if r.key == "ever-failed")
    assert ever.cells[0] == ("No, never", 0, True)
    with pytest.raises(ValidationError) as exc:
        services.selection_choose(actor=world.buyer.manager, selection=selection,
                                  assessment=tokens["Steadyline Ltd"], note="")
    assert "note" in exc.value.message_dict
    services.selection_choose(actor=world.buyer.manager, selection=selection,
                              assessment=tokens["Steadyline Ltd"], note="Honest incident history.")
    selection.refresh_from_db()
    assert selection.chosen.provider.legal_name == "Steadyline Ltd"


def test_reminders_go_once_a_day(world, django_capture_on_commit_callbacks):
    from sourcewise.providers.notify import send_reminders

    provider = linked_provider(world)
    services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due(2))
    services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due(20))
    mail.outbox.clear()
    assert send_reminders() == 1
    assert "Reminder" in mail.outbox[0].subject and world.provider.member.email in mail.outbox[0].to
    assert send_reminders() == 0
    assert len(mail.outbox) == 1


def test_a_new_link_replaces_the_old_one(world, login, django_capture_on_commit_callbacks):
    provider = candidate(world, "Slowreply Ltd")
    assessment, old = services.assessment_send(actor=world.buyer.member, provider=provider, due_date=due())
    with pytest.raises(PermissionDenied):
        services.assessment_resend_link(actor=world.buyer.viewer, assessment=assessment)
    mail.outbox.clear()
    client = login(world.buyer.member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/providers/assessments/{assessment.pk}/resend-link/", follow=True)
    assert b"A new link was emailed to bids@candidate.test" in response.content
    new = mail.outbox[0].body.split("/providers/answer/")[1].split("/")[0]
    assert services.assessment_for_token(new) == assessment
    with pytest.raises(services.LinkUnusable):
        services.assessment_for_token(old)
