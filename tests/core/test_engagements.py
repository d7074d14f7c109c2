"""Engagements: the services' rules, then the pages that call them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from sourcewise.accounts.models import Membership, Organization
from sourcewise.core import services
from sourcewise.core.errors import Conflict
from sourcewise.core.models import AuditEvent, Engagement
from sourcewise.core.tenancy import Role

pytestmark = pytest.mark.django_db

D = dt.date


def _propose(side, counterpart, **overrides):
    fields = dict(
        actor=side.manager, organization=side.organization, counterpart=counterpart,
        our_side="buyer", name="Collections", services="Early-stage collections calls",
    )
    return services.engagement_propose(**{**fields, **overrides})


# --- services ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_only_managers_propose(world, role):
    with pytest.raises(PermissionDenied):
        _propose(world.buyer, world.outsider.organization, actor=getattr(world.buyer, role))
    assert not Engagement.objects.filter(name="Collections").exists()


def test_a_manager_proposes_and_the_other_sides_manager_accepts(world):
    engagement = _propose(world.buyer, world.outsider.organization, our_side="provider")
    assert (engagement.buyer, engagement.provider) == (world.outsider.organization, world.buyer.organization)
    assert engagement.status == Engagement.Status.PROPOSED
    assert engagement.proposed_by == world.buyer.organization

    # The proposing side cannot accept its own proposal, even as owner.
    with pytest.raises(PermissionDenied):
        services.engagement_accept(actor=world.buyer.owner, engagement=engagement)
    # The other side's member is not enough.
    with pytest.raises(PermissionDenied):
        services.engagement_accept(actor=world.outsider.member, engagement=engagement)
    engagement.refresh_from_db()
    assert engagement.status == Engagement.Status.PROPOSED

    accepted = services.engagement_accept(actor=world.outsider.manager, engagement=engagement)
    assert accepted.status == Engagement.Status.ACTIVE
    assert accepted.start_date is not None
    with pytest.raises(ValidationError, match="is active, not proposed"):
        services.engagement_accept(actor=world.outsider.owner, engagement=engagement)


def test_accepting_counts_the_role_in_the_organisation_one_acts_for(world):
    # Someone who manages the provider but acts for the proposing buyer cannot accept as the buyer.
    Membership.objects.create(
        user=world.buyer.manager, organization=world.outsider.organization, role=Role.MANAGER
    )
    engagement = _propose(world.buyer, world.outsider.organization)
    with pytest.raises(PermissionDenied):
        services.engagement_accept(
            actor=world.buyer.manager, engagement=engagement, organization=world.buyer.organization
        )
    services.engagement_accept(
        actor=world.buyer.manager, engagement=engagement, organization=world.outsider.organization
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"counterpart": "self"}, "counterpart", "two different organisations"),
        ({"counterpart": None}, "counterpart", "Name the other organisation"),
        ({"name": "   "}, "name", "Give the engagement a name."),
        ({"start_date": D(2026, 5, 1), "end_date": D(2026, 4, 30)}, "end_date", "before the start date"),
        ({"our_side": "broker"}, "our_side", "buyer or the provider"),
    ],
)
def test_proposals_with_bad_details_are_refused_and_nothing_is_saved(world, overrides, field, message):
    if overrides.get("counterpart") == "self":
        overrides["counterpart"] = world.buyer.organization
    count, events = Engagement.objects.count(), AuditEvent.objects.count()
    with pytest.raises(ValidationError) as caught:
        _propose(world.buyer, **{"counterpart": world.outsider.organization, **overrides})
    assert message in " ".join(caught.value.message_dict[field])
    assert (Engagement.objects.count(), AuditEvent.objects.count()) == (count, events)


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_only_managers_edit_and_end(world, role):
    for side in (world.buyer, world.provider):
        user = getattr(side, role)
        with pytest.raises(PermissionDenied):
            services.engagement_update(actor=user, engagement=world.engagement,
                                       expected_version=None, name="Renamed")
        with pytest.raises(PermissionDenied):
            services.engagement_end(actor=user, engagement=world.engagement)
    with pytest.raises(PermissionDenied):
        services.engagement_end(actor=world.outsider.owner, engagement=world.engagement)
    world.engagement.refresh_from_db()
    assert (world.engagement.name, world.engagement.status) == ("Outbound marketing calls", "active")


def test_edits_validate_and_an_edit_from_a_stale_version_is_refused(world):
    version = world.engagement.version
    updated = services.engagement_update(
        actor=world.provider.manager, engagement=world.engagement, expected_version=version,
        name="Outbound calls", start_date=D(2026, 1, 1),
    )
    assert updated.version == version + 1

    with pytest.raises(Conflict, match="Someone else saved this engagement"):
        services.engagement_update(
            actor=world.buyer.manager, engagement=world.engagement, expected_version=version,
            name="My older idea",
        )
    with pytest.raises(ValidationError) as caught:
        services.engagement_update(
            actor=world.buyer.manager, engagement=world.engagement,
            expected_version=updated.version, end_date=D(2025, 12, 31),
        )
    assert "end_date" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.engagement_update(
            actor=world.buyer.manager, engagement=world.engagement,
            expected_version=updated.version, name="",
        )
    assert "name" in caught.value.message_dict
    with pytest.raises(ValidationError):
        services.engagement_update(
            actor=world.buyer.manager, engagement=world.engagement,
            expected_version=updated.version, status="ended",
        )
    world.engagement.refresh_from_db()
    assert (world.engagement.name, world.engagement.end_date, world.engagement.status) == (
        "Outbound calls", None, "active",
    )


def test_ending_keeps_the_engagement_and_cannot_happen_twice(world):
    ended = services.engagement_end(actor=world.buyer.manager, engagement=world.engagement)
    assert ended.status == Engagement.Status.ENDED and ended.end_date is not None
    with pytest.raises(ValidationError, match="already ended"):
        services.engagement_end(actor=world.provider.manager, engagement=world.engagement)
    with pytest.raises(ValidationError, match="before the start date"):
        services.engagement_end(
            actor=world.outsider.owner, engagement=Engagement.objects.create(
                name="Dated", buyer=world.outsider.organization, provider=world.buyer.organization,
                proposed_by=world.outsider.organization, start_date=D(2026, 6, 1),
            ), end_date=D(2026, 5, 1),
        )


# --- list page --------------------------------------------------------------------------


@pytest.fixture
def listing(world):
    """Four of the buyer's engagements that sort differently on every column."""
    acme = Organization.objects.create(name="Acme Contact", slug="acme")
    zed = Organization.objects.create(name="Zed Services", slug="zed")
    aardvark = Organization.objects.create(name="Aardvark Holdings", slug="aardvark")
    northwind = world.buyer.organization
    Engagement.objects.filter(pk=world.engagement.pk).update(
        start_date=D(2025, 9, 1), end_date=D(2027, 1, 1)
    )
    rows = [
        ("Alpha", northwind, zed, "active", D(2024, 3, 1), D(2026, 1, 1)),
        ("Bravo", northwind, acme, "proposed", D(2024, 1, 1), D(2028, 1, 1)),
        ("Charlie", aardvark, northwind, "ended", D(2023, 5, 1), D(2024, 6, 1)),
    ]
    for name, buyer, provider, status, start, end in rows:
        Engagement.objects.create(name=name, buyer=buyer, provider=provider, status=status,
                                  start_date=start, end_date=end, proposed_by=buyer)
    return world


