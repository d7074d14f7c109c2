"""Monitoring's pages through a real client: upload, live run status, findings, downloads, scorecards."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from sourcewise.monitoring.models import CheckRun, Delivery, Feed, Finding

pytestmark = pytest.mark.django_db


def _upload(client, feed, data: bytes, name: str = "contacts.parquet", capture=None):
    """Upload in the page; the check runs when the upload's transaction commits; follow the redirect."""
    url = reverse("monitoring_delivery_upload", args=[feed.pk])
    with capture(execute=True):
        response = client.post(url, {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 302
    page = client.get(response["Location"], follow=True)
    page.location = response["Location"]
    return page


def test_provider_uploads_a_bad_day_and_the_buyer_downloads_the_affected_customers(
        world, feeds, login, helpers, django_capture_on_commit_callbacks):
    client = login(world.provider.member, world.provider.organization)
    response = _upload(client, feeds.contacts, helpers.bad_day(), capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200
    run = CheckRun.objects.get(feed=feeds.contacts)
    assert response.location == reverse("monitoring_run", args=[run.pk])
    page = response.content.decode()
    assert "It is being checked" in page and "Every targeted customer was contacted" in page

    client = login(world.buyer.viewer, world.buyer.organization)  # read-only is enough to read
    finding = Finding.objects.get(run=run, check_id="targets_contacted")
    page = client.get(reverse("monitoring_finding", args=[finding.pk])).content.decode()
    assert "12 of" in page and "Download the affected customers" in page and "<svg" in page
    download = client.get(reverse("monitoring_finding_download", args=[finding.pk]), {"what": "customers"})
    lines = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert lines[0] == ["customer_id"] and len(lines) == 13
    parquet = client.get(reverse("monitoring_finding_download", args=[finding.pk]), {"format": "parquet"})
    assert b"".join(parquet.streaming_content)[:4] == b"PAR1"


def test_the_run_page_polls_until_the_run_is_finished(world, feeds, login, helpers):
    from sourcewise.monitoring import services

    delivery = services.delivery_receive(
        actor=world.provider.member, organization=world.provider.organization, feed=feeds.contacts,
        stream=io.BytesIO(helpers.good_day()), filename="c.parquet")
    run = delivery.runs.get()
    client = login(world.buyer.member, world.buyer.organization)
    url = reverse("monitoring_run", args=[run.pk])
    fragment = client.get(url, HTTP_HX_REQUEST="true")
    text = fragment.content.decode()
    assert 'hx-trigger="every 1s"' in text and "Queued" in text and "<html" not in text
    assert "HX-Refresh" not in fragment
    services.run_execute(run_id=run.pk)
    fragment = client.get(url, HTTP_HX_REQUEST="true")
    assert "every 1s" not in fragment.content.decode() and fragment["HX-Refresh"] == "true"
    page = client.get(url).content.decode()
    assert "Passed" in page and "Every check" in page


def test_a_rejected_upload_says_why_and_is_kept(world, feeds, login, django_capture_on_commit_callbacks):
    client = login(world.provider.member, world.provider.organization)
    response = _upload(client, feeds.contacts, b"", name="contacts.csv", capture=django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(feed=feeds.contacts)
    assert delivery.status == "rejected"
    assert "The file is empty." in response.content.decode()
    assert response.location == reverse("monitoring_delivery", args=[delivery.pk])


def test_a_viewer_cannot_upload(world, feeds, login):
    client = login(world.buyer.viewer, world.buyer.organization)
    url = reverse("monitoring_delivery_upload", args=[feeds.contacts.pk])
    response = client.post(url, {"file": SimpleUploadedFile("c.csv", b"a\n1\n")})
    assert response.status_code == 403
    assert not Delivery.objects.filter(feed=feeds.contacts).exists()


def test_the_suite_editor_validates_as_you_type_and_previews(world, feeds, login, helpers, deliver):
    deliver(feeds.contacts, helpers.bad_day())
    client = login(world.buyer.member, world.buyer.organization)
    page = client.get(reverse("monitoring_feed", args=[feeds.contacts.pk])).content.decode()
    assert "Save as a new version" in page and 'hx-trigger="input changed delay:400ms"' in page
    bad = client.post(reverse("monitoring_suite_validate", args=[feeds.contacts.pk]),
                      {"text": helpers.SMALL_SUITE.replace("feed: campaigns", "feed: nowhere")})
    assert "no feed &#x27;nowhere&#x27; in this engagement" in bad.content.decode()
    good = client.post(reverse("monitoring_suite_validate", args=[feeds.contacts.pk]), {"text": helpers.SMALL_SUITE})
    assert "The suite is valid." in good.content.decode()
    preview = client.post(reverse("monitoring_suite_preview", args=[feeds.contacts.pk]), {"text": helpers.SMALL_SUITE})
    text = preview.content.decode()
    assert "Nothing was saved" in text and "targets_contacted" in text and "failed" in text
    assert feeds.contacts.suite_versions.count() == 2
    saved = client.post(reverse("monitoring_suite_save", args=[feeds.contacts.pk]),
                        {"text": helpers.SMALL_SUITE + "\n# tighter\n", "number": 2, "note": "tighter"}, follow=True)
    assert "Saved as version 3" in saved.content.decode()


def test_the_provider_reads_the_suite_but_does_not_edit_it(world, feeds, login):
    client = login(world.provider.manager, world.provider.organization)
    page = client.get(reverse("monitoring_feed", args=[feeds.contacts.pk])).content.decode()
    assert "Save as a new version" not in page and "contact_was_targeted" in page
    response = client.post(reverse("monitoring_suite_save", args=[feeds.contacts.pk]), {"text": "x", "number": 2})
    assert response.status_code == 403


def test_a_feed_is_added_in_the_page(world, login):
    client = login(world.buyer.member, world.buyer.organization)
    url = reverse("monitoring_feed_new", args=[world.engagement.pk])
    response = client.post(url, {
        "name": "Daily contact log", "slug": "contact-log", "kind": "delivery",
        "expected_schema": "contact_id: integer\ncustomer_id: integer", "customer_columns": "customer_id",
        "cadence": "daily", "due_time": "06:00", "due_weekday": "0", "time_zone": "Europe/London"})
    feed = Feed.objects.get(slug="contact-log")
    assert response.status_code == 302 and response["Location"] == feed.get_absolute_url()
    assert feed.expected_schema == {"contact_id": "integer", "customer_id": "integer"}
    bad = client.post(url, {"name": "x", "slug": "x", "kind": "delivery", "expected_schema": "oops",
                            "cadence": "daily", "due_time": "06:00", "due_weekday": "0", "time_zone": "UTC"})
    assert bad.status_code == 422 and "Write &#x27;oops&#x27; as column: type" in bad.content.decode()


def test_findings_list_scorecards_and_their_csv(world, feeds, login, helpers, deliver):
    import datetime as dt

    deliver(feeds.contacts, helpers.good_day(dt.date(2026, 11, 19)), period=dt.date(2026, 11, 19))
    deliver(feeds.contacts, helpers.bad_day(), period=helpers.DAY)
    client = login(world.buyer.manager, world.buyer.organization)
    listing = client.get(reverse("monitoring_findings")).content.decode()
    assert "Every targeted customer was contacted" in listing
    assert client.get(reverse("monitoring_findings"), {"feed": "not-a-number"}).status_code == 404
    only = client.get(reverse("monitoring_findings"), {"feed": feeds.targets.pk}).content.decode()
    assert "Every targeted customer was contacted" not in only
    exported = b"".join(client.get(reverse("monitoring_findings"), {"format": "csv"}).streaming_content).decode()
    assert exported.count("\n") == 1 + 3
    card = client.get(reverse("monitoring_engagement_scorecard", args=[world.engagement.pk])).content.decode()
    assert "50%" in card and "<svg" in card and "2026-11-20: failed (12 rows)" in card
    rows = b"".join(client.get(reverse("monitoring_engagement_scorecard", args=[world.engagement.pk]),
                               {"format": "csv"}).streaming_content).decode().splitlines()
    assert rows[0].startswith("engagement,feed,check_id") and len(rows) > 10
    provider = client.get(reverse("monitoring_provider_scorecard", args=[world.provider.organization.pk]))
    assert provider.status_code == 200 and "Dialwell" in provider.content.decode()
    landing = client.get(reverse("monitoring")).content.decode()
    assert "Daily contact log" in landing
    engagement_page = client.get(reverse("engagement_detail", args=[world.engagement.pk])).content.decode()
    assert "Daily contact log" in engagement_page and "last check" in engagement_page
    outsider = login(world.outsider.owner, world.outsider.organization)
    assert outsider.get(reverse("monitoring_provider_scorecard", args=[world.provider.organization.pk])).status_code == 404


def test_a_file_in_a_drop_folder_is_registered_in_the_page(world, feeds, login, helpers, settings,
                                                          django_capture_on_commit_callbacks):
    (settings.STORAGE_ROOT / "inbox").mkdir()
    (settings.STORAGE_ROOT / "inbox" / "log.parquet").write_bytes(helpers.bad_day())
    client = login(world.provider.member, world.provider.organization)
    url = reverse("monitoring_delivery_register", args=[feeds.contacts.pk])
    refused = client.post(url, {"location": "/etc/passwd"}, follow=True)
    assert "must be a file inside the storage root" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"location": "inbox/log.parquet"})
    # The worker copied it in and checked it; the page went back to the feed, saying so.
    delivery = Delivery.objects.get(feed=feeds.contacts)
    assert delivery.source == "location" and delivery.runs.get().status == "failed"
    assert response["Location"] == feeds.contacts.get_absolute_url()
    assert "registered: the worker copies it in" in client.get(response["Location"]).content.decode()


def test_a_feed_is_edited_with_its_version_checked(world, feeds, login):
    client = login(world.provider.manager, world.provider.organization)
    url = reverse("monitoring_feed_edit", args=[feeds.contacts.pk])
    form = {"name": "Contact log (daily)", "slug": "renamed", "kind": "delivery", "cadence": "weekdays",
            "due_time": "07:30", "due_weekday": "0", "time_zone": "Europe/London",
            "expected_schema": "contact_id: integer", "customer_columns": "", "version": 1}
    assert client.post(url, form).status_code == 302
    feeds.contacts.refresh_from_db()
    assert (feeds.contacts.name, feeds.contacts.slug, feeds.contacts.cadence) == (
        "Contact log (daily)", "contact-log", "weekdays")
    stale = client.post(url, form | {"name": "Someone else's edit"})
    assert stale.status_code == 422 and "Someone else saved this feed" in stale.content.decode()
