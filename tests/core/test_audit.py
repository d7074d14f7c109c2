"""The audit trail: one record per write, hash-chained, append-only, and shown as History."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection

from sourcewise.accounts import services as accounts
from sourcewise.accounts.models import Membership
from sourcewise.core import audit, services
from sourcewise.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _newest() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()


def _verify() -> tuple[str, str]:
    """Run `sourcewise audit verify`; return (stdout, stderr) or raise CommandError."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", "verify", stdout=out, stderr=err)
    except CommandError as exc:
        raise CommandError(f"{exc}\n{err.getvalue()}") from None
    return out.getvalue(), err.getvalue()


def _verify_fails() -> str:
    err = io.StringIO()
    with pytest.raises(CommandError, match="tampered"):
        call_command("audit", "verify", stdout=io.StringIO(), stderr=err)
    return err.getvalue()


def test_proposing_an_engagement_writes_one_record_with_actor_scope_and_values(world):
    before = AuditEvent.objects.count()
    engagement = services.engagement_propose(
        actor=world.provider.manager, organization=world.provider.organization,
        counterpart=world.buyer.organization, our_side="provider", name="Collections pilot",
        start_date=dt.date(2026, 1, 1),
    )
    assert AuditEvent.objects.count() == before + 1
    event = _newest()
    assert event.action == "engagement.propose"
    assert event.actor == world.provider.manager
    assert event.actor_label == world.provider.manager.email
    assert event.organization == world.provider.organization
    assert event.engagement == engagement
    assert event.object_id == str(engagement.pk)
    assert event.changes["name"] == {"before": None, "after": "Collections pilot"}
    buyer = world.buyer.organization
    assert event.changes["buyer"] == {"before": None, "after": f"{buyer.name} (#{buyer.pk})"}
    assert event.changes["start_date"] == {"before": None, "after": "2026-01-01"}


def test_editing_records_only_what_changed_before_and_after(world):
    before = AuditEvent.objects.count()
    services.engagement_update(
        actor=world.buyer.manager, engagement=world.engagement,
        expected_version=world.engagement.version, name="Outbound calls", services="Outbound campaigns",
    )
    assert AuditEvent.objects.count() == before + 1
    event = _newest()
    assert (event.action, event.actor, event.organization) == (
        "engagement.update", world.buyer.manager, world.buyer.organization,
    )
    assert event.engagement == world.engagement
    assert event.changes == {"name": {"before": "Outbound marketing calls", "after": "Outbound calls"}}

    # Saving without a change writes nothing.
    services.engagement_update(
        actor=world.buyer.manager, engagement=world.engagement, expected_version=None,
        name="Outbound calls",
    )
    assert AuditEvent.objects.count() == before + 1


def test_role_change_and_invitation_are_recorded_for_the_organisation(world):
    member = Membership.objects.get(user=world.buyer.member)
    accounts.membership_set_role(actor=world.buyer.manager, membership=member, role="viewer")
    event = _newest()
    assert (event.action, event.actor, event.organization, event.engagement) == (
        "membership.change_role", world.buyer.manager, world.buyer.organization, None,
    )
    assert event.changes == {"role": {"before": "member", "after": "viewer"}}

    count = AuditEvent.objects.count()
    accounts.invitation_create(
        actor=world.buyer.owner, organization=world.buyer.organization,
        email="New.Person@Example.test", role="manager",
    )
    assert AuditEvent.objects.count() == count + 1
    event = _newest()
    assert (event.action, event.actor, event.organization) == (
        "invitation.create", world.buyer.owner, world.buyer.organization,
    )
    assert event.changes == {
        "email": {"before": None, "after": "new.person@example.test"},
        "role": {"before": None, "after": "manager"},
    }


def test_a_refused_write_records_nothing(world):
    count = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        services.engagement_end(actor=world.buyer.viewer, engagement=world.engagement)
    assert AuditEvent.objects.count() == count


def test_the_chain_of_real_writes_verifies(world):
    services.engagement_end(actor=world.provider.owner, engagement=world.engagement)
    report = audit.verify()
    assert report.ok, report.problems
    assert report.checked == AuditEvent.objects.count() == 4  # propose, accept, propose, end
    out, _ = _verify()
    assert f"Audit trail intact: {report.checked} records verified." in out


