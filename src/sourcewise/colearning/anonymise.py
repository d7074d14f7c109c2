"""Removing the client's identity from a learning before it goes to a provider's library.

Removed: the client's name and short name (and the distinctive words of its name),
its people's names and email addresses, and anything that looks like a customer
identifier (account or customer numbers, email addresses, phone numbers, people named
with a title such as "Mrs Okafor").
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sourcewise.accounts.models import Membership, Organization

CLIENT = "[the client]"
PERSON = "[a person]"
CUSTOMER_ID = "[customer id]"
EMAIL = "[email]"
PHONE = "[phone]"

# Words of a company name that identify nobody on their own.
GENERIC = {
    "bank", "banking", "group", "holdings", "ltd", "limited", "plc", "inc", "llc", "gmbh", "sa",
    "ag", "co", "company", "corp", "corporation", "the", "and", "of", "services", "service",
    "financial", "finance", "insurance", "energy", "telecom", "outsourcing", "collections",
    "partners", "international", "global", "national", "trust", "mutual", "retail", "solutions",
}
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_RE = re.compile(r"(?<![\w])\+?\d[\d ()-]{7,}\d(?![\w])")
# Account or customer numbers: letters and at least four digits (ACC-10023, C123456), or long digit runs.
# A customer named with a title: "Mrs Okafor", "Dr. Jane Smith".
TITLED_RE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?(?:\s+[A-Z][\w'-]+){1,2}")
ID_RE = re.compile(r"\b(?:[A-Za-z]{1,5}[-_#]?\d{4,}|\d{5,})\b")


def identifying_strings(client: Organization) -> tuple[list[str], list[str]]:
    """The client's names and its people's names and emails (longest first)."""
    names = {client.name, client.slug, client.slug.replace("-", " ")}
    names |= {w for w in re.findall(r"[\w'-]+", client.name) if len(w) >= 3 and w.lower() not in GENERIC}
    people: set[str] = set()
    for full_name, email in Membership.objects.filter(organization=client).values_list(
            "user__full_name", "user__email"):
        people.add(email)
        if full_name:
            people.add(full_name)
            people |= {w for w in full_name.split() if len(w) >= 3}
    return sorted(names - {""}, key=len, reverse=True), sorted(people - {""}, key=len, reverse=True)


def for_client(client: Organization) -> Callable[[str], str]:
    """A function that removes `client`'s identity from a text."""
    names, people = identifying_strings(client)

    def _pattern(words: list[str]) -> re.Pattern | None:
        if not words:
            return None
        return re.compile(r"(?<![\w])(?:" + "|".join(re.escape(w) for w in words) + r")(?:'s)?(?![\w])",
                          re.IGNORECASE)

    name_re, person_re = _pattern(names), _pattern(people)

    def scrub(text: str) -> str:
        text = EMAIL_RE.sub(EMAIL, text or "")
        if name_re is not None:
            text = name_re.sub(CLIENT, text)
        if person_re is not None:
            text = person_re.sub(PERSON, text)
        text = PHONE_RE.sub(PHONE, text)
        text = TITLED_RE.sub(PERSON, text)
        return ID_RE.sub(CUSTOMER_ID, text)

    return scrub
