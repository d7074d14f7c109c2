"""The actions of resilience: plans, incidents and the brief's principles as rules."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from sourcewise.core.errors import Conflict
from sourcewise.core.models import AuditEvent
from sourcewise.resilience import services
from sourcewise.resilience.models import Cause, Incident, PreventiveControl

from .conftest import ROOT_CAUSE, walk

pytestmark = pytest.mark.django_db


# Plans.


def test_plan_refuses_a_tolerance_that_is_not_a_positive_number(world):
    with pytest.raises(ValidationError) as caught:
        services.plan_create(actor=world.buyer.manager, engagement=world.engagement, service=" ",
                             max_disruption_hours=0, max_customers_affected=10)
    assert set(caught.value.message_dict) == {"service", "max_disruption_hours"}
    assert not world.engagement.resilience_plans.exists()


def test_viewer_and_outsider_cannot_write_a_plan(world):
    for user in (world.buyer.viewer, world.outsider.owner):
        with pytest.raises(PermissionDenied):
            services.plan_create(actor=user, engagement=world.engagement, service="X",
                                 max_disruption_hours=1, max_customers_affected=1)


def test_stale_plan_edit_is_refused(world, plan):
    services.plan_update(actor=world.buyer.manager, plan=plan, expected_version=1, max_customers_affected=50)
    with pytest.raises(Conflict, match="version 2"):
        services.plan_update(actor=world.provider.manager, plan=plan, expected_version=1,
                             max_customers_affected=500)
    plan.refresh_from_db()
    assert plan.max_customers_affected == 50


def test_scenario_needs_detection_and_owners_from_each_side(world, plan):
    with pytest.raises(ValidationError) as caught:
        services.scenario_add(actor=world.buyer.member, plan=plan, title="Dialler down",
                              detected_by_feeds=[" "], detected_by_checks="", response_steps="Call",
                              buyer_owner=world.provider.member, provider_owner=world.outsider.owner)
    assert set(caught.value.message_dict) == {"detected_by_feeds", "detected_by_checks", "buyer_owner",
                                              "provider_owner"}


def test_plan_not_exercised_in_twelve_months_is_flagged_and_gaps_become_controls(world, plan):
    assert plan.exercise_overdue()
    old = timezone.localdate() - dt.timedelta(days=400)
    services.exercise_record(actor=world.buyer.manager, plan=plan, held_on=old, result="partial")
    assert plan.exercise_overdue()
    exercise = services.exercise_record(
        actor=world.provider.manager, plan=plan, held_on=timezone.localdate() - dt.timedelta(days=3),
        result="partial", gaps=[{"description": "Nobody knew who calls the buyer's executives",
                                 "owner": world.provider.manager, "due_on": timezone.localdate()}])
    assert not plan.exercise_overdue()
    control = PreventiveControl.objects.get(exercise=exercise)
    assert control.owner == world.provider.manager and control.engagement == world.engagement


def test_exercise_in_the_future_is_refused(world, plan):
    with pytest.raises(ValidationError, match="future"):
        services.exercise_record(actor=world.buyer.manager, plan=plan, result="passed",
                                 held_on=timezone.localdate() + dt.timedelta(days=1))


# Opening incidents.


def test_severity_follows_affected_customers_against_tolerance(world, plan):
    low = services.incident_open(actor=world.buyer.member, engagement=world.engagement, title="A",
                                 affected_customers=[f"C{i}" for i in range(5)])
    critical = services.incident_open(actor=world.buyer.member, engagement=world.engagement, title="B",
                                      affected_customers=[f"C{i}" for i in range(100)])
    assert (low.severity, critical.severity) == ("low", "critical")
    assert low.plan == plan  # the engagement's only plan


def test_record_failure_opens_then_adds_to_the_open_incident_for_the_same_check(world, plan):
    first = services.incident_record_failure(
        engagement=world.engagement, check_name="contact_in_target_segment", feed_name="contacts",
        severity="error", affected_customers=["C-1", "C-2"], failing_rows=12,
        summary="12 contacts outside the targeted segments")
    assert first.source == "finding" and first.scenario.title == "The targeting data integration fails"
    assert first.severity == "low"
    again = services.incident_record_failure(
        engagement=world.engagement, check_name="contact_in_target_segment", feed_name="contacts",
        severity="error", affected_customers=["C-2"] + [f"N{i}" for i in range(60)], failing_rows=70,
        summary="70 more")
    assert again.pk == first.pk
    assert len(again.affected_customers) == 62 and again.failing_rows == 82
    assert again.severity == "high"
    assert again.timeline.filter(kind="failure").count() == 1
    event = AuditEvent.objects.filter(object_id=str(first.pk), action="resilience.incident_open").get()
    assert event.actor is None and event.actor_label == "system"


def test_record_failure_ignores_warnings_and_refuses_bad_input(world):
    assert services.incident_record_failure(
        engagement=world.engagement, check_name="c", feed_name="f", severity="warn",
        affected_customers=[], failing_rows=1, summary="s") is None
    with pytest.raises(ValidationError) as caught:
        services.incident_record_failure(engagement=world.engagement, check_name="", feed_name="f",
                                         severity="fatal", affected_customers=[], failing_rows=-1, summary="")
    assert set(caught.value.message_dict) == {"check_name", "severity", "failing_rows", "summary"}
    assert not Incident.objects.exists()


def test_a_closed_incident_for_the_check_does_not_absorb_a_new_failure_and_is_linked(world, plan, incident):
    kwargs = dict(engagement=world.engagement, check_name="contact_in_target_segment", feed_name="contacts",
                  severity="error", affected_customers=["C-1"], failing_rows=1, summary="again")
    first = services.incident_record_failure(**kwargs)
    walk(world, first, "closed")
    second = services.incident_record_failure(**kwargs)
    assert second.pk != first.pk
    reasons = {link.similar_id: link.reason for link in second.resembles.all()}
    assert "same check" in reasons[first.pk]


def test_similar_text_links_a_new_incident_to_a_past_one(world, incident):
    other = services.incident_open(actor=world.provider.member, engagement=world.engagement,
                                   title="Contacts outside the targeted segments were called")
    link = other.resembles.get()
    assert link.similar == incident and "similar text" in link.reason
    unrelated = services.incident_open(actor=world.provider.member, engagement=world.engagement,
                                       title="Dialler outage in Leeds")
    assert not unrelated.resembles.exists()


# The principles.


def test_acknowledge_records_statement_cause_party_and_drafts_the_customer_message(world, incident):
    done = services.incident_acknowledge(
        actor=world.provider.manager, incident=incident, expected_version=incident.version,
        statement="We own this failure and apologise to every customer called.",
        caused_by="subcontractor", caused_by_detail="DataConv Ltd")
    assert done.status == "acknowledged" and done.owned_toward_customers_by == "buyer"
    assert done.customer_message.startswith("Dear customer, we contacted you by mistake about Outbound")
    assert "Northwind Bank is sorry" in done.customer_message
    assert done.timeline.filter(kind="acknowledged").exists()


def test_acknowledge_without_a_real_statement_is_refused(world, incident):
    with pytest.raises(ValidationError) as caught:
        services.incident_acknowledge(actor=world.provider.manager, incident=incident,
                                      expected_version=incident.version, statement="ok",
                                      caused_by="subcontractor")
    assert set(caught.value.message_dict) == {"statement", "caused_by_detail"}
    incident.refresh_from_db()
    assert incident.status == "reported"


@pytest.mark.parametrize("mechanism", ["computer error", "System glitch.", "a computer error happened",
                                       "bad data", "n/a"])
def test_vague_causes_are_refused_with_the_reason(world, incident, mechanism):
    walk(world, incident, "investigating")
    with pytest.raises(ValidationError) as caught:
        services.cause_add(actor=world.provider.member, incident=incident, kind="root",
                           category="technology", mechanism=mechanism)
    message = caught.value.message_dict["mechanism"][0]
    assert "mechanism" in message
    assert not Cause.objects.exists()


def test_only_one_root_cause(world, incident):
    services.cause_add(actor=world.provider.member, incident=incident, kind="root", category="data",
                       mechanism=ROOT_CAUSE)
    with pytest.raises(ValidationError, match="already has a root cause"):
        services.cause_add(actor=world.provider.member, incident=incident, kind="root",
                           category="data", mechanism=ROOT_CAUSE)


def test_illegal_transition_is_refused_with_the_reason(world, incident):
    with pytest.raises(ValidationError) as caught:
        services.incident_advance(actor=world.provider.manager, incident=incident, to="remediating",
                                  expected_version=incident.version)
    assert "cannot move to remediating" in caught.value.message_dict["status"][0]
    with pytest.raises(ValidationError, match="acknowledge it"):
        services.incident_advance(actor=world.provider.manager, incident=incident, to="acknowledged",
                                  expected_version=incident.version)


def test_stale_incident_edit_is_refused_and_the_newer_version_kept(world, incident):
    services.incident_update(actor=world.buyer.member, incident=incident, expected_version=1,
                             description="First edit")
    with pytest.raises(Conflict, match="version 2"):
        services.incident_update(actor=world.provider.member, incident=incident, expected_version=1,
                                 description="Second edit, based on the old page")
    incident.refresh_from_db()
    assert incident.description == "First edit" and incident.version == 2


def test_only_a_buyer_manager_decides_and_signs_off(world, incident):
    walk(world, incident, "investigating")
    services.cause_add(actor=world.provider.member, incident=incident, kind="root", category="data",
                       mechanism=ROOT_CAUSE)
    option = services.option_add(actor=world.provider.manager, incident=incident, title="Rebuild",
                                 cost="10k", time="2w", risk="medium", tradeoffs="Slow but thorough")
    services.option_comment(actor=world.buyer.member, option=option, text="Too slow for us")
    incident.refresh_from_db()
    for user in (world.provider.owner, world.buyer.member):
        with pytest.raises(PermissionDenied):
            services.incident_decide(actor=user, incident=incident, option=option,
                                     expected_version=incident.version)
    services.incident_decide(actor=world.buyer.manager, incident=incident, option=option,
                             expected_version=incident.version, note="Thorough wins")
    walk(world, incident, "in_review")
    with pytest.raises(PermissionDenied, match="Only a manager of Northwind"):
        services.incident_sign_off(actor=world.provider.owner, incident=incident,
                                   expected_version=incident.version)
    incident.refresh_from_db()
    assert incident.signed_off_at is None


def test_close_is_refused_until_every_rule_is_met_then_writes_the_postmortem(world, incident):
    walk(world, incident, "in_review")
    with pytest.raises(ValidationError) as caught:
        services.incident_close(actor=world.provider.manager, incident=incident,
                                expected_version=incident.version)
    assert "has not signed off" in caught.value.message_dict["status"][0]
    closed = walk(world, incident, "closed")
    assert closed.status == "closed" and closed.closed_at
    for heading in ("## What happened", "## Impact", "## Timeline", "## Cause", "## Options and decision",
                    "## Preventive controls", "## Lessons"):
        assert heading in closed.postmortem
    assert ROOT_CAUSE in closed.postmortem and "(chosen)" in closed.postmortem
    from sourcewise.resilience.postmortem import postmortem_pdf

    assert postmortem_pdf(closed.postmortem).startswith(b"%PDF")


def test_close_lists_every_missing_piece(world, incident):
    walk(world, incident, "investigating")
    with pytest.raises(ValidationError) as caught:
        services.incident_close(actor=world.provider.manager, incident=incident, expected_version=None)
    message = caught.value.message_dict["status"][0]
    for part in ("not in review", "no specific root cause", "no solution", "no preventive control",
                 "has not signed off"):
        assert part in message


def test_reopen_goes_back_to_investigating_and_closed_incidents_are_frozen(world, incident):
    closed = walk(world, incident, "closed")
    with pytest.raises(ValidationError, match="closed"):
        services.incident_update(actor=world.buyer.member, incident=closed, expected_version=closed.version,
                                 title="Rewrite history")
    reopened = services.incident_reopen(actor=world.buyer.manager, incident=closed, reason="It came back",
                                        expected_version=closed.version)
    assert reopened.status == "investigating" and reopened.signed_off_at is None
    assert reopened.timeline.filter(kind="reopened").exists()


# Preventive controls of kind "new check".


def test_new_check_control_is_validated_by_the_engine(world, incident):
    with pytest.raises(ValidationError) as caught:
        services.control_add(actor=world.provider.member, incident=incident, kind="new_check",
                             description="No calls outside the segments", owner=world.provider.manager,
                             due_on=dt.date.today(), feed_name="contacts",
                             check="dataset: contacts\nrow_condition: 'select 1'")
    assert "subqueries are not allowed" in caught.value.message_dict["check"][0]
    assert not PreventiveControl.objects.exists()


def test_new_check_is_added_to_the_feed_in_one_action(world, incident, monkeypatch, contacts_feed):
    calls = []

    def applier(**kwargs):
        calls.append(kwargs)
        return "Added to the suite of contacts (check contact_in_target_segment)."

    monkeypatch.setattr(services, "check_applier", applier)
    control = services.control_add(
        actor=world.provider.member, incident=incident, kind="new_check", description="Segment check",
        owner=world.provider.manager, due_on=dt.date.today(), feed=contacts_feed,
        check={"id": "contact_in_target_segment", "dataset": "contacts",
               "relationships": {"to": "targets", "columns": ["campaign_id", "customer_id"]}})
    applied = services.control_apply_check(actor=world.buyer.member, control=control)
    assert applied.applied_at and applied.done_at and "contact_in_target_segment" in applied.applied_note
    assert calls[0]["feed_name"] == "contacts" and calls[0]["check"]["dataset"] == "contacts"
    with pytest.raises(ValidationError, match="already added"):
        services.control_apply_check(actor=world.buyer.member, control=control)


def test_a_new_check_names_a_feed_of_the_engagement(world, incident, contacts_feed):
    from sourcewise.monitoring.models import Feed

    check = {"dataset": "contacts", "not_null": ["segment_id"]}
    common = dict(actor=world.provider.member, incident=incident, kind="new_check", description="Segment check",
                  owner=world.provider.manager, due_on=dt.date.today(), check=check)
    with pytest.raises(ValidationError) as caught:
        services.control_add(**common)
    assert caught.value.message_dict["feed"] == ["Choose the feed whose suite gets the check."]
    with pytest.raises(ValidationError) as caught:
        services.control_add(**common, feed_name="recordings")
    assert caught.value.message_dict["feed"] == [
        "No feed \u201crecordings\u201d in this engagement (its feeds: contacts (Contacts))."]
    # (the private engagement is only proposed: its feed is made directly)
    private = Feed.objects.create(engagement=world.private_engagement, name="Private feed", slug="private")
    with pytest.raises(ValidationError) as caught:
        services.control_add(**common, feed=private)
    assert "not one of this engagement's feeds" in caught.value.message_dict["feed"][0]
    assert not PreventiveControl.objects.exists()
    control = services.control_add(**common, feed_name="Contacts")
    assert control.feed_name == "contacts"


# One failure, one incident (several checks of one run).


def _failures(*names, customers=None):
    return [services.Failure(check_name=name, label=f"Check {name}", summary=f"{name} failed",
                             affected_customers=(customers or {}).get(name, [f"{name}-1"]), failing_rows=2)
            for name in names]


def test_the_failed_checks_of_one_run_open_one_incident(world, plan):
    incidents = services.incident_record_failures(
        engagement=world.engagement, feed_name="contacts", feed_label="Daily contacts",
        failures=_failures("a", "b", customers={"a": ["C-1", "C-2"], "b": ["C-2", "C-3"]}))
    assert len(incidents) == 1
    incident = incidents[0]
    assert Incident.objects.count() == 1
    assert incident.title == "2 checks failed on Daily contacts: Check a; Check b"
    assert sorted(incident.affected_customers) == ["C-1", "C-2", "C-3"] and incident.failing_rows == 4
    assert [(c.check_name, c.label, c.open) for c in incident.checks.all()] == [
        ("a", "Check a", True), ("b", "Check b", True)]
    assert [e.text.split(" failed")[0] for e in incident.timeline.filter(kind="check")] == ["Check a", "Check b"]
    # A later failure of either check adds to it; a check no incident follows opens a new one.
    later = services.incident_record_failures(engagement=world.engagement, feed_name="contacts",
                                              failures=_failures("b", "c"))
    assert later[0].pk == incident.pk and later[1].pk != incident.pk
    incident.refresh_from_db()
    assert "b-1" in incident.affected_customers and incident.timeline.filter(kind="failure").count() == 1
    assert later[1].checks.get().check_name == "c"


def test_the_database_keeps_one_open_incident_per_check(world, plan):
    from django.db import IntegrityError, transaction

    from sourcewise.resilience.models import IncidentCheck

    first = services.incident_record_failures(engagement=world.engagement, feed_name="contacts",
                                              failures=_failures("a"))[0]
    other = services.incident_open(actor=world.buyer.member, engagement=world.engagement, title="By hand")
    with pytest.raises(IntegrityError), transaction.atomic():
        IncidentCheck.objects.create(incident=other, engagement=world.engagement, check_name="a")
    assert IncidentCheck.objects.get(check_name="a").incident == first


def test_closing_frees_the_checks_and_reopening_takes_them_back_or_says_who_has_them(world, plan):
    first = services.incident_record_failures(engagement=world.engagement, feed_name="contacts",
                                              failures=_failures("a", "b"))[0]
    walk(world, first, "closed")
    assert not first.checks.filter(open=True).exists()
    assert "- Detected by the checks Check a; Check b on contacts" in first.postmortem
    services.incident_reopen(actor=world.buyer.member, incident=first, reason="It came back",
                             expected_version=first.version)
    assert first.checks.filter(open=True).count() == 2
    _close_again(world, first)
    assert not first.checks.filter(open=True).exists()
    second = services.incident_record_failures(engagement=world.engagement, feed_name="contacts",
                                               failures=_failures("b"))[0]
    assert second.pk != first.pk
    assert "same check (b)" in second.resembles.get(similar=first).reason
    first.refresh_from_db()
    with pytest.raises(ValidationError) as caught:
        services.incident_reopen(actor=world.buyer.member, incident=first, reason="It came back",
                                 expected_version=first.version)
    message = caught.value.message_dict["status"][0]
    assert f"Check b is followed by the open incident #{second.pk}" in message
    first.refresh_from_db()
    assert first.status == "closed" and not first.checks.filter(open=True).exists()


def _close_again(world, incident):
    """A reopened incident (root cause, option and control kept) walked back to closed."""
    def v():
        incident.refresh_from_db()
        return incident.version

    services.incident_decide(actor=world.buyer.manager, incident=incident, option=incident.options.first(),
                             expected_version=v())
    for to in ("remediating", "in_review"):
        services.incident_advance(actor=world.provider.member, incident=incident, to=to, expected_version=v())
    services.incident_sign_off(actor=world.buyer.manager, incident=incident, expected_version=v())
    services.incident_close(actor=world.provider.manager, incident=incident, expected_version=v())


def test_bad_failures_in_a_group_are_refused_naming_each(world):
    with pytest.raises(ValidationError) as caught:
        services.incident_record_failures(
            engagement=world.engagement, feed_name="contacts",
            failures=[*_failures("a"), services.Failure(check_name=" ", summary="", failing_rows=-1)])
    assert set(caught.value.message_dict) == {"failures[1].check_name", "failures[1].summary",
                                              "failures[1].failing_rows"}
    assert not Incident.objects.exists()


# Scenarios and exercises: edited with a version check, deleted only when nothing depends on them.


def test_a_scenario_is_edited_with_a_version_check_and_audited(world, plan):
    scenario = plan.scenarios.get()
    edited = services.scenario_update(actor=world.buyer.member, scenario=scenario, expected_version=1,
                                      title="The segment file arrives stale", detected_by_checks="a, b")
    assert (edited.title, edited.detected_by_checks, edited.version) == ("The segment file arrives stale",
                                                                         ["a", "b"], 2)
    event = AuditEvent.objects.filter(action="resilience.scenario_update").get()
    assert event.changes["title"]["after"] == "The segment file arrives stale"
    with pytest.raises(Conflict, match="now version 2, you had 1"):
        services.scenario_update(actor=world.provider.member, scenario=scenario, expected_version=1,
                                 title="Theirs")
    with pytest.raises(ValidationError) as caught:
        services.scenario_update(actor=world.provider.member, scenario=scenario, expected_version=2,
                                 title=" ", buyer_owner=world.provider.member, plan=None)
    assert set(caught.value.message_dict) == {"plan"}
    with pytest.raises(ValidationError) as caught:
        services.scenario_update(actor=world.provider.member, scenario=scenario, expected_version=2,
                                 title=" ", buyer_owner=world.provider.member)
    assert set(caught.value.message_dict) == {"title", "buyer_owner"}
    for outsider in (world.buyer.viewer, world.outsider.manager):
        with pytest.raises(PermissionDenied):
            services.scenario_update(actor=outsider, scenario=scenario, expected_version=2, title="x")
        with pytest.raises(PermissionDenied):
            services.scenario_delete(actor=outsider, scenario=scenario)
    scenario.refresh_from_db()
    assert scenario.title == "The segment file arrives stale" and scenario.version == 2


def test_a_scenario_incidents_refer_to_is_kept_and_the_reason_given(world, plan):
    scenario = plan.scenarios.get()
    for title in ("First", "Second"):
        services.incident_open(actor=world.buyer.member, engagement=world.engagement, title=title,
                               scenario=scenario)
    with pytest.raises(ValidationError, match="2 incidents refer to this scenario"):
        services.scenario_delete(actor=world.buyer.member, scenario=scenario)
    assert plan.scenarios.count() == 1
    other = services.scenario_add(
        actor=world.provider.member, plan=plan, title="The dialler goes down", detected_by_feeds="contacts",
        detected_by_checks="calls_made", response_steps="Switch to the backup dialler",
        buyer_owner=world.buyer.manager, provider_owner=world.provider.manager)
    with pytest.raises(Conflict):
        services.scenario_delete(actor=world.provider.member, scenario=other, expected_version=5)
    services.scenario_delete(actor=world.provider.member, scenario=other, expected_version=1)
    assert list(plan.scenarios.all()) == [scenario]
    event = AuditEvent.objects.filter(action="resilience.scenario_delete").get()
    assert event.changes["title"]["before"] == "The dialler goes down" and event.object_id == str(other.pk)


def test_an_exercise_is_edited_and_deleted_unless_its_gaps_became_actions(world, plan):
    day = timezone.localdate() - dt.timedelta(days=10)
    plain = services.exercise_record(actor=world.buyer.member, plan=plan, held_on=day, result="passed")
    edited = services.exercise_update(actor=world.provider.member, exercise=plain, expected_version=1,
                                      result="partial", notes="The backup took an hour")
    assert (edited.result, edited.notes, edited.version) == ("partial", "The backup took an hour", 2)
    with pytest.raises(Conflict):
        services.exercise_update(actor=world.buyer.member, exercise=plain, expected_version=1, notes="x")
    with pytest.raises(ValidationError) as caught:
        services.exercise_update(actor=world.buyer.member, exercise=plain, expected_version=2,
                                 held_on=timezone.localdate() + dt.timedelta(days=1), result="great")
    assert set(caught.value.message_dict) == {"held_on", "result"}
    with_gaps = services.exercise_record(
        actor=world.buyer.member, plan=plan, held_on=day, result="failed",
        gaps=[{"description": f"Gap {i}", "owner": world.provider.manager, "due_on": day} for i in (1, 2)])
    with pytest.raises(ValidationError, match="2 actions came from this exercise's gaps"):
        services.exercise_delete(actor=world.buyer.member, exercise=with_gaps)
    assert PreventiveControl.objects.filter(exercise=with_gaps).count() == 2
    with pytest.raises(PermissionDenied):
        services.exercise_delete(actor=world.provider.viewer, exercise=plain)
    services.exercise_delete(actor=world.buyer.member, exercise=plain, expected_version=2)
    assert list(plan.exercises.all()) == [with_gaps]
    actions = set(AuditEvent.objects.filter(action__startswith="resilience.exercise_").values_list("action", flat=True))
    assert {"resilience.exercise_update", "resilience.exercise_delete"} <= actions
