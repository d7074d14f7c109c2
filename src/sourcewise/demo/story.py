"""The demo's organisations, people and engagements: the brief's outsourcing story.

Northwind Bank outsources outbound marketing calls to Dialwell, which also runs
campaigns for Brightline Insurance, and collections to Recova. Everything is
written through the services, so the demo has a real audit trail. Loading twice
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from django.db import transaction

from sourcewise.accounts import services as accounts
from sourcewise.accounts.models import Membership, Organization, User
from sourcewise.core import services as core
from sourcewise.core.models import Engagement
from sourcewise.core.tenancy import Role

DEMO_PASSWORD = "sourcewise-demo"  # noqa: S105  (published on purpose: demo data only)

ORGANIZATIONS = [
    ("northwind", "Northwind Bank", "Retail banking"),
    ("dialwell", "Dialwell Outsourcing", "Contact centre services"),
    ("brightline", "Brightline Insurance", "Insurance"),
    ("recova", "Recova Collections", "Collections"),
]

PEOPLE = [
    # email, name, [(org slug, role)], what they do in the story
    ("vm@northwind.demo", "Alex Morgan", [("northwind", Role.MANAGER)], "Northwind's vendor manager"),
    ("owner@northwind.demo", "Priya Shah", [("northwind", Role.OWNER)], "Northwind's head of operations"),
    ("exec@northwind.demo", "Jordan Lee", [("northwind", Role.VIEWER)], "Northwind executive (read-only)"),
    ("am@dialwell.demo", "Sam Carter", [("dialwell", Role.MANAGER)], "Dialwell's account manager"),
    ("ops@dialwell.demo", "Riley Chen", [("dialwell", Role.MEMBER)], "Dialwell's operations lead"),
    ("owner@dialwell.demo", "Morgan Diaz", [("dialwell", Role.OWNER)], "Dialwell's managing director"),
    ("vm@brightline.demo", "Casey Brown", [("brightline", Role.OWNER)], "Brightline's vendor manager"),
    ("am@recova.demo", "Taylor Green", [("recova", Role.OWNER)], "Recova's account manager"),
    ("advisor@sourcewise.demo", "Mark Ellis", [("northwind", Role.MEMBER), ("brightline", Role.MEMBER)],
     "an outsourcing advisor to two clients (switches organisation)"),
]

ENGAGEMENTS = [
    # name, buyer, provider, services, proposer's email
    ("Outbound marketing calls", "northwind", "dialwell",
     "Outbound marketing contacts (phone, SMS, email) to targeted customer segments; daily contact log.",
     "vm@northwind.demo"),
    ("Brightline outbound campaigns", "brightline", "dialwell",
     "Outbound campaigns for insurance products.", "vm@brightline.demo"),
    ("Collections", "northwind", "recova",
     "Early-stage collections calls and payment arrangements.", "vm@northwind.demo"),
]


# Each app adds its part of the story, in this order (resilience builds on monitoring's findings).
STORY_APPS = ("monitoring", "resilience", "providers", "colearning")


@dataclass
class Story:
    """What the core story made, handed to each app's `demo.load(story)`."""

    organizations: dict[str, Organization]  # by slug
    users: dict[str, User]  # by email
    engagements: dict[str, Engagement]  # by name


@dataclass
class DemoLogin:
    email: str
    name: str
    role: str


@transaction.atomic
def load() -> list[DemoLogin]:
    """Create whatever part of the demo is missing; return the logins to print."""
    orgs: dict[str, Organization] = {}
    users: dict[str, User] = {}
    for email, name, _roles, _about in PEOPLE:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = accounts.user_create(email=email, password=DEMO_PASSWORD, full_name=name)
        users[email] = user
    for slug, name, industry in ORGANIZATIONS:
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            # The first owner listed for the organisation founds it.
            founder = next(users[e] for e, _n, roles, _a in PEOPLE if (slug, Role.OWNER) in roles)
            org = accounts.organization_create(actor=founder, name=name, industry=industry, slug=slug)
        orgs[slug] = org
    for email, _name, roles, _about in PEOPLE:
        for slug, role in roles:
            if not Membership.objects.filter(user=users[email], organization=orgs[slug]).exists():
                owner = Membership.objects.filter(organization=orgs[slug], role=Role.OWNER).first().user
                accounts.membership_add(actor=owner, organization=orgs[slug], user=users[email], role=role)
    engagements: dict[str, Engagement] = {}
    for name, buyer, provider, services, proposer_email in ENGAGEMENTS:
        existing = Engagement.objects.filter(name=name, buyer=orgs[buyer], provider=orgs[provider]).first()
        if existing is not None:
            engagements[name] = existing
            continue
        proposer = users[proposer_email]
        engagement = core.engagement_propose(
            actor=proposer, organization=orgs[buyer], counterpart=orgs[provider], our_side="buyer",
            name=name, services=services,
        )
        accepter = Membership.objects.filter(
            organization=orgs[provider], role__in=[Role.OWNER, Role.MANAGER]
        ).order_by("role").first().user
        engagements[name] = core.engagement_accept(actor=accepter, engagement=engagement)
    story = Story(organizations=orgs, users=users, engagements=engagements)
    for app in STORY_APPS:
        import_module(f"sourcewise.{app}.demo").load(story)
    return [
        DemoLogin(email, name, about) for email, name, _roles, about in PEOPLE
    ]
