"""Every write to resilience plans and incidents: one function per business action.

Each is keyword-only, runs in one transaction, checks the actor's role on the
engagement (in the organisation they act for), and appends one audit record.
Incident state changes also append to the incident's timeline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from sourcewise.accounts.models import Organization, User
from sourcewise.core import audit, edits
from sourcewise.core.models import Engagement
from sourcewise.core.permissions import membership_of, require_engagement_role
from sourcewise.core.tenancy import Role
from sourcewise.resilience import rules
from sourcewise.resilience.models import (
    Cause,
    Exercise,
    FailureScenario,
    Incident,
    IncidentCheck,
    IncidentFinding,
    IncidentLink,
    OptionComment,
    PreventiveControl,
    ResiliencePlan,
    SolutionOption,
    TimelineEntry,
    Webhook,
)

logger = logging.getLogger(__name__)

S = Incident.Status
# The moves a person makes with incident_advance; the others have their own action
# (acknowledge, decide, close, reopen) because each demands something.
ADVANCE = {
    (S.ACKNOWLEDGED, S.INVESTIGATING): "Investigation started.",
    (S.SOLUTION_AGREED, S.REMEDIATING): "Remediation started.",
    (S.REMEDIATING, S.IN_REVIEW): "Remediation done; in review.",
    (S.IN_REVIEW, S.REMEDIATING): "Sent back to remediation.",
}
# Which action leads to each state, for the reason given when a move is refused.
HOW_TO_REACH = {
    S.ACKNOWLEDGED: "acknowledge it (with an ownership and apology statement)",
    S.SOLUTION_AGREED: "have a buyer-side manager decide among the solution options",
    S.CLOSED: "close it (root cause, agreed solution, a preventive control and the buyer's sign-off)",
    S.REPORTED: "nothing: an incident is reported only when it opens",
}

PLAN_FIELDS = (
    "service", "description", "max_disruption_hours", "max_customers_affected",
    "acknowledge_within_hours", "solution_within_hours", "customer_template", "executive_template",
)
INCIDENT_TEXT_FIELDS = ("title", "description", "lessons")


# Helpers.


def _writer(actor: User, engagement: Engagement, organization: Organization | None, minimum=Role.MEMBER):
    return require_engagement_role(actor, engagement, minimum, organization=organization)


_stale = edits.check_version


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update(of=("self",)).select_related("plan", "engagement").get(pk=incident.pk)


def _note(incident: Incident, actor: Any, kind: str, text: str, at: dt.datetime | None = None) -> None:
    TimelineEntry.objects.create(
        incident=incident, actor=actor if getattr(actor, "pk", None) else None,
        actor_label=getattr(actor, "email", None) or "system", kind=kind, text=text,
        at=at or timezone.now(),
    )


def _bump(incident: Incident, *fields: str) -> None:
    incident.version += 1
    incident.updated_at = timezone.now()
    incident.save(update_fields=[*fields, "version", "updated_at"])


def _text(value: Any, field: str, message: str, errors: dict, max_length: int | None = None) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else str(value)
    if not text:
        errors[field] = message
    elif max_length and len(text) > max_length:
        errors[field] = f"Keep it under {max_length} characters."
    return text


def _open_guard(incident: Incident) -> None:
    if incident.status == S.CLOSED:
        raise ValidationError("This incident is closed. Reopen it to change it.")


# Plans.


def _clean_plan(fields: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    if "service" in fields:
        fields["service"] = _text(fields["service"], "service", "Name the business service.", errors, 200)
    for key in ("description", "customer_template", "executive_template"):
        if key in fields:
            fields[key] = (fields[key] or "").strip()
    for key, label in (
        ("max_disruption_hours", "the longest tolerable disruption in hours"),
        ("max_customers_affected", "the most customers who may be affected"),
        ("acknowledge_within_hours", "how many hours to acknowledge within"),
        ("solution_within_hours", "how many hours to agree a solution within"),
    ):
        if key in fields:
            value = fields[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                errors[key] = f"Give {label} as a whole number of at least 1."
    if errors:
        raise ValidationError(errors)
    return fields


@transaction.atomic
def plan_create(
    *,
    actor: User,
    engagement: Engagement,
    service: str,
    max_disruption_hours: int,
    max_customers_affected: int,
    organization: Organization | None = None,
    acknowledge_within_hours: int = 1,
    solution_within_hours: int = 24,
    description: str = "",
    customer_template: str = "",
    executive_template: str = "",
) -> ResiliencePlan:
    """A resilience plan for one important business service of the engagement."""
    membership = _writer(actor, engagement, organization)
    fields = _clean_plan(dict(
        service=service, description=description, max_disruption_hours=max_disruption_hours,
        max_customers_affected=max_customers_affected,
        acknowledge_within_hours=acknowledge_within_hours,
        solution_within_hours=solution_within_hours, customer_template=customer_template,
        executive_template=executive_template,
    ))
    if ResiliencePlan.objects.filter(engagement=engagement, service__iexact=fields["service"]).exists():
        raise ValidationError({"service": "This engagement already has a plan for that service."})
    plan = ResiliencePlan.objects.create(engagement=engagement, **fields)
    audit.record(actor=actor, action="resilience.plan_create", obj=plan,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(plan, PLAN_FIELDS)))
    return plan


@transaction.atomic
def plan_update(
    *,
    actor: User,
    plan: ResiliencePlan,
    expected_version: int | None,
    organization: Organization | None = None,
    **changes: Any,
) -> ResiliencePlan:
    """Edit a plan; refused if someone saved a newer version meanwhile."""
    edits.refuse_unknown(changes, PLAN_FIELDS)
    plan = ResiliencePlan.objects.select_for_update().get(pk=plan.pk)
    membership = _writer(actor, plan.engagement, organization)
    _stale(plan, expected_version, "plan")

    def cleaned(_merged: dict[str, Any]) -> dict[str, Any]:
        fields = _clean_plan(dict(changes))
        if "service" in fields and ResiliencePlan.objects.filter(
            engagement=plan.engagement, service__iexact=fields["service"]
        ).exclude(pk=plan.pk).exists():
            raise ValidationError({"service": "This engagement already has a plan for that service."})
        return fields

    return edits.save_edit(plan, fields=PLAN_FIELDS, changes=changes, clean=cleaned,
                           expected_version=expected_version, what="plan", actor=actor,
                           action="resilience.plan_update", organization=membership.organization)


def _names(value: Any, field: str, what: str, errors: dict) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", "\n").splitlines()
    names = [str(v).strip() for v in (value or []) if str(v).strip()]
    if not names:
        errors[field] = f"Name at least one {what} that detects this failure."
    return list(dict.fromkeys(names))


def _side_member(user: User | None, organization: Organization, field: str, side: str, errors: dict):
    if user is None:
        errors[field] = f"Name the owner on the {side}'s side."
    elif membership_of(user, organization) is None:
        errors[field] = f"{user} is not a member of {organization}, the {side}."
    return user


SCENARIO_FIELDS = (
    "title", "description", "detected_by_feeds", "detected_by_checks", "response_steps",
    "buyer_owner", "provider_owner",
)
EXERCISE_FIELDS = ("held_on", "result", "notes")


def _clean_scenario(fields: dict[str, Any], engagement: Engagement) -> dict[str, Any]:
    """Each given field of a scenario checked; every problem named at once."""
    errors: dict[str, str] = {}
    if "title" in fields:
        fields["title"] = _text(fields["title"], "title",
                                "Name the failure, e.g. the targeting data integration fails.", errors, 200)
    if "description" in fields:
        fields["description"] = (fields["description"] or "").strip()
    if "detected_by_feeds" in fields:
        fields["detected_by_feeds"] = _names(fields["detected_by_feeds"], "detected_by_feeds", "feed", errors)
    if "detected_by_checks" in fields:
        fields["detected_by_checks"] = _names(fields["detected_by_checks"], "detected_by_checks", "check", errors)
    if "response_steps" in fields:
        fields["response_steps"] = _text(fields["response_steps"], "response_steps",
                                         "Write the response steps, one per line.", errors)
    if "buyer_owner" in fields:
        _side_member(fields["buyer_owner"], engagement.buyer, "buyer_owner", "buyer", errors)
    if "provider_owner" in fields:
        _side_member(fields["provider_owner"], engagement.provider, "provider_owner", "provider", errors)
    if errors:
        raise ValidationError(errors)
    return fields


@transaction.atomic
def scenario_add(
    *,
    actor: User,
    plan: ResiliencePlan,
    title: str,
    detected_by_feeds: list[str] | str,
    detected_by_checks: list[str] | str,
    response_steps: str,
    buyer_owner: User | None,
    provider_owner: User | None,
    organization: Organization | None = None,
    description: str = "",
) -> FailureScenario:
    """A failure scenario: how it is detected, the response steps, an owner on each side."""
    engagement = plan.engagement
    membership = _writer(actor, engagement, organization)
    fields = _clean_scenario(dict(
        title=title, description=description, detected_by_feeds=detected_by_feeds,
        detected_by_checks=detected_by_checks, response_steps=response_steps, buyer_owner=buyer_owner,
        provider_owner=provider_owner), engagement)
    scenario = FailureScenario.objects.create(plan=plan, **fields)
    audit.record(actor=actor, action="resilience.scenario_add", obj=scenario,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(scenario, ["plan", *SCENARIO_FIELDS])))
    return scenario


def _locked_scenario(scenario: FailureScenario) -> FailureScenario:
    return FailureScenario.objects.select_for_update(of=("self",)).select_related(
        "plan__engagement__buyer", "plan__engagement__provider").get(pk=scenario.pk)


@transaction.atomic
def scenario_update(
    *,
    actor: User,
    scenario: FailureScenario,
    expected_version: int | None,
    organization: Organization | None = None,
    **changes: Any,
) -> FailureScenario:
    """Edit a failure scenario; refused (Conflict) if someone saved a newer version meanwhile."""
    edits.refuse_unknown(changes, SCENARIO_FIELDS)
    scenario = _locked_scenario(scenario)
    engagement = scenario.plan.engagement
    membership = _writer(actor, engagement, organization)
    return edits.save_edit(scenario, fields=SCENARIO_FIELDS, changes=changes,
                           clean=lambda _merged: _clean_scenario(dict(changes), engagement),
                           expected_version=expected_version, what="scenario", actor=actor,
                           action="resilience.scenario_update", organization=membership.organization)


@transaction.atomic
def scenario_delete(
    *,
    actor: User,
    scenario: FailureScenario,
    expected_version: int | None = None,
    organization: Organization | None = None,
) -> None:
    """Delete a failure scenario no incident refers to.

    An incident's scenario is part of its history: it links the incident to its plan's
    response and to past incidents of the same failure. Deleting such a scenario is
    refused with the reason (edit it instead), so nothing an incident refers to vanishes.
    """
    scenario = _locked_scenario(scenario)
    membership = _writer(actor, scenario.plan.engagement, organization)
    _stale(scenario, expected_version, "scenario")
    count = Incident.objects.filter(scenario=scenario).count()
    if count:
        raise ValidationError(
            f"{count} incident{'s refer' if count > 1 else ' refers'} to this scenario, so it stays: "
            "their history keeps the scenario they were run under. Edit the scenario instead.")
    audit.record(actor=actor, action="resilience.scenario_delete", obj=scenario,
                 organization=membership.organization,
                 changes=audit.diff(audit.snapshot(scenario, ["plan", *SCENARIO_FIELDS]), {}))
    scenario.delete()


def _clean_exercise(fields: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    if "held_on" in fields:
        held_on = fields["held_on"]
        if not isinstance(held_on, dt.date):
            errors["held_on"] = "Give the date of the exercise as YYYY-MM-DD."
        elif held_on > timezone.localdate():
            errors["held_on"] = "An exercise is recorded after it is held: the date is in the future."
    if "result" in fields and fields["result"] not in Exercise.Result.values:
        errors["result"] = f"Say how it went: one of {', '.join(Exercise.Result.values)}."
    if "notes" in fields:
        fields["notes"] = (fields["notes"] or "").strip()
    if errors:
        raise ValidationError(errors)
    return fields


def _locked_exercise(exercise: Exercise) -> Exercise:
    return Exercise.objects.select_for_update(of=("self",)).select_related("plan__engagement").get(pk=exercise.pk)


@transaction.atomic
def exercise_update(
    *,
    actor: User,
    exercise: Exercise,
    expected_version: int | None,
    organization: Organization | None = None,
    **changes: Any,
) -> Exercise:
    """Edit an exercise's date, result or notes; a stale edit is refused (Conflict).

    Its gaps are preventive controls of their own (marked done from the plan page).
    """
    edits.refuse_unknown(changes, EXERCISE_FIELDS)
    exercise = _locked_exercise(exercise)
    membership = _writer(actor, exercise.plan.engagement, organization)
    return edits.save_edit(exercise, fields=EXERCISE_FIELDS, changes=changes,
                           clean=lambda _merged: _clean_exercise(dict(changes)),
                           expected_version=expected_version, what="exercise", actor=actor,
                           action="resilience.exercise_update", organization=membership.organization)


@transaction.atomic
def exercise_delete(
    *,
    actor: User,
    exercise: Exercise,
    expected_version: int | None = None,
    organization: Organization | None = None,
) -> None:
    """Delete an exercise recorded by mistake; one whose gaps became actions is kept.

    Its gaps are preventive controls with owners and due dates (reminded when overdue):
    deleting the exercise would delete them, so it is refused with the reason.
    """
    exercise = _locked_exercise(exercise)
    membership = _writer(actor, exercise.plan.engagement, organization)
    _stale(exercise, expected_version, "exercise")
    count = PreventiveControl.objects.filter(exercise=exercise).count()
    if count:
        raise ValidationError(
            f"{count} action{'s' if count > 1 else ''} came from this exercise's gaps, so it stays: "
            "deleting it would delete them. Edit the exercise instead.")
    audit.record(actor=actor, action="resilience.exercise_delete", obj=exercise,
                 organization=membership.organization,
                 changes=audit.diff(audit.snapshot(exercise, ["plan", *EXERCISE_FIELDS]), {}))
    exercise.delete()


@transaction.atomic
def exercise_record(
    *,
    actor: User,
    plan: ResiliencePlan,
    held_on: dt.date,
    result: str,
    organization: Organization | None = None,
    notes: str = "",
    gaps: list[dict[str, Any]] | None = None,
) -> Exercise:
    """An exercise of the plan; each gap found becomes a preventive control with owner and date."""
    engagement = plan.engagement
    membership = _writer(actor, engagement, organization)
    errors: dict[str, str] = {}
    try:
        _clean_exercise({"held_on": held_on, "result": result})
    except ValidationError as exc:
        errors.update({key: messages[0] for key, messages in exc.message_dict.items()})
    for index, gap in enumerate(gaps or []):
        problem = _gap_problem(gap, engagement)
        if problem:
            errors[f"gaps[{index}]"] = problem
    if errors:
        raise ValidationError(errors)
    exercise = Exercise.objects.create(plan=plan, held_on=held_on, result=result,
                                       notes=(notes or "").strip(), created_by=actor)
    for gap in gaps or []:
        PreventiveControl.objects.create(
            engagement=engagement, exercise=exercise, description=gap["description"].strip(),
            owner=gap["owner"], due_on=gap["due_on"],
        )
    audit.record(actor=actor, action="resilience.exercise_record", obj=exercise,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(exercise, ["plan", "held_on", "result", "notes"])
                                       | {"gaps": {"before": None, "after": [g["description"] for g in gaps or []]}}))
    return exercise


def _gap_problem(gap: dict[str, Any], engagement: Engagement) -> str | None:
    if not (gap.get("description") or "").strip():
        return "Describe the gap as an action to take."
    owner = gap.get("owner")
    if owner is None or not any(membership_of(owner, org) for org in (engagement.buyer, engagement.provider)):
        return "Give the action an owner from either side of the engagement."
    if not isinstance(gap.get("due_on"), dt.date):
        return "Give the action a due date (YYYY-MM-DD)."
    return None


# Incidents: opening, and failures reported by monitoring.


def _plan_for(engagement: Engagement, scenario: FailureScenario | None,
              check_names: Sequence[str] = ()):
    """The plan (and scenario) an incident falls under: the scenario that names one of its checks.

    A late delivery's key is `late_delivery:<feed slug>`; a scenario may name it so, or name
    `late_delivery` for every feed.
    """
    if scenario is not None:
        return scenario.plan, scenario
    wanted = [n for name in check_names for n in (name, name.split(":", 1)[0]) if n]
    if wanted:
        for candidate in FailureScenario.objects.filter(plan__engagement=engagement).select_related("plan"):
            if any(name in candidate.detected_by_checks for name in wanted):
                return candidate.plan, candidate
    plans = list(ResiliencePlan.objects.filter(engagement=engagement)[:2])
    return (plans[0] if len(plans) == 1 else None), None


def _clean_customers(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", "\n").splitlines()
    return list(dict.fromkeys(str(v).strip() for v in (value or []) if str(v).strip()))


def _link_similar(incident: Incident) -> list[IncidentLink]:
    """Link past incidents of the engagement that share a check, the scenario or the text."""
    links = []
    past = Incident.objects.filter(engagement=incident.engagement).exclude(pk=incident.pk)
    mine = set(incident.checks.values_list("check_name", flat=True))
    shared: dict[int, str] = {}
    if mine:
        for incident_id, name in IncidentCheck.objects.filter(
            engagement=incident.engagement, check_name__in=mine
        ).exclude(incident=incident).order_by("pk").values_list("incident_id", "check_name"):
            shared.setdefault(incident_id, name)
    text = f"{incident.title} {incident.description}"
    for other in past.order_by("-reported_at")[:500]:
        if other.pk in shared:
            reason = f"same check ({shared[other.pk]})"
        elif incident.scenario_id and other.scenario_id == incident.scenario_id:
            reason = "same failure scenario"
        else:
            score = rules.similarity(text, f"{other.title} {other.description}")
            if score < rules.SIMILARITY_THRESHOLD:
                continue
            reason = f"similar text ({score:.0%} of words shared)"
        link, made = IncidentLink.objects.get_or_create(incident=incident, similar=other,
                                                        defaults={"reason": reason})
        if made:
            links.append(link)
            _note(incident, None, "similar", f"Resembles #{other.pk} \u201c{other.title}\u201d: {reason}.")
    return links


@transaction.atomic
def incident_open(
    *,
    actor: User,
    engagement: Engagement,
    title: str,
    organization: Organization | None = None,
    description: str = "",
    plan: ResiliencePlan | None = None,
    scenario: FailureScenario | None = None,
    affected_customers: list[str] | str | None = None,
    occurred_at: dt.datetime | None = None,
    source: str = Incident.Source.MANUAL,
) -> Incident:
    """Open an incident by hand (or through the API); either side may report one."""
    membership = _writer(actor, engagement, organization)
    if engagement.status == Engagement.Status.PROPOSED:
        raise ValidationError("The engagement is not active yet: nothing to report an incident on.")
    errors: dict[str, str] = {}
    title = _text(title, "title", "Say in a line what went wrong.", errors, 200)
    if plan is not None and plan.engagement_id != engagement.pk:
        errors["plan"] = "That plan belongs to another engagement."
    if scenario is not None and (
        scenario.plan.engagement_id != engagement.pk or (plan is not None and scenario.plan_id != plan.pk)
    ):
        errors["scenario"] = "That scenario is not part of the plan."
    if occurred_at is not None and occurred_at > timezone.now():
        errors["occurred_at"] = "The failure cannot have happened in the future."
    if errors:
        raise ValidationError(errors)
    if plan is None:
        plan, scenario = _plan_for(engagement, scenario)
    customers = _clean_customers(affected_customers)
    now = timezone.now()
    incident = Incident.objects.create(
        engagement=engagement, plan=plan, scenario=scenario, title=title,
        description=(description or "").strip(), source=source, affected_customers=customers,
        severity=rules.severity_for(len(customers), plan.max_customers_affected if plan else None),
        occurred_at=occurred_at or now, reported_at=now, opened_by=actor,
    )
    _note(incident, actor, "opened", f"Reported by {actor} ({membership.organization}): {title}. "
          f"{len(customers)} customers affected; severity {incident.get_severity_display().lower()}.")
    _link_similar(incident)
    audit.record(actor=actor, action="resilience.incident_open", obj=incident,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(incident, [
                     "title", "description", "status", "severity", "source", "plan", "scenario",
                     "affected_customers"])))
    return incident


@dataclass(frozen=True)
class Failure:
    """One failed check as monitoring reports it: its key, what it did, and the finding behind it."""

    check_name: str
    summary: str
    affected_customers: list[str] = field(default_factory=list)
    failing_rows: int = 0
    label: str = ""
    finding: Any = None
    occurred_at: dt.datetime | None = None
    source_url: str = ""


def _failure_problems(failure: Failure, engagement: Engagement) -> dict[str, str]:
    errors: dict[str, str] = {}
    _text(failure.check_name, "check_name", "Name the check that failed.", errors, 200)
    _text(failure.summary, "summary", "Summarise what failed.", errors)
    rows = failure.failing_rows
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        errors["failing_rows"] = "Give the number of failing rows as a whole number."
    if failure.finding is not None and failure.finding.feed.engagement_id != engagement.pk:
        errors["finding"] = "That finding belongs to another engagement."
    return errors


@transaction.atomic
def incident_record_failure(
    *,
    engagement: Engagement,
    check_name: str,
    feed_name: str,
    severity: str,
    affected_customers: list[str],
    failing_rows: int,
    summary: str,
    source_url: str = "",
    occurred_at: dt.datetime | None = None,
    title: str = "",
    finding: Any = None,
) -> Incident | None:
    """A failed check reported by monitoring: open an incident, or add to the open one.

    Only `error` severity opens incidents (a `warn` is monitoring's to show); None then.
    One failure through `incident_record_failures`.
    """
    errors = _failure_problems(Failure(check_name=(check_name or "").strip(), summary=summary,
                                       failing_rows=failing_rows, finding=finding), engagement)
    _text(feed_name, "feed_name", "Name the feed the check belongs to.", errors, 200)
    if severity not in ("error", "warn"):
        errors["severity"] = "A check's severity is error or warn."
    if errors:
        raise ValidationError(errors)
    if severity != "error":
        return None
    failure = Failure(check_name=check_name.strip(), summary=summary.strip(),
                      affected_customers=list(affected_customers or []), failing_rows=failing_rows,
                      finding=finding, occurred_at=occurred_at, source_url=source_url)
    return incident_record_failures(engagement=engagement, feed_name=feed_name, failures=[failure],
                                    title=title)[0]


@transaction.atomic
def incident_record_failures(
    *,
    engagement: Engagement,
    feed_name: str,
    failures: Sequence[Failure],
    feed_label: str = "",
    title: str = "",
) -> list[Incident]:
    """Failed error checks of one feed (one check run): one failure, one incident.

    A failure whose check already has an open incident adds to it (customers merged,
    severity may rise, never fall). The others open ONE new incident together: its title
    names the feed and the checks, its customers are their union, each check gets its
    open `IncidentCheck` row and a timeline entry, each finding is linked. The actor is
    the system. Returns the incidents touched, the new one last.
    """
    errors: dict[str, str] = {}
    feed_name = _text(feed_name, "feed_name", "Name the feed the checks belong to.", errors, 200)
    if not failures:
        errors["failures"] = "Give at least one failed check."
    for index, failure in enumerate(failures):
        for key, message in _failure_problems(failure, engagement).items():
            errors[key if len(failures) == 1 else f"failures[{index}].{key}"] = message
    if errors:
        raise ValidationError(errors)
    failures = [Failure(**{**failure.__dict__, "check_name": failure.check_name.strip(),
                           "summary": failure.summary.strip(),
                           "affected_customers": _clean_customers(failure.affected_customers)})
                for failure in failures]
    # Another run of the same check may open its incident while this one does: the database
    # refuses the second open row, and the retry adds to the incident that won.
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _record_failures(engagement, feed_name, feed_label or feed_name, failures, title)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _record_failures(engagement: Engagement, feed_name: str, feed_label: str, failures: list[Failure],
                     title: str) -> list[Incident]:
    names = list(dict.fromkeys(f.check_name for f in failures))
    taken = {
        row.check_name: row.incident_id
        for row in IncidentCheck.objects.select_for_update().filter(
            engagement=engagement, check_name__in=names, open=True)
    }
    touched: dict[int, Incident] = {}
    fresh: list[Failure] = []
    for failure in failures:
        incident_id = taken.get(failure.check_name)
        if incident_id is None:
            fresh.append(failure)
            continue
        incident = touched.get(incident_id) or Incident.objects.select_for_update(of=("self",)).select_related(
            "plan", "engagement").get(pk=incident_id)
        touched[incident_id] = _add_failure(incident, failure, feed_name)
    result = list(touched.values())
    if fresh:
        result.append(_open_from_failures(engagement, feed_name, feed_label, fresh, title))
    return result


def _link_finding(incident: Incident, failure: Failure) -> None:
    if failure.finding is not None:
        IncidentFinding.objects.get_or_create(finding=failure.finding, defaults={"incident": incident})


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _open_from_failures(engagement: Engagement, feed_name: str, feed_label: str, failures: list[Failure],
                        title: str) -> Incident:
    checks: dict[str, str] = {}
    for failure in failures:
        checks.setdefault(failure.check_name, failure.label or failure.check_name)
    labels = list(checks.values())
    customers = _clean_customers([c for f in failures for c in f.affected_customers])
    rows = sum(f.failing_rows for f in failures)
    plan, scenario = _plan_for(engagement, None, list(checks))
    now = timezone.now()
    if not (title or "").strip():
        title = (f"{labels[0]} failed on {feed_label}" if len(labels) == 1
                 else f"{len(labels)} checks failed on {feed_label}: " + "; ".join(labels))
    at = min((f.occurred_at for f in failures if f.occurred_at), default=now)
    incident = Incident.objects.create(
        engagement=engagement, plan=plan, scenario=scenario, title=_shorten(title.strip()),
        description="\n".join(dict.fromkeys(f.summary for f in failures)),
        source=Incident.Source.FINDING, check_name=next(iter(checks)), feed_name=feed_name,
        source_url=next((f.source_url for f in failures if f.source_url), ""),
        affected_customers=customers, failing_rows=rows,
        severity=rules.severity_for(len(customers), plan.max_customers_affected if plan else None),
        occurred_at=min(at, now), reported_at=now,
    )
    for name, label in checks.items():
        IncidentCheck.objects.create(incident=incident, engagement=engagement, check_name=name,
                                     label=label[:300], feed_name=feed_name)
    _note(incident, None, "opened",
          f"Opened by {len(checks)} failed check{'s' if len(checks) > 1 else ''} on {feed_label}: "
          f"{', '.join(labels)} ({rows} failing rows, {len(customers)} customers affected; "
          f"severity {incident.get_severity_display().lower()}).")
    for failure in failures:
        _note(incident, None, "check", f"{failure.label or failure.check_name} failed: {failure.summary} "
              f"({failure.failing_rows} failing rows, {len(failure.affected_customers)} customers).")
        _link_finding(incident, failure)
    _link_similar(incident)
    audit.record(actor=None, action="resilience.incident_open", obj=incident,
                 organization=engagement.buyer,
                 changes=audit.created(audit.snapshot(incident, [
                     "title", "description", "status", "severity", "source", "check_name",
                     "feed_name", "plan", "scenario", "affected_customers", "failing_rows"])
                     | {"checks": {"before": None, "after": list(checks)}}))
    return incident


def _add_failure(incident: Incident, failure: Failure, feed_name: str) -> Incident:
    """Another failure of a check behind an open incident: customers merged, severity may rise."""
    engagement = incident.engagement
    before = audit.snapshot(incident, ["affected_customers", "failing_rows", "severity"])
    known = set(incident.affected_customers)
    new = [c for c in failure.affected_customers if c not in known]
    incident.affected_customers = [*incident.affected_customers, *new]
    incident.failing_rows += failure.failing_rows
    plan = incident.plan
    severity_now = rules.severity_for(len(incident.affected_customers),
                                      plan.max_customers_affected if plan else None)
    if rules.SEVERITY_RANK[severity_now] > rules.SEVERITY_RANK[incident.severity]:
        incident.severity = severity_now
    _bump(incident, "affected_customers", "failing_rows", "severity")
    _note(incident, None, "failure", f"{failure.label or failure.check_name} on {feed_name} failed again: "
          f"{failure.summary} ({failure.failing_rows} failing rows, {len(new)} more customers affected).",
          at=failure.occurred_at if failure.occurred_at and failure.occurred_at <= timezone.now() else None)
    _link_finding(incident, failure)
    audit.record(actor=None, action="resilience.incident_failure_added", obj=incident,
                 organization=engagement.buyer,
                 changes=audit.diff(before, audit.snapshot(
                     incident, ["affected_customers", "failing_rows", "severity"]))
                 | {"check": {"before": None, "after": failure.check_name}})
    return incident


# Incidents: the states.


def _refuse_move(incident: Incident, to: str) -> None:
    current = S(incident.status).label.lower()
    try:
        target = S(to)
    except ValueError:
        raise ValidationError(
            {"status": f"'{to}' is not a state (one of {', '.join(S.values)})."}
        ) from None
    allowed = [S(b).label.lower() for (a, b) in ADVANCE if a == incident.status]
    how = HOW_TO_REACH.get(target)
    reason = f"An incident that is {current} cannot move to {target.label.lower()}"
    if how:
        reason += f": to get there, {how}"
    elif allowed:
        reason += f"; from here it can move to {', '.join(allowed)}"
    raise ValidationError({"status": reason + "."})


@transaction.atomic
def incident_advance(
    *,
    actor: User,
    incident: Incident,
    to: str,
    expected_version: int | None,
    organization: Organization | None = None,
    note: str = "",
) -> Incident:
    """Move an incident along: investigating, remediating, in review (or back to remediating)."""
    incident = _locked(incident)
    membership = _writer(actor, incident.engagement, organization)
    _stale(incident, expected_version, "incident")
    message = ADVANCE.get((incident.status, to))
    if message is None:
        _refuse_move(incident, to)
    before = incident.status
    incident.status = to
    _bump(incident, "status")
    _note(incident, actor, "status", message + (f" {note.strip()}" if note and note.strip() else ""))
    audit.record(actor=actor, action="resilience.incident_advance", obj=incident,
                 organization=membership.organization,
                 changes=audit.diff({"status": before}, {"status": to}))
    return incident


@transaction.atomic
def incident_update(
    *,
    actor: User,
    incident: Incident,
    expected_version: int | None,
    organization: Organization | None = None,
    **changes: Any,
) -> Incident:
    """Edit an incident's title, description or lessons; a stale edit is refused (Conflict)."""
    unknown = set(changes) - set(INCIDENT_TEXT_FIELDS)
    if unknown:
        raise ValidationError({key: "This field cannot be edited here." for key in sorted(unknown)})
    incident = _locked(incident)
    membership = _writer(actor, incident.engagement, organization)
    _stale(incident, expected_version, "incident")
    _open_guard(incident)
    errors: dict[str, str] = {}
    if "title" in changes:
        changes["title"] = _text(changes["title"], "title", "Say in a line what went wrong.", errors, 200)
    for key in ("description", "lessons"):
        if key in changes:
            changes[key] = (changes[key] or "").strip()
    if errors:
        raise ValidationError(errors)
    before = audit.snapshot(incident, INCIDENT_TEXT_FIELDS)
    for key, value in changes.items():
        setattr(incident, key, value)
    delta = audit.diff(before, audit.snapshot(incident, INCIDENT_TEXT_FIELDS))
    if not delta:
        return incident
    _bump(incident, *changes)
    _note(incident, actor, "edit", f"Edited {', '.join(delta)}.")
    audit.record(actor=actor, action="resilience.incident_update", obj=incident,
                 organization=membership.organization, changes=delta)
    return incident


def draft_messages(incident: Incident) -> tuple[str, str]:
    """The customer and executive messages drafted from the plan's templates."""
    plan = incident.plan
    values = {
        "service": plan.service if plan else incident.engagement.services or incident.engagement.name,
        "count": len(incident.affected_customers),
        "summary": incident.title,
        "buyer": incident.engagement.buyer.name,
        "provider": incident.engagement.provider.name,
    }
    default_customer = (
        "Dear customer, on {service} we made a mistake that affected you: {summary}. "
        "We are sorry. {buyer} takes responsibility and is putting it right."
    )
    default_exec = "{count} customers were affected on {service}: {summary}. {buyer} owns the response."
    customer = rules.fill_template((plan.customer_template if plan else "") or default_customer, values)
    executive = rules.fill_template((plan.executive_template if plan else "") or default_exec, values)
    return customer, executive


@transaction.atomic
def incident_acknowledge(
    *,
    actor: User,
    incident: Incident,
    statement: str,
    caused_by: str,
    expected_version: int | None,
    organization: Organization | None = None,
    caused_by_detail: str = "",
) -> Incident:
    """Acknowledge: an ownership and apology statement, who caused it, and the customer message.

    Whoever caused it, the buyer owns the failure toward its customers.
    """
    incident = _locked(incident)
    membership = _writer(actor, incident.engagement, organization)
    _stale(incident, expected_version, "incident")
    if incident.status != S.REPORTED:
        raise ValidationError({"status": f"This incident is already {incident.get_status_display().lower()}: "
                                         "it was acknowledged before."})
    errors: dict[str, str] = {}
    statement = _text(statement, "statement",
                      "Write the ownership and apology statement: what you own and that you are sorry.",
                      errors)
    if statement and len(statement.split()) < 5:
        errors["statement"] = "An acknowledgement says what is owned and apologises: write a full sentence."
    if caused_by not in (p for p in Incident.Party.values if p):
        errors["caused_by"] = "Say who caused it: the buyer, the provider or a subcontractor."
    detail = (caused_by_detail or "").strip()
    if caused_by == Incident.Party.SUBCONTRACTOR and not detail:
        errors["caused_by_detail"] = "Name the subcontractor."
    if errors:
        raise ValidationError(errors)
    customer, executive = draft_messages(incident)
    incident.status = S.ACKNOWLEDGED
    incident.acknowledged_at = timezone.now()
    incident.acknowledged_by = actor
    incident.acknowledgement = statement
    incident.caused_by = caused_by
    incident.caused_by_detail = detail[:200]
    incident.owned_toward_customers_by = "buyer"
    incident.customer_message = customer
    incident.executive_message = executive
    _bump(incident, "status", "acknowledged_at", "acknowledged_by", "acknowledgement", "caused_by",
          "caused_by_detail", "owned_toward_customers_by", "customer_message", "executive_message")
    _note(incident, actor, "acknowledged",
          f"Acknowledged by {actor} ({membership.organization}): \u201c{statement}\u201d "
          f"Caused by {incident.get_caused_by_display().lower()}"
          f"{f' ({detail})' if detail else ''}; owned toward customers by "
          f"{incident.engagement.buyer}.")
    audit.record(actor=actor, action="resilience.incident_acknowledge", obj=incident,
                 organization=membership.organization,
                 changes=audit.diff({"status": S.REPORTED, "acknowledgement": "", "caused_by": ""},
                                    {"status": S.ACKNOWLEDGED, "acknowledgement": statement,
                                     "caused_by": caused_by}))
    return incident


@transaction.atomic
def cause_add(
    *,
    actor: User,
    incident: Incident,
    kind: str,
    category: str,
    mechanism: str,
    organization: Organization | None = None,
) -> Cause:
    """What exactly went wrong: a root cause or contributing factor with a specific mechanism.

    "Computer error", "system glitch" and causes with no mechanism are refused with the reason.
    """
    incident = _locked(incident)
    membership = _writer(actor, incident.engagement, organization)
    _open_guard(incident)
    errors: dict[str, str] = {}
    if kind not in Cause.Kind.values:
        errors["kind"] = "Say whether this is the root cause or a contributing factor."
    if category not in Cause.Category.values:
        errors["category"] = f"Choose a category: {', '.join(Cause.Category.labels).lower()}."
    problem = rules.mechanism_problem(mechanism)
    if problem:
        errors["mechanism"] = problem
    if kind == Cause.Kind.ROOT and incident.causes.filter(kind=Cause.Kind.ROOT).exists():
        errors["kind"] = "This incident already has a root cause; add this as a contributing factor."
    if errors:
        raise ValidationError(errors)
    cause = Cause.objects.create(incident=incident, kind=kind, category=category,
                                 mechanism=" ".join(mechanism.split()), created_by=actor)
    _note(incident, actor, "cause", f"{cause.get_kind_display()} ({cause.get_category_display().lower()}): "
          f"{cause.mechanism}")
    audit.record(actor=actor, action="resilience.cause_add", obj=cause,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(cause, ["incident", "kind", "category", "mechanism"])))
    return cause


