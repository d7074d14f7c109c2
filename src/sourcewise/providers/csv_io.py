"""The register as CSV: import (all or nothing, every error named), export, and the DORA/EBA export.

Import: one row per provider, optionally with one service and its contract. Every
problem is reported with its line and column, and nothing is written unless the
whole file is clean.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from sourcewise.accounts.models import Organization, User
from sourcewise.core import audit
from sourcewise.core.permissions import require_role
from sourcewise.core.tables import Column, Table
from sourcewise.core.tenancy import Role
from sourcewise.providers import services
from sourcewise.providers.models import Contract, Criticality, Provider, Tier

REQUIRED_COLUMNS = ("legal_name", "country")
OPTIONAL_COLUMNS = (
    "registration_number", "lei", "parent", "contact_name", "contact_email", "status", "tier",
    "service_name", "service_category", "service_criticality", "criticality_reason",
    "data_handled", "personal_data", "service_location", "data_location",
    "contract_reference", "contract_start", "contract_end", "renewal", "buyer_notice_days",
    "provider_notice_days", "annual_cost", "currency", "governing_law", "exit_plan", "substitutability",
)
IMPORT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_IMPORT_BYTES = 5 * 1024 * 1024


class ImportRefused(ValidationError):
    """The file was refused; `problems` names each error by line and column."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("yes", "y", "true", "1"):
        return True
    if lowered in ("no", "n", "false", "0", ""):
        return False
    raise ValueError


def _parse(row: dict[str, str], line: int, buyer: Organization, names: dict[str, Any],
           problems: list[str]) -> dict[str, Any] | None:
    def bad(column: str, message: str) -> None:
        problems.append(f"Line {line}, column '{column}': {message}")

    before = len(problems)
    value = {k: (row.get(k) or "").strip() for k in IMPORT_COLUMNS}
    provider = {k: value[k] for k in ("legal_name", "registration_number", "lei", "country",
                                       "contact_name", "contact_email")}
    provider["status"] = value["status"] or Provider.Status.CURRENT
    for column, message in services.clean_provider_fields(provider, buyer=buyer).items():
        bad(column, message)
    tier = value["tier"] or Tier.STANDARD
    if tier not in Tier.values:
        bad("tier", f"'{tier}' is not a tier; use one of {', '.join(Tier.values)}.")
    parent_name = value["parent"]
    if parent_name and parent_name.lower() not in names:
        bad("parent", f"'{parent_name}' is neither in your register nor earlier in the file.")
    service = contract = None
    if value["service_name"]:
        service = {
            "name": value["service_name"], "category": value["service_category"],
            "criticality": value["service_criticality"] or Criticality.LOW,
            "criticality_reason": value["criticality_reason"], "data_handled": value["data_handled"],
            "service_location": value["service_location"], "data_location": value["data_location"],
        }
        try:
            service["personal_data"] = _bool(value["personal_data"])
        except ValueError:
            bad("personal_data", f"'{value['personal_data']}' is not yes or no.")
            service["personal_data"] = False
        column_of = {"name": "service_name", "criticality": "service_criticality"}
        for field, message in services._clean_service(dict(service)).items():
            bad(column_of.get(field, field), message)
    elif any(value[k] for k in ("contract_reference", "contract_start")):
        bad("service_name", "A contract needs the service it covers.")
    if service is not None and (value["contract_reference"] or value["contract_start"]):
        contract: dict[str, Any] = {
            "reference": value["contract_reference"], "renewal": value["renewal"] or Contract.Renewal.BY_AGREEMENT,
            "currency": value["currency"] or "EUR", "governing_law": value["governing_law"],
            "exit_plan": value["exit_plan"],
            "substitutability": value["substitutability"] or Contract.Substitutability.DIFFICULT,
        }
        for field, column in (("start_date", "contract_start"), ("end_date", "contract_end")):
            if value[column]:
                try:
                    contract[field] = _date(value[column])
                except ValueError:
                    bad(column, f"'{value[column]}' is not a date; write it as YYYY-MM-DD.")
                    contract[field] = "bad"
            else:
                contract[field] = None
        for field in ("buyer_notice_days", "provider_notice_days"):
            if value[field]:
                try:
                    contract[field] = int(value[field])
                except ValueError:
                    bad(field, f"'{value[field]}' is not a whole number of days.")
                    contract[field] = "bad"
            else:
                contract[field] = None
        if value["annual_cost"]:
            try:
                contract["annual_cost"] = Decimal(value["annual_cost"])
            except InvalidOperation:
                bad("annual_cost", f"'{value['annual_cost']}' is not an amount.")
                contract["annual_cost"] = None
        else:
            contract["annual_cost"] = None
        column_of = {"reference": "contract_reference", "start_date": "contract_start",
                     "end_date": "contract_end"}
        already = {p.split("'")[1] for p in problems[before:]}
        for field, message in services._clean_contract(dict(contract)).items():
            if column_of.get(field, field) not in already:
                bad(column_of.get(field, field), message)
    if len(problems) > before:
        return None
    return {"provider": provider, "tier": tier, "parent": parent_name, "service": service, "contract": contract}


