"""Reads of organisations, members, invitations and tokens, through the tenancy rule."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from sourcewise.accounts.models import ApiToken, Invitation, Membership, Organization


def organization_list(*, user: Any) -> QuerySet[Organization]:
    return Organization.objects.visible_to(user)


def membership_list(*, user: Any, organization: Any) -> QuerySet[Membership]:
    return (
        Membership.objects.visible_to(user, organization)
        .filter(organization=organization)
        .select_related("user", "organization")
        .order_by("user__email")
    )


def invitation_list(*, user: Any, organization: Any) -> QuerySet[Invitation]:
    return (
        Invitation.objects.visible_to(user, organization)
        .filter(organization=organization)
        .select_related("invited_by")
    )


def api_token_list(*, user: Any, organization: Any = None) -> QuerySet[ApiToken]:
    return ApiToken.objects.visible_to(user, organization).select_related("organization")