@transaction.atomic
def option_add(
    *,
    actor: User,
    incident: Incident,
    title: str,
    cost: str,
    time: str,
    risk: str,
    tradeoffs: str,
    organization: Organization | None = None,
    description: str = "",
) -> SolutionOption:
    """A solution option, each with its cost, time, risk and trade-offs."""
    incident = _locked(incident)
    membership = _writer(actor, incident.engagement, organization)
    _open_guard(incident)
    if incident.status in (S.SOLUTION_AGREED, S.REMEDIATING, S.IN_REVIEW):
        raise ValidationError("A solution is already agreed; reopen the decision by reopening the incident.")
    errors: dict[str, str] = {}
    values = {
        "title": _text(title, "title", "Name the option.", errors, 200),
        "cost": _text(cost, "cost", "Say what it costs.", errors, 200),
        "time": _text(time, "time", "Say how long it takes.", errors, 200),
        "risk": _text(risk, "risk", "Say what could go wrong with it.", errors, 200),
        "tradeoffs": _text(tradeoffs, "tradeoffs", "Say what it trades off against the other options.", errors),
    }
    if errors:
        raise ValidationError(errors)
    option = SolutionOption.objects.create(incident=incident, description=(description or "").strip(),
                                           proposed_by=actor, **values)
    _note(incident, actor, "option", f"Option proposed: {option.title} (cost {option.cost}; "
          f"time {option.time}; risk {option.risk}).")
    audit.record(actor=actor, action="resilience.option_add", obj=option,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(option, ["incident", *values])))
    return option