@transaction.atomic
def register_import(*, actor: User, buyer: Organization, content: bytes | str) -> list[Provider]:
    """Add the providers of a CSV file to the register: all of them, or none (ImportRefused)."""
    require_role(actor, buyer, Role.MEMBER)
    if isinstance(content, bytes):
        if len(content) > MAX_IMPORT_BYTES:
            raise ImportRefused([f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB."])
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportRefused(["The file is not UTF-8 text: save it as 'CSV UTF-8'."]) from None
    reader = csv.DictReader(io.StringIO(content))
    header = [h.strip() for h in (reader.fieldnames or [])]
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    if missing:
        problems.append(f"Line 1: missing column(s) {', '.join(repr(c) for c in missing)}.")
    if unknown:
        problems.append(f"Line 1: unknown column(s) {', '.join(repr(c) for c in unknown)}; "
                        f"the columns are {', '.join(IMPORT_COLUMNS)}.")
    if problems:
        raise ImportRefused(problems)
    reader.fieldnames = header
    existing = {p.legal_name.lower(): p for p in Provider.objects.filter(buyer=buyer)}
    names: dict[str, Any] = dict(existing)
    seen: dict[str, int] = {}
    parsed = []
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(f"Line {line}: more values than columns.")
            continue
        name = (row.get("legal_name") or "").strip()
        key = name.lower()
        if key and key in existing:
            problems.append(f"Line {line}, column 'legal_name': {name} is already in your register.")
        elif key and key in seen:
            problems.append(f"Line {line}, column 'legal_name': {name} is a duplicate of line {seen[key]}.")
        item = _parse(row, line, buyer, names, problems)
        if key:
            seen.setdefault(key, line)
            names.setdefault(key, None)
        if item is not None:
            parsed.append(item)
    if not seen and not problems:
        problems.append("The file has no providers: add one row per provider under the header.")
    if problems:
        raise ImportRefused(problems)
    created: list[Provider] = []
    by_name = dict(existing)
    for item in parsed:
        parent = by_name.get(item["parent"].lower()) if item["parent"] else None
        provider = services.provider_create(actor=actor, buyer=buyer, tier=item["tier"],
                                            tier_reason="Imported from CSV.", parent=parent, **item["provider"])
        by_name[provider.legal_name.lower()] = provider
        if item["service"]:
            service = services.service_create(actor=actor, provider=provider, **item["service"])
            if item["contract"]:
                services.contract_create(actor=actor, service=service, **item["contract"])
        created.append(provider)
    audit.record(actor=actor, action="provider.import", obj=buyer, organization=buyer,
                 changes={"providers": {"before": None, "after": len(created)}})
    return created


def _yes(value: bool) -> str:
    return "yes" if value else "no"


REGISTER_TABLE = Table(
    columns=[
        Column("legal_name", "Provider", order_by="legal_name"),
        Column("status", "Status", order_by="status", value=lambda p: p.get_status_display()),
        Column("tier", "Tier", order_by="tier", value=lambda p: p.get_tier_display()),
        Column("country", "Country", order_by="country"),
        Column("lei", "LEI", order_by="lei"),
        Column("registration_number", "Registration number"),
        Column("parent", "Parent", value=lambda p: p.parent.legal_name if p.parent_id else ""),
        Column("contact_name", "Contact"),
        Column("contact_email", "Contact email"),
        Column("service_count", "Services", order_by="service_count"),
        Column("reassessment_due", "Reassessment due", order_by="last_concluded_at",
               value=lambda p: _reassessment_label(p)),
    ],
    default_sort="legal_name",
    search_fields=["legal_name", "lei", "registration_number", "services__name"],
    filters={"status": "status", "tier": "tier"},
)


def _reassessment_label(provider) -> str:
    from sourcewise.providers.selectors import reassessment_due

    due = reassessment_due(provider)
    return due.isoformat() if due else "now (never concluded)"


def _contract_of(service):
    contracts = list(service.contracts.all())
    return contracts[0] if contracts else None


def dora_rows(providers) -> Any:
    """One row per service (with its current contract) and one per subcontractor in its chain.

    Covers the register-of-information fields the register can fill: RT.02 (contractual
    arrangements: reference, dates, notice periods, governing law, annual cost), RT.05
    (ICT third-party providers: LEI, name, registration number, country, parent, rank),
    RT.06 (functions: name, criticality and its reasons), data (personal data, data
    sensitivity, where data sits and where the service runs) and RT.07 (assessment:
    substitutability, exit plan). Not covered: the financial entity's own identifiers,
    ICT service type codes and the EBA taxonomy codes, which Sourcewise does not hold.
    """
    for provider in providers:
        parent = provider.parent
        for service in provider.services.all():
            contract = _contract_of(service)
            base = {
                "RT.02 Contractual arrangement reference": contract.reference if contract else "",
                "RT.02 Start date": contract.start_date.isoformat() if contract else "",
                "RT.02 End date": contract.end_date.isoformat() if contract and contract.end_date else "",
                "RT.02 Renewal": contract.get_renewal_display() if contract else "",
                "RT.02 Notice period for the financial entity (days)":
                    contract.buyer_notice_days if contract else "",
                "RT.02 Notice period for the provider (days)": contract.provider_notice_days if contract else "",
                "RT.02 Governing law": contract.governing_law if contract else "",
                "RT.02 Annual cost": contract.annual_cost if contract and contract.annual_cost is not None else "",
                "RT.02 Currency": contract.currency if contract else "",
                "RT.06 Function": service.name,
                "RT.06 Category of service": service.category,
                "RT.06 Criticality or importance": service.get_criticality_display(),
                "RT.06 Reasons for criticality": service.criticality_reason,
                "Personal data involved": _yes(service.personal_data),
                "Data sensitivity (data handled)": service.data_handled,
            }
            tail = {
                "RT.07 Substitutability": contract.get_substitutability_display() if contract else "",
                "RT.07 Exit plan exists": _yes(bool(contract and contract.exit_plan.strip())),
            }
            yield base | {
                "RT.05 LEI of the provider": provider.lei,
                "RT.05 Name of the provider": provider.legal_name,
                "RT.05 Registration number": provider.registration_number,
                "RT.05 Country of headquarters": provider.country,
                "RT.05 Parent undertaking": parent.legal_name if parent else "",
                "RT.05 LEI of the parent undertaking": parent.lei if parent else "",
                "RT.05 Subcontracting rank": 1,
                "RT.05 Recipient of subcontracting": "",
                "Location where the service is provided": service.service_location,
                "Location of data storage": service.data_location,
                "Tier": provider.get_tier_display(),
            } | tail
            for sub in service.subcontractors.all():
                yield base | {
                    "RT.05 LEI of the provider": sub.lei,
                    "RT.05 Name of the provider": sub.legal_name,
                    "RT.05 Registration number": sub.registration_number,
                    "RT.05 Country of headquarters": sub.country,
                    "RT.05 Parent undertaking": "",
                    "RT.05 LEI of the parent undertaking": "",
                    "RT.05 Subcontracting rank": sub.rank,
                    "RT.05 Recipient of subcontracting":
                        sub.parent.legal_name if sub.parent_id else provider.legal_name,
                    "Location where the service is provided": sub.service_location,
                    "Location of data storage": sub.data_location,
                    "Tier": "",
                    "Personal data involved": _yes(sub.personal_data),
                    "RT.06 Function": f"{service.name}: {sub.function}",
                } | tail


DORA_COLUMNS = [
    "RT.05 LEI of the provider", "RT.05 Name of the provider", "RT.05 Registration number",
    "RT.05 Country of headquarters", "RT.05 Parent undertaking", "RT.05 LEI of the parent undertaking",
    "RT.05 Subcontracting rank", "RT.05 Recipient of subcontracting", "Tier",
    "RT.06 Function", "RT.06 Category of service", "RT.06 Criticality or importance",
    "RT.06 Reasons for criticality", "Personal data involved", "Data sensitivity (data handled)",
    "Location where the service is provided", "Location of data storage",
    "RT.02 Contractual arrangement reference", "RT.02 Start date", "RT.02 End date", "RT.02 Renewal",
    "RT.02 Notice period for the financial entity (days)", "RT.02 Notice period for the provider (days)",
    "RT.02 Governing law", "RT.02 Annual cost", "RT.02 Currency",
    "RT.07 Substitutability", "RT.07 Exit plan exists",
]

DORA_TABLE = Table(columns=[Column(c, c, value=lambda r, c=c: r.get(c)) for c in DORA_COLUMNS],
                   default_sort="")


class _RowsAsQueryset:
    """Lets Table.csv_response (formula neutralising, streaming) stream plain dict rows."""

    def __init__(self, rows) -> None:
        self.rows = rows

    def iterator(self, chunk_size: int = 2000):
        return iter(self.rows)


def dora_csv_response(providers, filename: str):
    return DORA_TABLE.csv_response(_RowsAsQueryset(dora_rows(providers)), filename)
