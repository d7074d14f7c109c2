"""Every write of the providers app: one function per business action, each audited.

Keyword-only, typed, one transaction, one audit record; emails go after commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sourcewise.accounts.models import Organization, User
from sourcewise.core import audit, edits, storage
from sourcewise.core.errors import Conflict
from sourcewise.core.models import Engagement
from sourcewise.core.permissions import require_engagement_role, require_role
from sourcewise.core.tenancy import Role
from sourcewise.providers import builtin, scoring
from sourcewise.providers.models import (
    Answer,
    Assessment,
    ChangeNotice,
    ChangeNoticeResponse,
    Contract,
    Criticality,
    FollowUp,
    Interaction,
    Provider,
    ProviderContact,
    ProviderService,
    Question,
    QuestionnaireTemplate,
    Review,
    Section,
    Selection,
    Subcontractor,
    Tier,
    TierChange,
    lei_problem,
)

PROVIDER_FIELDS = (
    "legal_name", "registration_number", "lei", "country", "parent", "organization", "status",
)
CONTACT_FIELDS = ("name", "role", "email", "phone", "is_primary")
SERVICE_FIELDS = (
    "name", "description", "category", "criticality", "criticality_reason", "data_handled",
    "personal_data", "service_location", "data_location",
)
CONTRACT_FIELDS = (
    "reference", "start_date", "end_date", "renewal", "buyer_notice_days", "provider_notice_days",
    "annual_cost", "currency", "governing_law", "exit_plan", "substitutability",
)
SUBCONTRACTOR_FIELDS = (
    "legal_name", "registration_number", "lei", "country", "function", "service_location",
    "data_location", "personal_data", "start_date", "end_date",
)
INVITE_TTL_DAYS = 30


# --- register --------------------------------------------------------------------------


def clean_provider_fields(fields: dict[str, Any], *, buyer: Organization) -> dict[str, str]:
    """Normalise the fields in place; return {field: problem} for what is wrong."""
    errors: dict[str, str] = {}
    for key in ("legal_name", "registration_number"):
        if key in fields:
            fields[key] = (fields[key] or "").strip()
    if "legal_name" in fields:
        if not fields["legal_name"]:
            errors["legal_name"] = "Give the provider's legal name."
        elif len(fields["legal_name"]) > 200:
            errors["legal_name"] = "Keep the legal name under 200 characters."
    if "lei" in fields:
        fields["lei"] = (fields["lei"] or "").strip().upper().replace(" ", "")
        if fields["lei"] and (problem := lei_problem(fields["lei"])):
            errors["lei"] = problem
    if "country" in fields:
        fields["country"] = (fields["country"] or "").strip().upper()
        if fields["country"] and not (len(fields["country"]) == 2 and fields["country"].isalpha()):
            errors["country"] = "Give the country as its two-letter ISO code, e.g. DE or IE."
    if "status" in fields and fields["status"] not in Provider.Status.values:
        errors["status"] = f"Status is one of: {', '.join(Provider.Status.values)}."
    if fields.get("parent") is not None and fields["parent"].buyer_id != buyer.pk:
        errors["parent"] = "The parent must be in your register."
    return errors


@transaction.atomic
def provider_create(
    *, actor: User, buyer: Organization, tier: str = Tier.STANDARD, tier_reason: str = "",
    contacts: list[dict[str, Any]] | None = None, **fields: Any
) -> Provider:
    """Add a provider (a candidate or a current one) to the buyer's register, with its contacts.

    The first contact is the primary one unless another is marked primary.
    """
    require_role(actor, buyer, Role.MEMBER)
    unknown = set(fields) - set(PROVIDER_FIELDS)
    if unknown:
        raise ValidationError({k: "This field is not part of a provider." for k in sorted(unknown)})
    fields.setdefault("status", Provider.Status.CANDIDATE)
    errors = clean_provider_fields(fields, buyer=buyer)
    if tier not in Tier.values:
        errors["tier"] = f"Tier is one of: {', '.join(Tier.values)}."
    if fields.get("legal_name") and Provider.objects.filter(
        buyer=buyer, legal_name__iexact=fields["legal_name"]
    ).exists():
        errors["legal_name"] = f"{fields['legal_name']} is already in your register."
    cleaned_contacts = []
    for index, contact in enumerate(contacts or [], start=1):
        contact = {"role": ProviderContact.Role.ACCOUNT_MANAGER, "email": "", "phone": "",
                   "is_primary": False} | dict(contact)
        unknown_keys = set(contact) - set(CONTACT_FIELDS)
        problems = {k: "This field is not part of a contact." for k in unknown_keys} | clean_contact(contact)
        for key, problem in problems.items():
            errors[f"contacts.{index}.{key}"] = f"Contact {index}: {problem}"
        cleaned_contacts.append(contact)
    if sum(bool(c["is_primary"]) for c in cleaned_contacts) > 1:
        errors["contacts"] = "Only one contact can be the primary contact."
    elif cleaned_contacts and not any(c["is_primary"] for c in cleaned_contacts):
        cleaned_contacts[0]["is_primary"] = True
    if errors:
        raise ValidationError(errors)
    provider = Provider.objects.create(buyer=buyer, tier=tier, **fields)
    for contact in cleaned_contacts:
        ProviderContact.objects.create(provider=provider, **contact)
    TierChange.objects.create(
        provider=provider, tier_before="", tier=tier, reason=tier_reason.strip() or "Initial tier.",
        changed_by=actor,
    )
    changes = audit.created(audit.snapshot(provider, [*PROVIDER_FIELDS, "tier"]))
    if cleaned_contacts:
        changes["contacts"] = {"before": None, "after": [_contact_label(c) for c in cleaned_contacts]}
    audit.record(actor=actor, action="provider.create", obj=provider, organization=buyer, changes=changes)
    return provider


# --- contacts ----------------------------------------------------------------------------


def _contact_label(contact: dict[str, Any]) -> str:
    role = ProviderContact.Role(contact["role"]).label
    email = f" <{contact['email']}>" if contact.get("email") else ""
    return f"{contact['name']}{email}, {role.lower()}" + (" (primary)" if contact.get("is_primary") else "")


def clean_contact(fields: dict[str, Any]) -> dict[str, str]:
    """Normalise a contact's fields in place; return {field: problem} for what is wrong."""
    errors: dict[str, str] = {}
    for key in ("name", "email", "phone", "role"):
        if key in fields:
            fields[key] = str(fields[key] or "").strip()
    if "email" in fields:
        fields["email"] = fields["email"].lower()
    if not fields.get("name"):
        errors["name"] = "Give the contact's name."
    elif len(fields["name"]) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if fields.get("role") not in ProviderContact.Role.values:
        errors["role"] = f"The role is one of: {', '.join(ProviderContact.Role.values)}."
    if fields.get("email"):
        try:
            validate_email(fields["email"])
        except ValidationError:
            errors["email"] = f"'{fields['email']}' is not an email address."
    if fields.get("phone") and (len(fields["phone"]) > 40
                                or not all(ch.isdigit() or ch in "+-() ./" for ch in fields["phone"])):
        errors["phone"] = "Write the phone number with digits, spaces and + - ( ) only."
    fields["is_primary"] = bool(fields.get("is_primary"))
    return errors


