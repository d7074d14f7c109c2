"""JSON API of co-learning (mounted under /api/v1/ by config.api).

Everything under a challenge belongs to its engagement: both sides read it, members of
either side write it, and anything else answers 404. Only the client's managers decide
on ideas and consent to sharing learnings (403 for others).
"""

import datetime as dt
import decimal
from typing import Any, Literal

from django.http import FileResponse, Http404, HttpRequest
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from sourcewise.colearning import selectors, services, story
from sourcewise.colearning.models import (
    Attachment,
    DataStudy,
    Idea,
    IdeaTest,
    Insight,
    Learning,
    Observation,
    ResearchSession,
    SharedLearning,
    StudyRun,
)
from sourcewise.core import storage
from sourcewise.core.api import READ_ERRORS, WRITE_ERRORS, ErrorOut, InputSchema, Page
from sourcewise.core.selectors import engagement_get

router = Router(tags=["colearning"])
Side = Literal["buyer", "provider"]


def _scope(request: HttpRequest) -> dict[str, Any]:
    return {"user": request.user, "organization": request.organization}


# --- Challenges ------------------------------------------------------------


class ChallengeOut(Schema):
    id: int
    engagement_id: int
    problem: str = Field(description="The problem in the client's words.")
    outcome: str = Field(description="The measurable outcome that says it worked.")
    courage_access: str = Field(description="Courage: the access to its customers the buyer grants.")
    courage_consent: str = Field(description="Courage: how those customers consent.")
    courage_limits: str = Field(description="Courage: the limits of that access.")
    budget_shadowing_planned: decimal.Decimal
    budget_shadowing_spent: decimal.Decimal
    budget_testing_planned: decimal.Decimal
    budget_testing_spent: decimal.Decimal
    stories_customers: str = Field(description="Stories: the customers'.")
    stories_project: str = Field(description="Stories: the project's own.")
    author_side: Side = Field(description="The side that wrote it.")
    created_at: dt.datetime
    version: int = Field(description="Send it back with an edit (PATCH); a stale one is refused (409).")


class ChallengeIn(InputSchema):
    engagement_id: int
    problem: str = Field(description="In the client's words, e.g. reduce the cost of collections.")
    outcome: str
    courage_access: str = ""
    courage_consent: str = ""
    courage_limits: str = ""
    budget_shadowing_planned: decimal.Decimal = Field(decimal.Decimal(0), ge=0)
    budget_shadowing_spent: decimal.Decimal = Field(decimal.Decimal(0), ge=0)
    budget_testing_planned: decimal.Decimal = Field(decimal.Decimal(0), ge=0)
    budget_testing_spent: decimal.Decimal = Field(decimal.Decimal(0), ge=0)
    stories_customers: str = ""
    stories_project: str = ""


class ChallengePatch(InputSchema):
    version: int = Field(description="The version you read; if someone saved since: 409.")
    problem: str | None = None
    outcome: str | None = None
    courage_access: str | None = None
    courage_consent: str | None = None
    courage_limits: str | None = None
    budget_shadowing_planned: decimal.Decimal | None = Field(None, ge=0)
    budget_shadowing_spent: decimal.Decimal | None = Field(None, ge=0)
    budget_testing_planned: decimal.Decimal | None = Field(None, ge=0)
    budget_testing_spent: decimal.Decimal | None = Field(None, ge=0)
    stories_customers: str | None = None
    stories_project: str | None = None


class ChallengeFilters(Schema):
    engagement_id: int | None = Field(None, description="Only this engagement's challenges.")


@router.get("/colearning/challenges", response={200: list[ChallengeOut], **READ_ERRORS},
            summary="List challenges")
@paginate(Page)
def list_challenges(request: HttpRequest, filters: Query[ChallengeFilters]):
    queryset = selectors.challenge_list(**_scope(request))
    if filters.engagement_id is not None:
        queryset = queryset.filter(engagement_id=filters.engagement_id)
    return queryset.order_by("-created_at", "-pk")


@router.post("/colearning/challenges", response={201: ChallengeOut, **WRITE_ERRORS},
             summary="Name a challenge")
