"""Who may write: roles in the acting organisation, and which side of an engagement it is."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from sourcewise.core.tenancy import Role, role_at_least


def membership_of(user: Any, organization: Any):
    from sourcewise.accounts.models import Membership

    if user is None or not getattr(user, "is_authenticated", False) or organization is None:
        return None
    return Membership.objects.filter(user=user, organization=organization).first()


def require_role(user: Any, organization: Any, minimum: str = Role.MEMBER):
    """The user's membership in `organization` if its role is at least `minimum`."""
    membership = membership_of(user, organization)
    if membership is None or not role_at_least(membership.role, minimum):
        raise PermissionDenied(
            f"This needs the {Role(minimum).label.lower()} role or higher in {organization}."
        )
    return membership


def require_engagement_role(
    user: Any,
    engagement: Any,
    minimum: str = Role.MEMBER,
    *,
    side: str | None = None,
    organization: Any = None,
):
    """The user's membership on a side of `engagement` with at least `minimum`.

    `organization` narrows to the side the user is acting for; `side` demands one side.
    """
    parties = {"buyer": engagement.buyer, "provider": engagement.provider}
    candidates = [parties[side]] if side else list(parties.values())
    if organization is not None:
        candidates = [org for org in candidates if org.pk == getattr(organization, "pk", organization)]
    for org in candidates:
        membership = membership_of(user, org)
        if membership is not None and role_at_least(membership.role, minimum):
            return membership
    who = f"the {side}'s side" if side else "either side"
    raise PermissionDenied(
        f"This needs the {Role(minimum).label.lower()} role or higher on {who} of {engagement}."
    )


def can_write(user: Any, organization: Any) -> bool:
    membership = membership_of(user, organization)
    return membership is not None and role_at_least(membership.role, Role.MEMBER)