def _demote_primary(provider: Provider, keep: ProviderContact | None = None) -> None:
    """Only one primary contact per provider: the new one replaces the old."""
    others = ProviderContact.objects.filter(provider=provider, is_primary=True)
    if keep is not None and keep.pk:
        others = others.exclude(pk=keep.pk)
    others.update(is_primary=False, version=F("version") + 1)


@transaction.atomic
def contact_add(*, actor: User, provider: Provider, **fields: Any) -> ProviderContact:
    """Add a contact person to a provider; the first one (or one marked primary) is the primary contact."""
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    require_role(actor, provider.buyer, Role.MEMBER)
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise ValidationError({k: "This field is not part of a contact." for k in sorted(unknown)})
    fields = {"role": ProviderContact.Role.ACCOUNT_MANAGER, "email": "", "phone": ""} | fields
    errors = clean_contact(fields)
    if errors:
        raise ValidationError(errors)
    if not provider.contacts.exists():
        fields["is_primary"] = True
    if fields["is_primary"]:
        _demote_primary(provider)
    contact = ProviderContact.objects.create(provider=provider, **fields)
    audit.record(actor=actor, action="provider.contact.add", obj=provider, organization=provider.buyer,
                 changes={"contact": {"before": None, "after": _contact_label(fields)}})
    return contact


@transaction.atomic
def contact_update(
    *, actor: User, contact: ProviderContact, expected_version: int | None, **changes: Any
) -> ProviderContact:
    """Edit a contact; refused when someone saved a newer version. Making it primary demotes the old one."""
    contact = ProviderContact.objects.select_for_update().select_related("provider__buyer").get(pk=contact.pk)
    provider = contact.provider
    require_role(actor, provider.buyer, Role.MEMBER)
    edits.refuse_unknown(changes, CONTACT_FIELDS)
    edits.check_version(contact, expected_version, "contact")
    merged = {k: getattr(contact, k) for k in CONTACT_FIELDS} | changes
    errors = clean_contact(merged)
    if contact.is_primary and not merged["is_primary"]:
        errors["is_primary"] = ("A provider keeps one primary contact: make another contact primary "
                                "instead of unmarking this one.")
    if errors:
        raise ValidationError(errors)
    before = audit.snapshot(contact, CONTACT_FIELDS)
    for key in CONTACT_FIELDS:
        setattr(contact, key, merged[key])
    delta = audit.diff(before, audit.snapshot(contact, CONTACT_FIELDS))
    if not delta:
        return contact
    if contact.is_primary:
        _demote_primary(provider, keep=contact)
    contact.version += 1
    contact.save()
    audit.record(actor=actor, action="provider.contact.update", obj=provider, organization=provider.buyer,
                 changes={f"contact {contact.name}: {k}": v for k, v in delta.items()})
    return contact


@transaction.atomic
def contact_remove(*, actor: User, contact: ProviderContact, expected_version: int | None = None) -> None:
    """Remove a contact; when it was the primary one, the next contact (if any) becomes primary."""
    contact = ProviderContact.objects.select_for_update().select_related("provider__buyer").get(pk=contact.pk)
    provider = contact.provider
    require_role(actor, provider.buyer, Role.MEMBER)
    edits.check_version(contact, expected_version, "contact")
    label = _contact_label({k: getattr(contact, k) for k in CONTACT_FIELDS})
    was_primary = contact.is_primary
    contact.delete()
    changes: dict[str, Any] = {"contact": {"before": label, "after": None}}
    if was_primary:
        successor = provider.contacts.order_by("name", "pk").first()
        if successor is not None:
            successor.is_primary = True
            successor.version += 1
            successor.save(update_fields=["is_primary", "version"])
            changes["primary contact"] = {"before": contact.name, "after": successor.name}
    audit.record(actor=actor, action="provider.contact.remove", obj=provider, organization=provider.buyer,
                 changes=changes)


def primary_contact(provider: Provider) -> ProviderContact | None:
    return provider.contacts.filter(is_primary=True).first()


@transaction.atomic
def provider_update(
    *, actor: User, provider: Provider, expected_version: int | None, **changes: Any
) -> Provider:
    """Edit a provider's register entry; refused when someone saved a newer version."""
    edits.refuse_unknown(changes, PROVIDER_FIELDS)
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    require_role(actor, provider.buyer, Role.MEMBER)
    edits.check_version(provider, expected_version, "provider")

    def cleaned(merged: dict[str, Any]) -> dict[str, Any]:
        errors = clean_provider_fields(changes, buyer=provider.buyer)
        if changes.get("parent") is not None and changes["parent"].pk == provider.pk:
            errors["parent"] = "A provider cannot be its own parent."
        name = changes.get("legal_name")
        if name and Provider.objects.filter(buyer=provider.buyer, legal_name__iexact=name).exclude(
            pk=provider.pk
        ).exists():
            errors["legal_name"] = f"{name} is already in your register."
        if errors:
            raise ValidationError(errors)
        return dict(changes)

    return edits.save_edit(provider, fields=PROVIDER_FIELDS, changes=changes, clean=cleaned,
                           expected_version=expected_version, what="provider", actor=actor,
                           action="provider.update", organization=provider.buyer)


@transaction.atomic
def provider_set_tier(*, actor: User, provider: Provider, tier: str, reason: str) -> Provider:
    """Change a provider's tier; the reason is kept in its tier history."""
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    require_role(actor, provider.buyer, Role.MANAGER)
    errors = {}
    if tier not in Tier.values:
        errors["tier"] = f"Tier is one of: {', '.join(Tier.values)}."
    elif tier == provider.tier:
        errors["tier"] = f"{provider} is already {provider.get_tier_display().lower()}."
    if not (reason or "").strip():
        errors["reason"] = "Say why the tier changes: it is kept in the tier history."
    if errors:
        raise ValidationError(errors)
    change = TierChange.objects.create(
        provider=provider, tier_before=provider.tier, tier=tier, reason=reason.strip(), changed_by=actor
    )
    provider.tier = tier
    provider.version += 1
    provider.updated_at = timezone.now()
    provider.save(update_fields=["tier", "version", "updated_at"])
    audit.record(
        actor=actor, action="provider.tier", obj=provider, organization=provider.buyer,
        changes={"tier": {"before": change.tier_before, "after": tier}, "reason": {"before": None, "after": change.reason}},
    )
    return provider


def _clean_service(fields: dict[str, Any]) -> dict[str, str]:
    errors = {}
    for key in ("name", "description", "category", "criticality_reason", "data_handled",
                "service_location", "data_location"):
        if key in fields:
            fields[key] = (fields[key] or "").strip()
    if not fields.get("name"):
        errors["name"] = "Name the service, e.g. outbound marketing calls."
    if fields.get("criticality", Criticality.LOW) not in Criticality.values:
        errors["criticality"] = f"Criticality is one of: {', '.join(Criticality.values)}."
    elif fields.get("criticality") in (Criticality.CRITICAL, Criticality.IMPORTANT) and not fields.get(
        "criticality_reason"
    ):
        errors["criticality_reason"] = "Say why the service is critical or important."
    if fields.get("personal_data") and not fields.get("data_handled"):
        errors["data_handled"] = "Say which personal data the service handles."
    return errors