def create_challenge(request: HttpRequest, payload: ChallengeIn):
    """A problem both sides solve together, with its outcome and power-ups. Members of either side."""
    data = payload.model_dump()
    engagement = engagement_get(**_scope(request), pk=data.pop("engagement_id"))
    challenge = services.challenge_create(actor=request.user, engagement=engagement,
                                          organization=request.organization, **data)
    return Status(201, challenge)


@router.get("/colearning/challenges/{challenge_id}", response={200: ChallengeOut, **READ_ERRORS},
            summary="Get a challenge")
def get_challenge(request: HttpRequest, challenge_id: int):
    return selectors.challenge_get(**_scope(request), pk=challenge_id)


@router.patch("/colearning/challenges/{challenge_id}",
              response={200: ChallengeOut, 409: ErrorOut, **WRITE_ERRORS}, summary="Edit a challenge")
def update_challenge(request: HttpRequest, challenge_id: int, payload: ChallengePatch):
    challenge = selectors.challenge_get(**_scope(request), pk=challenge_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    return services.challenge_update(actor=request.user, challenge=challenge, expected_version=version,
                                     organization=request.organization, **changes)


class StoryOut(Schema):
    challenge_id: int
    markdown: str = Field(description="The path from challenge to outcomes, as a Markdown report.")


@router.get("/colearning/challenges/{challenge_id}/story", response={200: StoryOut, **READ_ERRORS},
            summary="A challenge's story as a report")
def get_story(request: HttpRequest, challenge_id: int):
    challenge = selectors.challenge_get(**_scope(request), pk=challenge_id)
    return {"challenge_id": challenge.pk, "markdown": story.markdown(story.build(challenge))}


# --- Research --------------------------------------------------------------------


class AttachmentOut(Schema):
    id: int
    name: str = Field(description="The file's name as it was uploaded.")
    size_bytes: int
    sha256: str = Field(description="The SHA-256 of the stored file.")
    author_side: Side = Field(description="The side that added it (only that side may remove it).")
    author: str | None = Field(description="Who added it.")
    created_at: dt.datetime
    download_url: str = Field(description="GET it for the file (same visibility as its artifact).")

    @staticmethod
    def resolve_author(obj: Attachment) -> str | None:
        return obj.author.display_name if obj.author else None

    @staticmethod
    def resolve_download_url(obj: Attachment) -> str:
        return f"/api/v1/colearning/attachments/{obj.pk}/file"


def _attachments_of(obj) -> list[Attachment]:
    return list(obj.attachments.all())



class SessionOut(Schema):
    id: int
    challenge_id: int
    kind: Literal["shadowing", "interview"]
    held_on: dt.date
    title: str
    buyer_observers: str = Field(description="Who observed for the buyer.")
    provider_observers: str = Field(description="Who observed for the provider.")
    consent: bool
    consent_note: str
    notes: str
    tags: list[str]
    attachments: list[AttachmentOut]
    author_side: Side

    @staticmethod
    def resolve_tags(obj: ResearchSession) -> list[str]:
        return obj.tag_list()

    @staticmethod
    def resolve_attachments(obj: ResearchSession) -> list[Attachment]:
        return _attachments_of(obj)


class SessionIn(InputSchema):
    kind: Literal["shadowing", "interview"]
    held_on: dt.date
    title: str
    buyer_observers: str = ""
    provider_observers: str = ""
    consent: bool = Field(False, description="The people observed consented; required.")
    consent_note: str = ""
    notes: str = ""
    tags: list[str] = []


@router.get("/colearning/challenges/{challenge_id}/sessions",
            response={200: list[SessionOut], **READ_ERRORS}, summary="Shadowing sessions and interviews")
def list_sessions(request: HttpRequest, challenge_id: int):
    return selectors.challenge_get(**_scope(request), pk=challenge_id).sessions.prefetch_related(
        "attachments__author")


@router.post("/colearning/challenges/{challenge_id}/sessions",
             response={201: SessionOut, **WRITE_ERRORS}, summary="Record a session")
def create_session(request: HttpRequest, challenge_id: int, payload: SessionIn):
    challenge = selectors.challenge_get(**_scope(request), pk=challenge_id)
    return Status(201, services.research_session_create(
        actor=request.user, challenge=challenge, organization=request.organization, **payload.model_dump()))


@router.post("/colearning/sessions/{session_id}/attachments", response={201: AttachmentOut, **WRITE_ERRORS},
             summary="Attach a file to a session")
def attach_to_session(request: HttpRequest, session_id: int, file: File[UploadedFile]):
    """Multipart upload (field `file`); a session holds any number of files. Members of either
    side; refused (422) when empty or larger than the upload limit."""
    session = selectors.session_get(**_scope(request), pk=session_id)
    return Status(201, services.attachment_add(actor=request.user, owner=session, upload=file,
                                               organization=request.organization))


@router.post("/colearning/observations/{observation_id}/attachments",
             response={201: AttachmentOut, **WRITE_ERRORS}, summary="Attach a file to an observation")
def attach_to_observation(request: HttpRequest, observation_id: int, file: File[UploadedFile]):
    """Multipart upload (field `file`); an observation holds any number of files."""
    observation = selectors.observation_get(**_scope(request), pk=observation_id)
    return Status(201, services.attachment_add(actor=request.user, owner=observation, upload=file,
                                               organization=request.organization))


@router.get("/colearning/attachments/{attachment_id}", response={200: AttachmentOut, **READ_ERRORS},
            summary="An attachment's details")
def get_attachment(request: HttpRequest, attachment_id: int):
    return selectors.attachment_get(**_scope(request), pk=attachment_id)


@router.get("/colearning/attachments/{attachment_id}/file", response={200: None, **READ_ERRORS},
            summary="Download an attachment")
def download_attachment(request: HttpRequest, attachment_id: int):
    """The file itself, to whoever sees its session or observation; anyone else: 404."""
    attachment = selectors.attachment_get(**_scope(request), pk=attachment_id)
    try:
        handle = open(storage.path_of(attachment.file.name), "rb")  # noqa: SIM115 (FileResponse closes it)
    except FileNotFoundError:
        raise Http404("The file is no longer in storage.") from None
    return FileResponse(handle, as_attachment=True, filename=attachment.name)


@router.delete("/colearning/attachments/{attachment_id}", response={204: None, **WRITE_ERRORS},
               summary="Remove an attachment")
def remove_attachment(request: HttpRequest, attachment_id: int):
    """Only members of the side that added it (403 for the other side); the file is deleted
    once the removal is committed."""
    attachment = selectors.attachment_get(**_scope(request), pk=attachment_id)
    services.attachment_remove(actor=request.user, attachment=attachment, organization=request.organization)
    return Status(204, None)


class ObservationOut(Schema):
    id: int
    challenge_id: int
    session_id: int | None
    persona: str = Field(description="Role or persona in the process.")
    experience: str
    pain_points: str
    desired_outcome: str
    quotes: str
    tags: list[str]
    attachments: list[AttachmentOut]
    author_side: Side

    @staticmethod
    def resolve_tags(obj: Observation) -> list[str]:
        return obj.tag_list()

    @staticmethod
    def resolve_attachments(obj: Observation) -> list[Attachment]:
        return _attachments_of(obj)


class ObservationIn(InputSchema):
    persona: str
    experience: str
    pain_points: str = ""
    desired_outcome: str = ""
    quotes: str = ""
    tags: list[str] = []
    session_id: int | None = None


@router.get("/colearning/challenges/{challenge_id}/observations",
            response={200: list[ObservationOut], **READ_ERRORS}, summary="Observations")
def list_observations(request: HttpRequest, challenge_id: int):
    return selectors.challenge_get(**_scope(request), pk=challenge_id).observations.prefetch_related(
        "attachments__author")


@router.post("/colearning/challenges/{challenge_id}/observations",
             response={201: ObservationOut, **WRITE_ERRORS}, summary="Record an observation")
def create_observation(request: HttpRequest, challenge_id: int, payload: ObservationIn):
    challenge = selectors.challenge_get(**_scope(request), pk=challenge_id)
    data = payload.model_dump()
    session_id = data.pop("session_id")
    session = selectors.session_get(**_scope(request), pk=session_id) if session_id is not None else None
    return Status(201, services.observation_create(actor=request.user, challenge=challenge, session=session,
                                                   organization=request.organization, **data))


# --- Data studies -------------------------------------------------------------------


class MetricDef(Schema):
    name: str
    formula: str = Field(description="e.g. sum(amount_collected) / count()")


class StudyRunOut(Schema):
    id: int
    number: int
    file_name: str
    status: Literal["pending", "succeeded", "failed"] = Field(
        description="pending while a large file is computed in the background.")
    errors: list[str] = Field(description="Why the data was not used: missing or mistyped columns.")
    row_count: int | None
    created_at: dt.datetime


class StudyOut(Schema):
    id: int
    version: int
    challenge_id: int
    name: str
    grain: Literal["week", "month"]
    segment_column: str
    metrics: list[MetricDef] = Field(description="Your own metrics, besides the collections KPI set.")
    current_run: StudyRunOut | None = Field(description="The last run that succeeded.")
    results: dict[str, Any] = Field(description='{"grain", "metrics", "rows": [{"period", "segment", ...}]}')
    author_side: Side

    @staticmethod
    def resolve_results(obj: DataStudy) -> dict[str, Any]:
        return obj.current_run.results if obj.current_run else {}


class StudyIn(InputSchema):
    name: str
    grain: Literal["week", "month"] = "month"
    segment_column: str = "segment"
    metrics: list[MetricDef] = []


@router.get("/colearning/challenges/{challenge_id}/studies",
            response={200: list[StudyOut], **READ_ERRORS}, summary="Data studies")
def list_studies(request: HttpRequest, challenge_id: int):
    challenge = selectors.challenge_get(**_scope(request), pk=challenge_id)
    return challenge.studies.select_related("current_run")


@router.post("/colearning/challenges/{challenge_id}/studies",
             response={201: StudyOut, **WRITE_ERRORS}, summary="Start a data study")
def create_study(request: HttpRequest, challenge_id: int, payload: StudyIn):
    challenge = selectors.challenge_get(**_scope(request), pk=challenge_id)
    data = payload.model_dump()
    return Status(201, services.study_create(actor=request.user, challenge=challenge,
                                             organization=request.organization, **data))


@router.get("/colearning/studies/{study_id}", response={200: StudyOut, **READ_ERRORS},
            summary="A study and its current results")
def get_study(request: HttpRequest, study_id: int):
    return selectors.study_get(**_scope(request), pk=study_id)


class MetricsIn(InputSchema):
    version: int = Field(description="The study's version you read; if it changed since: 409.")
    metrics: list[MetricDef] = Field(description="Replaces the study's own metrics.")


@router.put("/colearning/studies/{study_id}/metrics",
            response={200: StudyOut, 409: ErrorOut, **WRITE_ERRORS}, summary="Change a study's own metrics")
def set_study_metrics(request: HttpRequest, study_id: int, payload: MetricsIn):
    """The metrics are computed over the current data first; one that does not fit it is refused
    (422, naming it) and nothing changes."""
    study = selectors.study_get(**_scope(request), pk=study_id)
    return services.study_set_metrics(actor=request.user, study=study, expected_version=payload.version,
                                      metrics=[m.model_dump() for m in payload.metrics],
                                      organization=request.organization)


@router.get("/colearning/studies/{study_id}/runs", response={200: list[StudyRunOut], **READ_ERRORS},
            summary="A study's uploads, newest first")
def list_runs(request: HttpRequest, study_id: int):
    return selectors.study_get(**_scope(request), pk=study_id).runs.all()


@router.post("/colearning/studies/{study_id}/upload", response={201: StudyRunOut, **WRITE_ERRORS},
             summary="Upload call records and compute the KPIs")
def upload_study(request: HttpRequest, study_id: int, file: File[UploadedFile]):
    """A CSV with call_date, account_id, the segment column, right_party_contact, promise_to_pay,
    promise_kept, handle_seconds, amount_collected and cost.

    A file with missing or mistyped columns gives a run with status `failed` and its
    `errors`; the study keeps its previous results.
    """
    study = selectors.study_get(**_scope(request), pk=study_id)
    return Status(201, services.study_upload(actor=request.user, study=study, upload=file,
                                             organization=request.organization))


# --- Insights, ideas, decisions ---------------------------------------------------


class InsightOut(Schema):
    id: int
    challenge_id: int
    statement: str
    observation_ids: list[int]
    study_run_ids: list[int]
    evidence_note: str
    author_side: Side

    @staticmethod
    def resolve_observation_ids(obj: Insight) -> list[int]:
        return [o.pk for o in obj.observations.all()]

    @staticmethod
    def resolve_study_run_ids(obj: Insight) -> list[int]:
        return [r.pk for r in obj.study_runs.all()]


class InsightIn(InputSchema):
    statement: str
    observation_ids: list[int] = Field([], description="Observations of this challenge it rests on.")
    study_run_ids: list[int] = Field([], description="Study runs (results) of this challenge it rests on.")
    evidence_note: str = ""


@router.get("/colearning/challenges/{challenge_id}/insights",
            response={200: list[InsightOut], **READ_ERRORS}, summary="Insights")
def list_insights(request: HttpRequest, challenge_id: int):
    challenge = selectors.challenge_get(**_scope(request), pk=challenge_id)
    return challenge.insights.prefetch_related("observations", "study_runs")


@router.post("/colearning/challenges/{challenge_id}/insights",
             response={201: InsightOut, **WRITE_ERRORS}, summary="Record an insight with its evidence")
def create_insight(request: HttpRequest, challenge_id: int, payload: InsightIn):
    challenge = selectors.challenge_get(**_scope(request), pk=challenge_id)
    observations = selectors.visible_among(Observation, payload.observation_ids, **_scope(request))
    runs = selectors.visible_among(StudyRun, payload.study_run_ids, **_scope(request))
    return Status(201, services.insight_create(
        actor=request.user, challenge=challenge, statement=payload.statement, observations=observations,
        study_runs=runs, evidence_note=payload.evidence_note, organization=request.organization))


class MilestoneOut(Schema):
    id: int
    title: str
    due_on: dt.date | None
    done: bool


class IdeaTestOut(Schema):
    id: int
    idea_id: int
    hypothesis: str
    metric: str
    result: str
    outcome: Literal["running", "confirmed", "refuted", "inconclusive"]
    author_side: Side
    version: int = Field(description="Send it back with an edit (PATCH); a stale one is refused (409).")


class IdeaOut(Schema):
    id: int
    challenge_id: int
    title: str
    description: str
    insight_ids: list[int]
    expected_impact: str
    effort: Literal["low", "medium", "high"]
    test_proposed: str
    status: Literal["proposed", "pursued", "declined", "on_hold"]
    decline_reason: str
    revisit_on: dt.date | None
    revisit_trigger: str
    project_owner: str
    milestones: list[MilestoneOut]
    tests: list[IdeaTestOut]
    decided_at: dt.datetime | None
    author_side: Side
    version: int

    @staticmethod
    def resolve_insight_ids(obj: Idea) -> list[int]:
        return [i.pk for i in obj.insights.all()]

    @staticmethod
    def resolve_milestones(obj: Idea):
        return list(obj.milestones.all())

    @staticmethod
    def resolve_tests(obj: Idea):
        return list(obj.tests.all())


class IdeaIn(InputSchema):
    title: str
    insight_ids: list[int] = Field(description="The insights it comes from (at least one).")
    expected_impact: str
    test_proposed: str
    effort: Literal["low", "medium", "high"] = "medium"
    description: str = ""


class MilestoneIn(InputSchema):
    title: str
    due_on: dt.date | None = None


class DecisionIn(InputSchema):
    decision: Literal["pursued", "declined", "on_hold"]
    version: int = Field(description="The idea's version you read; if it changed since: 409.")
    reason: str = Field("", description="Required to decline.")
    revisit_on: dt.date | None = Field(None, description="On hold: the date to revisit (a reminder is sent).")
    revisit_trigger: str = Field("", description=(
        "On hold: or the event that should bring it back. Without a date, the client's managers "
        "are asked every COLEARNING_TRIGGER_REVIEW_DAYS days (30 by default) whether it has happened."))
    project_owner: str = Field("", description="Required to pursue.")
    milestones: list[MilestoneIn] = []


class IdeaTestIn(InputSchema):
    hypothesis: str
    metric: str
    result: str = ""
    outcome: Literal["running", "confirmed", "refuted", "inconclusive"] = "running"


class IdeaTestPatch(InputSchema):
    version: int = Field(description="The version you read; if someone saved since: 409.")
    hypothesis: str | None = None
    metric: str | None = None
    result: str | None = None
    outcome: Literal["running", "confirmed", "refuted", "inconclusive"] | None = Field(
        None, description="Other than running, it needs the result that supports it.")


def _ideas(queryset):
    return queryset.prefetch_related("insights", "milestones", "tests")


@router.get("/colearning/challenges/{challenge_id}/ideas", response={200: list[IdeaOut], **READ_ERRORS},
            summary="Ideas and the client's decisions")
def list_ideas(request: HttpRequest, challenge_id: int):
    return _ideas(selectors.challenge_get(**_scope(request), pk=challenge_id).ideas.all())


@router.post("/colearning/challenges/{challenge_id}/ideas", response={201: IdeaOut, **WRITE_ERRORS},
             summary="Propose an idea")
def create_idea(request: HttpRequest, challenge_id: int, payload: IdeaIn):
    challenge = selectors.challenge_get(**_scope(request), pk=challenge_id)
    data = payload.model_dump()
    insights = selectors.visible_among(Insight, data.pop("insight_ids"), **_scope(request))
    idea = services.idea_create(actor=request.user, challenge=challenge, insights=insights,
                                organization=request.organization, **data)
    return Status(201, _ideas(Idea.objects.filter(pk=idea.pk)).get())


@router.post("/colearning/ideas/{idea_id}/decision",
             response={200: IdeaOut, 409: ErrorOut, **WRITE_ERRORS}, summary="Decide on an idea")
def decide_idea(request: HttpRequest, idea_id: int, payload: DecisionIn):
    """The client decides: pursue, decline (with the reason) or hold (with a revisit date or trigger).

    Only managers of the buyer's side.
    """
    idea = selectors.idea_get(**_scope(request), pk=idea_id)
    services.idea_decide(
        actor=request.user, idea=idea, decision=payload.decision, expected_version=payload.version,
        reason=payload.reason, revisit_on=payload.revisit_on, revisit_trigger=payload.revisit_trigger,
        project_owner=payload.project_owner,
        milestones=[(m.title, m.due_on) for m in payload.milestones], organization=request.organization)
    return _ideas(Idea.objects.filter(pk=idea.pk)).get()


@router.post("/colearning/milestones/{milestone_id}/done", response={200: MilestoneOut, **WRITE_ERRORS},
             summary="Mark a milestone of a pursued idea done")
def complete_milestone(request: HttpRequest, milestone_id: int):
    milestone = selectors.milestone_get(**_scope(request), pk=milestone_id)
    return services.milestone_complete(actor=request.user, milestone=milestone,
                                       organization=request.organization)


@router.post("/colearning/ideas/{idea_id}/tests", response={201: IdeaTestOut, **WRITE_ERRORS},
             summary="Record a test of an idea")
def create_idea_test(request: HttpRequest, idea_id: int, payload: IdeaTestIn):
    idea = selectors.idea_get(**_scope(request), pk=idea_id)
    test: IdeaTest = services.idea_test_create(actor=request.user, idea=idea,
                                               organization=request.organization, **payload.model_dump())
    return Status(201, test)


@router.patch("/colearning/tests/{test_id}", response={200: IdeaTestOut, 409: ErrorOut, **WRITE_ERRORS},
              summary="Edit a test of an idea")
def update_idea_test(request: HttpRequest, test_id: int, payload: IdeaTestPatch):
    """Change the hypothesis, metric, result or outcome (members of either side)."""
    test = selectors.idea_test_get(**_scope(request), pk=test_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    return services.idea_test_update(actor=request.user, test=test, expected_version=version,
                                     organization=request.organization, **changes)


# --- Learnings and the library ---------------------------------------------------


class LearningOut(Schema):
    id: int
    challenge_id: int
    title: str
    body: str
    industry: str
    process: str
    tags: str
    consented: bool = Field(description="The client's manager consented to sharing it.")
    shared: bool = Field(description="An anonymised copy is in the provider's library.")
    author_side: Side

    @staticmethod
    def resolve_consented(obj: Learning) -> bool:
        return obj.has_consent

    @staticmethod
    def resolve_shared(obj: Learning) -> bool:
        return SharedLearning.objects.filter(source=obj).exists()


class LearningIn(InputSchema):
    title: str
    body: str
    process: str = ""
    industry: str | None = Field(None, description="Left out: the client's industry.")
    tags: list[str] = []


class SharedLearningOut(Schema):
    id: int
    title: str
    body: str
    industry: str
    process: str
    tags: str
    provider: str = Field(description="Whose library it is in.")
    shared_at: dt.datetime
    score: float | None = Field(None, description="Likeness to the query (semantic search).")

    @staticmethod
    def resolve_provider(obj: SharedLearning) -> str:
        return obj.provider.name

    @staticmethod
    def resolve_score(obj: SharedLearning) -> float | None:
        return getattr(obj, "score", None)


class LibraryFilters(Schema):
    q: str | None = Field(None, description="Words to search for, or a question (with mode=semantic).")
    mode: Literal["text", "semantic"] = Field("text", description="Match words, or meaning.")
    industry: str | None = None
    process: str | None = None
    tag: str | None = None


@router.get("/colearning/challenges/{challenge_id}/learnings",
            response={200: list[LearningOut], **READ_ERRORS}, summary="Learnings of a challenge")
def list_learnings(request: HttpRequest, challenge_id: int):
    return selectors.challenge_get(**_scope(request), pk=challenge_id).learnings.all()


@router.post("/colearning/challenges/{challenge_id}/learnings",
             response={201: LearningOut, **WRITE_ERRORS}, summary="Record a learning")
def create_learning(request: HttpRequest, challenge_id: int, payload: LearningIn):
    challenge = selectors.challenge_get(**_scope(request), pk=challenge_id)
    return Status(201, services.learning_create(actor=request.user, challenge=challenge,
                                                organization=request.organization, **payload.model_dump()))


@router.post("/colearning/learnings/{learning_id}/consent", response={200: LearningOut, **WRITE_ERRORS},
             summary="Consent to sharing a learning (client managers)")
def consent_learning(request: HttpRequest, learning_id: int):
    learning = selectors.learning_get(**_scope(request), pk=learning_id)
    return services.learning_consent(actor=request.user, learning=learning, organization=request.organization)


@router.post("/colearning/learnings/{learning_id}/share",
             response={201: SharedLearningOut, **WRITE_ERRORS},
             summary="Share a learning, anonymised, to the provider's library")
def share_learning(request: HttpRequest, learning_id: int):
    """Refused (422) without the client's consent."""
    learning = selectors.learning_get(**_scope(request), pk=learning_id)
    return Status(201, services.learning_share(actor=request.user, learning=learning,
                                               organization=request.organization))


@router.get("/colearning/library", response={200: list[SharedLearningOut], **READ_ERRORS},
            summary="Search the learnings library")
def search_library(request: HttpRequest, filters: Query[LibraryFilters]):
    """Learnings shared with consent and without the client's identity: a provider's own
    library, and its learnings in your industry when you are its client."""
    return selectors.library(**_scope(request), q=filters.q or "", mode=filters.mode,
                             industry=filters.industry or "", process=filters.process or "",
                             tag=filters.tag or "")
