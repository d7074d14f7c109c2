"""Shared fixtures: two unrelated organisations, an engagement between two others, every role."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

# pyproject's [tool.pytest.ini_options] env sets a test-only SECRET_KEY, and
# DJANGO_ALLOW_ASYNC_UNSAFE because Playwright's sync API runs an event loop in the
# test thread, where Django otherwise refuses ORM calls.

PASSWORD = "correct horse battery staple 42"
ROLES = ("owner", "manager", "member", "viewer")


@dataclass
class Side:
    organization: object
    users: dict = field(default_factory=dict)  # role -> user

    def __getattr__(self, role: str):
        try:
            return self.__dict__["users"][role]
        except KeyError:
            raise AttributeError(role) from None


@dataclass
class World:
    buyer: Side      # Northwind Bank: buys outbound marketing
    provider: Side   # Dialwell: runs the campaigns
    outsider: Side   # Unrelated: sees nothing of the engagement
    engagement: object
    private_engagement: object  # between the outsider and a fourth organisation


def _side(name: str, slug: str) -> Side:
    from sourcewise.accounts.models import Membership, Organization, User

    org = Organization.objects.create(name=name, slug=slug)
    side = Side(organization=org)
    for role in ROLES:
        user = User.objects.create_user(f"{role}@{slug}.test", PASSWORD, full_name=f"{role.title()} of {name}")
        Membership.objects.create(user=user, organization=org, role=role)
        side.users[role] = user
    return side


@pytest.fixture
def world(db) -> World:
    """The tenancy fixture every test can build on."""
    from sourcewise.accounts.models import Organization
    from sourcewise.core import services

    buyer = _side("Northwind Bank", "northwind")
    provider = _side("Dialwell Outsourcing", "dialwell")
    outsider = _side("Unrelated Ltd", "unrelated")
    fourth = Organization.objects.create(name="Fourth Party", slug="fourth")
    engagement = services.engagement_propose(
        actor=buyer.owner, organization=buyer.organization, counterpart=provider.organization,
        our_side="buyer", name="Outbound marketing calls", services="Outbound campaigns",
    )
    engagement = services.engagement_accept(actor=provider.manager, engagement=engagement)
    private = services.engagement_propose(
        actor=outsider.owner, organization=outsider.organization, counterpart=fourth,
        our_side="buyer", name="Unrelated collections", services="Collections",
    )
    return World(buyer, provider, outsider, engagement, private)


@pytest.fixture
def login(client):
    """Sign a test client in as a user, acting for their first organisation."""

    def _login(user, organization=None):
        client.force_login(user)
        if organization is not None:
            session = client.session
            session["active_organization_id"] = organization.pk
            session.save()
        return client

    return _login


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Password hashing is deliberately slow; tests make many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):
    """Tasks run inline in tests unless a test asks for the database backend."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path_factory):
    """Files that tests store (deliveries, check results) go to a temporary storage root."""
    settings.STORAGE_ROOT = tmp_path_factory.mktemp("storage")
    settings.MEDIA_ROOT = settings.STORAGE_ROOT
    settings.ENGINE_PLAN_CACHE_DIR = tmp_path_factory.mktemp("plans")


@pytest.fixture(autouse=True, scope="session")
def _private_plan_cache(tmp_path_factory):
    """The engine's own tests and CLI runs keep compiled plans in a temporary folder, not ~/.cache."""
    import os

    previous = os.environ.get("SOURCEWISE_CACHE_DIR")
    os.environ["SOURCEWISE_CACHE_DIR"] = str(tmp_path_factory.mktemp("engine-plans"))
    yield
    if previous is None:
        os.environ.pop("SOURCEWISE_CACHE_DIR", None)
    else:
        os.environ["SOURCEWISE_CACHE_DIR"] = previous


@pytest.fixture
def password() -> str:
    """The password of every user the `world` fixture makes."""
    return PASSWORD