@transaction.atomic
def service_create(*, actor: User, provider: Provider, **fields: Any) -> ProviderService:
    """Record a service the provider runs for the buyer."""
    require_role(actor, provider.buyer, Role.MEMBER)
    unknown = set(fields) - set(SERVICE_FIELDS)
    if unknown:
        raise ValidationError({k: "This field is not part of a service." for k in sorted(unknown)})
    errors = _clean_service(fields)
    if errors:
        raise ValidationError(errors)
    service = ProviderService.objects.create(provider=provider, **fields)
    audit.record(actor=actor, action="provider.service.create", obj=service, organization=provider.buyer,
                 changes=audit.created(audit.snapshot(service, SERVICE_FIELDS)))
    return service


def _clean_contract(fields: dict[str, Any]) -> dict[str, str]:
    errors = {}
    for key in ("reference", "governing_law", "exit_plan", "currency"):
        if key in fields:
            fields[key] = (fields[key] or "").strip()
    if not fields.get("reference"):
        errors["reference"] = "Give the contract's reference."
    if not isinstance(fields.get("start_date"), dt.date):
        errors["start_date"] = "Give the start date as YYYY-MM-DD."
    end = fields.get("end_date")
    if end is not None and not isinstance(end, dt.date):
        errors["end_date"] = "Give the end date as YYYY-MM-DD."
    elif end and isinstance(fields.get("start_date"), dt.date) and end < fields["start_date"]:
        errors["end_date"] = "The end date comes before the start date."
    for key in ("buyer_notice_days", "provider_notice_days"):
        value = fields.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            errors[key] = "Give the notice period as a whole number of days."
    cost = fields.get("annual_cost")
    if cost is not None:
        try:
            fields["annual_cost"] = Decimal(str(cost))
            if fields["annual_cost"] < 0:
                raise InvalidOperation
        except InvalidOperation:
            errors["annual_cost"] = "Give the annual cost as a positive amount, e.g. 120000.00."
    if fields.get("currency") is not None and len(fields.get("currency") or "EUR") != 3:
        errors["currency"] = "Give the currency as its three-letter code, e.g. EUR."
    if fields.get("renewal", Contract.Renewal.BY_AGREEMENT) not in Contract.Renewal.values:
        errors["renewal"] = f"Renewal is one of: {', '.join(Contract.Renewal.values)}."
    if fields.get("substitutability", Contract.Substitutability.DIFFICULT) not in Contract.Substitutability.values:
        errors["substitutability"] = f"Substitutability is one of: {', '.join(Contract.Substitutability.values)}."
    return errors


@transaction.atomic
def contract_create(*, actor: User, service: ProviderService, **fields: Any) -> Contract:
    """Record the contract a service runs under: dates, renewal, notice, cost, law, exit."""
    require_role(actor, service.provider.buyer, Role.MEMBER)
    unknown = set(fields) - set(CONTRACT_FIELDS)
    if unknown:
        raise ValidationError({k: "This field is not part of a contract." for k in sorted(unknown)})
    errors = _clean_contract(fields)
    if errors:
        raise ValidationError(errors)
    contract = Contract.objects.create(service=service, **fields)
    audit.record(actor=actor, action="provider.contract.create", obj=contract,
                 organization=service.provider.buyer,
                 changes=audit.created(audit.snapshot(contract, CONTRACT_FIELDS)))
    return contract


def _update(*, actor: User, obj: Any, fields: tuple[str, ...], changes: dict[str, Any], clean, action: str,
            expected_version: int | None, buyer: Organization, what: str) -> Any:
    """Edit an object of the register: refused when stale (409), every changed field audited."""
    edits.refuse_unknown(changes, fields)
    require_role(actor, buyer, Role.MEMBER)

    def cleaned(merged: dict[str, Any]) -> dict[str, Any]:
        errors = clean(merged)
        if errors:
            raise ValidationError(errors)
        return merged

    return edits.save_edit(obj, fields=fields, changes=changes, clean=cleaned, expected_version=expected_version,
                           what=what, actor=actor, action=action, organization=buyer)


@transaction.atomic
def service_update(
    *, actor: User, service: ProviderService, expected_version: int | None, **changes: Any
) -> ProviderService:
    """Edit a service: criticality and its reasons, data, locations."""
    service = ProviderService.objects.select_for_update().select_related("provider__buyer").get(pk=service.pk)
    return _update(actor=actor, obj=service, fields=SERVICE_FIELDS, changes=changes, clean=_clean_service,
                   action="provider.service.update", expected_version=expected_version,
                   buyer=service.provider.buyer, what="service")


@transaction.atomic
def contract_update(*, actor: User, contract: Contract, expected_version: int | None, **changes: Any) -> Contract:
    """Edit a contract: dates, renewal, notice periods, cost, law, exit plan, substitutability."""
    contract = Contract.objects.select_for_update().select_related("service__provider__buyer").get(pk=contract.pk)
    return _update(actor=actor, obj=contract, fields=CONTRACT_FIELDS, changes=changes, clean=_clean_contract,
                   action="provider.contract.update", expected_version=expected_version,
                   buyer=contract.service.provider.buyer, what="contract")


def _clean_subcontractor(fields: dict[str, Any], *, buyer: Organization) -> dict[str, str]:
    fields.setdefault("legal_name", "")
    errors = clean_provider_fields(fields, buyer=buyer)
    for key in ("function", "service_location", "data_location"):
        fields[key] = (fields.get(key) or "").strip()
    if not fields["function"]:
        errors["function"] = "Say what the subcontractor does for the service."
    fields["personal_data"] = bool(fields.get("personal_data"))
    for key in ("start_date", "end_date"):
        value = fields.get(key)
        if value is not None and not isinstance(value, dt.date):
            errors[key] = "Give the date as YYYY-MM-DD."
    start, end = fields.get("start_date"), fields.get("end_date")
    if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
        errors["end_date"] = "The end date comes before the start date."
    return errors


@transaction.atomic
def subcontractor_create(
    *, actor: User, service: ProviderService, parent: Subcontractor | None = None, **fields: Any
) -> Subcontractor:
    """Add a subcontractor to a service's chain: of the provider, or of another subcontractor."""
    require_role(actor, service.provider.buyer, Role.MEMBER)
    unknown = set(fields) - set(SUBCONTRACTOR_FIELDS)
    if unknown:
        raise ValidationError({k: "This field is not part of a subcontractor." for k in sorted(unknown)})
    cleaned = dict(fields)
    errors = _clean_subcontractor(cleaned, buyer=service.provider.buyer)
    if parent is not None and parent.service_id != service.pk:
        errors["parent"] = "The parent subcontractor must be in the same service's chain."
    if errors:
        raise ValidationError(errors)
    sub = Subcontractor.objects.create(
        service=service, parent=parent, rank=(parent.rank + 1) if parent else 2, **cleaned
    )
    audit.record(actor=actor, action="provider.subcontractor.create", obj=sub,
                 organization=service.provider.buyer,
                 changes=audit.created(audit.snapshot(sub, [*SUBCONTRACTOR_FIELDS, "parent", "rank"])))
    return sub


def _descendants(sub: Subcontractor) -> list[Subcontractor]:
    """Everything below `sub` in its chain, parents before their children."""
    chain = list(Subcontractor.objects.filter(service_id=sub.service_id))
    children: dict[Any, list[Subcontractor]] = {}
    for item in chain:
        children.setdefault(item.parent_id, []).append(item)
    found, todo = [], list(children.get(sub.pk, []))
    while todo:
        item = todo.pop(0)
        found.append(item)
        todo.extend(children.get(item.pk, []))
    return found