@transaction.atomic
def option_comment(
    *,
    actor: User,
    option: SolutionOption,
    text: str,
    organization: Organization | None = None,
) -> OptionComment:
    """Input on a solution option (the client's, or the provider's answer to it)."""
    incident = _locked(option.incident)
    membership = _writer(actor, incident.engagement, organization)
    _open_guard(incident)
    errors: dict[str, str] = {}
    text = _text(text, "text", "Write your comment.", errors)
    if errors:
        raise ValidationError(errors)
    side = incident.engagement.side_of(membership.organization) or ""
    comment = OptionComment.objects.create(option=option, author=actor, side=side, text=text)
    _note(incident, actor, "comment", f"{actor} ({side}) on \u201c{option.title}\u201d: {text}")
    audit.record(actor=actor, action="resilience.option_comment", obj=comment,
                 organization=membership.organization,
                 changes=audit.created({"option": option.pk, "text": text}))
    return comment


@transaction.atomic
def incident_decide(
    *,
    actor: User,
    incident: Incident,
    option: SolutionOption,
    expected_version: int | None,
    organization: Organization | None = None,
    note: str = "",
) -> Incident:
    """The client's decision among the options, recorded by a buyer-side manager."""
    incident = _locked(incident)
    membership = require_engagement_role(actor, incident.engagement, Role.MANAGER, side="buyer",
                                         organization=organization)
    _stale(incident, expected_version, "incident")
    if option.incident_id != incident.pk:
        raise ValidationError({"option": "That option belongs to another incident."})
    if incident.status != S.INVESTIGATING:
        raise ValidationError({"status": f"A solution is agreed while investigating; this incident is "
                                         f"{incident.get_status_display().lower()}."})
    if not incident.causes.filter(kind=Cause.Kind.ROOT).exists():
        raise ValidationError({"option": "Establish the root cause before agreeing a solution."})
    incident.status = S.SOLUTION_AGREED
    incident.chosen_option = option
    incident.decided_by = actor
    incident.decision_note = (note or "").strip()
    incident.solution_agreed_at = timezone.now()
    _bump(incident, "status", "chosen_option", "decided_by", "decision_note", "solution_agreed_at")
    _note(incident, actor, "decision", f"{actor} ({membership.organization}) chose \u201c{option.title}\u201d."
          + (f" {incident.decision_note}" if incident.decision_note else ""))
    audit.record(actor=actor, action="resilience.incident_decide", obj=incident,
                 organization=membership.organization,
                 changes=audit.diff({"status": S.INVESTIGATING, "chosen_option": None},
                                    {"status": S.SOLUTION_AGREED, "chosen_option": option.title}))
    return incident


