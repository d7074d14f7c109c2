"""Every write to engagements: propose, accept, edit, end."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from sourcewise.accounts.models import Organization, User
from sourcewise.core import audit, edits
from sourcewise.core.models import Engagement
from sourcewise.core.permissions import require_engagement_role, require_role
from sourcewise.core.tenancy import Role

EDITABLE_FIELDS = ("name", "services", "description", "start_date", "end_date")


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    if "name" in fields:
        fields["name"] = (fields["name"] or "").strip()
        if not fields["name"]:
            errors["name"] = "Give the engagement a name."
        elif len(fields["name"]) > 200:
            errors["name"] = "Keep the name under 200 characters."
    for key in ("services", "description"):
        if key in fields:
            fields[key] = (fields[key] or "").strip()
    for key in ("start_date", "end_date"):
        value = fields.get(key)
        if value is not None and not isinstance(value, dt.date):
            errors[key] = "Give a date as YYYY-MM-DD."
    start, end = fields.get("start_date"), fields.get("end_date")
    if start and end and end < start:
        errors["end_date"] = "The end date comes before the start date."
    if errors:
        raise ValidationError(errors)
    return fields


@transaction.atomic
def engagement_propose(
    *,
    actor: User,
    organization: Organization,
    counterpart: Organization | None,
    our_side: str,
    name: str,
    services: str = "",
    description: str = "",
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
) -> Engagement:
    """A new engagement proposed by `organization`; the counterpart's manager accepts it."""
    require_role(actor, organization, Role.MANAGER)
    if our_side not in ("buyer", "provider"):
        raise ValidationError({"our_side": "Say whether your organisation is the buyer or the provider."})
    if counterpart is None:
        raise ValidationError({"counterpart": "Name the other organisation by its short name."})
    if counterpart.pk == organization.pk:
        raise ValidationError({"counterpart": "An engagement needs two different organisations."})
    fields = _clean(dict(name=name, services=services, description=description,
                         start_date=start_date, end_date=end_date))
    buyer, provider = (organization, counterpart) if our_side == "buyer" else (counterpart, organization)
    engagement = Engagement.objects.create(buyer=buyer, provider=provider, proposed_by=organization, **fields)
    audit.record(
        actor=actor, action="engagement.propose", obj=engagement, organization=organization,
        changes=audit.created(
            audit.snapshot(engagement, ["buyer", "provider", "status", *EDITABLE_FIELDS])
        ),
    )
    return engagement


@transaction.atomic
def engagement_accept(
    *, actor: User, engagement: Engagement, organization: Organization | None = None
) -> Engagement:
    """The side that did not propose agrees; the engagement becomes active.

    `organization` is the one the actor acts for (active organisation, API token's):
    their role there decides, not a role they may hold on the other side.
    """
    engagement = Engagement.objects.select_for_update().get(pk=engagement.pk)
    if engagement.status != Engagement.Status.PROPOSED:
        raise ValidationError(f"This engagement is {engagement.get_status_display().lower()}, not proposed.")
    other_side = "provider" if engagement.proposed_by_id == engagement.buyer_id else "buyer"
    membership = require_engagement_role(
        actor, engagement, Role.MANAGER, side=other_side, organization=organization
    )
    engagement.status = Engagement.Status.ACTIVE
    engagement.start_date = engagement.start_date or timezone.localdate()
    engagement.version += 1
    engagement.updated_at = timezone.now()
    engagement.save(update_fields=["status", "start_date", "version", "updated_at"])
    audit.record(
        actor=actor, action="engagement.accept", obj=engagement, organization=membership.organization,
        changes=audit.diff({"status": "proposed"}, {"status": "active"}),
    )
    return engagement


@transaction.atomic
def engagement_update(
    *,
    actor: User,
    engagement: Engagement,
    expected_version: int | None,
    organization: Organization | None = None,
    **changes: Any,
) -> Engagement:
    """Edit the engagement's details; refused if someone saved a newer version meanwhile."""
    edits.refuse_unknown(changes, EDITABLE_FIELDS)
    engagement = Engagement.objects.select_for_update().get(pk=engagement.pk)
    membership = require_engagement_role(
        actor, engagement, Role.MANAGER, organization=organization
    )
    return edits.save_edit(
        engagement, fields=EDITABLE_FIELDS, changes=changes, clean=_clean, expected_version=expected_version,
        what="engagement", actor=actor, action="engagement.update", organization=membership.organization,
    )


@transaction.atomic
def engagement_end(
    *,
    actor: User,
    engagement: Engagement,
    end_date: dt.date | None = None,
    organization: Organization | None = None,
) -> Engagement:
    engagement = Engagement.objects.select_for_update().get(pk=engagement.pk)
    membership = require_engagement_role(
        actor, engagement, Role.MANAGER, organization=organization
    )
    if engagement.status == Engagement.Status.ENDED:
        raise ValidationError("This engagement has already ended.")
    before = audit.snapshot(engagement, ["status", "end_date"])
    engagement.status = Engagement.Status.ENDED
    engagement.end_date = end_date or timezone.localdate()
    if engagement.start_date and engagement.end_date < engagement.start_date:
        raise ValidationError({"end_date": "The end date comes before the start date."})
    engagement.version += 1
    engagement.updated_at = timezone.now()
    engagement.save(update_fields=["status", "end_date", "version", "updated_at"])
    audit.record(
        actor=actor, action="engagement.end", obj=engagement, organization=membership.organization,
        changes=audit.diff(before, audit.snapshot(engagement, ["status", "end_date"])),
    )
    return engagement