@transaction.atomic
def subcontractor_update(
    *, actor: User, subcontractor: Subcontractor, expected_version: int | None, **changes: Any
) -> Subcontractor:
    """Edit a subcontractor, or move it under another one of the same chain (its ranks follow).

    `parent` (a Subcontractor of the same service, or None for the provider itself) may be
    changed; a subcontractor cannot work for itself or for one of its own subcontractors.
    """
    sub = Subcontractor.objects.select_for_update().select_related("service__provider__buyer").get(
        pk=subcontractor.pk)
    buyer = sub.service.provider.buyer
    require_role(actor, buyer, Role.MEMBER)
    fields = (*SUBCONTRACTOR_FIELDS, "parent")
    edits.refuse_unknown(changes, fields)
    edits.check_version(sub, expected_version, "subcontractor")
    merged = {k: getattr(sub, k) for k in fields} | changes
    parent = merged.pop("parent")
    errors = _clean_subcontractor(merged, buyer=buyer)
    below = _descendants(sub)
    if parent is not None:
        if parent.service_id != sub.service_id:
            errors["parent"] = "The parent subcontractor must be in the same service's chain."
        elif parent.pk == sub.pk or parent.pk in {d.pk for d in below}:
            errors["parent"] = f"{sub} cannot work for itself or for one of its own subcontractors."
    if errors:
        raise ValidationError(errors)
    before = audit.snapshot(sub, [*fields, "rank"])
    for key, value in merged.items():
        setattr(sub, key, value)
    sub.parent = parent
    sub.rank = parent.rank + 1 if parent is not None else 2
    delta = audit.diff(before, audit.snapshot(sub, [*fields, "rank"]))
    if not delta:
        return sub
    sub.version += 1
    sub.save()
    if "rank" in delta:
        # The chain below moves with it: each keeps its place, one rank under its parent.
        ranks = {sub.pk: sub.rank}
        for item in below:
            ranks[item.pk] = ranks[item.parent_id] + 1
            if item.rank != ranks[item.pk]:
                Subcontractor.objects.filter(pk=item.pk).update(rank=ranks[item.pk], version=F("version") + 1)
    audit.record(actor=actor, action="provider.subcontractor.update", obj=sub, organization=buyer, changes=delta)
    return sub


@transaction.atomic
def subcontractor_remove(*, actor: User, subcontractor: Subcontractor, expected_version: int | None = None) -> None:
    """Remove a subcontractor from its chain; refused while others work for it (move or remove them first)."""
    sub = Subcontractor.objects.select_for_update().select_related("service__provider__buyer").get(
        pk=subcontractor.pk)
    buyer = sub.service.provider.buyer
    require_role(actor, buyer, Role.MEMBER)
    edits.check_version(sub, expected_version, "subcontractor")
    children = sorted(c.legal_name for c in sub.children.all())
    if children:
        raise ValidationError(
            f"{sub} cannot be removed: {', '.join(children)} work{'s' if len(children) == 1 else ''} for it. "
            "Move them under another subcontractor or remove them first.")
    before = audit.snapshot(sub, [*SUBCONTRACTOR_FIELDS, "parent", "rank"])
    audit.record(actor=actor, action="provider.subcontractor.remove", obj=sub, organization=buyer,
                 changes=audit.diff(before, {}))
    sub.delete()


# --- due diligence ---------------------------------------------------------------------


def _template_problems(definition: dict, allow_empty: bool = False) -> list[str]:
    problems = []
    if not (definition.get("name") or "").strip():
        problems.append("Name the template.")
    if not definition.get("sections"):
        problems.append("A template needs at least one section.")
    keys = set()
    for s_index, section in enumerate(definition.get("sections", []), start=1):
        if not (section.get("title") or "").strip():
            problems.append(f"Section {s_index} needs a title.")
        if not section.get("questions") and not allow_empty:
            problems.append(f"Section {s_index} needs at least one question.")
        for q_index, q in enumerate(section.get("questions", []), start=1):
            where = f"Section {s_index}, question {q_index}"
            if q.get("kind") not in Question.Kind.values:
                problems.append(f"{where}: the answer type is one of {', '.join(Question.Kind.values)}.")
            if not (q.get("text") or "").strip():
                problems.append(f"{where}: write the question.")
            key = q.get("key") or f"q{s_index}-{q_index}"
            if key in keys:
                problems.append(f"{where}: the key '{key}' is used twice.")
            keys.add(key)
            weight = q.get("weight", 1)
            if not isinstance(weight, int) or not 0 <= weight <= 100:
                problems.append(f"{where}: the weight is a whole number from 0 to 100.")
            problems += [f"{where}: {p}" for p in scoring.validate_rules(
                q.get("options", []), q.get("red_flags", []), q.get("kind", ""))]
    return problems


@transaction.atomic
def template_create(
    *, actor: User, organization: Organization, definition: dict, builtin_key: str = "",
    allow_empty: bool = False,
) -> QuestionnaireTemplate:
    """A questionnaire template from its definition: {name, description, sections: [{title, questions}]}.

    `allow_empty` lets the page create a template whose questions are added next.
    """
    require_role(actor, organization, Role.MEMBER)
    problems = _template_problems(definition, allow_empty)
    if problems:
        raise ValidationError({"sections": problems})
    template = QuestionnaireTemplate.objects.create(
        organization=organization, name=definition["name"].strip(),
        description=definition.get("description", ""), builtin_key=builtin_key,
    )
    for s_pos, section_def in enumerate(definition["sections"]):
        section = Section.objects.create(template=template, title=section_def["title"].strip(), position=s_pos)
        for q_pos, q in enumerate(section_def["questions"]):
            Question.objects.create(
                section=section, key=q.get("key") or f"q{s_pos + 1}-{q_pos + 1}", text=q["text"].strip(),
                help_text=q.get("help_text", ""), kind=q["kind"], options=q.get("options", []),
                weight=q.get("weight", 1), red_flags=q.get("red_flags", []), position=q_pos,
            )
    audit.record(actor=actor, action="template.create", obj=template, organization=organization,
                 changes=audit.created({"name": template.name, "sections": len(definition["sections"])}))
    return template


def _require_unused(template: QuestionnaireTemplate) -> None:
    if Assessment.objects.filter(template=template).exists():
        raise ValidationError(
            "Questionnaires were already sent with this template: changing it would change their "
            "questions and scores. Create a new template instead.")


@transaction.atomic
def template_add_section(*, actor: User, template: QuestionnaireTemplate, title: str) -> Section:
    """Add a section to a template not yet sent."""
    require_role(actor, template.organization, Role.MEMBER)
    _require_unused(template)
    if not (title or "").strip():
        raise ValidationError({"title": "Give the section a title."})
    position = template.sections.count()
    section = Section.objects.create(template=template, title=title.strip(), position=position)
    audit.record(actor=actor, action="template.section.add", obj=template, organization=template.organization,
                 changes={"section": {"before": None, "after": section.title}})
    return section