@transaction.atomic
def control_add(
    *,
    actor: User,
    incident: Incident,
    description: str,
    owner: User | None,
    due_on: dt.date | None,
    organization: Organization | None = None,
    kind: str = PreventiveControl.Kind.PROCESS,
    feed: Any = None,
    feed_name: str = "",
    check: dict[str, Any] | str | None = None,
) -> PreventiveControl:
    """A preventive control with owner and due date; a "new check" carries a validated check.

    A new check names one of the engagement's monitoring feeds: `feed` (a Feed the caller
    fetched through monitoring's scoped selectors) or `feed_name` (its slug or name). An
    unknown feed is refused, naming it and the engagement's feeds.
    """
    incident = _locked(incident)
    engagement = incident.engagement
    membership = _writer(actor, engagement, organization)
    _open_guard(incident)
    errors: dict[str, str] = {}
    description = _text(description, "description", "Say what the control does.", errors)
    if owner is None or not any(membership_of(owner, org) for org in (engagement.buyer, engagement.provider)):
        errors["owner"] = "Give the control an owner from either side of the engagement."
    if not isinstance(due_on, dt.date):
        errors["due_on"] = "Give a due date (YYYY-MM-DD)."
    if kind not in PreventiveControl.Kind.values:
        errors["kind"] = "A control is a process change or a new check."
    spec = None
    if kind == PreventiveControl.Kind.NEW_CHECK:
        if feed is not None and feed.engagement_id != engagement.pk:
            errors["feed"] = f"The feed \u201c{feed.name}\u201d is not one of this engagement's feeds."
        elif feed is None and not (feed_name or "").strip():
            errors["feed"] = "Choose the feed whose suite gets the check."
        elif feed is None:
            feed = feed_for(engagement, feed_name)
            if feed is None:
                errors["feed"] = unknown_feed_message(engagement, feed_name)
        feed_name = feed.slug if feed is not None and "feed" not in errors else ""
        if check in (None, "", {}):
            errors["check"] = "Write the check in the suite format, e.g. {dataset: contacts, not_null: [customer_id]}."
        else:
            if isinstance(check, str):
                with contextlib.suppress(yaml.YAMLError):  # check_problems names the YAML error
                    check = yaml.safe_load(check)
            problems = rules.check_problems(check)
            if problems:
                errors["check"] = "The check is not valid: " + "; ".join(problems)
            else:
                spec = check
    if errors:
        raise ValidationError(errors)
    control = PreventiveControl.objects.create(
        engagement=engagement, incident=incident, kind=kind, description=description, owner=owner,
        due_on=due_on, feed_name=feed_name if spec else "", check_spec=spec,
    )
    _note(incident, actor, "control", f"Preventive control: {description} (owner {owner}, due {due_on})."
          + (f" New check for {feed_name}." if spec else ""))
    audit.record(actor=actor, action="resilience.control_add", obj=control,
                 organization=membership.organization,
                 changes=audit.created(audit.snapshot(control, [
                     "incident", "kind", "description", "owner", "due_on", "feed_name", "check_spec"])))
    return control


