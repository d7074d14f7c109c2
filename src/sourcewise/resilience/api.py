"""JSON API of resilience (mounted under /api/v1/ by config.api): plans and incidents."""

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from sourcewise.accounts.models import User
from sourcewise.core.api import READ_ERRORS, WRITE_ERRORS, ErrorOut, InputSchema, Page
from sourcewise.core.selectors import engagement_get
from sourcewise.resilience import selectors, services
from sourcewise.resilience.findings import finding_customers_url, linked_findings
from sourcewise.resilience.models import Incident

router = Router(tags=["resilience"])

IncidentStatus = Literal[
    "reported", "acknowledged", "investigating", "solution_agreed", "remediating", "in_review", "closed"
]
CONFLICT = {409: ErrorOut}


def _scope(request: HttpRequest) -> dict[str, Any]:
    return {"user": request.user, "organization": request.organization}


def _member(engagement, email: str | None, field: str) -> User | None:
    """A user of either side of the engagement, named by email (None when not found)."""
    if not email:
        return None
    user = User.objects.filter(
        email__iexact=email.strip(),
        memberships__organization__in=[engagement.buyer_id, engagement.provider_id],
    ).first()
    if user is None:
        raise ValidationError({field: f"No member of either side of {engagement} has the email {email}."})
    return user


def _feed(request: HttpRequest, engagement, value: int | str | None):
    """One of the engagement's monitoring feeds, by id, slug or name, through monitoring's selector."""
    from sourcewise.monitoring.selectors import feed_list

    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    feeds = list(feed_list(**_scope(request)).filter(engagement=engagement).order_by("pk"))
    match = next((f for f in feeds if text.isdigit() and f.pk == int(text)), None) or next(
        (f for f in feeds if text.lower() in (f.slug.lower(), f.name.lower())), None)
    if match is None:
        raise ValidationError({"feed": services.unknown_feed_message(engagement, value)})
    return match


# Schemas.


class ScenarioOut(Schema):
    id: int
    title: str
    description: str
    detected_by_feeds: list[str] = Field(description="Names of the feeds whose checks detect it.")
    detected_by_checks: list[str] = Field(description="Names of the checks that detect it.")
    response_steps: list[str]
    buyer_owner: str = Field(description="Email of the owner on the buyer's side.")
    provider_owner: str = Field(description="Email of the owner on the provider's side.")
    version: int = Field(description="Send it back with an edit; a newer one answers 409.")

    @staticmethod
    def resolve_response_steps(obj) -> list[str]:
        return obj.steps()

    @staticmethod
    def resolve_buyer_owner(obj) -> str:
        return obj.buyer_owner.email

    @staticmethod
    def resolve_provider_owner(obj) -> str:
        return obj.provider_owner.email


class ExerciseOut(Schema):
    id: int
    held_on: dt.date
    result: str
    notes: str
    version: int = Field(description="Send it back with an edit; a newer one answers 409.")


class PlanOut(Schema):
    id: int
    engagement_id: int
    service: str
    description: str
    max_disruption_hours: int
    max_customers_affected: int
    acknowledge_within_hours: int
    solution_within_hours: int
    customer_template: str
    executive_template: str
    last_exercised_on: dt.date | None
    exercise_overdue: bool = Field(description="True when not exercised in the last 12 months.")
    version: int

    @staticmethod
    def resolve_last_exercised_on(obj) -> dt.date | None:
        return obj.last_exercised_on()

    @staticmethod
    def resolve_exercise_overdue(obj) -> bool:
        return obj.exercise_overdue()


class PlanDetailOut(PlanOut):
    scenarios: list[ScenarioOut]
    exercises: list[ExerciseOut]

    @staticmethod
    def resolve_scenarios(obj) -> list:
        return list(obj.scenarios.all())

    @staticmethod
    def resolve_exercises(obj) -> list:
        return list(obj.exercises.all())


class PlanIn(InputSchema):
    engagement_id: int
    service: str = Field(description="The important business service.")
    max_disruption_hours: int = Field(description="The longest tolerable disruption, in hours.")
    max_customers_affected: int = Field(description="The most customers who may be affected.")
    acknowledge_within_hours: int = 1
    solution_within_hours: int = 24
    description: str = ""
    customer_template: str = Field("", description="{service}, {count}, {summary}, {buyer} are filled in.")
    executive_template: str = ""