def _names_in_table(html: str) -> list[str]:
    return re.findall(r'<td><a href="/engagements/\d+/">([^<]+)</a></td>', html)


SORT_KEYS = {
    "name": lambda e: e.name,
    "buyer.name": lambda e: e.buyer.name,
    "provider.name": lambda e: e.provider.name,
    "status": lambda e: e.status,
    "start_date": lambda e: e.start_date,
    "end_date": lambda e: e.end_date,
}


@pytest.mark.parametrize("key", SORT_KEYS)
def test_the_list_sorts_by_each_column_both_ways(listing, login, key):
    client = login(listing.buyer.viewer)
    mine = list(Engagement.objects.visible_to(listing.buyer.viewer).order_by("pk"))
    assert len(mine) == 4
    # Ties (two active engagements) keep the order they were created in, both ways.
    ascending = [e.name for e in sorted(mine, key=SORT_KEYS[key])]
    descending = [e.name for e in sorted(mine, key=SORT_KEYS[key], reverse=True)]

    html = client.get(f"/engagements/?sort={key}").content.decode()
    assert _names_in_table(html) == ascending
    assert 'aria-sort="ascending"' in html
    html = client.get(f"/engagements/?sort=-{key}").content.decode()
    assert _names_in_table(html) == descending
    assert 'aria-sort="descending"' in html