def parse_options(kind: str, lines: str) -> list[dict[str, Any]]:
    """Options written one per line as "label = score" (choices) or "min = score" (number bands)."""
    options = []
    for number, line in enumerate((lines or "").splitlines(), start=1):
        if not line.strip():
            continue
        label, sep, score = line.rpartition("=")
        try:
            value = int(score.strip())
        except ValueError:
            value = None
        if not sep or not label.strip() or value is None or not 0 <= value <= 100:
            raise ValidationError({"options": f"Line {number}: write 'label = score' with a score from 0 to 100."})
        if kind == "number":
            try:
                options.append({"min": float(label.strip()), "score": value})
            except ValueError:
                raise ValidationError({"options": f"Line {number}: a number band starts with a number."}) from None
        else:
            options.append({"label": label.strip(), "score": value})
    return options


@transaction.atomic
def template_add_question(
    *, actor: User, section: Section, text: str, kind: str, weight: int = 1, options: list[dict] | None = None,
    red_flags: list[dict] | None = None, help_text: str = "",
) -> Question:
    """Add a question (its options, weight and red-flag rules) to a template not yet sent."""
    template = section.template
    require_role(actor, template.organization, Role.MEMBER)
    _require_unused(template)
    definition = {"name": template.name, "sections": [{"title": section.title, "questions": [
        {"text": text, "kind": kind, "weight": weight, "options": options or [], "red_flags": red_flags or [],
         "key": "new"}]}]}
    problems = [p.split(": ", 1)[-1] for p in _template_problems(definition)]
    if problems:
        raise ValidationError({"text": problems})
    position = section.questions.count()
    question = Question.objects.create(
        section=section, key=f"q{template.pk}-{Question.objects.filter(section__template=template).count() + 1}",
        text=text.strip(), help_text=(help_text or "").strip(), kind=kind, weight=weight,
        options=options or [], red_flags=red_flags or [], position=position)
    audit.record(actor=actor, action="template.question.add", obj=template, organization=template.organization,
                 changes={"question": {"before": None, "after": question.text}})
    return question


def builtin_template(*, actor: User, organization: Organization) -> QuestionnaireTemplate:
    """The organisation's copy of the built-in template, made the first time it is needed."""
    existing = QuestionnaireTemplate.objects.filter(
        organization=organization, builtin_key=builtin.BUILTIN_KEY
    ).first()
    if existing is not None:
        return existing
    return template_create(actor=actor, organization=organization, definition=builtin.TEMPLATE,
                           builtin_key=builtin.BUILTIN_KEY)


@transaction.atomic
def selection_create(*, actor: User, buyer: Organization, service_name: str, description: str = "") -> Selection:
    """Start choosing a provider for one service; candidates' assessments are compared in it."""
    require_role(actor, buyer, Role.MEMBER)
    if not (service_name or "").strip():
        raise ValidationError({"service_name": "Name the service you are choosing a provider for."})
    selection = Selection.objects.create(buyer=buyer, service_name=service_name.strip(),
                                         description=(description or "").strip())
    audit.record(actor=actor, action="selection.create", obj=selection, organization=buyer,
                 changes=audit.created({"service_name": selection.service_name}))
    return selection


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def assessment_send(
    *,
    actor: User,
    provider: Provider,
    due_date: dt.date,
    template: QuestionnaireTemplate | None = None,
    selection: Selection | None = None,
    invite_email: str = "",
) -> tuple[Assessment, str | None]:
    """Send a questionnaire to a provider; returns the assessment and, for a provider
    without a Sourcewise organisation, the secret of its invitation link (emailed on commit).
    """
    buyer = provider.buyer
    require_role(actor, buyer, Role.MEMBER)
    errors = {}
    if not isinstance(due_date, dt.date):
        errors["due_date"] = "Give the due date as YYYY-MM-DD."
    elif due_date < timezone.localdate():
        errors["due_date"] = "The due date is in the past."
    if template is not None and template.organization_id != buyer.pk:
        errors["template"] = "Use one of your own templates."
    elif template is not None and not Question.objects.filter(section__template=template).exists():
        errors["template"] = f"The template {template} has no questions yet."
    if selection is not None and selection.buyer_id != buyer.pk:
        errors["selection"] = "Use one of your own selections."
    primary = primary_contact(provider)
    invite_email = (invite_email or (primary.email if primary else "") or "").strip().lower()
    if provider.organization_id is None:
        if not invite_email:
            errors["invite_email"] = (
                f"{provider} has no Sourcewise organisation: give the email address to send the link to."
            )
        else:
            try:
                validate_email(invite_email)
            except ValidationError:
                errors["invite_email"] = f"'{invite_email}' is not an email address."
    if errors:
        raise ValidationError(errors)
    template = template or builtin_template(actor=actor, organization=buyer)
    token = None
    assessment = Assessment(provider=provider, template=template, selection=selection,
                            due_date=due_date, sent_by=actor)
    if provider.organization_id is None:
        token = secrets.token_urlsafe(32)
        assessment.invite_email = invite_email
        assessment.invite_token_hash = _hash(token)
        assessment.invite_expires_at = timezone.now() + dt.timedelta(days=INVITE_TTL_DAYS)
    assessment.save()
    audit.record(actor=actor, action="assessment.send", obj=assessment, organization=buyer,
                 changes=audit.created({"provider": str(provider), "template": template.name,
                                        "due_date": due_date, "invite_email": invite_email if token else ""}))
    from sourcewise.providers import notify

    transaction.on_commit(lambda: notify.assessment_sent(assessment.pk, token))
    return assessment, token


def _rotate_link(assessment: Assessment) -> str:
    """A fresh secret for the invitation link; the previous link stops working."""
    token = secrets.token_urlsafe(32)
    assessment.invite_token_hash = _hash(token)
    assessment.invite_expires_at = timezone.now() + dt.timedelta(days=INVITE_TTL_DAYS)
    assessment.save(update_fields=["invite_token_hash", "invite_expires_at"])
    return token


@transaction.atomic
def assessment_resend_link(*, actor: User, assessment: Assessment) -> tuple[Assessment, str]:
    """A fresh invitation link (the old one stops working), emailed on commit."""
    assessment = Assessment.objects.select_for_update().select_related("provider").get(pk=assessment.pk)
    require_role(actor, assessment.provider.buyer, Role.MEMBER)
    if not assessment.invite_token_hash:
        raise ValidationError(f"{assessment.provider} answers through its Sourcewise organisation, not a link.")
    if not assessment.is_open:
        raise ValidationError(f"This questionnaire is {assessment.get_status_display().lower()}: no link is needed.")
    token = _rotate_link(assessment)
    audit.record(actor=actor, action="assessment.link.resend", obj=assessment,
                 organization=assessment.provider.buyer,
                 changes={"invite_expires_at": {"before": None, "after": assessment.invite_expires_at}})
    from sourcewise.providers import notify

    transaction.on_commit(lambda: notify.assessment_sent(assessment.pk, token))
    return assessment, token


@transaction.atomic
def assessment_reminder_link(*, assessment: Assessment) -> str:
    """The link a due-date reminder carries: issued afresh, since only the old link's hash is kept.

    The previous link stops working (the reminder says so); done by the periodic job, audited
    as the system. Only for an open questionnaire answered through a link.
    """
    assessment = Assessment.objects.select_for_update().select_related("provider__buyer").get(pk=assessment.pk)
    if not assessment.invite_token_hash or not assessment.is_open:
        raise ValidationError("Only an open questionnaire answered through a link gets a new link.")
    token = _rotate_link(assessment)
    audit.record(actor=None, action="assessment.link.reminder", obj=assessment,
                 organization=assessment.provider.buyer,
                 changes={"invite_expires_at": {"before": None, "after": assessment.invite_expires_at},
                          "reason": {"before": None, "after": "A reminder carried a new link; the old one stopped working."}})
    return token


