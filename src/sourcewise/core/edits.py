"""Saving an edit of a versioned object: refuse a stale one, save only what changed, audit it.

Every editable object that two people may have open at once (engagements, feeds, plans,
providers, challenges) carries a `version`. The app's service locks the row, checks the
actor's role and cleans the fields in its own terms; this saves the outcome the same way
everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from django.db import models
from django.utils import timezone

from sourcewise.core import audit
from sourcewise.core.errors import Conflict, ValidationError

M = TypeVar("M", bound=models.Model)


def refuse_unknown(changes: Mapping[str, Any], editable: Iterable[str]) -> None:
    """A field that is not editable is named, not silently ignored."""
    unknown = set(changes) - set(editable)
    if unknown:
        raise ValidationError({key: "This field cannot be edited." for key in sorted(unknown)})


def check_version(obj: models.Model, expected_version: int | None, what: str) -> None:
    """Refuse an edit made on an older version than the one stored (None skips the check)."""
    if expected_version is not None and expected_version != obj.version:
        raise Conflict(
            f"Someone else saved this {what} after you opened it (it is now version "
            f"{obj.version}, you had {expected_version}). "
            "Reload to see their changes, then make yours again."
        )


def save_edit(
    obj: M,
    *,
    fields: Iterable[str],
    changes: Mapping[str, Any],
    clean: Callable[[dict[str, Any]], Mapping[str, Any]],
    expected_version: int | None,
    what: str,
    actor: Any,
    action: str,
    organization: Any,
) -> M:
    """Apply `changes` to the locked `obj`, through `clean`, and save them if anything changed.

    `clean` receives every editable field (stored values overlaid with the changes) and
    returns the cleaned values, raising ValidationError naming the bad ones. Nothing is
    saved or audited when the edit changes nothing; otherwise the version goes up by one
    and one audit record holds the before and after of each changed field.
    """
    fields = list(fields)
    refuse_unknown(changes, fields)
    check_version(obj, expected_version, what)
    before = audit.snapshot(obj, fields)
    cleaned = clean({**{f: getattr(obj, f) for f in fields}, **changes})
    for key, value in cleaned.items():
        setattr(obj, key, value)
    delta = audit.diff(before, audit.snapshot(obj, fields))
    if not delta:
        return obj
    obj.version += 1
    if hasattr(obj, "updated_at"):
        obj.updated_at = timezone.now()
    obj.save()
    audit.record(actor=actor, action=action, obj=obj, organization=organization, changes=delta)
    return obj