CheckApplier = Callable[..., Any]


def feed_for(engagement: Engagement, name: str):
    """The monitoring feed of the engagement a control or scenario names: by slug or by name."""
    from sourcewise.monitoring.models import Feed

    wanted = (name or "").strip().lower()
    if not wanted:
        return None
    for feed in Feed.objects.filter(engagement=engagement).order_by("pk"):
        if wanted in (feed.slug.lower(), feed.name.lower()):
            return feed
    return None


def unknown_feed_message(engagement: Engagement, name: Any) -> str:
    from sourcewise.monitoring.models import Feed

    known = ", ".join(f"{f.slug} ({f.name})" for f in Feed.objects.filter(engagement=engagement)) or "none yet"
    return f"No feed \u201c{name}\u201d in this engagement (its feeds: {known})."


def _default_applier(*, actor: User, organization: Organization, engagement: Engagement,
                     feed_name: str, check: dict[str, Any]) -> str:
    """Add the check to the feed's suite through monitoring's `suite_add_check` (a new version).

    The feed is found among the engagement's feeds by slug or name; an unknown feed, a
    check the whole suite refuses, or a side that may not edit the suite is refused with
    the reason and nothing changes.
    """
    from sourcewise.monitoring import services as monitoring

    feed = feed_for(engagement, feed_name)
    if feed is None:
        # The feed was renamed or removed since the control named it.
        raise ValidationError({"feed_name": unknown_feed_message(engagement, feed_name)})
    if organization.pk != engagement.buyer_id:
        raise ValidationError(f"Only {engagement.buyer}'s side edits the suite of {feed.name}: "
                              f"a member of {engagement.buyer} adds this check.")
    try:
        version = monitoring.suite_add_check(actor=actor, organization=organization, feed=feed, check=check)
    except PermissionDenied:
        raise ValidationError(f"Adding a check to the suite of {feed.name} needs the member role "
                              f"at {engagement.buyer}.") from None
    return f"Added to the suite of {feed.name} (version {version.number})."