def test_an_unknown_sort_falls_back_to_name(listing, login):
    html = login(listing.buyer.viewer).get("/engagements/?sort=secret_field").content.decode()
    assert _names_in_table(html) == ["Alpha", "Bravo", "Charlie", "Outbound marketing calls"]


def test_the_list_searches_and_filters(listing, login):
    client = login(listing.buyer.viewer)
    assert _names_in_table(client.get("/engagements/?q=bravo").content.decode()) == ["Bravo"]
    assert _names_in_table(client.get("/engagements/?q=Aardvark").content.decode()) == ["Charlie"]
    assert _names_in_table(client.get("/engagements/?q=outbound+campaigns").content.decode()) == [
        "Outbound marketing calls"
    ]
    assert _names_in_table(client.get("/engagements/?status=ended").content.decode()) == ["Charlie"]
    assert _names_in_table(client.get("/engagements/?status=active&sort=-name").content.decode()) == [
        "Outbound marketing calls", "Alpha",
    ]
    none = client.get("/engagements/?q=Unrelated").content.decode()  # the outsider's engagement
    assert _names_in_table(none) == [] and "No engagement matches." in none


def test_the_list_paginates(world, login):
    for n in range(30):
        Engagement.objects.create(name=f"Campaign {n:02d}", buyer=world.provider.organization,
                                  provider=world.outsider.organization,
                                  proposed_by=world.provider.organization)
    client = login(world.provider.viewer)
    first = client.get("/engagements/").content.decode()
    assert len(_names_in_table(first)) == 25
    assert "Page 1 of 2 (31 in all)" in first
    second = client.get("/engagements/?page=2").content.decode()
    assert _names_in_table(first) == [f"Campaign {n:02d}" for n in range(25)]
    assert _names_in_table(second) == [
        "Campaign 25", "Campaign 26", "Campaign 27", "Campaign 28", "Campaign 29",
        "Outbound marketing calls",
    ]
    assert "Page 2 of 2" in second
    # A page past the end shows the last page rather than an error.
    assert _names_in_table(client.get("/engagements/?page=99").content.decode()) == _names_in_table(second)


def test_the_csv_export_has_every_matching_row_and_neutralises_formulas(listing, login):
    Engagement.objects.create(name='=HYPERLINK("http://evil.test","Click")', buyer=listing.buyer.organization,
                              provider=listing.outsider.organization, proposed_by=listing.buyer.organization,
                              start_date=D(2025, 1, 1))
    response = login(listing.buyer.viewer).get("/engagements/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="engagements.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["Engagement", "Buyer", "Provider", "Status", "Start", "End"]
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {"Alpha", "Bravo", "Charlie", "Outbound marketing calls",
                            '\'=HYPERLINK("http://evil.test","Click")'}
    assert by_name["Bravo"] == ["Bravo", "Northwind Bank", "Acme Contact", "Proposed", "2024-01-01", "2028-01-01"]

    filtered = login(listing.buyer.viewer).get("/engagements/?format=csv&status=ended")
    rows = list(csv.reader(io.StringIO(b"".join(filtered.streaming_content).decode())))
    assert [row[0] for row in rows[1:]] == ["Charlie"]


def test_an_htmx_request_gets_only_the_results(listing, login):
    client = login(listing.buyer.viewer)
    fragment = client.get("/engagements/?q=bravo", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment
    assert _names_in_table(fragment) == ["Bravo"]
    full = client.get("/engagements/?q=bravo").content.decode()
    assert "<html" in full and _names_in_table(full) == ["Bravo"]


# --- detail page ------------------------------------------------------------------------


def test_the_detail_page_shows_the_engagement_to_both_sides(world, login):
    for user in (world.buyer.viewer, world.provider.member):
        html = login(user).get(f"/engagements/{world.engagement.pk}/").content.decode()
        assert "Northwind Bank buys, Dialwell Outsourcing provides." in html
        assert "Outbound campaigns" in html
    html = login(world.provider.member).get(f"/engagements/{world.engagement.pk}/").content.decode()
    assert "You are the provider." in html


def test_the_detail_page_answers_404_for_missing_and_forbidden_alike(world, login):
    client = login(world.buyer.owner)
    forbidden = client.get(f"/engagements/{world.private_engagement.pk}/")
    missing = client.get("/engagements/999999/")
    assert forbidden.status_code == missing.status_code == 404

    def without_csrf(response):  # the masked CSRF token differs on every response
        html = response.content.decode()
        return re.sub(r'"X-CSRFToken": "[^"]+"|name="csrfmiddlewaretoken" value="[^"]+"', "", html)

    assert without_csrf(forbidden) == without_csrf(missing)
    assert "Unrelated collections" not in without_csrf(forbidden)


def test_the_detail_tabs_render_as_fragments_for_htmx(world, login):
    client = login(world.buyer.viewer)
    history = client.get(f"/engagements/{world.engagement.pk}/?tab=history",
                         headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in history
    assert "engagement.accept" in history and world.provider.manager.email in history
    overview = client.get(f"/engagements/{world.engagement.pk}/",
                          headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in overview and "Outbound campaigns" in overview


def test_the_proposed_side_sees_an_accept_button_the_proposer_does_not(world, login):
    proposal = _propose(world.buyer, world.outsider.organization)
    assert "Accept the engagement" not in login(world.buyer.manager).get(
        f"/engagements/{proposal.pk}/").content.decode()
    assert "Accept the engagement" in login(world.outsider.manager).get(
        f"/engagements/{proposal.pk}/").content.decode()
    viewer_page = login(world.outsider.viewer).get(f"/engagements/{proposal.pk}/").content.decode()
    assert "Accept the engagement" not in viewer_page
    assert "A manager of Unrelated Ltd can accept it." in viewer_page


# --- write pages ------------------------------------------------------------------------


def test_proposing_through_the_page(world, login):
    client = login(world.buyer.manager)
    assert client.get("/engagements/new/").status_code == 200
    response = client.post("/engagements/new/", {
        "our_side": "buyer", "counterpart": "unrelated", "name": "Collections",
        "services": "Early collections", "start_date": "2026-02-01",
    })
    engagement = Engagement.objects.get(name="Collections")
    assert response.status_code == 302 and response["Location"] == f"/engagements/{engagement.pk}/"
    assert (engagement.buyer, engagement.provider, engagement.status, engagement.start_date) == (
        world.buyer.organization, world.outsider.organization, "proposed", D(2026, 2, 1),
    )
    page = client.get(response["Location"]).content.decode()
    assert "Proposed. Unrelated Ltd can now accept it." in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"counterpart": "no-such-org"}, "No organisation has the short name &#x27;no-such-org&#x27;."),
        ({"counterpart": "northwind"}, "An engagement needs two different organisations."),
        ({"name": ""}, "This field is required."),
        ({"start_date": "2026-05-01", "end_date": "2026-04-01"}, "The end date comes before the start date."),
        ({"start_date": "first of May"}, "Enter a valid date."),
    ],
)
def test_the_propose_page_shows_errors_and_saves_nothing(world, login, data, message):
    count = Engagement.objects.count()
    response = login(world.buyer.manager).post("/engagements/new/", {
        "our_side": "buyer", "counterpart": "unrelated", "name": "Collections", **data,
    })
    assert response.status_code == 422
    assert message in response.content.decode()
    assert Engagement.objects.count() == count


def test_editing_through_the_page(world, login):
    client = login(world.provider.manager)
    form = client.get(f"/engagements/{world.engagement.pk}/edit/").content.decode()
    assert 'value="Outbound marketing calls"' in form
    assert f'name="version" value="{world.engagement.version}"' in form
    response = client.post(f"/engagements/{world.engagement.pk}/edit/", {
        "name": "Outbound calls", "services": "Outbound campaigns", "description": "SMS too",
        "start_date": "2026-01-01", "end_date": "", "version": world.engagement.version,
    })
    assert response.status_code == 302
    world.engagement.refresh_from_db()
    assert (world.engagement.name, world.engagement.description) == ("Outbound calls", "SMS too")
    assert "Saved." in client.get(response["Location"]).content.decode()


