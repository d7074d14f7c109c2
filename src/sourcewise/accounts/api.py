"""JSON API for accounts: who you are, organisations, members, invitations and API tokens.

A token acts for the one organisation it was made for and sees only that one. A browser
session reaches every organisation its user belongs to where the path names one
(organisations, members, tokens), and acts for the active organisation elsewhere.
"""

import datetime as dt

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from sourcewise.accounts import selectors, services
from sourcewise.accounts.models import ApiToken, Invitation, Membership, Organization
from sourcewise.core import audit
from sourcewise.core.api import (
    READ_ERRORS,
    WRITE_ERRORS,
    AuditEventOut,
    ErrorOut,
    InputSchema,
    OrganizationRef,
    Page,
    UserRef,
)
from sourcewise.core.models import AuditEvent
from sourcewise.core.selectors import get_visible
from sourcewise.core.tenancy import Role

router = Router(tags=["accounts"])


def _org_scope(request: HttpRequest) -> Organization | None:
    """The organisations a caller may name in a path: a token's one, or all of a user's."""
    return request.organization if getattr(request, "api_token", None) is not None else None


# Schemas.


class OrganizationOut(Schema):
    id: int
    name: str
    slug: str = Field(description="The short name other organisations use to name this one.")
    industry: str
    created_at: dt.datetime


class MyMembershipOut(Schema):
    organization: OrganizationRef
    role: Role


class MeOut(Schema):
    user: UserRef
    organization: OrganizationRef = Field(description="The organisation you act for.")
    role: Role = Field(description="Your role in that organisation.")
    via_token: bool = Field(description="True when authenticated with an API token.")
    memberships: list[MyMembershipOut] = Field(
        description="The organisations you belong to (with a token: only its organisation)."
    )


class MembershipOut(Schema):
    id: int
    user: UserRef
    organization: OrganizationRef
    role: Role
    created_at: dt.datetime


class RoleIn(InputSchema):
    role: Role = Field(description="owner, manager, member or viewer.")


class InvitationIn(InputSchema):
    email: str = Field(description="Where the invitation link is sent.")
    role: Role = Field(Role.MEMBER, description="The role the person gets on joining.")


class InvitationOut(Schema):
    id: int
    organization: OrganizationRef
    email: str
    role: Role
    state: str = Field(description="pending, accepted, revoked or expired.")
    invited_by: UserRef
    created_at: dt.datetime
    expires_at: dt.datetime
    accepted_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenIn(InputSchema):
    name: str = Field(description="A name to recognise the token by, e.g. 'nightly export'.")


class TokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    organization: OrganizationRef = Field(description="The one organisation the token acts for.")
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked: bool

    @staticmethod
    def resolve_prefix(obj: ApiToken) -> str:
        return obj.token_prefix

    @staticmethod
    def resolve_revoked(obj: ApiToken) -> bool:
        return obj.revoked_at is not None


class TokenCreatedOut(TokenOut):
    token: str = Field(
        description="The secret, shown this once: only its hash is stored. "
        "Send it as 'Authorization: Bearer <token>'."
    )


# Who you are.


@router.get("/me", response={200: MeOut, 401: ErrorOut}, summary="Who you are")
def me(request: HttpRequest):
    memberships = (
        Membership.objects.visible_to(request.user, _org_scope(request))
        .filter(user=request.user)
        .select_related("organization")
        .order_by("organization__name")
    )
    return {
        "user": request.user,
        "organization": request.organization,
        "role": request.membership.role,
        "via_token": getattr(request, "api_token", None) is not None,
        "memberships": list(memberships),
    }


# Organisations and their members.


@router.get(
    "/organizations",
    response={200: list[OrganizationOut], **READ_ERRORS},
    summary="List organisations",
)
@paginate(Page)
def list_organizations(request: HttpRequest) -> QuerySet[Organization]:
    """The organisations you belong to; with a token, only the token's organisation."""
    return Organization.objects.visible_to(request.user, _org_scope(request)).order_by("name", "pk")


def _organization(request: HttpRequest, organization_id: int) -> Organization:
    return get_visible(
        Organization, user=request.user, organization=_org_scope(request), pk=organization_id
    )


@router.get(
    "/organizations/{organization_id}",
    response={200: OrganizationOut, **READ_ERRORS},
    summary="Get an organisation",
)
def get_organization(request: HttpRequest, organization_id: int):
    return _organization(request, organization_id)


@router.get(
    "/organizations/{organization_id}/members",
    response={200: list[MembershipOut], **READ_ERRORS},
    summary="List an organisation's members",
)
@paginate(Page)
def list_members(request: HttpRequest, organization_id: int) -> QuerySet[Membership]:
    organization = _organization(request, organization_id)
    return selectors.membership_list(user=request.user, organization=organization).order_by(
        "user__email", "pk"
    )