# Replaced in tests, and by monitoring at merge if its entry point differs.
check_applier: CheckApplier = _default_applier


@transaction.atomic
def control_apply_check(
    *,
    actor: User,
    control: PreventiveControl,
    organization: Organization | None = None,
) -> PreventiveControl:
    """Add a "new check" control's check to its feed's suite, in one action from the incident."""
    control = PreventiveControl.objects.select_for_update().get(pk=control.pk)
    engagement = control.engagement
    membership = _writer(actor, engagement, organization)
    if control.kind != PreventiveControl.Kind.NEW_CHECK or not control.check_spec:
        raise ValidationError("This control is not a new check.")
    if control.applied_at is not None:
        raise ValidationError(f"This check was already added ({control.applied_note}).")
    note = check_applier(actor=actor, organization=membership.organization, engagement=engagement,
                         feed_name=control.feed_name, check=control.check_spec)
    control.applied_at = timezone.now()
    control.applied_note = (note or f"Added to the suite of {control.feed_name}.")[:300]
    control.done_at = control.done_at or control.applied_at
    control.save(update_fields=["applied_at", "applied_note", "done_at"])
    if control.incident_id:
        _note(control.incident, actor, "control", f"Check added to {control.feed_name}: {control.description}")
    audit.record(actor=actor, action="resilience.control_apply_check", obj=control,
                 organization=membership.organization,
                 changes={"applied_at": {"before": None, "after": control.applied_at}})
    return control


