"""JSON API of providers (mounted under /api/v1/ by config.api): the same services and scoping as the pages.

Everything of the register and due diligence is the buyer organisation's own; a provider
organisation sees only the questionnaires sent to it (without scores, red flags or
reviews). Interactions and change notices are the engagement's: both sides see them.
"""

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from sourcewise.accounts.models import Organization
from sourcewise.core.api import (
    READ_ERRORS,
    WRITE_ERRORS,
    AuditEventOut,
    ErrorOut,
    InputSchema,
    Page,
)
from sourcewise.core.selectors import engagement_get
from sourcewise.core.selectors import get_visible as _get_visible
from sourcewise.providers import csv_io, scoring, selectors, services
from sourcewise.providers.models import (
    Assessment,
    Interaction,
    Provider,
    Selection,
)

router = Router(tags=["providers"])

CONFLICT = {409: ErrorOut}
TierName = Literal["critical", "important", "standard"]
ProviderStatus = Literal["candidate", "current", "exited"]


def _scope(request: HttpRequest) -> dict[str, Any]:
    return {"user": request.user, "organization": request.organization}


def _linked(slug: str | None) -> Organization | None:
    if not slug:
        return None
    org = Organization.objects.filter(slug=slug.strip().lower()).first()
    if org is None:
        raise ValidationError({"organization": f"No organisation has the short name '{slug}'."})
    return org


def _parent(request: HttpRequest, parent_id: int | None) -> Provider | None:
    if parent_id is None:
        return None
    try:
        return selectors.provider_get(**_scope(request), pk=parent_id)
    except Http404:
        raise ValidationError({"parent_id": "No provider with this id in your register."}) from None


# --- register --------------------------------------------------------------------------------


ContactRole = Literal["account_manager", "escalation", "dpo", "security", "other"]


class ContactOut(Schema):
    id: int
    name: str
    role: ContactRole
    email: str
    phone: str
    is_primary: bool = Field(description="The contact that stands for the provider in exports and invitations.")
    version: int


class ContactIn(InputSchema):
    name: str
    role: ContactRole = "account_manager"
    email: str = ""
    phone: str = ""
    is_primary: bool = Field(False, description="The first contact of a provider is primary anyway.")


class ContactPatch(InputSchema):
    version: int = Field(description="The version you read; a stale one answers 409.")
    name: str | None = None
    role: ContactRole | None = None
    email: str | None = None
    phone: str | None = None
    is_primary: bool | None = Field(None, description="Making a contact primary demotes the previous one.")


class ProviderOut(Schema):
    id: int
    legal_name: str
    registration_number: str
    lei: str = Field(description="ISO 17442 Legal Entity Identifier, check digits verified.")
    country: str = Field(description="ISO 3166 two-letter code.")
    parent_id: int | None
    contacts: list[ContactOut] = Field(description="The primary contact first.")
    organization: str | None = Field(description="The provider's Sourcewise organisation (short name), if linked.")
    status: ProviderStatus
    tier: TierName
    version: int

    @staticmethod
    def resolve_organization(obj: Provider) -> str | None:
        return obj.organization.slug if obj.organization_id else None

    @staticmethod
    def resolve_contacts(obj: Provider) -> list:
        return list(obj.contacts.all())


class ProviderIn(InputSchema):
    legal_name: str
    registration_number: str = ""
    lei: str = Field("", description="20 characters; refused when its check digits do not match.")
    country: str = ""
    parent_id: int | None = None
    contacts: list[ContactIn] = Field(default_factory=list, description="Its people; the first is primary "
                                      "unless another is marked so.")
    organization: str | None = Field(None, description="Short name of the provider's Sourcewise organisation.")
    status: ProviderStatus = "candidate"
    tier: TierName = "standard"
    tier_reason: str = ""


class ProviderPatch(InputSchema):
    version: int = Field(description="The version you read; a stale one answers 409.")
    legal_name: str | None = None
    registration_number: str | None = None
    lei: str | None = None
    country: str | None = None
    status: ProviderStatus | None = None


class TierIn(InputSchema):
    tier: TierName
    reason: str = Field(description="Why the tier changes; kept in the tier history.")


class TierChangeOut(Schema):
    tier_before: str
    tier: str
    reason: str
    changed_at: dt.datetime


class ProviderFilters(Schema):
    q: str | None = None
    status: ProviderStatus | None = None
    tier: TierName | None = None


@router.get("/providers", response={200: list[ProviderOut], **READ_ERRORS}, summary="The provider register")
@paginate(Page)
def list_providers(request: HttpRequest, filters: Query[ProviderFilters]):
    queryset = selectors.provider_list(**_scope(request))
    if filters.q:
        queryset = queryset.filter(Q(legal_name__icontains=filters.q) | Q(lei__icontains=filters.q))
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.tier:
        queryset = queryset.filter(tier=filters.tier)
    return queryset.prefetch_related("contacts").order_by("legal_name", "pk")


@router.post("/providers", response={201: ProviderOut, **WRITE_ERRORS}, summary="Add a provider to the register")
def create_provider(request: HttpRequest, payload: ProviderIn):
    data = payload.model_dump()
    provider = services.provider_create(
        actor=request.user, buyer=request.organization, tier=data.pop("tier"), tier_reason=data.pop("tier_reason"),
        organization=_linked(data.pop("organization")), parent=_parent(request, data.pop("parent_id")), **data,
    )
    return Status(201, selectors.provider_get(**_scope(request), pk=provider.pk))


