"""Co-learning actions: what each side may do, what is refused, and what is recorded."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from sourcewise.colearning import periodic, selectors, services
from sourcewise.colearning.models import Challenge, DataStudy, Idea, SharedLearning, StudyRun
from sourcewise.core import storage
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


# --- Attachments -------------------------------------------------------------------


def _session(world, challenge, **extra):
    return services.research_session_create(
        actor=world.provider.member, challenge=challenge, kind="shadowing", held_on=dt.date(2026, 1, 5),
        title="Early-arrears desk", provider_observers="Sam", consent=True, **extra)


def _stored_files(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_attachments_record_who_and_which_side_and_are_audited(world, challenge):
    session = _session(world, challenge)
    observation = services.observation_create(actor=world.buyer.member, challenge=challenge,
                                              persona="Agent", experience="Long calls")
    by_provider = services.attachment_add(actor=world.provider.member, owner=session,
                                          upload=upload("notes", "notes.txt"))
    by_buyer = services.attachment_add(actor=world.buyer.member, owner=session, upload=upload("form", "form.pdf"))
    on_observation = services.attachment_add(actor=world.buyer.member, owner=observation,
                                             upload=upload("photo", "C:\\Users\\viv\\desk.jpg"))
    assert [a.name for a in session.attachments.all()] == ["notes.txt", "form.pdf"]
    assert (by_provider.author, by_provider.author_side) == (world.provider.member, "provider")
    assert (by_buyer.author, by_buyer.author_side) == (world.buyer.member, "buyer")
    assert on_observation.name == "desk.jpg" and on_observation.challenge == challenge
    assert by_provider.size_bytes == 5 and len(by_provider.sha256) == 64
    events = AuditEvent.objects.filter(action="colearning.attachment.add").order_by("pk")
    assert [e.changes["name"]["after"] for e in events] == ["notes.txt", "form.pdf", "desk.jpg"]
    assert events[0].engagement_id == world.engagement.pk
    assert events[0].changes["author_side"]["after"] == "provider"


def test_attachment_refused_when_empty_too_large_or_not_a_writer(world, challenge, settings, tmp_path):
    session = _session(world, challenge)
    with pytest.raises(ValidationError, match="empty"):
        services.attachment_add(actor=world.provider.member, owner=session, upload=upload("", "e.txt"))
    settings.UPLOAD_MAX_BYTES = 4
    with pytest.raises(ValidationError, match="larger than the limit of 4"):
        services.attachment_add(actor=world.provider.member, owner=session, upload=upload("12345", "b.txt"))
    settings.UPLOAD_MAX_BYTES = 1000
    for actor in (world.buyer.viewer, world.outsider.owner):
        with pytest.raises(PermissionDenied):
            services.attachment_add(actor=actor, owner=session, upload=upload("x", "x.txt"))
    assert not session.attachments.exists()
    assert _stored_files(tmp_path) == []


def test_a_refused_file_among_several_leaves_nothing_behind(world, challenge, settings, tmp_path):
    settings.UPLOAD_MAX_BYTES = 5
    with pytest.raises(ValidationError, match="larger than the limit"):
        _session(world, challenge, attachments=[upload("small", "a.txt"), upload("too large", "b.txt")])
    with pytest.raises(ValidationError, match="consent"):
        services.research_session_create(
            actor=world.provider.member, challenge=challenge, kind="shadowing", held_on=dt.date(2026, 1, 5),
            title="No consent", provider_observers="Sam", attachments=[upload("small", "a.txt")])
    assert not challenge.sessions.exists() and not challenge.attachments.exists()
    assert _stored_files(tmp_path) == []


def test_removing_deletes_the_file_only_after_commit(world, challenge, django_capture_on_commit_callbacks):
    from django.db import transaction

    session = _session(world, challenge, attachments=[upload("notes", "notes.txt")])
    attachment = session.attachments.get()
    path = storage.path_of(attachment.file.name)
    # The other side did not add it: it may not remove it.
    with pytest.raises(PermissionDenied, match="provider"):
        services.attachment_remove(actor=world.buyer.manager, attachment=attachment)

    # A removal rolled back keeps both the row and the file.
    with pytest.raises(RuntimeError), transaction.atomic():
        services.attachment_remove(actor=world.provider.member, attachment=attachment)
        raise RuntimeError("something later in the same transaction failed")
    assert session.attachments.exists() and path.exists()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.attachment_remove(actor=world.provider.member, attachment=attachment)
    assert not session.attachments.exists()
    assert path.exists(), "the file must stay until the removal commits"
    for callback in callbacks:
        callback()
    assert not path.exists()
    event = AuditEvent.objects.get(action="colearning.attachment.remove")
    assert event.changes["name"] == {"before": "notes.txt", "after": None}


def test_migration_moves_the_single_attachment_into_the_new_model(transactional_db, settings, tmp_path):
    """0002 turns each session's `attachment` into an Attachment row, then drops the old fields."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from sourcewise.colearning.models import Attachment

    settings.STORAGE_ROOT = tmp_path
    (tmp_path / "colearning" / "attachments").mkdir(parents=True)
    (tmp_path / "colearning" / "attachments" / "old.txt").write_bytes(b"old notes")
    executor = MigrationExecutor(connection)
    before = [("colearning", "0001_initial")]
    latest = executor.loader.graph.leaf_nodes("colearning")
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        org = old.get_model("accounts", "Organization")
        buyer = org.objects.create(name="Old Bank", slug="old-bank")
        provider = org.objects.create(name="Old Calls", slug="old-calls")
        engagement = old.get_model("core", "Engagement").objects.create(
            name="Old engagement", buyer=buyer, provider=provider, proposed_by=buyer)
        challenge = old.get_model("colearning", "Challenge").objects.create(
            engagement=engagement, problem="p", outcome="o", author_side="provider")
        session_model = old.get_model("colearning", "ResearchSession")
        common = dict(challenge=challenge, kind="interview", held_on=dt.date(2026, 1, 5), consent=True,
                      author_side="provider")
        with_file = session_model.objects.create(title="With a file", attachment="colearning/attachments/old.txt",
                                                 attachment_name="notes.txt", **common)
        session_model.objects.create(title="Without", **common)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)
    moved = Attachment.objects.get()
    assert (moved.session_id, moved.challenge_id, moved.name) == (with_file.pk, challenge.pk, "notes.txt")
    assert moved.file.name == "colearning/attachments/old.txt" and moved.size_bytes == 9
    assert moved.author_side == "provider" and len(moved.sha256) == 64


