"""Recording writes in the hash-chained audit trail, and verifying the chain."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from sourcewise.core.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def to_json_value(value: Any) -> Any:
    """A value as it will read back from a JSON column, so hashing sees what is stored."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "url"):  # a stored file
        return value.name or None
    return value


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The named fields of `obj` as JSON values (foreign keys as "name (#id)")."""
    values: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        raw = getattr(obj, field.attname)
        if field.is_relation and raw is not None:
            # Readable and exact: the related object's name and its id.
            values[name] = f"{getattr(obj, name)} (#{raw})"
        else:
            values[name] = to_json_value(raw)
    return values


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Fields whose value changed, as {field: {"before": ..., "after": ...}}."""
    changes = {}
    for key in sorted(set(before) | set(after)):
        old, new = to_json_value(before.get(key)), to_json_value(after.get(key))
        if old != new:
            changes[key] = {"before": old, "after": new}
    return changes


def created(after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The changes of a new object: every field that was given a value."""
    return diff({key: None for key in after}, {k: v for k, v in after.items() if v not in (None, "")})


def _canonical(event: AuditEvent) -> bytes:
    payload = {
        "seq": event.seq,
        "created_at": event.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "organization": event.organization_id,
        "engagement": event.engagement_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "changes": event.changes,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def record(
    *,
    actor: Any,
    action: str,
    obj: models.Model,
    changes: Mapping[str, Any] | None = None,
    organization: Any = None,
    engagement: Any = None,
) -> AuditEvent:
    """Append one record for a write; call inside the write's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record must run inside the write's transaction")
    if engagement is None and hasattr(obj, "tenant_engagement"):
        engagement = obj.tenant_engagement()
    if organization is None and engagement is None and hasattr(obj, "tenant_organizations"):
        orgs = obj.tenant_organizations()
        organization = orgs[0] if len(orgs) == 1 else None
    # The head row is the chain's lock: concurrent writers queue here (on SQLite the
    # IMMEDIATE transaction already serialises them), and the unique seq and hash
    # refuse a fork if anything slips through.
    head, _ = AuditHead.objects.select_for_update().get_or_create(id=1)
    event = AuditEvent(
        seq=head.seq + 1,
        created_at=timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=_actor_label(actor),
        organization=organization,
        engagement=engagement,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        changes=to_json_value(dict(changes or {})),
        prev_hash=head.hash,
    )
    event.hash = compute_hash(event)
    event.save()
    head.seq, head.hash = event.seq, event.hash
    head.save(update_fields=["seq", "hash"])
    return event


def _actor_label(actor: Any) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return getattr(actor, "email", None) or str(actor)


@dataclass
class VerifyReport:
    checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(batch_size: int = 2000) -> VerifyReport:
    """Walk the chain from the first record; name every record that does not fit."""
    problems: list[str] = []
    expected_seq, prev_hash, checked = 1, GENESIS, 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            problems.append(
                f"record #{expected_seq}"
                + (f" to #{event.seq - 1}" if event.seq - 1 > expected_seq else "")
                + " is missing (deleted)"
            )
        if event.prev_hash != prev_hash:
            problems.append(f"record #{event.seq} does not follow the record before it")
        if compute_hash(event) != event.hash:
            problems.append(f"record #{event.seq} ({event.action}) was changed after it was written")
        expected_seq, prev_hash = event.seq + 1, event.hash
        checked += 1
    head = AuditHead.objects.filter(id=1).first()
    if head is not None and head.seq != expected_seq - 1:
        problems.append(
            f"the newest record should be #{head.seq}, but the chain ends at #{expected_seq - 1}"
            " (records were deleted)"
        )
    elif head is not None and head.seq and head.hash != prev_hash:
        problems.append(f"record #{head.seq} is not the record the chain head names")
    return VerifyReport(checked=checked, problems=problems)


def history_for(obj: models.Model, *, user: Any, organization: Any = None):
    """The audit records about one object that `user` may see, newest first.

    An engagement's history also holds everything recorded inside it, and an
    organisation's everything recorded for it outside engagements (members,
    invitations, tokens): the History tab of a space tells what happened in it.
    """
    from django.db.models import Q

    from sourcewise.core.models import Engagement

    about = Q(object_type=obj._meta.label_lower, object_id=str(obj.pk))
    if isinstance(obj, Engagement):
        about |= Q(engagement=obj)
    elif obj._meta.label_lower == "accounts.organization":
        about |= Q(organization=obj, engagement__isnull=True)
    return (
        AuditEvent.objects.visible_to(user, organization)
        .filter(about)
        .select_related("actor")
    )
