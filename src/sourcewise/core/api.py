"""JSON API for engagements and their audit history, plus the schemas every router shares."""

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate
from pydantic import ConfigDict

from sourcewise.accounts.models import Organization
from sourcewise.core import audit, services
from sourcewise.core.models import AuditEvent, Engagement
from sourcewise.core.selectors import engagement_get, engagement_list

router = Router(tags=["engagements"])


# Shared schemas and pagination (the accounts router imports these too).


PAGE_MAX = 200


class Page(LimitOffsetPagination):
    """`limit`/`offset` paging with a ceiling, so one call cannot ask for every row."""

    class Input(Schema):
        limit: int = Field(
            50, ge=1, le=PAGE_MAX, description=f"How many items to return (1-{PAGE_MAX})."
        )
        offset: int = Field(0, ge=0, description="How many items to skip.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_limit=PAGE_MAX, **kwargs)


class InputSchema(Schema):
    """A request body: a field the route does not know is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    detail: str = Field(description="What went wrong, in words a person can act on.")


class FieldErrorOut(Schema):
    loc: list[str | int] = Field(description='Where the error is, e.g. ["body", "end_date"].')
    msg: str = Field(description="What is wrong with that field.")
    type: str = Field(description="A machine-readable kind of error.")


class ValidationErrorOut(Schema):
    detail: list[FieldErrorOut]


class OrganizationRef(Schema):
    id: int
    name: str
    slug: str = Field(description="The short name other organisations use to name this one.")


class UserRef(Schema):
    id: int
    email: str
    full_name: str


class AuditEventOut(Schema):
    seq: int = Field(description="Position in the hash-chained audit trail.")
    created_at: dt.datetime
    actor_label: str = Field(description="Who made the change (an email address, or 'system').")
    action: str = Field(description="What was done, e.g. 'engagement.update'.")
    object_type: str = Field(description="The kind of object, e.g. 'core.engagement'.")
    object_id: str
    object_repr: str = Field(description="The object's name when the change was made.")
    changes: dict[str, Any] = Field(
        description='The fields that changed, as {"field": {"before": ..., "after": ...}}.'
    )


# Status codes every route can answer besides its success, for the OpenAPI document.
READ_ERRORS: dict[int, Any] = {401: ErrorOut, 404: ErrorOut}
WRITE_ERRORS: dict[int, Any] = {**READ_ERRORS, 403: ErrorOut, 422: ValidationErrorOut}


# Engagements.

EngagementStatus = Literal["proposed", "active", "ended"]


class EngagementOut(Schema):
    id: int
    name: str
    buyer: OrganizationRef = Field(description="The organisation that buys the service.")
    provider: OrganizationRef = Field(description="The organisation that runs the service.")
    proposed_by: OrganizationRef = Field(description="The side that proposed the engagement.")
    our_side: Literal["buyer", "provider"] | None = Field(
        description="Which side the organisation you act for is on."
    )
    services: str = Field(description="The processes the provider runs.")
    description: str
    start_date: dt.date | None
    end_date: dt.date | None
    status: EngagementStatus = Field(
        description="proposed (awaiting the other side), active, or ended."
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int = Field(
        description="Increases with every change; send it back with an edit (PATCH)."
    )

    @staticmethod
    def resolve_our_side(obj: Engagement, context: dict) -> str | None:
        return obj.side_of(context["request"].organization)


class EngagementIn(InputSchema):
    counterpart: str = Field(
        description="The other organisation's short name (slug), e.g. 'dialwell'.", min_length=1
    )
    our_side: Literal["buyer", "provider"] = Field(
        description="Whether the organisation you act for buys or provides the service."
    )
    name: str = Field(description="A name both sides recognise.")
    services: str = Field("", description="The processes the provider runs.")
    description: str = ""
    start_date: dt.date | None = Field(None, description="YYYY-MM-DD.")
    end_date: dt.date | None = Field(None, description="YYYY-MM-DD, on or after start_date.")


class EngagementPatch(InputSchema):
    """Only the fields sent are changed; `version` is the one you read."""

    version: int = Field(
        description="The version you read; if someone saved since, the edit is refused (409)."
    )
    name: str | None = None
    services: str | None = None
    description: str | None = None
    start_date: dt.date | None = Field(None, description="YYYY-MM-DD; null clears it.")
    end_date: dt.date | None = Field(None, description="YYYY-MM-DD; null clears it.")


class EngagementEndParams(Schema):
    end_date: dt.date | None = Field(
        None, description="The last day (YYYY-MM-DD); today if left out."
    )


class EngagementFilters(Schema):
    status: EngagementStatus | None = Field(None, description="Only engagements in this state.")
    q: str | None = Field(
        None, description="Text in the name, the services, or either organisation's name."
    )


def _scope(request: HttpRequest) -> dict[str, Any]:
    return {"user": request.user, "organization": request.organization}


def _filtered(queryset: QuerySet[Engagement], filters: EngagementFilters) -> QuerySet[Engagement]:
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.q and filters.q.strip():
        text = filters.q.strip()
        queryset = queryset.filter(
            Q(name__icontains=text)
            | Q(services__icontains=text)
            | Q(buyer__name__icontains=text)
            | Q(provider__name__icontains=text)
        )
    return queryset.order_by("name", "pk")


@router.get(
    "/engagements", response={200: list[EngagementOut], **READ_ERRORS}, summary="List engagements"
)
@paginate(Page)
def list_engagements(request: HttpRequest, filters: Query[EngagementFilters]):
    """The engagements the organisation you act for is a party to, by name."""
    return _filtered(engagement_list(**_scope(request)), filters)


@router.post(
    "/engagements",
    response={201: EngagementOut, **WRITE_ERRORS},
    summary="Propose an engagement",
)
def propose_engagement(request: HttpRequest, payload: EngagementIn):
    """Propose an engagement to another organisation; a manager on its side accepts it.

    Needs the manager role in the organisation you act for.
    """
    # The counterpart is not visible yet (no engagement joins the two): it is named by its
    # public short name, the one thing that is looked up outside the tenancy rule.
    counterpart = Organization.objects.filter(slug=payload.counterpart.strip().lower()).first()
    if counterpart is None:
        raise ValidationError(
            {"counterpart": f"No organisation has the short name '{payload.counterpart}'."}
        )
    engagement = services.engagement_propose(
        actor=request.user,
        organization=request.organization,
        counterpart=counterpart,
        our_side=payload.our_side,
        name=payload.name,
        services=payload.services,
        description=payload.description,
        start_date=payload.start_date,
        end_date=payload.end_date,
    )
    return Status(201, engagement_get(**_scope(request), pk=engagement.pk))


@router.get(
    "/engagements/{engagement_id}",
    response={200: EngagementOut, **READ_ERRORS},
    summary="Get an engagement",
)
def get_engagement(request: HttpRequest, engagement_id: int):
    return engagement_get(**_scope(request), pk=engagement_id)


@router.patch(
    "/engagements/{engagement_id}",
    response={200: EngagementOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Edit an engagement",
)
def update_engagement(request: HttpRequest, engagement_id: int, payload: EngagementPatch):
    """Change the fields you send. Needs the manager role on either side.

    Send the `version` you read: if someone saved after you read it, the answer is 409
    and nothing changes.
    """
    engagement = engagement_get(**_scope(request), pk=engagement_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    services.engagement_update(
        actor=request.user,
        engagement=engagement,
        expected_version=version,
        organization=request.organization,
        **changes,
    )
    return engagement_get(**_scope(request), pk=engagement_id)


@router.post(
    "/engagements/{engagement_id}/accept",
    response={200: EngagementOut, **WRITE_ERRORS},
    summary="Accept a proposed engagement",
)
def accept_engagement(request: HttpRequest, engagement_id: int):
    """The side that did not propose agrees, and the engagement becomes active.

    Needs the manager role on that side.
    """
    engagement = engagement_get(**_scope(request), pk=engagement_id)
    services.engagement_accept(
        actor=request.user, engagement=engagement, organization=request.organization
    )
    return engagement_get(**_scope(request), pk=engagement_id)


@router.post(
    "/engagements/{engagement_id}/end",
    response={200: EngagementOut, **WRITE_ERRORS},
    summary="End an engagement",
)
def end_engagement(request: HttpRequest, engagement_id: int, params: Query[EngagementEndParams]):
    """End the engagement (its history stays). Needs the manager role on either side.

    Like accept, this takes no body: the optional last day is a query parameter.
    """
    engagement = engagement_get(**_scope(request), pk=engagement_id)
    services.engagement_end(
        actor=request.user,
        engagement=engagement,
        end_date=params.end_date,
        organization=request.organization,
    )
    return engagement_get(**_scope(request), pk=engagement_id)


@router.get(
    "/engagements/{engagement_id}/history",
    response={200: list[AuditEventOut], **READ_ERRORS},
    summary="An engagement's history",
)
@paginate(Page)
def engagement_history(request: HttpRequest, engagement_id: int) -> QuerySet[AuditEvent]:
    """Every recorded change to the engagement, newest first."""
    engagement = engagement_get(**_scope(request), pk=engagement_id)
    return audit.history_for(engagement, **_scope(request)).order_by("-seq")
