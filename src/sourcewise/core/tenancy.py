"""The tenancy rule: every object is private to one organisation or shared by an engagement.

Models declare where their tenant lives (`tenant_organization_field`,
`tenant_engagement_field`); `Model.objects.visible_to(user, organization)` turns
that declaration into one filter. Pages, API routes, exports and tasks all read
through it, so scoping is never written case by case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Q

if TYPE_CHECKING:
    from sourcewise.accounts.models import Organization


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# Higher rank can do everything a lower one can.
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.MANAGER: 2, Role.OWNER: 3}


def role_at_least(role: str | None, minimum: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


def member_organization_ids(user: Any, organization: Organization | int | None = None):
    """A subquery of the organisations `user` belongs to (only `organization`, if given)."""
    from sourcewise.accounts.models import Membership

    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Membership.objects.none().values("organization_id")
    memberships = Membership.objects.filter(user=user)
    if organization is not None:
        memberships = memberships.filter(organization=organization)
    return memberships.values("organization_id")


class TenantQuerySet(models.QuerySet):
    """A queryset that knows how to narrow itself to what a user may see."""

    def visible_to(self, user: Any, organization: Organization | int | None = None):
        """Objects `user` may see, acting for `organization` when one is given.

        Without `organization` the user sees what any of their organisations sees;
        pages and API calls pass the active organisation (or the token's).
        """
        org_ids = member_organization_ids(user, organization)
        return self.model.tenant_restrict(self.filter(self.model.tenant_filter(org_ids)), user)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    pass


class TenantModel(models.Model):
    """Base for every tenant-owned model.

    Set `tenant_organization_field` for objects private to one organisation,
    `tenant_engagement_field` for objects shared by an engagement's two sides, or
    both: a row with its organisation set is private to it, one without is shared.
    Paths may traverse relations (`"incident__engagement"`).
    """

    tenant_organization_field: str | None = None
    tenant_engagement_field: str | None = None

    objects = TenantManager()

    class Meta:
        abstract = True

    @classmethod
    def tenant_filter(cls, org_ids) -> Q:
        org_field, eng_field = cls.tenant_organization_field, cls.tenant_engagement_field
        if org_field is None and eng_field is None:
            raise TypeError(f"{cls.__name__} declares neither tenant field")
        shared = Q()
        if eng_field is not None:
            shared = Q(**{f"{eng_field}__buyer__in": org_ids}) | Q(
                **{f"{eng_field}__provider__in": org_ids}
            )
        if org_field is None:
            return shared
        private = Q(**{f"{org_field}__in": org_ids})
        if eng_field is None:
            return private
        return private | (Q(**{f"{org_field}__isnull": True}) & shared)

    @classmethod
    def tenant_restrict(cls, queryset, user: Any):
        """Narrow further for objects that are personal within an organisation."""
        return queryset

    def tenant_organizations(self) -> list[Organization]:
        """The organisations whose members may see this object."""
        org = _follow(self, self.tenant_organization_field)
        if org is not None:
            return [org]
        engagement = _follow(self, self.tenant_engagement_field)
        return [engagement.buyer, engagement.provider] if engagement is not None else []

    def tenant_engagement(self):
        return _follow(self, self.tenant_engagement_field)


def _follow(obj: Any, path: str | None) -> Any:
    if path is None:
        return None
    for part in path.split("__"):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj
