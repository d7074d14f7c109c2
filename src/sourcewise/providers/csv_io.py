"""The register as CSV: import (all or nothing, every error named), export, and the DORA/EBA export.

Two imports: providers (one row per provider, optionally with one service and its
contract; `contact_name`/`contact_email` become its primary contact), and subcontractors
(one row per subcontractor in a registered service's chain). Every problem is reported
with its line and column, and nothing is written unless the whole file is clean.
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
from sourcewise.providers.models import (
    Contract,
    Criticality,
    Provider,
    ProviderService,
    Subcontractor,
    Tier,
)

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
    provider = {k: value[k] for k in ("legal_name", "registration_number", "lei", "country")}
    provider["status"] = value["status"] or Provider.Status.CURRENT
    for column, message in services.clean_provider_fields(provider, buyer=buyer).items():
        bad(column, message)
    contacts = []
    if value["contact_name"] or value["contact_email"]:
        contact = {"name": value["contact_name"] or value["contact_email"], "email": value["contact_email"],
                   "role": "account_manager", "phone": "", "is_primary": True}
        for field, message in services.clean_contact(contact).items():
            bad({"name": "contact_name", "email": "contact_email"}.get(field, field), message)
        contacts.append(contact)
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
    return {"provider": provider, "tier": tier, "parent": parent_name, "service": service, "contract": contract,
            "contacts": contacts}


def _reader(content: bytes | str, required: tuple[str, ...], columns: tuple[str, ...]) -> csv.DictReader:
    """A reader over the file's rows, or ImportRefused for a file too large, not UTF-8, or with bad columns."""
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
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in columns]
    if missing:
        problems.append(f"Line 1: missing column(s) {', '.join(repr(c) for c in missing)}.")
    if unknown:
        problems.append(f"Line 1: unknown column(s) {', '.join(repr(c) for c in unknown)}; "
                        f"the columns are {', '.join(columns)}.")
    if problems:
        raise ImportRefused(problems)
    reader.fieldnames = header
    return reader


@transaction.atomic
def register_import(*, actor: User, buyer: Organization, content: bytes | str) -> list[Provider]:
    """Add the providers of a CSV file to the register: all of them, or none (ImportRefused)."""
    require_role(actor, buyer, Role.MEMBER)
    reader = _reader(content, REQUIRED_COLUMNS, IMPORT_COLUMNS)
    problems: list[str] = []
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
                                            tier_reason="Imported from CSV.", parent=parent,
                                            contacts=item["contacts"], **item["provider"])
        by_name[provider.legal_name.lower()] = provider
        if item["service"]:
            service = services.service_create(actor=actor, provider=provider, **item["service"])
            if item["contract"]:
                services.contract_create(actor=actor, service=service, **item["contract"])
        created.append(provider)
    audit.record(actor=actor, action="provider.import", obj=buyer, organization=buyer,
                 changes={"providers": {"before": None, "after": len(created)}})
    return created


SUBCONTRACTOR_REQUIRED = ("provider", "service", "legal_name", "function")
SUBCONTRACTOR_COLUMNS = SUBCONTRACTOR_REQUIRED + (
    "parent", "rank", "registration_number", "lei", "country", "service_location", "data_location",
    "personal_data", "start_date", "end_date",
)


@transaction.atomic
def subcontractor_import(*, actor: User, buyer: Organization, content: bytes | str) -> list[Subcontractor]:
    """Add subcontractors to the chains of registered services: all of them, or none (ImportRefused).

    `provider` and `service` name a registered service; `parent` names the subcontractor it
    works for (already in that chain, or on an earlier line), empty for the provider itself;
    `rank`, if given, must agree with the parent (2 under the provider, one more under a
    subcontractor).
    """
    require_role(actor, buyer, Role.MEMBER)
    reader = _reader(content, SUBCONTRACTOR_REQUIRED, SUBCONTRACTOR_COLUMNS)
    problems: list[str] = []
    services_by_key = {
        (s.provider.legal_name.lower(), s.name.lower()): s
        for s in ProviderService.objects.filter(provider__buyer=buyer).select_related("provider")
    }
    providers = {p.lower() for p in Provider.objects.filter(buyer=buyer).values_list("legal_name", flat=True)}
    # The rank of each subcontractor by (service id, name): those registered, then earlier lines.
    ranks: dict[tuple[int, str], int] = {
        (sid, name.lower()): rank for sid, name, rank in
        Subcontractor.objects.filter(service__provider__buyer=buyer).values_list("service_id", "legal_name", "rank")
    }
    parsed = []
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(f"Line {line}: more values than columns.")
            continue
        before = len(problems)

        def bad(column: str, message: str, line: int = line) -> None:
            problems.append(f"Line {line}, column '{column}': {message}")

        value = {k: (row.get(k) or "").strip() for k in SUBCONTRACTOR_COLUMNS}
        service = None
        if not value["provider"]:
            bad("provider", "Name the provider whose service it works for.")
        elif value["provider"].lower() not in providers:
            bad("provider", f"'{value['provider']}' is not in your register.")
        elif not value["service"]:
            bad("service", "Name the service whose chain it joins.")
        else:
            service = services_by_key.get((value["provider"].lower(), value["service"].lower()))
            if service is None:
                bad("service", f"{value['provider']} runs no service named '{value['service']}' in your register.")
        fields: dict[str, Any] = {k: value[k] for k in ("legal_name", "registration_number", "lei", "country",
                                                        "function", "service_location", "data_location")}
        try:
            fields["personal_data"] = _bool(value["personal_data"])
        except ValueError:
            bad("personal_data", f"'{value['personal_data']}' is not yes or no.")
        for column in ("start_date", "end_date"):
            fields[column] = None
            if value[column]:
                try:
                    fields[column] = _date(value[column])
                except ValueError:
                    bad(column, f"'{value[column]}' is not a date; write it as YYYY-MM-DD.")
                    fields[column] = "bad"
        already = {p.split("'")[1] for p in problems[before:] if "column '" in p}
        for column, message in services._clean_subcontractor(dict(fields), buyer=buyer).items():
            if column not in already:
                bad(column, message)
        rank = None
        if service is not None and fields["legal_name"]:
            parent_rank = 1
            if value["parent"]:
                parent_rank = ranks.get((service.pk, value["parent"].lower()))
                if parent_rank is None:
                    bad("parent", f"'{value['parent']}' is not in the chain of {service.name}, neither "
                                  "registered nor on an earlier line.")
            key = (service.pk, fields["legal_name"].lower())
            if key in ranks:
                bad("legal_name", f"{fields['legal_name']} is already in the chain of {service.name}.")
            if parent_rank is not None:
                rank = parent_rank + 1
                if value["rank"] and value["rank"] != str(rank):
                    bad("rank", f"'{value['rank']}' does not fit the chain: under "
                                f"{value['parent'] or 'the provider itself'} the rank is {rank}.")
                ranks.setdefault(key, rank)
        elif value["rank"] and not (value["rank"].isdigit() and int(value["rank"]) >= 2):
            bad("rank", f"'{value['rank']}' is not a rank: 2 for the provider's own subcontractor, 3 for theirs.")
        if len(problems) == before:
            parsed.append((service, value["parent"], fields))
    if not parsed and not problems:
        problems.append("The file has no subcontractors: add one row per subcontractor under the header.")
    if problems:
        raise ImportRefused(problems)
    created: list[Subcontractor] = []
    by_key = {(s.service_id, s.legal_name.lower()): s
              for s in Subcontractor.objects.filter(service__in=[p[0] for p in parsed])}
    for service, parent_name, fields in parsed:
        parent = by_key[(service.pk, parent_name.lower())] if parent_name else None
        sub = services.subcontractor_create(actor=actor, service=service, parent=parent, **fields)
        by_key[(service.pk, sub.legal_name.lower())] = sub
        created.append(sub)
    audit.record(actor=actor, action="provider.subcontractor.import", obj=buyer, organization=buyer,
                 changes={"subcontractors": {"before": None, "after": len(created)}})
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
        Column("contact_name", "Contact", value=lambda p: p.primary_contact_name or ""),
        Column("contact_email", "Contact email", value=lambda p: p.primary_contact_email or ""),
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
        if hasattr(provider, "primary_contacts"):  # prefetched by register_for_export
            primary = provider.primary_contacts[0] if provider.primary_contacts else None
        else:
            primary = provider.contacts.filter(is_primary=True).first()
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
                "Primary contact": primary.name if primary else "",
                "Primary contact email": primary.email if primary else "",
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
                    "Primary contact": "", "Primary contact email": "",
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
    "Primary contact", "Primary contact email",
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