def test_a_stale_edit_shows_the_conflict_and_overwrites_nothing(world, login):
    stale_version = world.engagement.version
    services.engagement_update(actor=world.buyer.manager, engagement=world.engagement,
                               expected_version=stale_version, name="Buyer's new name")
    response = login(world.provider.manager).post(f"/engagements/{world.engagement.pk}/edit/", {
        "name": "Provider's older name", "services": "", "version": stale_version,
    })
    assert response.status_code == 422
    assert "Someone else saved this engagement after you opened it (it is now version" in response.content.decode()
    world.engagement.refresh_from_db()
    assert world.engagement.name == "Buyer's new name"
    assert world.engagement.services == "Outbound campaigns"


def test_accepting_through_the_page(world, login):
    proposal = _propose(world.buyer, world.outsider.organization)
    own = login(world.buyer.owner).post(f"/engagements/{proposal.pk}/accept/")
    assert own.status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == "proposed"

    client = login(world.outsider.manager)
    response = client.post(f"/engagements/{proposal.pk}/accept/")
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.status == "active"
    assert "Accepted: the engagement is active." in client.get(response["Location"]).content.decode()

    again = client.post(f"/engagements/{proposal.pk}/accept/", follow=True).content.decode()
    assert "This engagement is active, not proposed." in again


def test_ending_through_the_page(world, login):
    client = login(world.buyer.manager)
    response = client.post(f"/engagements/{world.engagement.pk}/end/", follow=True)
    assert "The engagement has ended. Its history stays." in response.content.decode()
    world.engagement.refresh_from_db()
    assert world.engagement.status == "ended"
    assert "End the engagement" not in client.get(f"/engagements/{world.engagement.pk}/").content.decode()


def test_acting_for_an_organisation_uses_the_role_held_there(world, client):
    # A buyer manager who is only a viewer at the provider, acting for the provider, may not write.
    Membership.objects.create(user=world.buyer.manager, organization=world.provider.organization,
                              role=Role.VIEWER)
    proposal = _propose(world.outsider, world.buyer.organization)
    client.force_login(world.buyer.manager)
    client.post("/switch-organization/", {"organization": world.provider.organization.pk})
    url = f"/engagements/{world.engagement.pk}"
    assert client.post(f"{url}/edit/", {"name": "Renamed", "version": world.engagement.version}).status_code == 403
    assert client.post(f"{url}/end/").status_code == 403
    world.engagement.refresh_from_db()
    assert (world.engagement.name, world.engagement.status) == ("Outbound marketing calls", "active")
    # Acting for the buyer, where they manage, the same person may.
    client.post("/switch-organization/", {"organization": world.buyer.organization.pk})
    assert client.post(f"/engagements/{proposal.pk}/accept/").status_code == 302


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_get_403_on_every_write_page_and_nothing_changes(world, login, role):
    proposal = _propose(world.outsider, world.buyer.organization)
    client = login(getattr(world.buyer, role))
    before = (Engagement.objects.count(), AuditEvent.objects.count())
    writes = [
        ("/engagements/new/", {"our_side": "buyer", "counterpart": "unrelated", "name": "Sneaky"}),
        (f"/engagements/{world.engagement.pk}/edit/", {"name": "Sneaky", "version": world.engagement.version}),
        (f"/engagements/{world.engagement.pk}/end/", {}),
        (f"/engagements/{proposal.pk}/accept/", {}),
    ]
    for url, data in writes:
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert "Not allowed" in response.content.decode()
    assert (Engagement.objects.count(), AuditEvent.objects.count()) == before
    world.engagement.refresh_from_db()
    proposal.refresh_from_db()
    assert (world.engagement.name, world.engagement.status, proposal.status) == (
        "Outbound marketing calls", "active", "proposed",
    )


def test_outsiders_get_404_on_write_pages(world, login):
    client = login(world.outsider.owner)
    for url in (f"/engagements/{world.engagement.pk}/edit/", f"/engagements/{world.engagement.pk}/end/"):
        assert client.post(url, {"name": "x"}).status_code == 404
    world.engagement.refresh_from_db()
    assert world.engagement.status == "active"


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_the_propose_form_is_refused_before_it_is_filled_in(world, login, role):
    client = login(getattr(world.buyer, role))
    response = client.get("/engagements/new/")
    assert response.status_code == 403
    assert b"manager role" in response.content
