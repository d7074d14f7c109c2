"""Reads of engagements and their history, always through the tenancy rule."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from sourcewise.core.models import Engagement


def get_visible(queryset_or_model: Any, *, user: Any, organization: Any = None, **lookup: Any):
    """One object the user may see, or Http404: missing and forbidden look the same."""
    manager = getattr(queryset_or_model, "objects", queryset_or_model)
    try:
        return manager.visible_to(user, organization).get(**lookup)
    except (manager.model.DoesNotExist, ValueError, TypeError):
        raise Http404("No such object.") from None


def engagement_list(*, user: Any, organization: Any = None) -> QuerySet[Engagement]:
    return Engagement.objects.visible_to(user, organization).select_related(
        "buyer", "provider", "proposed_by"
    )


def engagement_get(*, user: Any, organization: Any = None, pk: Any) -> Engagement:
    return get_visible(engagement_list(user=user, organization=organization), user=user,
                       organization=organization, pk=pk)