class PlanPatch(InputSchema):
    version: int = Field(description="The version you read; a newer one answers 409.")
    service: str | None = None
    description: str | None = None
    max_disruption_hours: int | None = None
    max_customers_affected: int | None = None
    acknowledge_within_hours: int | None = None
    solution_within_hours: int | None = None
    customer_template: str | None = None
    executive_template: str | None = None


class ScenarioIn(InputSchema):
    title: str
    description: str = ""
    detected_by_feeds: list[str]
    detected_by_checks: list[str]
    response_steps: str = Field(description="One step per line.")
    buyer_owner: str = Field(description="Email of a member of the buyer.")
    provider_owner: str = Field(description="Email of a member of the provider.")


class ScenarioPatch(InputSchema):
    version: int = Field(description="The version you read; a newer one answers 409.")
    title: str | None = None
    description: str | None = None
    detected_by_feeds: list[str] | None = None
    detected_by_checks: list[str] | None = None
    response_steps: str | None = Field(None, description="One step per line.")
    buyer_owner: str | None = Field(None, description="Email of a member of the buyer.")
    provider_owner: str | None = Field(None, description="Email of a member of the provider.")


class ExercisePatch(InputSchema):
    version: int = Field(description="The version you read; a newer one answers 409.")
    held_on: dt.date | None = None
    result: Literal["passed", "partial", "failed"] | None = None
    notes: str | None = None


class GapIn(Schema):
    description: str
    owner: str = Field(description="Email of a member of either side.")
    due_on: dt.date


class ExerciseIn(InputSchema):
    held_on: dt.date
    result: Literal["passed", "partial", "failed"]
    notes: str = ""
    gaps: list[GapIn] = Field(default_factory=list, description="Each gap becomes a preventive control.")


class TimelineOut(Schema):
    at: dt.datetime
    actor_label: str
    kind: str
    text: str


class CauseOut(Schema):
    id: int
    kind: str
    category: str
    mechanism: str


class CommentOut(Schema):
    author: str
    side: str
    text: str
    created_at: dt.datetime

    @staticmethod
    def resolve_author(obj) -> str:
        return obj.author.email


class OptionOut(Schema):
    id: int
    title: str
    description: str
    cost: str
    time: str
    risk: str
    tradeoffs: str
    comments: list[CommentOut]

    @staticmethod
    def resolve_comments(obj) -> list:
        return list(obj.comments.all())


class ControlOut(Schema):
    id: int
    kind: str
    description: str
    owner: str
    due_on: dt.date
    feed_name: str
    check: dict[str, Any] | None = Field(description="The new check, in the suite format.")
    applied_at: dt.datetime | None
    applied_note: str
    done_at: dt.datetime | None

    @staticmethod
    def resolve_owner(obj) -> str:
        return obj.owner.email

    @staticmethod
    def resolve_check(obj) -> dict | None:
        return obj.check_spec


class LinkOut(Schema):
    incident_id: int
    title: str
    reason: str

    @staticmethod
    def resolve_incident_id(obj) -> int:
        return obj.similar_id

    @staticmethod
    def resolve_title(obj) -> str:
        return obj.similar.title


class MeasureOut(Schema):
    label: str
    done: bool
    hours: float
    target_hours: int | None
    within: bool | None


class LinkedFindingOut(Schema):
    id: int = Field(description="The monitoring finding's id (GET /api/v1/monitoring/findings/{id}).")
    kind: str = Field(description="check (a failed check) or late (a late delivery).")
    check_id: str
    check_name: str
    feed_id: int
    feed_name: str
    period: dt.date
    failing_rows: int | None
    url: str = Field(description="The finding's page.")
    affected_customers_url: str = Field(description="CSV of each affected customer's key; empty if none.")

    @staticmethod
    def resolve_feed_name(obj) -> str:
        return obj.feed.name

    @staticmethod
    def resolve_url(obj) -> str:
        return obj.get_absolute_url()

    @staticmethod
    def resolve_affected_customers_url(obj) -> str:
        return finding_customers_url(obj)


class IncidentCheckOut(Schema):
    check_name: str = Field(description="The check's id, or late_delivery:<feed slug> for late deliveries.")
    label: str = Field(description="What people call the check.")
    feed_name: str = Field(description="The feed's slug.")
    open: bool = Field(description="True while this incident is the check's open incident.")