@transaction.atomic
def control_complete(
    *, actor: User, control: PreventiveControl, organization: Organization | None = None
) -> PreventiveControl:
    """Mark a preventive control as in place."""
    control = PreventiveControl.objects.select_for_update().get(pk=control.pk)
    membership = _writer(actor, control.engagement, organization)
    if control.done_at is not None:
        raise ValidationError("This control is already in place.")
    control.done_at = timezone.now()
    control.save(update_fields=["done_at"])
    if control.incident_id:
        _note(control.incident, actor, "control", f"Control in place: {control.description}")
    audit.record(actor=actor, action="resilience.control_complete", obj=control,
                 organization=membership.organization,
                 changes={"done_at": {"before": None, "after": control.done_at}})
    return control


@transaction.atomic
def incident_sign_off(
    *,
    actor: User,
    incident: Incident,
    expected_version: int | None,
    organization: Organization | None = None,
) -> Incident:
    """The buyer's sign-off that the incident may close: a buyer-side manager only."""
    incident = _locked(incident)
    try:
        membership = require_engagement_role(actor, incident.engagement, Role.MANAGER, side="buyer",
                                             organization=organization)
    except PermissionDenied:
        raise PermissionDenied(
            f"Only a manager of {incident.engagement.buyer}, the buyer, can sign off this incident."
        ) from None
    _stale(incident, expected_version, "incident")
    if incident.status != S.IN_REVIEW:
        raise ValidationError({"status": "The buyer signs off an incident in review; this one is "
                                         f"{incident.get_status_display().lower()}."})
    if incident.signed_off_at is not None:
        raise ValidationError("The buyer has already signed off.")
    incident.signed_off_by = actor
    incident.signed_off_at = timezone.now()
    _bump(incident, "signed_off_by", "signed_off_at")
    _note(incident, actor, "sign_off", f"Signed off for {incident.engagement.buyer} by {actor}.")
    audit.record(actor=actor, action="resilience.incident_sign_off", obj=incident,
                 organization=membership.organization,
                 changes={"signed_off_by": {"before": None, "after": str(actor)}})
    return incident