@router.get(
    "/organizations/{organization_id}/history",
    response={200: list[AuditEventOut], **READ_ERRORS},
    summary="An organisation's history",
)
@paginate(Page)
def organization_history(request: HttpRequest, organization_id: int) -> QuerySet[AuditEvent]:
    """What was recorded for the organisation outside engagements (itself, members, invitations, tokens), newest first."""
    organization = _organization(request, organization_id)
    return audit.history_for(organization, user=request.user, organization=organization).order_by(
        "-seq"
    )


def _membership(request: HttpRequest, membership_id: int) -> Membership:
    return get_visible(
        Membership.objects.select_related("user", "organization"),
        user=request.user,
        organization=_org_scope(request),
        pk=membership_id,
    )


@router.patch(
    "/members/{membership_id}",
    response={200: MembershipOut, **WRITE_ERRORS},
    summary="Change a member's role",
)
def change_member_role(request: HttpRequest, membership_id: int, payload: RoleIn):
    """Needs the manager role; making or unmaking an owner needs the owner role."""
    membership = services.membership_set_role(
        actor=request.user, membership=_membership(request, membership_id), role=payload.role
    )
    return _membership(request, membership.pk)


@router.delete(
    "/members/{membership_id}",
    response={204: None, **WRITE_ERRORS},
    summary="Remove a member",
)
def remove_member(request: HttpRequest, membership_id: int):
    """Needs the manager role; removing an owner needs the owner role. An organisation
    keeps at least one owner."""
    services.membership_remove(actor=request.user, membership=_membership(request, membership_id))
    return Status(204, None)


# Invitations (always for the organisation you act for).


def _invitations(request: HttpRequest) -> QuerySet[Invitation]:
    return selectors.invitation_list(user=request.user, organization=request.organization)


@router.get(
    "/invitations", response={200: list[InvitationOut], **READ_ERRORS}, summary="List invitations"
)
@paginate(Page)
def list_invitations(request: HttpRequest) -> QuerySet[Invitation]:
    """Invitations to the organisation you act for, newest first."""
    return _invitations(request).select_related("organization").order_by("-created_at", "-pk")


@router.post(
    "/invitations",
    response={201: InvitationOut, **WRITE_ERRORS},
    summary="Invite someone",
)
def create_invitation(request: HttpRequest, payload: InvitationIn):
    """Email an invitation link to join the organisation you act for. Needs the manager role."""
    invitation, _secret = services.invitation_create(
        actor=request.user,
        organization=request.organization,
        email=payload.email,
        role=payload.role,
    )
    return Status(201, _invitations(request).select_related("organization").get(pk=invitation.pk))


@router.post(
    "/invitations/{invitation_id}/revoke",
    response={200: InvitationOut, **WRITE_ERRORS},
    summary="Withdraw an invitation",
)
def revoke_invitation(request: HttpRequest, invitation_id: int):
    """The link stops working. Needs the manager role."""
    invitation = get_visible(
        _invitations(request),
        user=request.user,
        organization=request.organization,
        pk=invitation_id,
    )
    services.invitation_revoke(actor=request.user, invitation=invitation)
    return _invitations(request).select_related("organization").get(pk=invitation.pk)


# Personal API tokens.


def _tokens(request: HttpRequest) -> QuerySet[ApiToken]:
    return selectors.api_token_list(user=request.user, organization=_org_scope(request))


@router.get(
    "/tokens", response={200: list[TokenOut], **READ_ERRORS}, summary="List your API tokens"
)
@paginate(Page)
def list_tokens(request: HttpRequest) -> QuerySet[ApiToken]:
    """Your own tokens (never a colleague's), newest first; with a token, those of its
    organisation. Secrets are never shown again."""
    return _tokens(request).order_by("-created_at", "-pk")


@router.post(
    "/tokens",
    response={201: TokenCreatedOut, **WRITE_ERRORS},
    summary="Create an API token",
)
def create_token(request: HttpRequest, payload: TokenIn):
    """A new token for you, acting for the organisation you act for now.

    The secret is in this response only: store it, because it cannot be shown again.
    """
    token, secret = services.api_token_create(
        actor=request.user, organization=request.organization, name=payload.name
    )
    created = _tokens(request).get(pk=token.pk)
    created.token = secret  # only on this response object; the database holds the hash
    return Status(201, created)


@router.post(
    "/tokens/{token_id}/revoke",
    response={200: TokenOut, **WRITE_ERRORS},
    summary="Revoke an API token",
)
def revoke_token(request: HttpRequest, token_id: int):
    """The token stops working at once (calls with it answer 401)."""
    token = get_visible(
        _tokens(request), user=request.user, organization=_org_scope(request), pk=token_id
    )
    services.api_token_revoke(actor=request.user, token=token)
    return _tokens(request).get(pk=token.pk)
