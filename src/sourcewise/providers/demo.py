"""The demo's part of providers: Northwind's register, due diligence of two candidates, and two relationships.

Everything goes through the services, as the people of the story; loading twice changes nothing.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from sourcewise.providers import builtin, services
from sourcewise.providers.models import Assessment, ChangeNotice, Interaction, Provider, Selection

DIALWELL_LEI = "5493001KJTIIGC8Y1R12"  # shaped like a real LEI, check digits valid
RECOVA_LEI = "529900T8BM49AURSDO55"

GOOD = {
    "monitoring": ["Real-time operational dashboards", "Automated alerts on thresholds",
                   "Quality sampling of contacts", "Analysis of customer complaints"],
    "monitoring-description": "Live dashboards per campaign; alerts on abandonment and complaint spikes; "
                              "a quality analyst samples 2% of calls daily.",
    "recovery-procedure": "Yes, documented and rehearsed in the last 12 months",
    "time-to-tell": 1,
    "root-cause": "Always, with a written post-mortem shared with the client",
    "repeat-prevention": "A payment-plan letter went to the wrong segment in 2025; we added a segment "
                         "check signed off by the client before each mailing.",
    "ever-failed": "Yes: see our incident history",
    "failures-24-months": 4,
    "incident-history": "2025-02 telephony outage (3h, calls rerouted); 2025-06 wrong letter segment; "
                        "2025-11 late payment file; 2026-03 agent script error. Post-mortems shared.",
    "reporting-when": "Within an hour",
    "reporting-how": ["A call to a named contact", "A written incident report",
                      "A post-mortem review with the client"],
}
NEVER_FAILED = {
    "monitoring": ["Real-time operational dashboards"],
    "monitoring-description": "Our team leaders watch the floor.",
    "recovery-procedure": "Informally",
    "time-to-tell": 24,
    "root-cause": "Only when the client asks",
    "ever-failed": builtin.NEVER_FAILED,
    "failures-24-months": 0,
    "incident-history": "",
    "reporting-when": "In the monthly report",
    "reporting-how": ["A line in the monthly slides"],
}

REACTIVE_LOG = [  # days ago, kind, initiated by, title, topics
    (12, "escalation", "buyer", "Complaint spike after the spring campaign", "Calls outside permitted hours"),
    (40, "incident", "buyer", "Dialler outage call", "Two hours without outbound calls"),
    (75, "escalation", "buyer", "Wrong segment contacted", "Opted-out customers called"),
    (110, "renewal", "provider", "Renewal talks", "Price increase, volume commitment"),
    (150, "qbr", "buyer", "Quarterly business review", "Contact rates, complaints"),
    (200, "incident", "buyer", "SMS delay call", "Confirmation SMS sent a day late"),
]
HEALTHY_LOG = [
    (8, "workshop", "provider", "Payment-plan journey workshop", "Shadowing results, letter wording"),
    (35, "governance", "buyer", "Monthly governance review", "KPIs, change pipeline"),
    (63, "informal", "provider", "Coffee with the operations lead", "Team morale, attrition"),
    (95, "qbr", "buyer", "Quarterly business review", "Cure rates, complaints, roadmap"),
    (120, "escalation", "buyer", "Late payment file", "File arrived after the cut-off"),
    (150, "governance", "buyer", "Monthly governance review", "Controls, audit findings"),
]


def _provider(story, actor, slug: str, **fields) -> Provider:
    buyer = story.organizations["northwind"]
    existing = Provider.objects.filter(buyer=buyer, legal_name=fields["legal_name"]).first()
    if existing is not None:
        return existing
    return services.provider_create(actor=actor, buyer=buyer, organization=story.organizations[slug], **fields)


def _log(story, engagement, actor, entries) -> None:
    today = timezone.localdate()
    for days, kind, initiated_by, title, topics in entries:
        if Interaction.objects.filter(engagement=engagement, title=title,
                                      date=today - dt.timedelta(days=days)).exists():
            continue
        follow_ups = [{"description": f"Write up: {title.lower()}", "owner": "Alex Morgan (Northwind)",
                       "due_date": today - dt.timedelta(days=days) + dt.timedelta(days=14)}] if days < 50 else []
        services.interaction_log(actor=actor, engagement=engagement, organization=engagement.buyer,
                                 date=today - dt.timedelta(days=days), kind=kind, initiated_by=initiated_by,
                                 title=title, topics=topics, follow_ups=follow_ups)


def load(story) -> None:
    """Add this app's part of the story; loading twice changes nothing."""
    vm = story.users["vm@northwind.demo"]
    owner = story.users["owner@northwind.demo"]
    northwind = story.organizations["northwind"]
    today = timezone.localdate()

    dialwell = _provider(story, vm, "dialwell", legal_name="Dialwell Outsourcing Ltd", country="IE",
                         registration_number="IE 612345", lei=DIALWELL_LEI, status="current",
                         contacts=[{"name": "Sam Carter", "email": "am@dialwell.demo", "role": "account_manager"},
                                   {"name": "Priya Nair", "email": "dpo@dialwell.demo", "role": "dpo"}], tier="standard",
                         tier_reason="Initial assessment: marketing calls only.")
    if dialwell.tier == "standard":
        services.provider_set_tier(actor=vm, provider=dialwell, tier="critical",
                                   reason="Calls customers in Northwind's name with their personal data: "
                                          "a critical function under DORA.")
    recova = _provider(story, vm, "recova", legal_name="Recova Collections Ltd", country="GB",
                       registration_number="GB 09876543", lei=RECOVA_LEI, status="current",
                       contacts=[{"name": "Taylor Green", "email": "am@recova.demo", "role": "account_manager"}], tier="important",
                       tier_reason="Collections calls: customer-facing, regulated conduct.")

    if not dialwell.services.exists():
        calls = services.service_create(
            actor=vm, provider=dialwell, name="Outbound marketing calls", category="Contact centre",
            description="Phone, SMS and email contacts to targeted segments; daily contact log.",
            criticality="critical", criticality_reason="Customer contact in the bank's name; conduct risk.",
            data_handled="Names, phone numbers, product holdings, consent flags", personal_data=True,
            service_location="Dublin, IE", data_location="EU (Frankfurt data centre)")
        services.contract_create(actor=vm, service=calls, reference="NW-DW-2024-01", start_date=dt.date(2024, 4, 1),
                                 end_date=dt.date(2027, 3, 31), renewal="agreement", buyer_notice_days=90,
                                 provider_notice_days=180, annual_cost=1_250_000, currency="EUR",
                                 governing_law="Ireland", substitutability="difficult",
                                 exit_plan="Six-month transition to the in-house team; contact data returned "
                                           "and deleted; scripts and reports handed over.")
        dialler = services.subcontractor_create(
            actor=vm, service=calls, legal_name="DialTech Cloud BV", country="NL", function="Cloud dialler platform",
            service_location="Amsterdam, NL", data_location="EU (Amsterdam)", personal_data=True)
        services.subcontractor_create(
            actor=vm, service=calls, parent=dialler, legal_name="ConvertCo Data Services", country="PL",
            function="Data conversion of contact lists into the dialler", service_location="Kraków, PL",
            data_location="EU (Warsaw)", personal_data=True)
    if not recova.services.exists():
        collections = services.service_create(
            actor=vm, provider=recova, name="Early-stage collections", category="Collections",
            criticality="important", criticality_reason="Vulnerable customers; regulated conduct.",
            data_handled="Arrears, contact details, payment arrangements", personal_data=True,
            service_location="Leeds, GB", data_location="UK (London)")
        services.contract_create(actor=vm, service=collections, reference="NW-RC-2025-02",
                                 start_date=dt.date(2025, 1, 1), end_date=dt.date(2027, 12, 31), renewal="automatic",
                                 buyer_notice_days=120, provider_notice_days=180, annual_cost=640_000,
                                 currency="GBP", governing_law="England and Wales", substitutability="easy",
                                 exit_plan="Accounts recalled within 30 days to the in-house team.")

    _log(story, story.engagements["Outbound marketing calls"], vm, REACTIVE_LOG)
    _log(story, story.engagements["Collections"], vm, HEALTHY_LOG)

    outbound = story.engagements["Outbound marketing calls"]
    if not ChangeNotice.objects.filter(engagement=outbound, kind="data_conversion").exists():
        services.change_notice_announce(
            actor=story.users["am@dialwell.demo"], engagement=outbound, organization=outbound.provider,
            kind="data_conversion", title="New data-conversion contractor for contact lists",
            description="DialTech will replace ConvertCo Data Services with ListBridge Ltd (Lisbon, PT) for "
                        "converting Northwind's contact lists into the dialler.",
            effective_date=today + dt.timedelta(days=21))

    selection = Selection.objects.filter(buyer=northwind, service_name="Inbound complaints line").first()
    if selection is None:
        selection = services.selection_create(
            actor=vm, buyer=northwind, service_name="Inbound complaints line",
            description="A provider to answer customers' complaints calls, 8am to 8pm.")
    for provider, answerer, answers in ((dialwell, "am@dialwell.demo", NEVER_FAILED),
                                        (recova, "am@recova.demo", GOOD)):
        if Assessment.objects.filter(provider=provider, selection=selection).exists():
            continue
        assessment, _token = services.assessment_send(actor=vm, provider=provider,
                                                      due_date=today + dt.timedelta(days=14), selection=selection)
        services.assessment_answer(actor=story.users[answerer], assessment=assessment, answers=answers)
        services.assessment_submit(actor=story.users[answerer], assessment=assessment)
        services.assessment_review(actor=owner, assessment=assessment, score=35 if answers is NEVER_FAILED else 85,
                                   comment="No incident history given." if answers is NEVER_FAILED
                                   else "Open about its failures; post-mortems shared.")