def close_problems(incident: Incident) -> list[str]:
    """What still stands between the incident and closing it."""
    problems = []
    if incident.status != S.IN_REVIEW:
        problems.append(f"it is {incident.get_status_display().lower()}, not in review")
    if not incident.causes.filter(kind=Cause.Kind.ROOT).exists():
        problems.append("it has no specific root cause")
    if incident.chosen_option_id is None:
        problems.append("no solution has been agreed")
    if not incident.controls.exists():
        problems.append("it has no preventive control")
    if incident.signed_off_at is None:
        problems.append(f"{incident.engagement.buyer} (the buyer) has not signed off")
    return problems


@transaction.atomic
def incident_close(
    *,
    actor: User,
    incident: Incident,
    expected_version: int | None,
    organization: Organization | None = None,
    lessons: str | None = None,
) -> Incident:
    """Close, and write the postmortem. Refused, with every reason, until the rules are met."""
    from sourcewise.resilience.postmortem import postmortem_markdown

    incident = _locked(incident)
    membership = _writer(actor, incident.engagement, organization)
    _stale(incident, expected_version, "incident")
    problems = close_problems(incident)
    if problems:
        raise ValidationError({"status": "The incident cannot close yet: " + "; ".join(problems) + "."})
    if lessons is not None and lessons.strip():
        incident.lessons = lessons.strip()
    if not incident.lessons:
        raise ValidationError({"lessons": "Write the lessons learned: they stay after the incident closes."})
    incident.status = S.CLOSED
    incident.closed_at = timezone.now()
    # Its checks are free again: the next failure of one opens a new incident (linked to this one).
    IncidentCheck.objects.filter(incident=incident).update(open=False)
    _note(incident, actor, "closed", f"Closed by {actor} ({membership.organization}); postmortem written.")
    incident.postmortem = postmortem_markdown(incident)
    _bump(incident, "status", "closed_at", "lessons", "postmortem")
    audit.record(actor=actor, action="resilience.incident_close", obj=incident,
                 organization=membership.organization,
                 changes=audit.diff({"status": S.IN_REVIEW}, {"status": S.CLOSED}))
    return incident


@transaction.atomic
def incident_reopen(
    *,
    actor: User,
    incident: Incident,
    reason: str,
    expected_version: int | None,
    organization: Organization | None = None,
) -> Incident:
    """Reopen a closed incident: back to investigating, the old postmortem kept in the timeline."""
    incident = _locked(incident)
    membership = _writer(actor, incident.engagement, organization)
    _stale(incident, expected_version, "incident")
    if incident.status != S.CLOSED:
        raise ValidationError({"status": "Only a closed incident can be reopened."})
    errors: dict[str, str] = {}
    reason = _text(reason, "reason", "Say why the incident is reopened.", errors)
    if errors:
        raise ValidationError(errors)
    checks = list(incident.checks.all())
    taken = list(IncidentCheck.objects.filter(
        engagement=incident.engagement, check_name__in=[c.check_name for c in checks], open=True,
    ).exclude(incident=incident).select_related("incident").order_by("pk"))
    if taken:
        raise ValidationError({"status": _taken_reason(taken)})
    try:
        with transaction.atomic():
            IncidentCheck.objects.filter(incident=incident).update(open=True)
    except IntegrityError:
        # Another incident took one of the checks a moment ago.
        raise ValidationError({"status": _taken_reason(list(IncidentCheck.objects.filter(
            engagement=incident.engagement, check_name__in=[c.check_name for c in checks], open=True,
        ).exclude(incident=incident).select_related("incident")))}) from None
    incident.status = S.INVESTIGATING
    incident.closed_at = None
    incident.signed_off_at = None
    incident.signed_off_by = None
    incident.chosen_option = None
    incident.solution_agreed_at = None
    _bump(incident, "status", "closed_at", "signed_off_at", "signed_off_by", "chosen_option",
          "solution_agreed_at")
    _note(incident, actor, "reopened", f"Reopened by {actor}: {reason}")
    audit.record(actor=actor, action="resilience.incident_reopen", obj=incident,
                 organization=membership.organization,
                 changes=audit.diff({"status": S.CLOSED}, {"status": S.INVESTIGATING}) | {"reason": {"before": None, "after": reason}})
    return incident


def _taken_reason(taken: list[IncidentCheck]) -> str:
    parts = [f"{row.label or row.check_name} is followed by the open incident #{row.incident_id} "
             f"\u201c{row.incident.title}\u201d" for row in taken]
    return ("This incident cannot be reopened: " + "; ".join(parts)
            + ". New failures of a check add to its open incident; add to that one instead.")


# Webhooks for reminders.


@transaction.atomic
def webhook_configure(
    *, actor: User, organization: Organization, url: str, secret: str, active: bool = True
) -> Webhook:
    """Set the organisation's reminder webhook (a manager's job)."""
    from django.core.validators import URLValidator

    from sourcewise.core.permissions import require_role

    require_role(actor, organization, Role.MANAGER)
    errors: dict[str, str] = {}
    url = (url or "").strip()
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError:
        errors["url"] = "Give the full address, starting with https://."
    secret = (secret or "").strip()
    if len(secret) < 16:
        errors["secret"] = "Use a secret of at least 16 characters: it signs every call."  # noqa: S105
    if errors:
        raise ValidationError(errors)
    webhook, made = Webhook.objects.update_or_create(
        organization=organization, defaults={"url": url, "secret": secret, "active": active})
    audit.record(actor=actor, action="resilience.webhook_configure", obj=webhook, organization=organization,
                 changes={"url": {"before": None, "after": url}, "active": {"before": None, "after": active}})
    return webhook