# --- Editing idea tests --------------------------------------------------------------


def test_idea_test_edit_records_the_result_with_a_version_check(world, challenge):
    _obs, _insight, idea = _evidence(world, challenge)
    test = services.idea_test_create(actor=world.provider.member, idea=idea, hypothesis="Callbacks help",
                                     metric="right_party_contact_rate")
    with pytest.raises(ValidationError, match="Record the result"):
        services.idea_test_update(actor=world.buyer.member, test=test, expected_version=1, outcome="confirmed")
    with pytest.raises(ValidationError, match="cannot be edited"):
        services.idea_test_update(actor=world.buyer.member, test=test, expected_version=1, idea=idea)
    updated = services.idea_test_update(actor=world.buyer.member, test=test, expected_version=1,
                                        result="+6 points over four weeks", outcome="confirmed")
    assert (updated.version, updated.outcome, updated.result) == (2, "confirmed", "+6 points over four weeks")
    event = AuditEvent.objects.get(action="colearning.idea_test.update")
    assert event.changes["outcome"] == {"before": "running", "after": "confirmed"}
    assert event.organization_id == world.buyer.organization.pk
    with pytest.raises(Conflict, match="Someone else saved this test"):
        services.idea_test_update(actor=world.provider.member, test=test, expected_version=1,
                                  metric="Something else")
    test.refresh_from_db()
    assert test.metric == "right_party_contact_rate" and test.version == 2
    # Saving what is already there changes nothing and records nothing.
    services.idea_test_update(actor=world.provider.member, test=test, expected_version=2,
                              metric="right_party_contact_rate")
    assert AuditEvent.objects.filter(action="colearning.idea_test.update").count() == 1
    with pytest.raises(PermissionDenied):
        services.idea_test_update(actor=world.buyer.viewer, test=test, expected_version=2, result="x")


# --- Reminders of ideas on hold until an event ----------------------------------------


def test_trigger_only_hold_is_reviewed_every_period_at_most_once(
        world, challenge, settings, django_capture_on_commit_callbacks):
    settings.COLEARNING_TRIGGER_REVIEW_DAYS = 14
    _obs, _insight, idea = _evidence(world, challenge)
    services.idea_decide(actor=world.buyer.manager, idea=idea, decision="on_hold",
                         revisit_trigger="When the new dialler is live")
    held = timezone.now()

    def run(days: float) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return periodic.send_reminders(now=held + dt.timedelta(days=days))

    assert run(0) == 0 and run(13.9) == 0
    assert run(14.1) == 1
    assert len(mail.outbox) == 1 and world.buyer.manager.email in mail.outbox[0].to
    assert "When the new dialler is live" in mail.outbox[0].body
    assert "every 14 days" in mail.outbox[0].body
    assert run(14.2) == 0 and run(20) == 0  # once per period
    event = AuditEvent.objects.get(action="colearning.idea.remind")
    assert event.changes["reason"]["after"] == "revisit_trigger"


def test_trigger_review_follows_the_last_reminder_and_the_decision(
        world, challenge, settings, django_capture_on_commit_callbacks):
    settings.COLEARNING_TRIGGER_REVIEW_DAYS = 10
    _obs, _insight, idea = _evidence(world, challenge)
    services.idea_decide(actor=world.buyer.manager, idea=idea, decision="on_hold",
                         revisit_trigger="After the regulator's review")
    start = timezone.now()

    def run(days: float) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return periodic.send_reminders(now=start + dt.timedelta(days=days))

    # The worker was down for 35 days: one reminder, not three.
    assert run(35) == 1
    assert run(44) == 0 and run(45.1) == 1
    # A new hold, with a date this time: the date reminder, no trigger reviews.
    idea.refresh_from_db()
    services.idea_decide(actor=world.buyer.manager, idea=idea, decision="on_hold", expected_version=idea.version,
                         revisit_on=timezone.localdate() + dt.timedelta(days=30), revisit_trigger="Or the review")
    assert run(20) == 0
    assert services.next_trigger_review(Idea.objects.get(pk=idea.pk)) is None
    assert len(mail.outbox) == 2


def test_the_worker_runs_the_colearning_reminders():
    from sourcewise.core.scheduler import discover_jobs

    jobs = {job.name: job for job in discover_jobs()}
    assert jobs["colearning-reminders"].func is periodic.send_reminders
    assert jobs["colearning-reminders"].interval == 3600