class LinkUnusable(Exception):
    """An assessment link that is unknown, expired or for an assessment no longer open."""


def assessment_for_token(token: str) -> Assessment:
    """The assessment an invitation link stands for, or LinkUnusable saying why not."""
    assessment = (
        Assessment.objects.select_related("provider", "provider__buyer", "template")
        .filter(invite_token_hash=_hash(token or "")).exclude(invite_token_hash="").first()
    )
    if assessment is None:
        raise LinkUnusable("This link is not valid. Ask the company that sent it for a new one.")
    if assessment.invite_expires_at and assessment.invite_expires_at <= timezone.now():
        raise LinkUnusable("This link has expired. Ask the company that sent it for a new one.")
    return assessment


def _require_answerer(actor: User | None, assessment: Assessment, token: str | None) -> str:
    """Who answers: a member of the provider's organisation, or the holder of the link."""
    if token is not None:
        if _hash(token) != assessment.invite_token_hash or not assessment.invite_token_hash:
            raise PermissionDenied("This link does not open this questionnaire.")
        if assessment.invite_expires_at and assessment.invite_expires_at <= timezone.now():
            raise PermissionDenied("This link has expired.")
        return f"{assessment.invite_email} (by invitation link)"
    org = assessment.provider.organization
    if org is None:
        raise PermissionDenied("This questionnaire is answered through its invitation link.")
    require_role(actor, org, Role.MEMBER)
    return actor.email


@dataclass
class StoredEvidence:
    """An evidence file already streamed whole into storage, waiting to be attached to its answer."""

    name: str
    relative_path: str
    size: int
    sha256: str


def _size_label(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def evidence_store(*, stream: Any, filename: str) -> StoredEvidence:
    """Stream one evidence file into storage (core.storage: hashed, renamed into place when whole).

    Refused with a message naming the problem when it is empty or larger than
    UPLOAD_MAX_BYTES (the setting every upload obeys); a refused file leaves nothing behind.
    """
    name = os.path.basename((filename or "").replace("\\", "/")).strip()[:255] or "evidence"
    limit = int(settings.UPLOAD_MAX_BYTES)
    suffix = os.path.splitext(name)[1].lower()[:10]
    if not suffix[1:].isalnum():
        suffix = ""
    stored = storage.stream_to_storage(stream, directory=f"providers/evidence/{timezone.now():%Y/%m}",
                                       suffix=suffix, compressed=False, limit=limit)
    if stored.too_large:
        raise ValidationError(f"'{name}' is larger than the limit of {_size_label(limit)} for evidence "
                              f"({_size_label(stored.size)} or more); nothing was stored.")
    if stored.size == 0:
        storage.discard(stored.relative_path)
        raise ValidationError(f"'{name}' is empty: attach the file that holds the evidence.")
    return StoredEvidence(name=name, relative_path=stored.relative_path, size=stored.size, sha256=stored.sha256)


def _parse_answer(question: Question, value: Any) -> dict[str, Any]:
    """The stored form of an answer, or ValidationError naming what is wrong."""
    if question.kind in ("choice", "multi"):
        values = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
        values = [str(v) for v in values]
        allowed = question.option_labels()
        wrong = [v for v in values if v not in allowed]
        if wrong:
            raise ValidationError(f"'{wrong[0]}' is not one of the choices: {'; '.join(allowed)}.")
        if question.kind == "choice" and len(values) > 1:
            raise ValidationError("Pick one choice.")
        return {"choices": values}
    if question.kind == "number":
        if value in (None, ""):
            return {"number": None}
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError(f"'{value}' is not a number.") from None
        if not number.is_finite() or abs(number) >= Decimal("1e12"):
            raise ValidationError(f"'{value}' is not a usable number.")
        return {"number": number}
    if question.kind == "file":
        if value in (None, ""):
            return {}  # no new file: keep the one given before
        if not isinstance(value, StoredEvidence):
            raise ValidationError("Upload the evidence as a file.")
        return {"evidence": value.relative_path, "evidence_name": value.name, "evidence_size": value.size,
                "evidence_sha256": value.sha256}
    return {"text": str(value or "").strip()}


def _is_upload(value: Any) -> bool:
    return hasattr(value, "read") or hasattr(value, "chunks")


def assessment_answer(
    *,
    actor: User | None,
    assessment: Assessment,
    answers: dict[str, Any],
    token: str | None = None,
) -> Assessment:
    """Save answers (by question key) to an open assessment; a submitted one is locked.

    A file question's value is an uploaded file: who may answer and whether the
    questionnaire is open are checked first, then the file is streamed into storage
    outside the transaction, and discarded if the answers are refused.
    """
    uploads = {key: value for key, value in answers.items() if _is_upload(value)}
    if not uploads:
        return _save_answers(actor=actor, assessment=assessment, answers=answers, token=token)
    _require_answerer(actor, assessment, token)
    _require_open(Assessment.objects.select_related("provider__buyer").get(pk=assessment.pk))
    kinds = dict(Question.objects.filter(section__template_id=assessment.template_id).values_list("key", "kind"))
    errors = {key: ("This question takes a file only if it asks for file evidence." if key in kinds
                    else "This questionnaire has no such question.")
              for key in uploads if kinds.get(key) != "file"}
    if errors:
        raise ValidationError(errors)
    stored: dict[str, StoredEvidence] = {}
    try:
        for key, upload in uploads.items():
            try:
                stored[key] = evidence_store(stream=upload, filename=getattr(upload, "name", "") or key)
            except ValidationError as exc:
                errors[key] = " ".join(exc.messages)
        if errors:
            raise ValidationError(errors)
        return _save_answers(actor=actor, assessment=assessment, answers=answers | stored, token=token)
    except BaseException:
        for item in stored.values():
            storage.discard(item.relative_path)
        raise


def _require_open(assessment: Assessment) -> None:
    if not assessment.is_open:
        raise ValidationError(
            f"This questionnaire was {assessment.get_status_display().lower()}: it cannot be changed "
            f"unless {assessment.provider.buyer} reopens it."
        )


@transaction.atomic
def _save_answers(
    *, actor: User | None, assessment: Assessment, answers: dict[str, Any], token: str | None
) -> Assessment:
    assessment = Assessment.objects.select_for_update().select_related("provider").get(pk=assessment.pk)
    who = _require_answerer(actor, assessment, token)
    _require_open(assessment)
    questions = {q.key: q for q in Question.objects.filter(section__template=assessment.template)}
    errors, parsed = {}, {}
    for key, value in answers.items():
        question = questions.get(key)
        if question is None:
            errors[key] = "This questionnaire has no such question."
            continue
        try:
            parsed[key] = _parse_answer(question, value)
        except ValidationError as exc:
            errors[key] = " ".join(exc.messages)
    if errors:
        raise ValidationError(errors)
    changes = {}
    existing = {a.question.key: a for a in assessment.answers.select_related("question")}
    for key, values in parsed.items():
        question = questions[key]
        answer = existing.get(key) or Answer(assessment=assessment, question=question)
        before = scoring.answer_text(question, answer if answer.pk else None)
        if question.kind == "file" and not values:
            continue  # no new file: keep the one given before
        for attr, value in values.items():
            setattr(answer, attr, value)
        after = scoring.answer_text(question, answer)
        if before == after and answer.pk and question.kind != "file":
            continue
        answer.answered_by_label = who
        answer.answered_at = timezone.now()
        answer.save()
        changes[key] = {"before": None if before == "no answer" else before, "after": after}
        if question.kind == "file":
            changes[key]["sha256"] = answer.evidence_sha256
    if changes:
        assessment.version += 1
        assessment.save(update_fields=["version"])
        audit.record(actor=actor or who, action="assessment.answer", obj=assessment,
                     organization=assessment.provider.buyer, changes=changes)
    return assessment


@transaction.atomic
def assessment_submit(*, actor: User | None, assessment: Assessment, token: str | None = None) -> Assessment:
    """Hand the answers to the buyer; from now on they are locked."""
    assessment = Assessment.objects.select_for_update().select_related("provider").get(pk=assessment.pk)
    who = _require_answerer(actor, assessment, token)
    if not assessment.is_open:
        raise ValidationError(f"This questionnaire is already {assessment.get_status_display().lower()}.")
    before = assessment.status
    assessment.status = Assessment.Status.SUBMITTED
    assessment.submitted_at = timezone.now()
    assessment.version += 1
    assessment.save(update_fields=["status", "submitted_at", "version"])
    audit.record(actor=actor or who, action="assessment.submit", obj=assessment,
                 organization=assessment.provider.buyer,
                 changes=audit.diff({"status": before}, {"status": assessment.status}))
    from sourcewise.providers import notify

    transaction.on_commit(lambda: notify.assessment_submitted(assessment.pk))
    return assessment


@transaction.atomic
def assessment_reopen(*, actor: User, assessment: Assessment, reason: str) -> Assessment:
    """The buyer lets the provider change a submitted questionnaire again (audited, with a reason)."""
    assessment = Assessment.objects.select_for_update().select_related("provider").get(pk=assessment.pk)
    require_role(actor, assessment.provider.buyer, Role.MANAGER)
    if assessment.status != Assessment.Status.SUBMITTED:
        raise ValidationError(f"Only a submitted questionnaire can be reopened; this one is "
                              f"{assessment.get_status_display().lower()}.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why it is reopened: the provider is shown the reason."})
    assessment.status = Assessment.Status.REOPENED
    assessment.reopen_reason = reason.strip()
    assessment.version += 1
    assessment.save(update_fields=["status", "reopen_reason", "version"])
    audit.record(actor=actor, action="assessment.reopen", obj=assessment,
                 organization=assessment.provider.buyer,
                 changes={"status": {"before": "submitted", "after": "reopened"},
                          "reason": {"before": None, "after": reason.strip()}})
    return assessment