def test_a_record_changed_behind_the_products_back_is_named(world):
    target = AuditEvent.objects.get(action="engagement.propose", engagement=world.engagement)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET changes = %s WHERE id = %s",
            ['{"name": {"before": null, "after": "Something else"}}', target.pk],
        )
    target.refresh_from_db()
    assert target.changes["name"]["after"] == "Something else"  # the tampering took

    stderr = _verify_fails()
    assert f"record #{target.seq} (engagement.propose) was changed after it was written" in stderr
    # Only that record is named: the others still fit.
    assert stderr.count("was changed") == 1


def test_a_deleted_record_in_the_middle_is_named_as_missing(world):
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    middle = seqs[len(seqs) // 2]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq = %s", [middle])
    stderr = _verify_fails()
    assert f"record #{middle} is missing (deleted)" in stderr
    assert f"record #{middle + 1} does not follow the record before it" in stderr


def test_deleting_the_newest_record_is_caught_by_the_head(world):
    last = _newest().seq
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq = %s", [last])
    stderr = _verify_fails()
    assert f"the newest record should be #{last}, but the chain ends at #{last - 1}" in stderr


def test_the_model_refuses_to_change_or_delete_records(world):
    event = _newest()
    original = (event.action, event.changes, event.hash)
    event.action = "something.else"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.visible_to(world.buyer.owner).delete()
    fresh = AuditEvent.objects.get(pk=event.pk)
    assert (fresh.action, fresh.changes, fresh.hash) == original
    assert audit.verify().ok


def test_recording_outside_a_transaction_is_refused(world):
    # Inside a test the whole test is one transaction, so prove the guard directly.
    from unittest import mock

    with mock.patch.object(audit.transaction, "get_connection") as get_connection:
        get_connection.return_value.in_atomic_block = False
        with pytest.raises(RuntimeError, match="inside the write's transaction"):
            audit.record(actor=None, action="x", obj=world.engagement)


def test_the_engagement_history_tab_lists_who_did_what(world, login):
    services.engagement_update(
        actor=world.provider.manager, engagement=world.engagement, expected_version=None,
        description="Daily contact log delivered by 06:00",
    )
    client = login(world.buyer.viewer)
    html = client.get(f"/engagements/{world.engagement.pk}/?tab=history").content.decode()
    for action in ("engagement.propose", "engagement.accept", "engagement.update"):
        assert action in html
    assert world.buyer.owner.email in html and world.provider.manager.email in html
    assert "Daily contact log delivered by 06:00" in html

    # The other side sees the same shared history; an outsider sees no page at all.
    other = login(world.provider.viewer).get(f"/engagements/{world.engagement.pk}/?tab=history")
    assert "engagement.update" in other.content.decode()
    assert login(world.outsider.owner).get(
        f"/engagements/{world.engagement.pk}/?tab=history"
    ).status_code == 404


def test_the_organisation_history_tab_lists_its_records(world, client):
    org = accounts.organization_create(actor=world.outsider.owner, name="Harbour Telecom", industry="Telecoms")
    client.force_login(world.outsider.owner)
    client.post("/switch-organization/", {"organization": org.pk})
    html = client.get("/organization/?tab=history").content.decode()
    assert "organization.create" in html
    assert "Harbour Telecom" in html and "Telecoms" in html
    assert world.outsider.owner.email in html
    # A colleague of another organisation does not see it in their own history.
    client.force_login(world.buyer.owner)
    assert "organization.create" not in client.get("/organization/?tab=history").content.decode()


def test_history_exports_as_csv_and_pages_with_search(world, login):
    client = login(world.buyer.manager)
    url = f"/engagements/{world.engagement.pk}/?tab=history"
    response = client.get(url + "&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "#,When,Who,Action,Object type,Object,Changes"
    assert any("engagement.accept" in line for line in lines[1:])
    searched = client.get(url + "&q=accept")
    assert b"engagement.accept" in searched.content
    assert b"engagement.propose" not in searched.content


def test_organisation_members_export_as_csv(world, login):
    client = login(world.buyer.viewer)
    response = client.get("/organization/?format=csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "Name,Email,Role,Member since"
    assert sorted(line.split(",")[1] for line in lines[1:]) == sorted(
        u.email for u in world.buyer.users.values())