class IncidentOut(Schema):
    id: int
    engagement_id: int
    plan_id: int | None
    scenario_id: int | None
    title: str
    description: str
    status: IncidentStatus
    severity: Literal["low", "medium", "high", "critical"]
    source: str
    check_name: str = Field(description="The first check behind an incident opened from findings.")
    feed_name: str
    checks: list[IncidentCheckOut] = Field(description="Every check whose failures this incident gathers.")
    affected_customers: list[str]
    failing_rows: int
    occurred_at: dt.datetime
    reported_at: dt.datetime
    acknowledged_at: dt.datetime | None
    solution_agreed_at: dt.datetime | None
    closed_at: dt.datetime | None
    version: int

    @staticmethod
    def resolve_checks(obj) -> list:
        return list(obj.checks.all())


class IncidentDetailOut(IncidentOut):
    acknowledgement: str
    caused_by: str = Field(description="buyer, provider, subcontractor, or empty while unknown.")
    caused_by_detail: str
    owned_toward_customers_by: str
    customer_message: str
    executive_message: str
    chosen_option_id: int | None
    decision_note: str
    signed_off_at: dt.datetime | None
    lessons: str
    measures: list[MeasureOut]
    timeline: list[TimelineOut]
    causes: list[CauseOut]
    options: list[OptionOut]
    controls: list[ControlOut]
    similar: list[LinkOut]
    findings: list[LinkedFindingOut] = Field(description="Monitoring's findings behind the incident.")
    close_blockers: list[str] = Field(description="What still prevents closing.")

    @staticmethod
    def resolve_findings(obj) -> list:
        return linked_findings(obj)

    @staticmethod
    def resolve_measures(obj) -> list:
        return obj.measures()

    @staticmethod
    def resolve_timeline(obj) -> list:
        return list(obj.timeline.all())

    @staticmethod
    def resolve_causes(obj) -> list:
        return list(obj.causes.all())

    @staticmethod
    def resolve_options(obj) -> list:
        return list(obj.options.all())

    @staticmethod
    def resolve_controls(obj) -> list:
        return list(obj.controls.all())

    @staticmethod
    def resolve_similar(obj) -> list:
        return list(obj.resembles.all())

    @staticmethod
    def resolve_close_blockers(obj) -> list[str]:
        return [] if obj.status == "closed" else services.close_problems(obj)


class IncidentIn(InputSchema):
    engagement_id: int
    title: str
    description: str = ""
    plan_id: int | None = None
    scenario_id: int | None = None
    affected_customers: list[str] = Field(default_factory=list)
    occurred_at: dt.datetime | None = None


class IncidentPatch(InputSchema):
    version: int
    title: str | None = None
    description: str | None = None
    lessons: str | None = None


class VersionIn(InputSchema):
    version: int = Field(description="The version you read; a newer one answers 409.")


class AcknowledgeIn(VersionIn):
    statement: str = Field(description="The ownership and apology statement.")
    caused_by: Literal["buyer", "provider", "subcontractor"]
    caused_by_detail: str = Field("", description="The subcontractor's name, when it caused it.")


class AdvanceIn(VersionIn):
    to: Literal["investigating", "remediating", "in_review"]
    note: str = ""


class CauseIn(InputSchema):
    kind: Literal["root", "contributing"]
    category: Literal["data", "process", "people", "technology", "integration", "supplier", "communication"]
    mechanism: str = Field(description="How exactly it went wrong (vague answers are refused).")


class OptionIn(InputSchema):
    title: str
    description: str = ""
    cost: str
    time: str
    risk: str
    tradeoffs: str


class CommentIn(InputSchema):
    text: str


class DecideIn(VersionIn):
    option_id: int
    note: str = ""


class ControlIn(InputSchema):
    description: str
    owner: str = Field(description="Email of a member of either side.")
    due_on: dt.date
    kind: Literal["process", "new_check"] = "process"
    feed: int | str | None = Field(
        None, description="For a new check: one of the engagement's monitoring feeds, by id, slug or name.")
    feed_name: str = Field("", description="Older spelling of `feed` (slug or name).")
    check: dict[str, Any] | None = Field(None, description="For a new check: the check in the suite format.")


class CloseIn(VersionIn):
    lessons: str | None = None


class ReopenIn(VersionIn):
    reason: str