@transaction.atomic
def assessment_review(*, actor: User, assessment: Assessment, score: int, comment: str) -> Review:
    """A buyer reviewer's own score (0-100) and comment on submitted answers."""
    assessment = Assessment.objects.select_related("provider").get(pk=assessment.pk)
    require_role(actor, assessment.provider.buyer, Role.MEMBER)
    errors = {}
    if assessment.status not in (Assessment.Status.SUBMITTED, Assessment.Status.CONCLUDED):
        errors["score"] = "Review the answers once the provider has submitted them."
    if not isinstance(score, int) or not 0 <= score <= 100:
        errors["score"] = "Give a score from 0 to 100."
    if not (comment or "").strip():
        errors["comment"] = "Say what the score rests on."
    if errors:
        raise ValidationError(errors)
    review = Review.objects.create(assessment=assessment, reviewer=actor, score=score, comment=comment.strip())
    audit.record(actor=actor, action="assessment.review", obj=assessment,
                 organization=assessment.provider.buyer,
                 changes={"review": {"before": None, "after": f"{score}: {review.comment}"}})
    return review


@transaction.atomic
def assessment_conclude(
    *, actor: User, assessment: Assessment, conclusion: str, note: str = "",
    expected_version: int | None = None,
) -> Assessment:
    """A buyer manager's conclusion: approved, approved with conditions, or rejected."""
    assessment = Assessment.objects.select_for_update().select_related("provider").get(pk=assessment.pk)
    require_role(actor, assessment.provider.buyer, Role.MANAGER)
    if expected_version is not None and expected_version != assessment.version:
        raise Conflict("The assessment changed after you opened it. Reload, then conclude again.")
    errors = {}
    if assessment.status != Assessment.Status.SUBMITTED:
        errors["conclusion"] = (f"Conclude a submitted questionnaire; this one is "
                                f"{assessment.get_status_display().lower()}.")
    elif conclusion not in Assessment.Conclusion.values:
        errors["conclusion"] = f"The conclusion is one of: {', '.join(Assessment.Conclusion.values)}."
    elif conclusion != Assessment.Conclusion.APPROVED and not (note or "").strip():
        errors["note"] = "Give the conditions or the reasons."
    if errors:
        raise ValidationError(errors)
    assessment.status = Assessment.Status.CONCLUDED
    assessment.conclusion = conclusion
    assessment.conclusion_note = (note or "").strip()
    assessment.concluded_by = actor
    assessment.concluded_at = timezone.now()
    assessment.version += 1
    assessment.save()
    audit.record(actor=actor, action="assessment.conclude", obj=assessment,
                 organization=assessment.provider.buyer,
                 changes=audit.created({"conclusion": conclusion, "note": assessment.conclusion_note}))
    return assessment


@transaction.atomic
def selection_choose(*, actor: User, selection: Selection, assessment: Assessment, note: str) -> Selection:
    """Record which candidate is chosen for the service, and why."""
    selection = Selection.objects.select_for_update().get(pk=selection.pk)
    require_role(actor, selection.buyer, Role.MANAGER)
    assessment = Assessment.objects.select_related("provider").get(pk=assessment.pk)
    errors = {}
    if assessment.selection_id != selection.pk:
        errors["assessment"] = "Choose one of this selection's candidates."
    elif assessment.status == Assessment.Status.CONCLUDED and assessment.conclusion == Assessment.Conclusion.REJECTED:
        errors["assessment"] = f"{assessment.provider} was rejected in its due diligence."
    elif assessment.status not in (Assessment.Status.SUBMITTED, Assessment.Status.CONCLUDED):
        errors["assessment"] = f"{assessment.provider} has not submitted its answers yet."
    if not (note or "").strip():
        errors["note"] = "Say why this candidate: the choice is kept with its reason."
    if errors:
        raise ValidationError(errors)
    before = str(selection.chosen.provider) if selection.chosen_id else None
    selection.chosen = assessment
    selection.decision_note = note.strip()
    selection.decided_at = timezone.now()
    selection.decided_by = actor
    selection.save()
    audit.record(actor=actor, action="selection.choose", obj=selection, organization=selection.buyer,
                 changes={"chosen": {"before": before, "after": str(assessment.provider)},
                          "note": {"before": None, "after": selection.decision_note}})
    return selection


# --- the relationship -------------------------------------------------------------------


