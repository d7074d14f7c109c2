"""What every page's shell needs: the active organisation, the others, and the navigation."""

from __future__ import annotations

from django.http import HttpRequest


def shell(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from sourcewise.accounts.models import Membership
    from sourcewise.core.tenancy import Role, role_at_least

    membership = getattr(request, "membership", None)
    role = membership.role if membership else None
    return {
        "active_organization": getattr(request, "organization", None),
        "active_membership": membership,
        "my_memberships": Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__name"),
        "can_write": role_at_least(role, Role.MEMBER),
        "can_manage": role_at_least(role, Role.MANAGER),
    }