class IncidentFilters(Schema):
    status: IncidentStatus | None = None
    engagement_id: int | None = None
    open: bool | None = Field(None, description="Only open (true) or closed (false) incidents.")
    q: str | None = None


# Plans.


@router.get("/resilience/plans", response={200: list[PlanOut], **READ_ERRORS}, summary="List resilience plans")
@paginate(Page)
def list_plans(request: HttpRequest, engagement_id: int | None = None):
    plans = selectors.plan_list(**_scope(request)).prefetch_related("exercises")
    if engagement_id is not None:
        plans = plans.filter(engagement_id=engagement_id)
    return plans.order_by("service", "pk")


@router.post("/resilience/plans", response={201: PlanDetailOut, **WRITE_ERRORS}, summary="Create a plan")
def create_plan(request: HttpRequest, payload: PlanIn):
    """A plan for one important business service of an engagement. Either side's member may write it."""
    engagement = engagement_get(**_scope(request), pk=payload.engagement_id)
    data = payload.model_dump(exclude={"engagement_id"})
    plan = services.plan_create(actor=request.user, organization=request.organization,
                                engagement=engagement, **data)
    return Status(201, selectors.plan_get(**_scope(request), pk=plan.pk))


@router.get("/resilience/plans/{plan_id}", response={200: PlanDetailOut, **READ_ERRORS}, summary="Get a plan")
def get_plan(request: HttpRequest, plan_id: int):
    return selectors.plan_get(**_scope(request), pk=plan_id)


@router.patch("/resilience/plans/{plan_id}", response={200: PlanDetailOut, **CONFLICT, **WRITE_ERRORS},
              summary="Edit a plan")
