"""Builders the providers tests share: a register entry, a linked provider, a filled assessment."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from sourcewise.providers import builtin, services

# A real LEI (the GLEIF's own) and one with its check digits broken.
GOOD_LEI = "506700GE1G29325QX363"
BAD_LEI = "506700GE1G29325QX364"

GOOD_ANSWERS = {
    "monitoring": ["Real-time operational dashboards", "Automated alerts on thresholds"],
    "monitoring-description": "Dashboards per campaign, reviewed hourly by the shift lead.",
    "recovery-procedure": "Yes, documented and rehearsed in the last 12 months",
    "time-to-tell": 2,
    "root-cause": "Always, with a written post-mortem shared with the client",
    "repeat-prevention": "Dialler misrouting in 2025: added a routing check before each campaign.",
    "ever-failed": "Yes: see our incident history",
    "failures-24-months": 3,
    "incident-history": "2025-03 dialler outage, 4h; 2025-09 wrong script; 2026-01 SMS delay.",
    "reporting-when": "Within an hour",
    "reporting-how": ["A call to a named contact", "A written incident report"],
}

NEVER_FAILED_ANSWERS = GOOD_ANSWERS | {
    "ever-failed": builtin.NEVER_FAILED,
    "failures-24-months": 0,
    "incident-history": "",
}


def due(days: int = 14) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def linked_provider(world, **fields):
    """Dialwell in Northwind's register, linked to its Sourcewise organisation."""
    return services.provider_create(
        actor=world.buyer.member, buyer=world.buyer.organization,
        **({"legal_name": "Dialwell Outsourcing Ltd", "country": "IE", "lei": GOOD_LEI,
            "organization": world.provider.organization, "status": "current"} | fields),
    )


def candidate(world, name: str, **fields):
    return services.provider_create(actor=world.buyer.member, buyer=world.buyer.organization,
                                    legal_name=name, country="GB", contacts=[{"name": "Bids desk", "email": "bids@candidate.test"}],
                                    **fields)
