"""Co-learning actions: what each side may do, what is refused, and what is recorded."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from sourcewise.colearning import periodic, selectors, services
from sourcewise.core import storage
from sourcewise.colearning.models import Challenge, DataStudy, Idea, SharedLearning, StudyRun
from sourcewise.core.errors import Conflict
from sourcewise.core.models import AuditEvent

from .conftest import GOOD, HEADER, upload


def _evidence(world, challenge):
    observation = services.observation_create(
        actor=world.provider.member, challenge=challenge, persona="Customer in early arrears",
        experience="Avoids calls", pain_points="Feels judged", quotes="I would pay if they listened")
    insight = services.insight_create(actor=world.provider.member, challenge=challenge,
                                      statement="Shame stops early payers", observations=[observation])
    idea = services.idea_create(actor=world.provider.member, challenge=challenge, title="Callback slots",
                                insights=[insight], expected_impact="More contacts",
                                test_proposed="A/B test for a month")
    return observation, insight, idea


def test_challenge_records_power_ups_side_and_audit(world, challenge):
    assert challenge.author_side == "buyer"
    assert str(challenge.budget_shadowing_planned) == "12000.00"
    event = AuditEvent.objects.get(action="colearning.challenge.create")
    assert event.engagement_id == world.engagement.pk
    assert event.changes["courage_limits"]["after"] == "No recording"


def test_challenge_refuses_bad_input_and_writes_nothing(world):
    with pytest.raises(ValidationError) as info:
        services.challenge_create(actor=world.provider.member, engagement=world.engagement,
                                  problem="", outcome="x", budget_testing_spent="-5")
    assert set(info.value.message_dict) == {"problem", "budget_testing_spent"}
    assert not Challenge.objects.exists()


def test_viewer_and_outsider_cannot_write(world):
    for actor in (world.buyer.viewer, world.outsider.owner):
        with pytest.raises(PermissionDenied):
            services.challenge_create(actor=actor, engagement=world.engagement, problem="p", outcome="o")


def test_stale_challenge_edit_is_a_conflict(world, challenge):
    services.challenge_update(actor=world.provider.member, challenge=challenge, expected_version=1,
                              budget_shadowing_spent="3000")
    with pytest.raises(Conflict):
        services.challenge_update(actor=world.buyer.member, challenge=challenge, expected_version=1,
                                  outcome="Something else")
    challenge.refresh_from_db()
    assert challenge.version == 2 and challenge.outcome.startswith("Cost per amount")


def test_research_session_needs_consent_and_an_observer(world, challenge):
    with pytest.raises(ValidationError) as info:
        services.research_session_create(actor=world.provider.member, challenge=challenge,
                                         kind="shadowing", held_on=dt.date(2026, 1, 5), title="Desk")
    assert set(info.value.message_dict) == {"consent", "provider_observers"}
    session = services.research_session_create(
        actor=world.provider.member, challenge=challenge, kind="interview", held_on=dt.date(2026, 1, 5),
        title="Agent interview", provider_observers="Sam", buyer_observers="Viv", consent=True,
        tags="Arrears, shame, arrears", attachments=[upload("notes", "notes.txt"), upload("form", "c.pdf")])
    assert session.author_side == "provider"
    assert session.tag_list() == ["arrears", "shame"]
    first, second = session.attachments.all()
    assert storage.path_of(first.file.name).read_bytes() == b"notes" and first.name == "notes.txt"
    assert second.name == "c.pdf" and second.author_side == "provider"


def test_insight_must_cite_evidence_from_its_own_challenge(world, challenge):
    with pytest.raises(ValidationError, match="cites its evidence"):
        services.insight_create(actor=world.provider.member, challenge=challenge, statement="x")
    other = services.challenge_create(actor=world.buyer.member, engagement=world.engagement,
                                      problem="Other", outcome="o")
    observation = services.observation_create(actor=world.buyer.member, challenge=other,
                                              persona="Agent", experience="Busy")
    with pytest.raises(ValidationError, match="this challenge"):
        services.insight_create(actor=world.provider.member, challenge=challenge, statement="x",
                                observations=[observation])


def test_study_keeps_previous_results_when_new_data_is_bad(world, challenge):
    study = services.study_create(actor=world.provider.member, challenge=challenge, name="Winter",
                                  metrics="collected_per_call = sum(amount_collected) / count()")
    good = services.study_upload(actor=world.provider.member, study=study, upload=upload(GOOD))
    assert good.status == StudyRun.Status.SUCCEEDED and good.row_count == 3
    bad_header = HEADER.replace("promise_kept,", "").replace("handle_seconds", "handle_time")
    bad = services.study_upload(actor=world.provider.member, study=study,
                                upload=upload(bad_header + "2026-03-01,A1,retail,true,true,100,1,1\n"))
    assert bad.status == StudyRun.Status.FAILED
    assert "missing columns: promise_kept, handle_seconds" in bad.errors[0]
    study.refresh_from_db()
    assert study.current_run_id == good.pk
    overall = [r for r in study.current_run.results["rows"] if r["segment"] is None]
    assert overall[0]["collected_per_call"] == 25.0


def test_mistyped_column_is_named(world, challenge):
    study = services.study_create(actor=world.provider.member, challenge=challenge, name="Winter")
    run = services.study_upload(actor=world.provider.member, study=study,
                                upload=upload(HEADER + "2026-01-05,A1,retail,true,true,true,slow,50,5\n"))
    assert "column handle_seconds should be a number" in run.errors[0]
    assert DataStudy.objects.get(pk=study.pk).current_run is None


def test_bad_user_metric_is_refused_before_anything_is_written(world, challenge):
    with pytest.raises(ValidationError, match="not an aggregate"):
        services.study_create(actor=world.provider.member, challenge=challenge, name="x",
                              metrics="evil = amount_collected; drop table x")
    assert not DataStudy.objects.exists()


def test_upload_over_the_limit_is_refused_and_not_kept(world, challenge, settings, tmp_path):
    settings.UPLOAD_MAX_BYTES = 50
    study = services.study_create(actor=world.provider.member, challenge=challenge, name="Big")
    with pytest.raises(ValidationError, match="larger than the limit"):
        services.study_upload(actor=world.provider.member, study=study, upload=upload(GOOD))
    assert not StudyRun.objects.exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_only_buyer_managers_decide(world, challenge):
    _obs, _insight, idea = _evidence(world, challenge)
    for actor in (world.provider.owner, world.buyer.member):
        with pytest.raises(PermissionDenied):
            services.idea_decide(actor=actor, idea=idea, decision="pursued", project_owner="Sam")
    with pytest.raises(ValidationError, match="Say why"):
        services.idea_decide(actor=world.buyer.manager, idea=idea, decision="declined")
    with pytest.raises(ValidationError, match="Name who owns"):
        services.idea_decide(actor=world.buyer.manager, idea=idea, decision="pursued")
    idea = services.idea_decide(actor=world.buyer.manager, idea=idea, decision="pursued",
                                project_owner="Viv", expected_version=1,
                                milestones=[("Pilot on one desk", dt.date(2026, 3, 1))])
    assert idea.status == "pursued" and idea.milestones.get().title == "Pilot on one desk"
    with pytest.raises(Conflict):
        services.idea_decide(actor=world.buyer.manager, idea=idea, decision="declined",
                             reason="Too costly", expected_version=1)


def test_on_hold_reminder_is_emailed_once_on_the_revisit_date(
        world, challenge, django_capture_on_commit_callbacks):
    _obs, _insight, idea = _evidence(world, challenge)
    revisit = timezone.localdate() + dt.timedelta(days=10)
    services.idea_decide(actor=world.buyer.manager, idea=idea, decision="on_hold", revisit_on=revisit)
    assert periodic.send_reminders() == 0
    later = timezone.now() + dt.timedelta(days=11)
    with django_capture_on_commit_callbacks(execute=True):
        assert periodic.send_reminders(now=later) == 1
    assert len(mail.outbox) == 1
    assert world.buyer.manager.email in mail.outbox[0].to
    assert "Callback slots" in mail.outbox[0].subject
    assert periodic.send_reminders(now=later) == 0
    assert periodic.send_reminders(now=later + dt.timedelta(days=90)) == 0  # a date reminds once
    assert Idea.objects.get(pk=idea.pk).reminder_sent_at is not None


def test_idea_test_records_hypothesis_metric_result(world, challenge):
    _obs, _insight, idea = _evidence(world, challenge)
    with pytest.raises(ValidationError, match="Record the result"):
        services.idea_test_create(actor=world.provider.member, idea=idea, hypothesis="h", metric="m",
                                  outcome="confirmed")
    test = services.idea_test_create(actor=world.provider.member, idea=idea, hypothesis="Callbacks help",
                                     metric="right_party_contact_rate", result="+6 points",
                                     outcome="confirmed")
    assert test.author_side == "provider"


def _learning(world, challenge, body):
    return services.learning_create(actor=world.provider.member, challenge=challenge,
                                    title="Shame keeps customers silent", body=body,
                                    process="collections", tags="arrears")


def test_sharing_without_consent_is_refused(world, challenge):
    learning = _learning(world, challenge, "Customers avoid calls")
    with pytest.raises(ValidationError, match="not consented"):
        services.learning_share(actor=world.provider.member, learning=learning)
    with pytest.raises(PermissionDenied):
        services.learning_consent(actor=world.provider.owner, learning=learning)
    with pytest.raises(PermissionDenied):
        services.learning_consent(actor=world.buyer.member, learning=learning)
    assert not SharedLearning.objects.exists()


def test_shared_learning_never_reveals_the_client(world, challenge):
    from sourcewise.accounts.models import Membership, Organization, User
    from sourcewise.core import services as core

    challenge.engagement.buyer.industry = "Banking"
    challenge.engagement.buyer.save()
    body = ("Northwind Bank customers (e.g. account ACC-100234, jo@customer.test, +44 20 7946 0958) "
            "told Manager of Northwind Bank and manager@northwind.test that northwind letters felt "
            "threatening; Northwind's agents agreed, and so did Mrs Okafor.")
    learning = _learning(world, challenge, body)
    services.learning_consent(actor=world.buyer.manager, learning=learning)
    shared = services.learning_share(actor=world.provider.member, learning=learning)
    text = " ".join([shared.title, shared.body, shared.tags, shared.process])
    for secret in ("Northwind", "northwind", "ACC-100234", "jo@customer.test", "7946",
                   "manager@northwind.test", "Manager of Northwind Bank", "Okafor"):
        assert secret not in text
    assert "[the client]" in shared.body and "[customer id]" in shared.body
    with pytest.raises(ValidationError, match="already"):
        services.learning_share(actor=world.provider.member, learning=learning)

    # Dialwell's other client in the same industry reads it; one in another industry does not.
    other_bank = Organization.objects.create(name="Southgate Bank", slug="southgate", industry="Banking")
    retailer = Organization.objects.create(name="Shoply", slug="shoply", industry="Retail")
    readers = {}
    for org in (other_bank, retailer):
        user = User.objects.create_user(f"m@{org.slug}.test", "pw-long-enough-123", full_name="M")
        Membership.objects.create(user=user, organization=org, role="manager")
        core.engagement_propose(actor=user, organization=org, counterpart=world.provider.organization,
                                our_side="buyer", name=f"{org.name} calls")
        readers[org.slug] = user
    assert selectors.library(user=readers["southgate"], organization=other_bank) == [shared]
    assert selectors.library(user=readers["shoply"], organization=retailer) == []
    assert selectors.library(user=world.outsider.owner) == []
    assert selectors.library(user=world.provider.viewer, organization=world.provider.organization) == [shared]


def test_semantic_search_finds_meaning_without_shared_words(world, challenge):
    texts = {
        "debt": ("Debt recovery calls", "Debt recovery calls work better in the early evening."),
        "it": ("Server migration", "Moving servers to the cloud reduced outages."),
        "training": ("Coaching agents", "New agents learn the scheduling tool faster with peer coaching."),
    }
    for title, body in texts.values():
        learning = services.learning_create(actor=world.provider.member, challenge=challenge,
                                            title=title, body=body)
        services.learning_consent(actor=world.buyer.manager, learning=learning)
        services.learning_share(actor=world.provider.member, learning=learning)
    scope = {"user": world.provider.member, "organization": world.provider.organization}
    assert selectors.library(**scope, q="customers not paying back", mode="text") == []
    ranked = selectors.library(**scope, q="customers not paying back", mode="semantic")
    assert ranked[0].title == "Debt recovery calls"
    full_text = selectors.library(**scope, q="coaching", mode="text")
    assert [s.title for s in full_text] == ["Coaching agents"]


def test_full_text_search_stems_words_on_postgresql(world, challenge):
    from django.db import connection

    learning = services.learning_create(actor=world.provider.member, challenge=challenge,
                                        title="Debt recovery calls", body="Evening calls reach more debtors.")
    services.learning_consent(actor=world.buyer.manager, learning=learning)
    services.learning_share(actor=world.provider.member, learning=learning)
    scope = {"user": world.provider.member, "organization": world.provider.organization}
    found = [s.title for s in selectors.library(**scope, q="calling debtor", mode="text")]
    # PostgreSQL stems ("calling" meets "calls"); SQLite matches substrings only.
    assert found == (["Debt recovery calls"] if connection.vendor == "postgresql" else [])
    assert [s.title for s in selectors.library(**scope, q="debtors", mode="text")] == ["Debt recovery calls"]


def test_changing_metrics_recomputes_or_changes_nothing(world, challenge):
    study = services.study_create(actor=world.provider.member, challenge=challenge, name="Winter")
    first = services.study_upload(actor=world.provider.member, study=study, upload=upload(GOOD))
    with pytest.raises(ValidationError, match="unknown column: payments"):
        services.study_set_metrics(actor=world.provider.member, study=study,
                                   metrics="paid = sum(payments)", expected_version=study.version)
    study.refresh_from_db()
    assert study.metrics == [] and study.current_run_id == first.pk
    services.study_set_metrics(actor=world.buyer.member, study=study, expected_version=study.version,
                               metrics="kept_amount = sum(amount_collected) / count(promise_kept)")
    study.refresh_from_db()
    assert study.current_run.number == 2 and study.current_run.file.name == first.file.name
    overall = [r for r in study.current_run.results["rows"] if r["segment"] is None]
    assert overall[0]["kept_amount"] == 50.0
    with pytest.raises(Conflict):
        services.study_set_metrics(actor=world.buyer.member, study=study, metrics="", expected_version=1)


def test_large_upload_is_computed_by_a_task_and_a_retry_changes_nothing(
        world, challenge, settings, django_capture_on_commit_callbacks):
    settings.COLEARNING_INLINE_MAX_BYTES = 10
    study = services.study_create(actor=world.provider.member, challenge=challenge, name="Big")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.study_upload(actor=world.provider.member, study=study, upload=upload(GOOD))
    assert run.status == StudyRun.Status.PENDING and len(callbacks) == 1
    assert DataStudy.objects.get(pk=study.pk).current_run is None
    callbacks[0]()  # the task is enqueued after commit; tests run it at once (ImmediateBackend)
    run.refresh_from_db()
    assert run.status == StudyRun.Status.SUCCEEDED and run.row_count == 3
    assert DataStudy.objects.get(pk=study.pk).current_run_id == run.pk
    assert services.study_run_compute(run_id=run.pk) is None  # a repeated task does nothing
    assert AuditEvent.objects.filter(action="colearning.study.compute").count() == 1


def test_a_slow_older_run_does_not_replace_a_newer_current_one(world, challenge, settings):
    study = services.study_create(actor=world.provider.member, challenge=challenge, name="Race")
    settings.COLEARNING_INLINE_MAX_BYTES = 10
    pending = services.study_upload(actor=world.provider.member, study=study, upload=upload(GOOD))
    settings.COLEARNING_INLINE_MAX_BYTES = 10**6
    newer = services.study_upload(actor=world.provider.member, study=study, upload=upload(GOOD))
    services.study_run_compute(run_id=pending.pk)
    pending.refresh_from_db()
    assert pending.status == StudyRun.Status.SUCCEEDED
    assert DataStudy.objects.get(pk=study.pk).current_run_id == newer.pk