@transaction.atomic
def interaction_log(
    *,
    actor: User,
    engagement: Engagement,
    organization: Organization | None,
    date: dt.date,
    kind: str,
    initiated_by: str,
    title: str,
    topics: str = "",
    follow_ups: list[dict[str, Any]] | None = None,
) -> Interaction:
    """Log a meeting or call of the engagement, with its follow-ups and their owners."""
    membership = require_engagement_role(actor, engagement, Role.MEMBER, organization=organization)
    errors: dict[str, Any] = {}
    if not isinstance(date, dt.date):
        errors["date"] = "Give the date as YYYY-MM-DD."
    elif date > timezone.localdate():
        errors["date"] = "Log interactions that happened; this date is in the future."
    if kind not in Interaction.Kind.values:
        errors["kind"] = f"The kind is one of: {', '.join(Interaction.Kind.values)}."
    if initiated_by not in ("buyer", "provider"):
        errors["initiated_by"] = "Say which side initiated it: buyer or provider."
    if not (title or "").strip():
        errors["title"] = "Give the interaction a title."
    follow_ups = follow_ups or []
    for index, item in enumerate(follow_ups, start=1):
        if not (item.get("description") or "").strip() or not (item.get("owner") or "").strip():
            errors["follow_ups"] = f"Follow-up {index} needs a description and an owner."
    if errors:
        raise ValidationError(errors)
    interaction = Interaction.objects.create(
        engagement=engagement, date=date, kind=kind, initiated_by=initiated_by, title=title.strip(),
        topics=(topics or "").strip(), logged_by=actor,
    )
    for item in follow_ups:
        FollowUp.objects.create(interaction=interaction, description=item["description"].strip(),
                                owner=item["owner"].strip(), due_date=item.get("due_date"))
    audit.record(actor=actor, action="interaction.log", obj=interaction,
                 organization=membership.organization, engagement=engagement,
                 changes=audit.created({"date": date, "kind": kind, "initiated_by": initiated_by,
                                        "title": interaction.title, "follow_ups": len(follow_ups)}))
    return interaction


@transaction.atomic
def follow_up_done(*, actor: User, follow_up: FollowUp, organization: Organization | None) -> FollowUp:
    follow_up = FollowUp.objects.select_for_update().select_related("interaction__engagement").get(pk=follow_up.pk)
    engagement = follow_up.interaction.engagement
    membership = require_engagement_role(actor, engagement, Role.MEMBER, organization=organization)
    if follow_up.done_at is not None:
        raise ValidationError("This follow-up is already done.")
    follow_up.done_at = timezone.now()
    follow_up.save(update_fields=["done_at"])
    audit.record(actor=actor, action="interaction.follow_up.done", obj=follow_up,
                 organization=membership.organization, engagement=engagement,
                 changes={"done": {"before": False, "after": True}})
    return follow_up


@transaction.atomic
def change_notice_announce(
    *,
    actor: User,
    engagement: Engagement,
    organization: Organization | None,
    kind: str,
    title: str,
    description: str,
    effective_date: dt.date,
    review_by: dt.date | None = None,
) -> ChangeNotice:
    """The provider announces a planned change; the buyer reviews it before the date."""
    membership = require_engagement_role(actor, engagement, Role.MEMBER, side="provider",
                                         organization=organization)
    errors = {}
    today = timezone.localdate()
    if kind not in ChangeNotice.Kind.values:
        errors["kind"] = f"The kind is one of: {', '.join(ChangeNotice.Kind.values)}."
    if not (title or "").strip():
        errors["title"] = "Say what changes, e.g. a new data-conversion contractor."
    if not (description or "").strip():
        errors["description"] = "Describe the change and why it is made."
    if not isinstance(effective_date, dt.date):
        errors["effective_date"] = "Give the date of the change as YYYY-MM-DD."
    elif effective_date <= today:
        errors["effective_date"] = "Announce a change before it happens: the date must be in the future."
    else:
        review_by = review_by or max(today, effective_date - dt.timedelta(days=7))
        if not isinstance(review_by, dt.date) or review_by < today or review_by > effective_date:
            errors["review_by"] = "The review date falls between today and the date of the change."
    if errors:
        raise ValidationError(errors)
    notice = ChangeNotice.objects.create(
        engagement=engagement, kind=kind, title=title.strip(), description=description.strip(),
        effective_date=effective_date, review_by=review_by, announced_by=actor,
    )
    audit.record(actor=actor, action="change_notice.announce", obj=notice,
                 organization=membership.organization, engagement=engagement,
                 changes=audit.created({"kind": kind, "title": notice.title,
                                        "effective_date": effective_date, "review_by": review_by}))
    from sourcewise.providers import notify

    transaction.on_commit(lambda: notify.change_announced(notice.pk))
    return notice


# Which side may respond how, and the status it leads to (None: unchanged).
RESPONSES = {
    "buyer": {
        ChangeNoticeResponse.Kind.COMMENT: None,
        ChangeNoticeResponse.Kind.EVIDENCE_REQUEST: ChangeNotice.Status.EVIDENCE,
        ChangeNoticeResponse.Kind.OBJECTION: ChangeNotice.Status.OBJECTED,
        ChangeNoticeResponse.Kind.ACCEPTANCE: ChangeNotice.Status.ACCEPTED,
    },
    "provider": {
        ChangeNoticeResponse.Kind.COMMENT: None,
        ChangeNoticeResponse.Kind.EVIDENCE: ChangeNotice.Status.ANNOUNCED,
        ChangeNoticeResponse.Kind.WITHDRAWAL: ChangeNotice.Status.WITHDRAWN,
    },
}


@transaction.atomic
def change_notice_respond(
    *,
    actor: User,
    notice: ChangeNotice,
    organization: Organization | None,
    kind: str,
    text: str,
    expected_version: int | None = None,
) -> ChangeNotice:
    """Comment, ask for evidence, object or accept (buyer); comment, give evidence or withdraw (provider)."""
    notice = ChangeNotice.objects.select_for_update().select_related("engagement").get(pk=notice.pk)
    engagement = notice.engagement
    membership = require_engagement_role(actor, engagement, Role.MEMBER, organization=organization)
    side = engagement.side_of(membership.organization)
    if expected_version is not None and expected_version != notice.version:
        raise Conflict("The change notice changed after you opened it. Reload to see the latest, then respond.")
    errors = {}
    allowed = RESPONSES[side]
    if kind not in allowed:
        errors["kind"] = f"As the {side}, respond with one of: {', '.join(allowed)}."
    elif not notice.is_open and kind != ChangeNoticeResponse.Kind.COMMENT:
        errors["kind"] = f"This change notice is {notice.get_status_display().lower()}; only comments are possible."
    elif side == "buyer" and allowed[kind] is not None and notice.effective_date <= timezone.localdate():
        errors["kind"] = "The change has taken effect: it can no longer be objected to or accepted."
    if not (text or "").strip():
        errors["text"] = "Write what you want to say."
    if errors:
        raise ValidationError(errors)
    ChangeNoticeResponse.objects.create(notice=notice, kind=kind, side=side, text=text.strip(), author=actor)
    before = notice.status
    if allowed[kind] is not None:
        notice.status = allowed[kind]
    notice.version += 1
    notice.save(update_fields=["status", "version"])
    changes = {kind: {"before": None, "after": text.strip()}}
    if before != notice.status:
        changes["status"] = {"before": before, "after": notice.status}
    audit.record(actor=actor, action=f"change_notice.{kind}", obj=notice,
                 organization=membership.organization, engagement=engagement, changes=changes)
    return notice