@router.get("/providers/{provider_id}", response={200: ProviderOut, **READ_ERRORS}, summary="A provider")
def get_provider(request: HttpRequest, provider_id: int):
    return selectors.provider_get(**_scope(request), pk=provider_id)


@router.patch("/providers/{provider_id}", response={200: ProviderOut, **CONFLICT, **WRITE_ERRORS},
              summary="Edit a provider")
def update_provider(request: HttpRequest, provider_id: int, payload: ProviderPatch):
    provider = selectors.provider_get(**_scope(request), pk=provider_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    services.provider_update(actor=request.user, provider=provider, expected_version=version, **changes)
    return selectors.provider_get(**_scope(request), pk=provider_id)


@router.get("/providers/{provider_id}/contacts", response={200: list[ContactOut], **READ_ERRORS},
            summary="A provider's contacts")
def list_contacts(request: HttpRequest, provider_id: int):
    return selectors.provider_contacts(selectors.provider_get(**_scope(request), pk=provider_id))


@router.post("/providers/{provider_id}/contacts", response={201: ContactOut, **WRITE_ERRORS},
             summary="Add a contact to a provider")
def add_contact(request: HttpRequest, provider_id: int, payload: ContactIn):
    provider = selectors.provider_get(**_scope(request), pk=provider_id)
    return Status(201, services.contact_add(actor=request.user, provider=provider, **payload.model_dump()))


@router.patch("/provider-contacts/{contact_id}", response={200: ContactOut, **CONFLICT, **WRITE_ERRORS},
              summary="Edit a provider's contact")
def update_contact(request: HttpRequest, contact_id: int, payload: ContactPatch):
    contact = selectors.get_contact(**_scope(request), pk=contact_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    return services.contact_update(actor=request.user, contact=contact, expected_version=version, **changes)


@router.delete("/provider-contacts/{contact_id}", response={204: None, **CONFLICT, **WRITE_ERRORS},
               summary="Remove a provider's contact")
def remove_contact(request: HttpRequest, contact_id: int, version: int | None = None):
    """When the primary contact goes, the next contact (if any) becomes primary."""
    contact = selectors.get_contact(**_scope(request), pk=contact_id)
    services.contact_remove(actor=request.user, contact=contact, expected_version=version)
    return Status(204, None)


@router.post("/providers/{provider_id}/tier", response={200: ProviderOut, **WRITE_ERRORS},
             summary="Change a provider's tier")
def set_tier(request: HttpRequest, provider_id: int, payload: TierIn):
    """Needs the manager role; the reason is kept in the tier history."""
    provider = selectors.provider_get(**_scope(request), pk=provider_id)
    services.provider_set_tier(actor=request.user, provider=provider, tier=payload.tier, reason=payload.reason)
    return selectors.provider_get(**_scope(request), pk=provider_id)


@router.get("/providers/{provider_id}/tier-history", response={200: list[TierChangeOut], **READ_ERRORS},
            summary="A provider's tier history")
def tier_history(request: HttpRequest, provider_id: int):
    return list(selectors.provider_get(**_scope(request), pk=provider_id).tier_changes.all())


class ContractOut(Schema):
    id: int
    version: int
    reference: str
    start_date: dt.date
    end_date: dt.date | None
    renewal: str
    buyer_notice_days: int | None
    provider_notice_days: int | None
    annual_cost: Decimal | None
    currency: str
    governing_law: str
    exit_plan: str
    substitutability: str


class SubcontractorOut(Schema):
    id: int
    version: int
    parent_id: int | None
    rank: int = Field(description="2 for the provider's own subcontractor, 3 for theirs, and so on.")
    legal_name: str
    registration_number: str
    lei: str
    country: str
    function: str
    service_location: str
    data_location: str
    personal_data: bool
    start_date: dt.date | None
    end_date: dt.date | None


class ServiceOut(Schema):
    id: int
    version: int
    name: str
    description: str
    category: str
    criticality: str
    criticality_reason: str
    data_handled: str
    personal_data: bool
    service_location: str
    data_location: str
    contracts: list[ContractOut]
    subcontractors: list[SubcontractorOut]


class ServiceIn(InputSchema):
    name: str
    description: str = ""
    category: str = ""
    criticality: Literal["critical", "important", "low"] = "low"
    criticality_reason: str = ""
    data_handled: str = ""
    personal_data: bool = False
    service_location: str = ""
    data_location: str = ""


class ContractIn(InputSchema):
    reference: str
    start_date: dt.date
    end_date: dt.date | None = None
    renewal: Literal["automatic", "agreement", "none"] = "agreement"
    buyer_notice_days: int | None = Field(None, ge=0)
    provider_notice_days: int | None = Field(None, ge=0)
    annual_cost: Decimal | None = Field(None, ge=0)
    currency: str = "EUR"
    governing_law: str = ""
    exit_plan: str = ""
    substitutability: Literal["easy", "difficult", "not"] = "difficult"


class ServicePatch(InputSchema):
    version: int = Field(description="The version you read; a stale one answers 409.")
    name: str | None = None
    description: str | None = None
    category: str | None = None
    criticality: Literal["critical", "important", "low"] | None = None
    criticality_reason: str | None = None
    data_handled: str | None = None
    personal_data: bool | None = None
    service_location: str | None = None
    data_location: str | None = None


class ContractPatch(InputSchema):
    version: int = Field(description="The version you read; a stale one answers 409.")
    reference: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    renewal: Literal["automatic", "agreement", "none"] | None = None
    buyer_notice_days: int | None = Field(None, ge=0)
    provider_notice_days: int | None = Field(None, ge=0)
    annual_cost: Decimal | None = Field(None, ge=0)
    currency: str | None = None
    governing_law: str | None = None
    exit_plan: str | None = None
    substitutability: Literal["easy", "difficult", "not"] | None = None


class SubcontractorIn(InputSchema):
    parent_id: int | None = Field(None, description="The subcontractor it works for; none for the provider itself.")
    legal_name: str
    registration_number: str = ""
    lei: str = ""
    country: str = ""
    function: str
    service_location: str = ""
    data_location: str = ""
    personal_data: bool = False
    start_date: dt.date | None = None
    end_date: dt.date | None = None


class SubcontractorPatch(InputSchema):
    version: int = Field(description="The version you read; a stale one answers 409.")
    parent_id: int | None = Field(None, description="Move it under this subcontractor of the same chain; "
                                  "null for the provider itself. Its own subcontractors move with it.")
    legal_name: str | None = None
    registration_number: str | None = None
    lei: str | None = None
    country: str | None = None
    function: str | None = None
    service_location: str | None = None
    data_location: str | None = None
    personal_data: bool | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None


@router.get("/providers/{provider_id}/services", response={200: list[ServiceOut], **READ_ERRORS},
            summary="A provider's services, contracts and subcontractor chains")
def list_services(request: HttpRequest, provider_id: int):
    return selectors.provider_services(selectors.provider_get(**_scope(request), pk=provider_id))


@router.post("/providers/{provider_id}/services", response={201: ServiceOut, **WRITE_ERRORS},
             summary="Record a service")
def create_service(request: HttpRequest, provider_id: int, payload: ServiceIn):
    provider = selectors.provider_get(**_scope(request), pk=provider_id)
    service = services.service_create(actor=request.user, provider=provider, **payload.model_dump())
    return Status(201, service)


@router.patch("/provider-services/{service_id}", response={200: ServiceOut, **CONFLICT, **WRITE_ERRORS},
              summary="Edit a service")
def update_service(request: HttpRequest, service_id: int, payload: ServicePatch):
    service = selectors.get_service(**_scope(request), pk=service_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    return services.service_update(actor=request.user, service=service, expected_version=version, **changes)


@router.patch("/provider-contracts/{contract_id}", response={200: ContractOut, **CONFLICT, **WRITE_ERRORS},
              summary="Edit a contract")
def update_contract(request: HttpRequest, contract_id: int, payload: ContractPatch):
    contract = selectors.get_contract(**_scope(request), pk=contract_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    return services.contract_update(actor=request.user, contract=contract, expected_version=version, **changes)


@router.post("/provider-services/{service_id}/contracts", response={201: ContractOut, **WRITE_ERRORS},
             summary="Record a service's contract")
def create_contract(request: HttpRequest, service_id: int, payload: ContractIn):
    service = selectors.get_service(**_scope(request), pk=service_id)
    return Status(201, services.contract_create(actor=request.user, service=service, **payload.model_dump()))


@router.post("/provider-services/{service_id}/subcontractors", response={201: SubcontractorOut, **WRITE_ERRORS},
             summary="Add a subcontractor to a service's chain")
def create_subcontractor(request: HttpRequest, service_id: int, payload: SubcontractorIn):
    service = selectors.get_service(**_scope(request), pk=service_id)
    data = payload.model_dump()
    parent = None
    if data.get("parent_id") is not None:
        parent = service.subcontractors.filter(pk=data["parent_id"]).first()
        if parent is None:
            raise ValidationError({"parent_id": "No subcontractor with this id in the service's chain."})
    data.pop("parent_id")
    return Status(201, services.subcontractor_create(actor=request.user, service=service, parent=parent, **data))


@router.patch("/provider-subcontractors/{subcontractor_id}",
              response={200: SubcontractorOut, **CONFLICT, **WRITE_ERRORS}, summary="Edit a subcontractor")
def update_subcontractor(request: HttpRequest, subcontractor_id: int, payload: SubcontractorPatch):
    sub = selectors.get_subcontractor(**_scope(request), pk=subcontractor_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    if "parent_id" in changes:
        parent_id = changes.pop("parent_id")
        changes["parent"] = None
        if parent_id is not None:
            changes["parent"] = sub.service.subcontractors.filter(pk=parent_id).first()
            if changes["parent"] is None:
                raise ValidationError({"parent_id": "No subcontractor with this id in the service's chain."})
    return services.subcontractor_update(actor=request.user, subcontractor=sub, expected_version=version, **changes)


@router.delete("/provider-subcontractors/{subcontractor_id}", response={204: None, **CONFLICT, **WRITE_ERRORS},
               summary="Remove a subcontractor from its chain")
def remove_subcontractor(request: HttpRequest, subcontractor_id: int, version: int | None = None):
    """Refused (422) while other subcontractors work for it: move or remove them first."""
    sub = selectors.get_subcontractor(**_scope(request), pk=subcontractor_id)
    services.subcontractor_remove(actor=request.user, subcontractor=sub, expected_version=version)
    return Status(204, None)


class ImportIn(InputSchema):
    csv: str = Field(description="The CSV text: a header row, then one row per provider.")


class ImportOut(Schema):
    created: int


@router.post("/provider-subcontractor-import", response={201: ImportOut, **WRITE_ERRORS},
             summary="Import subcontractors from CSV")
def import_subcontractors(request: HttpRequest, payload: ImportIn):
    """One row per subcontractor of a registered service (columns: provider, service, legal_name, function,
    parent, rank, ...). All or nothing: a refused file answers 422 with every problem by line and column."""
    try:
        created = csv_io.subcontractor_import(actor=request.user, buyer=request.organization, content=payload.csv)
    except csv_io.ImportRefused as exc:
        raise ValidationError({"csv": exc.problems}) from None
    return Status(201, {"created": len(created)})


@router.post("/provider-import", response={201: ImportOut, **WRITE_ERRORS}, summary="Import providers from CSV")
def import_providers(request: HttpRequest, payload: ImportIn):
    """All or nothing: a refused file answers 422 with every problem named by line and column."""
    try:
        created = csv_io.register_import(actor=request.user, buyer=request.organization, content=payload.csv)
    except csv_io.ImportRefused as exc:
        raise ValidationError({"csv": exc.problems}) from None
    return Status(201, {"created": len(created)})


class CheckScoreOut(Schema):
    feed: str
    check: str
    runs: int
    passed: int
    pass_rate: int | None = Field(description="Percent of runs in which the check passed.")
    failing_rows: int


class SlaOut(Schema):
    period_days: int = Field(description="The period the figures cover, ending today.")
    since: dt.date
    engagements: list[str] = Field(description="The buyer's engagements with the provider that had checks.")
    runs: int = Field(description="Deliveries checked (finished check runs).")
    runs_passed: int
    pass_rate: int | None = Field(description="Percent of check runs that passed.")
    checks_run: int
    checks_passed: int
    check_pass_rate: int | None
    failing_rows: int
    late_deliveries: int
    findings: int
    checks: list[CheckScoreOut]


class IncidentsOut(Schema):
    period_days: int = Field(description="Incidents reported in this many days, plus any still open.")
    since: dt.date
    total: int
    open: int
    closed: int
    by_severity: dict[str, int]
    acknowledged: int
    median_hours_to_acknowledge: float | None
    acknowledge_targets_hours: list[int] = Field(description="The plans' targets to acknowledge, in hours.")
    acknowledged_with_target: int
    acknowledged_within_target: int
    unacknowledged_past_target: int
    recurring: int = Field(description="Incidents linked as similar to a past incident.")


class ScorecardOut(Schema):
    period_days: int = Field(description="The period every figure but due diligence covers, ending today.")
    since: dt.date
    due_diligence_score: int | None
    red_flags: int | None
    review_average: int | None
    conclusion: str | None
    reassessment_due: dt.date | None = Field(description="None when never concluded: due now.")
    interactions: int = Field(description="Interactions logged in the period.")
    proactive_share: int | None = Field(description="Percent of interactions not driven by problems or renewals.")
    relationship_alerts: list[str]
    change_notices_announced: int = Field(description="Change notices announced in the period.")
    change_notices_open: int
    change_reviews_overdue: int
    sla: SlaOut | None = Field(description="None when monitoring has no checks for this buyer and provider.")
    incidents: IncidentsOut | None = Field(description="None when no incident was reported in the period or is open.")


@router.get("/providers/{provider_id}/scorecard", response={200: ScorecardOut, **READ_ERRORS},
            summary="A provider's scorecard")
def scorecard(request: HttpRequest, provider_id: int,
              days: str | None = Query(None, description="The period in days: 30, 90 (default), 180 or 365.")):
    provider = selectors.provider_get(**_scope(request), pk=provider_id)
    try:
        period = selectors.scorecard_period(days)
    except ValueError as exc:
        raise ValidationError({"days": str(exc)}) from None
    card = selectors.provider_scorecard(provider, **_scope(request), days=period)
    dd = card["due_diligence"]
    healths = [h for _e, h in card["relationship"]]
    total = sum(h.interactions for h in healths)
    proactive = sum(h.proactive for h in healths)
    return {
        "period_days": card["period_days"], "since": card["since"],
        "due_diligence_score": dd.get("score"), "red_flags": len(dd["red_flags"]) if "red_flags" in dd else None,
        "review_average": dd.get("review_average"), "conclusion": dd.get("conclusion"),
        "reassessment_due": dd.get("reassessment_due"), "interactions": total,
        "proactive_share": round(100 * proactive / total) if total else None,
        "relationship_alerts": [h.alert for h in healths if h.alert],
        "change_notices_announced": card["change_notices"]["total"],
        "change_notices_open": card["change_notices"]["open"],
        "change_reviews_overdue": card["change_notices"]["overdue"],
        "sla": card["sla"], "incidents": card["incidents"],
    }


# --- due diligence --------------------------------------------------------------------------


class QuestionIn(Schema):
    key: str | None = None
    text: str
    kind: Literal["choice", "multi", "number", "text", "file"]
    help_text: str = ""
    weight: int = Field(1, ge=0, le=100)
    options: list[dict[str, Any]] = Field(default_factory=list,
                                          description='[{"label": ..., "score": 0-100}] or number bands [{"min": .., "score": ..}].')
    red_flags: list[dict[str, Any]] = Field(default_factory=list,
                                            description='[{"when": "choice_is"|"number_at_most"|"empty", "values"|"value": .., "explanation": ..}]')


class SectionIn(Schema):
    title: str
    questions: list[QuestionIn]


class TemplateIn(InputSchema):
    name: str
    description: str = ""
    sections: list[SectionIn]


class TemplateOut(Schema):
    id: int
    name: str
    description: str
    builtin: bool

    @staticmethod
    def resolve_builtin(obj) -> bool:
        return bool(obj.builtin_key)


@router.get("/due-diligence/templates", response={200: list[TemplateOut], **READ_ERRORS},
            summary="Questionnaire templates")
def list_templates(request: HttpRequest):
    return list(selectors.template_list(**_scope(request)))


@router.post("/due-diligence/templates", response={201: TemplateOut, **WRITE_ERRORS},
             summary="Create a questionnaire template")
def create_template(request: HttpRequest, payload: TemplateIn):
    template = services.template_create(actor=request.user, organization=request.organization,
                                        definition=payload.model_dump())
    return Status(201, template)


class AssessmentIn(InputSchema):
    due_date: dt.date
    template_id: int | None = Field(None, description="One of your templates; the built-in one if left out.")
    selection_id: int | None = None
    invite_email: str = Field("", description="For a provider without a Sourcewise organisation.")


class AssessmentSent(Schema):
    id: int
    invitation_link: str | None = Field(description="Shown once, for a provider without an account; also emailed.")


class RedFlagOut(Schema):
    question_key: str
    question_text: str
    answer: str
    explanation: str


class ReviewOut(Schema):
    reviewer: str
    score: int
    comment: str
    created_at: dt.datetime


class QuestionAnswerOut(Schema):
    key: str
    section: str
    text: str
    kind: str
    options: list[str]
    weight: int
    answer: Any = Field(description="Choices (a list), a number, a text or a file name; null if unanswered.")


class AssessmentOut(Schema):
    id: int
    provider: str
    buyer: str
    template: str
    status: str
    due_date: dt.date
    submitted_at: dt.datetime | None
    version: int
    questions: list[QuestionAnswerOut]
    # The buyer's own judgement; null for the provider answering it.
    score: int | None = None
    red_flags: list[RedFlagOut] | None = None
    reviews: list[ReviewOut] | None = None
    conclusion: str | None = None
    conclusion_note: str | None = None


def _answer_value(question, answer) -> Any:
    if scoring.is_empty(question, answer):
        return None
    if question.kind in ("choice", "multi"):
        return answer.choices
    if question.kind == "number":
        return answer.number
    if question.kind == "file":
        return scoring.evidence_name(answer)
    return answer.text


def _assessment_out(request: HttpRequest, assessment: Assessment) -> dict[str, Any]:
    questions = selectors.template_questions(assessment.template)
    answers = {a.question_id: a for a in assessment.answers.all()}
    out: dict[str, Any] = {
        "id": assessment.pk, "provider": assessment.provider.legal_name, "buyer": assessment.provider.buyer.name,
        "template": assessment.template.name, "status": assessment.status, "due_date": assessment.due_date,
        "submitted_at": assessment.submitted_at, "version": assessment.version,
        "questions": [{"key": q.key, "section": q.section.title, "text": q.text, "kind": q.kind,
                       "options": q.option_labels(), "weight": q.weight,
                       "answer": _answer_value(q, answers.get(q.pk))} for q in questions],
    }
    if selectors.side_of_assessment(assessment, request.organization) == "buyer":
        result = scoring.evaluate(questions, answers)
        out |= {"score": result.total, "red_flags": [f.__dict__ for f in result.red_flags],
                "reviews": [{"reviewer": r.reviewer.email, "score": r.score, "comment": r.comment,
                             "created_at": r.created_at} for r in assessment.reviews.select_related("reviewer")],
                "conclusion": assessment.conclusion or None, "conclusion_note": assessment.conclusion_note or None}
    return out


class AssessmentSummary(Schema):
    id: int
    provider: str
    buyer: str
    status: str
    due_date: dt.date

    @staticmethod
    def resolve_provider(obj) -> str:
        return obj.provider.legal_name

    @staticmethod
    def resolve_buyer(obj) -> str:
        return obj.provider.buyer.name


@router.get("/due-diligence/assessments", response={200: list[AssessmentSummary], **READ_ERRORS},
            summary="Questionnaires sent, and those to answer")
@paginate(Page)
def list_assessments(request: HttpRequest):
    return selectors.assessment_list(**_scope(request)).order_by("due_date", "pk")


@router.post("/providers/{provider_id}/assessments", response={201: AssessmentSent, **WRITE_ERRORS},
             summary="Send a questionnaire to a provider")
def send_assessment(request: HttpRequest, provider_id: int, payload: AssessmentIn):
    provider = selectors.provider_get(**_scope(request), pk=provider_id)
    template = selection = None
    if payload.template_id is not None:
        template = selectors.template_list(**_scope(request)).filter(pk=payload.template_id).first()
        if template is None:
            raise ValidationError({"template_id": "No template with this id."})
    if payload.selection_id is not None:
        selection = selectors.selection_list(**_scope(request)).filter(pk=payload.selection_id).first()
        if selection is None:
            raise ValidationError({"selection_id": "No selection with this id."})
    assessment, token = services.assessment_send(actor=request.user, provider=provider, due_date=payload.due_date,
                                                 template=template, selection=selection,
                                                 invite_email=payload.invite_email)
    link = request.build_absolute_uri(f"/providers/answer/{token}/") if token else None
    return Status(201, {"id": assessment.pk, "invitation_link": link})


@router.get("/due-diligence/assessments/{assessment_id}", response={200: AssessmentOut, **READ_ERRORS},
            summary="A questionnaire and its answers")
def get_assessment(request: HttpRequest, assessment_id: int):
    """The buyer also gets the weighted score, the red flags (each explained) and the reviews."""
    return _assessment_out(request, selectors.assessment_get(**_scope(request), pk=assessment_id))


class AnswersIn(InputSchema):
    answers: dict[str, Any] = Field(description="By question key: a choice, a list of choices, a number or a text.")


@router.put("/due-diligence/assessments/{assessment_id}/answers", response={200: AssessmentOut, **WRITE_ERRORS},
            summary="Answer questions (the provider)")
def answer_assessment(request: HttpRequest, assessment_id: int, payload: AnswersIn):
    """Refused once submitted, until the buyer reopens it. File evidence is uploaded to
    `/due-diligence/assessments/{id}/evidence/{question_key}`."""
    assessment = selectors.assessment_get(**_scope(request), pk=assessment_id)
    services.assessment_answer(actor=request.user, assessment=assessment, answers=payload.answers)
    return _assessment_out(request, selectors.assessment_get(**_scope(request), pk=assessment_id))


@router.post("/due-diligence/assessments/{assessment_id}/evidence/{question_key}",
             response={200: AssessmentOut, **WRITE_ERRORS}, summary="Upload file evidence (the provider)")
def upload_evidence(request: HttpRequest, assessment_id: int, question_key: str, file: File[UploadedFile]):
    """Multipart, field `file`, for a question of type file. Same rules as the page: refused once
    submitted until the buyer reopens it, empty files and files over the upload limit refused."""
    assessment = selectors.assessment_get(**_scope(request), pk=assessment_id)
    services.assessment_answer(actor=request.user, assessment=assessment, answers={question_key: file})
    return _assessment_out(request, selectors.assessment_get(**_scope(request), pk=assessment_id))


class InvitationEvidenceOut(Schema):
    question_key: str
    file_name: str
    size: int
    sha256: str


@router.post("/due-diligence/invitations/{token}/evidence/{question_key}", auth=None,
             response={200: InvitationEvidenceOut, **WRITE_ERRORS},
             summary="Upload file evidence through an invitation link (a candidate without an account)")
def upload_evidence_by_link(request: HttpRequest, token: str, question_key: str, file: File[UploadedFile]):
    """The secret of the invitation link is the only key: an unknown or expired one answers 404."""
    try:
        assessment = services.assessment_for_token(token)
    except services.LinkUnusable:
        raise Http404 from None
    services.assessment_answer(actor=None, assessment=assessment, answers={question_key: file}, token=token)
    answer = assessment.answers.get(question__key=question_key)
    return {"question_key": question_key, "file_name": scoring.evidence_name(answer),
            "size": answer.evidence_size or 0, "sha256": answer.evidence_sha256}


@router.get("/due-diligence/assessments/{assessment_id}/history", response={200: list[AuditEventOut], **READ_ERRORS},
            summary="A questionnaire's history")
@paginate(Page)
def assessment_history(request: HttpRequest, assessment_id: int):
    """The buyer sees every record; the answering provider sees its answers' changes, the sending,
    submitting and reopening, never the buyer's reviews or conclusion."""
    assessment = selectors.assessment_get(**_scope(request), pk=assessment_id)
    return selectors.assessment_history(assessment, **_scope(request)).order_by("-seq")


@router.post("/due-diligence/assessments/{assessment_id}/submit", response={200: AssessmentOut, **WRITE_ERRORS},
             summary="Submit the answers (the provider)")
def submit_assessment(request: HttpRequest, assessment_id: int):
    assessment = selectors.assessment_get(**_scope(request), pk=assessment_id)
    services.assessment_submit(actor=request.user, assessment=assessment)
    return _assessment_out(request, selectors.assessment_get(**_scope(request), pk=assessment_id))


def _buyer_assessment(request: HttpRequest, assessment_id: int) -> Assessment:
    assessment = selectors.assessment_get(**_scope(request), pk=assessment_id)
    if selectors.side_of_assessment(assessment, request.organization) != "buyer":
        raise Http404
    return assessment


@router.post("/due-diligence/assessments/{assessment_id}/resend-link", response={200: AssessmentSent, **WRITE_ERRORS},
             summary="Send a candidate a new invitation link")
def resend_link(request: HttpRequest, assessment_id: int):
    """The old link stops working; the new one is shown once here and emailed."""
    assessment = _buyer_assessment(request, assessment_id)
    assessment, token = services.assessment_resend_link(actor=request.user, assessment=assessment)
    return {"id": assessment.pk, "invitation_link": request.build_absolute_uri(f"/providers/answer/{token}/")}


class ReasonIn(InputSchema):
    reason: str


@router.post("/due-diligence/assessments/{assessment_id}/reopen", response={200: AssessmentOut, **WRITE_ERRORS},
             summary="Reopen a submitted questionnaire (the buyer's manager)")
def reopen_assessment(request: HttpRequest, assessment_id: int, payload: ReasonIn):
    assessment = _buyer_assessment(request, assessment_id)
    services.assessment_reopen(actor=request.user, assessment=assessment, reason=payload.reason)
    return _assessment_out(request, selectors.assessment_get(**_scope(request), pk=assessment_id))


class ReviewIn(InputSchema):
    score: int = Field(ge=0, le=100)
    comment: str


@router.post("/due-diligence/assessments/{assessment_id}/reviews", response={201: ReviewOut, **WRITE_ERRORS},
             summary="Add a reviewer's score and comment")
def review_assessment(request: HttpRequest, assessment_id: int, payload: ReviewIn):
    assessment = _buyer_assessment(request, assessment_id)
    review = services.assessment_review(actor=request.user, assessment=assessment, **payload.model_dump())
    return Status(201, {"reviewer": review.reviewer.email, "score": review.score, "comment": review.comment,
                        "created_at": review.created_at})


class ConcludeIn(InputSchema):
    conclusion: Literal["approved", "conditions", "rejected"]
    note: str = ""
    version: int | None = Field(None, description="The version you read; a stale one answers 409.")


@router.post("/due-diligence/assessments/{assessment_id}/conclude",
             response={200: AssessmentOut, **CONFLICT, **WRITE_ERRORS}, summary="Conclude (the buyer's manager)")
def conclude_assessment(request: HttpRequest, assessment_id: int, payload: ConcludeIn):
    assessment = _buyer_assessment(request, assessment_id)
    services.assessment_conclude(actor=request.user, assessment=assessment, conclusion=payload.conclusion,
                                 note=payload.note, expected_version=payload.version)
    return _assessment_out(request, selectors.assessment_get(**_scope(request), pk=assessment_id))


class SelectionIn(InputSchema):
    service_name: str
    description: str = ""


class SelectionOut(Schema):
    id: int
    service_name: str
    description: str
    chosen_assessment_id: int | None = Field(alias="chosen_id")
    decision_note: str
    decided_at: dt.datetime | None


class CandidateOut(Schema):
    assessment_id: int
    provider: str
    status: str
    score: int | None
    review_average: int | None
    red_flags: list[RedFlagOut]
    evidence: list[str]


class ComparisonOut(Schema):
    selection: SelectionOut
    candidates: list[CandidateOut]


@router.get("/due-diligence/selections", response={200: list[SelectionOut], **READ_ERRORS}, summary="Selections")
def list_selections(request: HttpRequest):
    return list(selectors.selection_list(**_scope(request)))


@router.post("/due-diligence/selections", response={201: SelectionOut, **WRITE_ERRORS},
             summary="Start choosing a provider for a service")
def create_selection(request: HttpRequest, payload: SelectionIn):
    return Status(201, services.selection_create(actor=request.user, buyer=request.organization,
                                                 **payload.model_dump()))


@router.get("/due-diligence/selections/{selection_id}", response={200: ComparisonOut, **READ_ERRORS},
            summary="The candidates side by side")
def compare_selection(request: HttpRequest, selection_id: int):
    selection = selectors.selection_get(**_scope(request), pk=selection_id)
    candidates, _rows = selectors.selection_comparison(selection)
    return {"selection": selection, "candidates": [{
        "assessment_id": c.assessment.pk, "provider": c.assessment.provider.legal_name,
        "status": c.assessment.status, "score": c.result.total, "review_average": c.review_average,
        "red_flags": [f.__dict__ for f in c.result.red_flags],
        "evidence": [scoring.evidence_name(a) for a in c.evidence]} for c in candidates]}


class ChooseIn(InputSchema):
    assessment_id: int
    note: str


@router.post("/due-diligence/selections/{selection_id}/choose", response={200: SelectionOut, **WRITE_ERRORS},
             summary="Record the chosen candidate (the buyer's manager)")
def choose_candidate(request: HttpRequest, selection_id: int, payload: ChooseIn):
    selection = selectors.selection_get(**_scope(request), pk=selection_id)
    assessment = selection.assessments.filter(pk=payload.assessment_id).first()
    if assessment is None:
        raise ValidationError({"assessment_id": "Not a candidate of this selection."})
    services.selection_choose(actor=request.user, selection=selection, assessment=assessment, note=payload.note)
    return _get_visible(Selection, **_scope(request), pk=selection_id)


# --- the relationship --------------------------------------------------------------------------


class FollowUpIn(Schema):
    description: str
    owner: str
    due_date: dt.date | None = None


class FollowUpOut(Schema):
    id: int
    description: str
    owner: str
    due_date: dt.date | None
    done_at: dt.datetime | None


class InteractionIn(InputSchema):
    date: dt.date
    kind: Literal["governance", "qbr", "workshop", "escalation", "incident", "renewal", "informal"]
    initiated_by: Literal["buyer", "provider"]
    title: str
    topics: str = ""
    follow_ups: list[FollowUpIn] = Field(default_factory=list)


class InteractionOut(Schema):
    id: int
    date: dt.date
    kind: str
    initiated_by: str
    title: str
    topics: str
    proactive: bool
    follow_ups: list[FollowUpOut]

    @staticmethod
    def resolve_follow_ups(obj) -> list:
        return list(obj.follow_ups.all())


class HealthOut(Schema):
    interactions: int
    proactive: int
    reactive: int
    proactive_share: int | None
    average_gap_days: int | None
    days_since_last: int | None
    open_follow_ups: int
    overdue_follow_ups: int
    alert: str | None


@router.get("/engagements/{engagement_id}/interactions", response={200: list[InteractionOut], **READ_ERRORS},
            summary="An engagement's interaction log")
@paginate(Page)
def list_interactions(request: HttpRequest, engagement_id: int) -> QuerySet[Interaction]:
    engagement = engagement_get(**_scope(request), pk=engagement_id)
    return selectors.interaction_list(**_scope(request), engagement=engagement)


@router.post("/engagements/{engagement_id}/interactions", response={201: InteractionOut, **WRITE_ERRORS},
             summary="Log an interaction")
def log_interaction(request: HttpRequest, engagement_id: int, payload: InteractionIn):
    engagement = engagement_get(**_scope(request), pk=engagement_id)
    data = payload.model_dump()
    interaction = services.interaction_log(actor=request.user, engagement=engagement,
                                           organization=request.organization, **data)
    return Status(201, interaction)


@router.get("/engagements/{engagement_id}/relationship-health", response={200: HealthOut, **READ_ERRORS},
            summary="Relationship health")
def relationship_health(request: HttpRequest, engagement_id: int):
    """Cadence, the proactive share, open follow-ups, and an alert for a problems-only relationship."""
    return selectors.relationship_health(engagement_get(**_scope(request), pk=engagement_id))


@router.post("/follow-ups/{follow_up_id}/done", response={200: FollowUpOut, **WRITE_ERRORS},
             summary="Mark a follow-up done")
def follow_up_done(request: HttpRequest, follow_up_id: int):
    follow_up = selectors.follow_up_get(**_scope(request), pk=follow_up_id)
    return services.follow_up_done(actor=request.user, follow_up=follow_up, organization=request.organization)


class ChangeNoticeIn(InputSchema):
    kind: Literal["subcontractor", "location", "key_people", "tooling", "data_conversion", "other"]
    title: str
    description: str
    effective_date: dt.date
    review_by: dt.date | None = Field(None, description="A week before the change if left out.")


class ResponseOut(Schema):
    kind: str
    side: str
    text: str
    created_at: dt.datetime


class ChangeNoticeOut(Schema):
    id: int
    engagement_id: int
    kind: str
    title: str
    description: str
    effective_date: dt.date
    review_by: dt.date
    status: str
    review_overdue: bool
    version: int
    responses: list[ResponseOut]

    @staticmethod
    def resolve_responses(obj) -> list:
        return list(obj.responses.all())


class RespondIn(InputSchema):
    kind: Literal["comment", "evidence_request", "evidence", "objection", "acceptance", "withdrawal"]
    text: str
    version: int | None = Field(None, description="The version you read; a stale one answers 409.")


@router.get("/engagements/{engagement_id}/change-notices", response={200: list[ChangeNoticeOut], **READ_ERRORS},
            summary="An engagement's change notices")
def list_change_notices(request: HttpRequest, engagement_id: int):
    engagement = engagement_get(**_scope(request), pk=engagement_id)
    return list(selectors.change_notice_list(**_scope(request)).filter(engagement=engagement)
                .prefetch_related("responses"))


@router.post("/engagements/{engagement_id}/change-notices", response={201: ChangeNoticeOut, **WRITE_ERRORS},
             summary="Announce a planned change (the provider)")
def announce_change(request: HttpRequest, engagement_id: int, payload: ChangeNoticeIn):
    engagement = engagement_get(**_scope(request), pk=engagement_id)
    notice = services.change_notice_announce(actor=request.user, engagement=engagement,
                                             organization=request.organization, **payload.model_dump())
    return Status(201, notice)


@router.get("/change-notices/{notice_id}", response={200: ChangeNoticeOut, **READ_ERRORS},
            summary="A change notice and its review")
def get_change_notice(request: HttpRequest, notice_id: int):
    return selectors.change_notice_get(**_scope(request), pk=notice_id)


@router.post("/change-notices/{notice_id}/responses", response={200: ChangeNoticeOut, **CONFLICT, **WRITE_ERRORS},
             summary="Respond to a change notice")
def respond_change(request: HttpRequest, notice_id: int, payload: RespondIn):
    """The buyer comments, asks for evidence, objects or accepts before the date; the provider
    comments, gives evidence or withdraws."""
    notice = selectors.change_notice_get(**_scope(request), pk=notice_id)
    services.change_notice_respond(actor=request.user, notice=notice, organization=request.organization,
                                   kind=payload.kind, text=payload.text, expected_version=payload.version)
    return selectors.change_notice_get(**_scope(request), pk=notice_id)