def update_plan(request: HttpRequest, plan_id: int, payload: PlanPatch):
    """Change the fields you send; a stale `version` answers 409 and nothing changes."""
    plan = selectors.plan_get(**_scope(request), pk=plan_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    services.plan_update(actor=request.user, organization=request.organization, plan=plan,
                         expected_version=version, **changes)
    return selectors.plan_get(**_scope(request), pk=plan_id)


@router.post("/resilience/plans/{plan_id}/scenarios", response={201: PlanDetailOut, **WRITE_ERRORS},
             summary="Add a failure scenario")
def add_scenario(request: HttpRequest, plan_id: int, payload: ScenarioIn):
    plan = selectors.plan_get(**_scope(request), pk=plan_id)
    engagement = plan.engagement
    services.scenario_add(
        actor=request.user, organization=request.organization, plan=plan, title=payload.title,
        description=payload.description, detected_by_feeds=payload.detected_by_feeds,
        detected_by_checks=payload.detected_by_checks, response_steps=payload.response_steps,
        buyer_owner=_member(engagement, payload.buyer_owner, "buyer_owner"),
        provider_owner=_member(engagement, payload.provider_owner, "provider_owner"),
    )
    return Status(201, selectors.plan_get(**_scope(request), pk=plan_id))


@router.post("/resilience/plans/{plan_id}/exercises", response={201: PlanDetailOut, **WRITE_ERRORS},
             summary="Record an exercise")
def add_exercise(request: HttpRequest, plan_id: int, payload: ExerciseIn):
    """An exercise of the plan; each gap becomes a preventive control with owner and due date."""
    plan = selectors.plan_get(**_scope(request), pk=plan_id)
    gaps = [{"description": g.description, "owner": _member(plan.engagement, g.owner, "gaps"),
             "due_on": g.due_on} for g in payload.gaps]
    services.exercise_record(actor=request.user, organization=request.organization, plan=plan,
                             held_on=payload.held_on, result=payload.result, notes=payload.notes, gaps=gaps)
    return Status(201, selectors.plan_get(**_scope(request), pk=plan_id))


def _scenario(request: HttpRequest, scenario_id: int):
    return selectors.scenario_get(**_scope(request), pk=scenario_id)


@router.patch("/resilience/scenarios/{scenario_id}", response={200: ScenarioOut, **CONFLICT, **WRITE_ERRORS},
              summary="Edit a failure scenario")
def update_scenario(request: HttpRequest, scenario_id: int, payload: ScenarioPatch):
    """Change the fields you send; a stale `version` answers 409 and nothing changes."""
    scenario = _scenario(request, scenario_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    engagement = scenario.plan.engagement
    for field in ("buyer_owner", "provider_owner"):
        if field in changes:
            changes[field] = _member(engagement, changes[field], field)
    services.scenario_update(actor=request.user, organization=request.organization, scenario=scenario,
                             expected_version=version, **changes)
    return _scenario(request, scenario_id)


@router.delete("/resilience/scenarios/{scenario_id}", response={204: None, **CONFLICT, **WRITE_ERRORS},
               summary="Delete a failure scenario")
def delete_scenario(request: HttpRequest, scenario_id: int, version: int | None = None):
    """Refused (422, with the reason) while incidents refer to it: their history keeps it."""
    services.scenario_delete(actor=request.user, organization=request.organization,
                             scenario=_scenario(request, scenario_id), expected_version=version)
    return Status(204, None)


def _exercise(request: HttpRequest, exercise_id: int):
    return selectors.exercise_get(**_scope(request), pk=exercise_id)


@router.patch("/resilience/exercises/{exercise_id}", response={200: ExerciseOut, **CONFLICT, **WRITE_ERRORS},
              summary="Edit an exercise")
def update_exercise(request: HttpRequest, exercise_id: int, payload: ExercisePatch):
    """Change the date, result or notes; a stale `version` answers 409 and nothing changes."""
    exercise = _exercise(request, exercise_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    services.exercise_update(actor=request.user, organization=request.organization, exercise=exercise,
                             expected_version=version, **changes)
    return _exercise(request, exercise_id)


@router.delete("/resilience/exercises/{exercise_id}", response={204: None, **CONFLICT, **WRITE_ERRORS},
               summary="Delete an exercise")
def delete_exercise(request: HttpRequest, exercise_id: int, version: int | None = None):
    """Refused (422, with the reason) when its gaps became actions: deleting it would delete them."""
    services.exercise_delete(actor=request.user, organization=request.organization,
                             exercise=_exercise(request, exercise_id), expected_version=version)
    return Status(204, None)


# Incidents.


@router.get("/incidents", response={200: list[IncidentOut], **READ_ERRORS}, summary="List incidents")
@paginate(Page)
def list_incidents(request: HttpRequest, filters: Query[IncidentFilters]):
    """Incidents of the engagements you are a party to, newest first."""
    incidents = selectors.incident_list(**_scope(request))
    if filters.status:
        incidents = incidents.filter(status=filters.status)
    if filters.engagement_id is not None:
        incidents = incidents.filter(engagement_id=filters.engagement_id)
    if filters.open is not None:
        incidents = incidents.exclude(status="closed") if filters.open else incidents.filter(status="closed")
    if filters.q and filters.q.strip():
        text = filters.q.strip()
        incidents = incidents.filter(Q(title__icontains=text) | Q(description__icontains=text))
    return incidents.order_by("-reported_at", "-pk")


def _detail(request: HttpRequest, incident_id: int) -> Incident:
    return selectors.incident_get(**_scope(request), pk=incident_id)


@router.post("/incidents", response={201: IncidentDetailOut, **WRITE_ERRORS}, summary="Open an incident")
def open_incident(request: HttpRequest, payload: IncidentIn):
    """Report an incident on an engagement; either side's member may. Similar past incidents are linked."""
    engagement = engagement_get(**_scope(request), pk=payload.engagement_id)
    plan = scenario = None
    if payload.plan_id is not None:
        plan = selectors.plan_get(**_scope(request), pk=payload.plan_id)
    if payload.scenario_id is not None:
        from sourcewise.core.selectors import get_visible
        from sourcewise.resilience.models import FailureScenario

        scenario = get_visible(FailureScenario, **_scope(request), pk=payload.scenario_id)
    incident = services.incident_open(
        actor=request.user, organization=request.organization, engagement=engagement,
        title=payload.title, description=payload.description, plan=plan, scenario=scenario,
        affected_customers=payload.affected_customers, occurred_at=payload.occurred_at,
        source=Incident.Source.API,
    )
    return Status(201, _detail(request, incident.pk))


@router.get("/incidents/{incident_id}", response={200: IncidentDetailOut, **READ_ERRORS},
            summary="Get an incident")
def get_incident(request: HttpRequest, incident_id: int):
    return _detail(request, incident_id)


@router.patch("/incidents/{incident_id}", response={200: IncidentDetailOut, **CONFLICT, **WRITE_ERRORS},
              summary="Edit an incident")
def update_incident(request: HttpRequest, incident_id: int, payload: IncidentPatch):
    """Change the title, description or lessons; a stale `version` answers 409 and nothing changes."""
    incident = _detail(request, incident_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    services.incident_update(actor=request.user, organization=request.organization, incident=incident,
                             expected_version=version, **changes)
    return _detail(request, incident_id)


@router.post("/incidents/{incident_id}/acknowledge",
             response={200: IncidentDetailOut, **CONFLICT, **WRITE_ERRORS}, summary="Acknowledge")
def acknowledge_incident(request: HttpRequest, incident_id: int, payload: AcknowledgeIn):
    """Record the ownership and apology statement and who caused it; drafts the customer message."""
    incident = _detail(request, incident_id)
    services.incident_acknowledge(
        actor=request.user, organization=request.organization, incident=incident,
        expected_version=payload.version, statement=payload.statement, caused_by=payload.caused_by,
        caused_by_detail=payload.caused_by_detail)
    return _detail(request, incident_id)


@router.post("/incidents/{incident_id}/advance",
             response={200: IncidentDetailOut, **CONFLICT, **WRITE_ERRORS}, summary="Move to the next state")
def advance_incident(request: HttpRequest, incident_id: int, payload: AdvanceIn):
    """Investigating, remediating, in review; an illegal move answers 422 with the reason."""
    incident = _detail(request, incident_id)
    services.incident_advance(actor=request.user, organization=request.organization, incident=incident,
                              expected_version=payload.version, to=payload.to, note=payload.note)
    return _detail(request, incident_id)


@router.post("/incidents/{incident_id}/causes", response={201: IncidentDetailOut, **WRITE_ERRORS},
             summary="Add a cause")
def add_cause(request: HttpRequest, incident_id: int, payload: CauseIn):
    """A root cause or contributing factor; "computer error" and the like are refused with the reason."""
    incident = _detail(request, incident_id)
    services.cause_add(actor=request.user, organization=request.organization, incident=incident,
                       kind=payload.kind, category=payload.category, mechanism=payload.mechanism)
    return Status(201, _detail(request, incident_id))


@router.post("/incidents/{incident_id}/options", response={201: IncidentDetailOut, **WRITE_ERRORS},
             summary="Propose a solution option")
def add_option(request: HttpRequest, incident_id: int, payload: OptionIn):
    incident = _detail(request, incident_id)
    services.option_add(actor=request.user, organization=request.organization, incident=incident,
                        **payload.model_dump())
    return Status(201, _detail(request, incident_id))


@router.post("/incident-options/{option_id}/comments", response={201: IncidentDetailOut, **WRITE_ERRORS},
             summary="Comment on a solution option")
def comment_option(request: HttpRequest, option_id: int, payload: CommentIn):
    option = selectors.option_get(**_scope(request), pk=option_id)
    services.option_comment(actor=request.user, organization=request.organization, option=option,
                            text=payload.text)
    return Status(201, _detail(request, option.incident_id))


@router.post("/incidents/{incident_id}/decide",
             response={200: IncidentDetailOut, **CONFLICT, **WRITE_ERRORS}, summary="Decide on a solution")
def decide_incident(request: HttpRequest, incident_id: int, payload: DecideIn):
    """The client's decision among the options: a manager of the buyer only."""
    incident = _detail(request, incident_id)
    option = selectors.option_get(**_scope(request), pk=payload.option_id)
    services.incident_decide(actor=request.user, organization=request.organization, incident=incident,
                             option=option, expected_version=payload.version, note=payload.note)
    return _detail(request, incident_id)


@router.post("/incidents/{incident_id}/controls", response={201: IncidentDetailOut, **WRITE_ERRORS},
             summary="Add a preventive control")
def add_control(request: HttpRequest, incident_id: int, payload: ControlIn):
    """A control with owner and due date; a new check is validated against the suite format."""
    incident = _detail(request, incident_id)
    services.control_add(
        actor=request.user, organization=request.organization, incident=incident,
        description=payload.description, owner=_member(incident.engagement, payload.owner, "owner"),
        due_on=payload.due_on, kind=payload.kind, check=payload.check,
        feed=_feed(request, incident.engagement, payload.feed if payload.feed not in (None, "") else payload.feed_name))
    return Status(201, _detail(request, incident_id))


@router.post("/preventive-controls/{control_id}/apply-check", response={200: ControlOut, **WRITE_ERRORS},
             summary="Add a control's check to its feed")
def apply_control_check(request: HttpRequest, control_id: int):
    control = selectors.control_get(**_scope(request), pk=control_id)
    return services.control_apply_check(actor=request.user, organization=request.organization, control=control)


@router.post("/preventive-controls/{control_id}/complete", response={200: ControlOut, **WRITE_ERRORS},
             summary="Mark a control in place")
def complete_control(request: HttpRequest, control_id: int):
    control = selectors.control_get(**_scope(request), pk=control_id)
    return services.control_complete(actor=request.user, organization=request.organization, control=control)


@router.post("/incidents/{incident_id}/sign-off",
             response={200: IncidentDetailOut, **CONFLICT, **WRITE_ERRORS}, summary="Buyer's sign-off")
def sign_off_incident(request: HttpRequest, incident_id: int, payload: VersionIn):
    """A manager of the buyer agrees the incident may close. The provider cannot sign for the buyer."""
    incident = _detail(request, incident_id)
    services.incident_sign_off(actor=request.user, organization=request.organization, incident=incident,
                               expected_version=payload.version)
    return _detail(request, incident_id)


@router.post("/incidents/{incident_id}/close",
             response={200: IncidentDetailOut, **CONFLICT, **WRITE_ERRORS}, summary="Close an incident")
def close_incident(request: HttpRequest, incident_id: int, payload: CloseIn):
    """Closes only with a root cause, an agreed solution, a control and the buyer's sign-off."""
    incident = _detail(request, incident_id)
    services.incident_close(actor=request.user, organization=request.organization, incident=incident,
                            expected_version=payload.version, lessons=payload.lessons)
    return _detail(request, incident_id)


@router.post("/incidents/{incident_id}/reopen",
             response={200: IncidentDetailOut, **CONFLICT, **WRITE_ERRORS}, summary="Reopen an incident")
def reopen_incident(request: HttpRequest, incident_id: int, payload: ReopenIn):
    incident = _detail(request, incident_id)
    services.incident_reopen(actor=request.user, organization=request.organization, incident=incident,
                             expected_version=payload.version, reason=payload.reason)
    return _detail(request, incident_id)


@router.get("/incidents/{incident_id}/postmortem", response={200: str, **READ_ERRORS},
            summary="The postmortem as Markdown")
def incident_postmortem(request: HttpRequest, incident_id: int):
    """The postmortem written when the incident closed (404 while it is open)."""
    incident = _detail(request, incident_id)
    if not incident.postmortem:
        return Status(404, {"detail": "The postmortem is written when the incident closes."})
    return HttpResponse(incident.postmortem, content_type="text/markdown; charset=utf-8")


# The organisation's reminder webhook.


class WebhookOut(Schema):
    url: str
    active: bool
    signature: str = Field(
        "X-Sourcewise-Signature: sha256=<hex HMAC-SHA256 of the body with your secret>",
        description="How each call is signed (the secret itself is never shown).")


class WebhookIn(InputSchema):
    url: str = Field(description="https:// address that receives reminders as JSON.")
    secret: str = Field(description="At least 16 characters; signs every call.")
    active: bool = True


def _webhook_of(request: HttpRequest):
    from sourcewise.core.permissions import require_role
    from sourcewise.core.tenancy import Role
    from sourcewise.resilience.models import Webhook

    require_role(request.user, request.organization, Role.MANAGER)
    return Webhook.objects.visible_to(request.user, request.organization).filter(
        organization=request.organization).first()


@router.get("/resilience/webhook", response={200: WebhookOut, **WRITE_ERRORS},
            summary="Your organisation's reminder webhook")
def get_webhook(request: HttpRequest):
    """Needs the manager role; 404 when none is set."""
    from django.http import Http404

    webhook = _webhook_of(request)
    if webhook is None:
        raise Http404("No reminder webhook is set.")
    return webhook


@router.put("/resilience/webhook", response={200: WebhookOut, **WRITE_ERRORS},
            summary="Set your organisation's reminder webhook")
def put_webhook(request: HttpRequest, payload: WebhookIn):
    """Reminders (unacknowledged incidents, overdue controls) are POSTed here, signed. Managers only."""
    _webhook_of(request)
    return services.webhook_configure(actor=request.user, organization=request.organization,
                                      url=payload.url, secret=payload.secret, active=payload.active)
