"""visible_to(): what each person may see, with and without the organisation they act for."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import models

from sourcewise.accounts import services as accounts
from sourcewise.accounts.models import ApiToken, Invitation, Membership, Organization
from sourcewise.core import checks
from sourcewise.core.models import AuditEvent, Engagement
from sourcewise.core.tenancy import Role, TenantModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def advisor(world):
    """One person in two unrelated organisations: the buyer and the outsider."""
    from sourcewise.accounts.models import User

    user = User.objects.create_user("advisor@example.test", "advisor-password-123")
    Membership.objects.create(user=user, organization=world.buyer.organization, role=Role.MEMBER)
    Membership.objects.create(user=user, organization=world.outsider.organization, role=Role.MEMBER)
    return user


def test_organizations_are_visible_only_to_their_members(world, advisor):
    assert set(Organization.objects.visible_to(world.buyer.viewer)) == {world.buyer.organization}
    assert set(Organization.objects.visible_to(advisor)) == {
        world.buyer.organization, world.outsider.organization,
    }
    assert set(Organization.objects.visible_to(advisor, world.outsider.organization)) == {
        world.outsider.organization
    }
    # Acting for an organisation one is not in shows nothing, not one's own.
    assert not Organization.objects.visible_to(world.buyer.owner, world.provider.organization).exists()


def test_memberships_are_visible_to_colleagues_only(world, advisor):
    buyer_members = set(Membership.objects.filter(organization=world.buyer.organization))
    assert set(Membership.objects.visible_to(world.buyer.viewer)) == buyer_members
    assert not Membership.objects.visible_to(world.provider.owner).filter(
        organization=world.buyer.organization
    ).exists()
    both = set(Membership.objects.visible_to(advisor))
    assert buyer_members <= both
    assert set(Membership.objects.filter(organization=world.outsider.organization)) <= both
    only_outsider = Membership.objects.visible_to(advisor, world.outsider.organization)
    assert {m.organization for m in only_outsider} == {world.outsider.organization}


def test_an_engagement_is_shared_by_both_sides_and_nobody_else(world, advisor):
    for side in (world.buyer, world.provider):
        for role in ("owner", "viewer"):
            visible = Engagement.objects.visible_to(getattr(side, role))
            assert list(visible) == [world.engagement]
    assert list(Engagement.objects.visible_to(world.outsider.owner)) == [world.private_engagement]

    assert set(Engagement.objects.visible_to(advisor)) == {world.engagement, world.private_engagement}
    assert list(Engagement.objects.visible_to(advisor, world.buyer.organization)) == [world.engagement]
    assert list(Engagement.objects.visible_to(advisor, world.outsider.organization.pk)) == [
        world.private_engagement
    ]


def test_audit_records_of_an_engagement_reach_both_sides_private_ones_only_the_owner(world):
    invitation, _ = accounts.invitation_create(
        actor=world.buyer.manager, organization=world.buyer.organization, email="new@example.test"
    )
    private = AuditEvent.objects.get(action="invitation.create", object_id=str(invitation.pk))
    proposed = AuditEvent.objects.get(action="engagement.propose", engagement=world.engagement)

    buyer_sees = set(AuditEvent.objects.visible_to(world.buyer.viewer))
    provider_sees = set(AuditEvent.objects.visible_to(world.provider.viewer))
    outsider_sees = set(AuditEvent.objects.visible_to(world.outsider.owner))

    assert {private, proposed} <= buyer_sees
    assert proposed in provider_sees and private not in provider_sees
    assert proposed not in outsider_sees and private not in outsider_sees
    assert AuditEvent.objects.filter(engagement=world.private_engagement).exists()
    assert all(e.engagement_id in (None, world.private_engagement.pk) for e in outsider_sees)
    assert not AuditEvent.objects.visible_to(
        world.buyer.owner, world.provider.organization
    ).exists()


def test_invitations_are_private_to_the_inviting_organisation(world):
    invitation, _ = accounts.invitation_create(
        actor=world.buyer.manager, organization=world.buyer.organization, email="new@example.test"
    )
    assert list(Invitation.objects.visible_to(world.buyer.viewer)) == [invitation]
    assert list(Invitation.objects.visible_to(world.buyer.viewer, world.buyer.organization)) == [
        invitation
    ]
    assert not Invitation.objects.visible_to(world.provider.owner).exists()
    assert not Invitation.objects.visible_to(world.outsider.owner).exists()


def test_api_tokens_are_personal_even_among_colleagues(world, advisor):
    mine, _ = accounts.api_token_create(
        actor=world.buyer.member, organization=world.buyer.organization, name="nightly upload"
    )
    advisors, _ = accounts.api_token_create(
        actor=advisor, organization=world.outsider.organization, name="advisor script"
    )
    assert list(ApiToken.objects.visible_to(world.buyer.member)) == [mine]
    assert list(ApiToken.objects.visible_to(world.buyer.member, world.buyer.organization)) == [mine]
    for colleague in ("owner", "manager", "viewer"):
        assert not ApiToken.objects.visible_to(getattr(world.buyer, colleague)).exists()
    assert list(ApiToken.objects.visible_to(advisor)) == [advisors]
    assert not ApiToken.objects.visible_to(advisor, world.buyer.organization).exists()


@pytest.mark.parametrize(
    "model", [Organization, Membership, Engagement, AuditEvent, Invitation, ApiToken]
)
def test_inactive_and_anonymous_people_see_nothing(world, model):
    accounts.api_token_create(
        actor=world.buyer.owner, organization=world.buyer.organization, name="script"
    )
    accounts.invitation_create(
        actor=world.buyer.owner, organization=world.buyer.organization, email="x@example.test"
    )
    owner = world.buyer.owner
    assert model.objects.visible_to(owner).exists()  # the owner sees something of each kind

    owner.is_active = False
    owner.save()
    assert not model.objects.visible_to(owner).exists()
    assert not model.objects.visible_to(owner, world.buyer.organization).exists()
    assert not model.objects.visible_to(AnonymousUser()).exists()
    assert not model.objects.visible_to(None).exists()


def test_every_sourcewise_model_declares_its_tenant_scope():
    assert [e for e in checks.tenant_models_declare_scope() if e.id == "sourcewise.E001"] == []


def test_a_model_that_is_not_a_tenant_model_fails_the_system_check(monkeypatch):
    from django.apps import apps as real_apps
    from django.test.utils import isolate_apps

    with isolate_apps("sourcewise.core"):

        class Scorecard(models.Model):  # noqa: DJ008 (a throwaway model)
            __module__ = "sourcewise.core.models"
            name = models.CharField(max_length=10)

            class Meta:
                app_label = "core"

        class ScopedScorecard(TenantModel):
            __module__ = "sourcewise.core.models"
            tenant_organization_field = "organization"
            organization = models.ForeignKey(Organization, on_delete=models.CASCADE)

            class Meta:
                app_label = "core"

    class FakeRegistry:
        def get_models(self):
            return [*real_apps.get_models(), Scorecard, ScopedScorecard]

    monkeypatch.setattr(checks, "apps", FakeRegistry())
    errors = [e for e in checks.tenant_models_declare_scope() if e.id == "sourcewise.E001"]
    assert [e.obj for e in errors] == [Scorecard]
    assert "core.Scorecard is not a TenantModel" in errors[0].msg
