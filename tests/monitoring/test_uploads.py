"""Uploads written once: the page's and the API's multipart uploads go straight into storage."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from django.core.files import uploadhandler
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from sourcewise.core import storage
from sourcewise.monitoring.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer(world):
    from sourcewise.accounts import services as accounts

    def _bearer(user, organization):
        _token, secret = accounts.api_token_create(actor=user, organization=organization, name="test")
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    return _bearer


@pytest.fixture
def written_once(monkeypatch, settings, tmp_path):
    """Fail if an upload is spooled by Django's own handlers or copied a second time into storage."""
    spool = tmp_path / "spool"
    spool.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(spool)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # Django's default handlers would spool every file
    spooled = []

    def spy(kind, real):
        def new_file(self, *args, **kwargs):
            spooled.append(kind)
            return real(self, *args, **kwargs)
        return new_file

    for handler in (uploadhandler.TemporaryFileUploadHandler, uploadhandler.MemoryFileUploadHandler):
        monkeypatch.setattr(handler, "new_file", spy(handler.__name__, handler.new_file))

    def copy(*args, **kwargs):
        raise AssertionError("the upload was copied into storage a second time")

    monkeypatch.setattr(storage, "stream_to_storage", copy)
    yield spooled
    assert not spooled, spooled
    assert not list(spool.iterdir())


def _left(settings, feed):
    """Files of this feed's deliveries, or of uploads in progress."""
    places = [settings.STORAGE_ROOT / "deliveries" / str(feed.engagement_id) / str(feed.pk),
              settings.STORAGE_ROOT / "uploads"]
    return [p for place in places if place.exists() for p in place.rglob("*") if p.is_file()]


def _parts(settings):
    return [p for p in settings.STORAGE_ROOT.rglob("*.part")]


def test_a_page_upload_is_written_once_into_storage(world, feeds, login, helpers, settings, written_once,
                                                    django_capture_on_commit_callbacks):
    data = helpers.bad_day()
    client = login(world.provider.member, world.provider.organization)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("monitoring_delivery_upload", args=[feeds.contacts.pk]),
                               {"file": SimpleUploadedFile("contacts.parquet", data)})
    assert response.status_code == 302
    delivery = Delivery.objects.get(feed=feeds.contacts)
    assert delivery.status == "accepted", delivery.reason
    assert delivery.path.read_bytes() == data and delivery.sha256 == hashlib.sha256(data).hexdigest()
    assert delivery.size_bytes == len(data) and delivery.stored_path.startswith("deliveries/")
    assert delivery.runs.get().status == "failed"
    assert not _parts(settings) and not [p for p in (settings.STORAGE_ROOT / "uploads").rglob("*") if p.is_file()]


def test_a_page_upload_of_a_jsonl_gz_is_accepted(world, feeds, login, helpers, settings, written_once,
                                                 django_capture_on_commit_callbacks):
    packed = gzip.compress(helpers.good_day_jsonl())
    client = login(world.provider.member, world.provider.organization)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("monitoring_delivery_upload", args=[feeds.contacts.pk]),
                               {"file": SimpleUploadedFile("contacts.jsonl.gz", packed)})
    delivery = Delivery.objects.get(feed=feeds.contacts)
    assert delivery.status == "accepted", delivery.reason
    assert delivery.path.read_bytes() == packed and delivery.working_path
    page = client.get(reverse("monitoring_delivery", args=[delivery.pk])).content.decode()
    assert "Working copy" in page and "Derived" in page
    feed_page = client.get(reverse("monitoring_feed", args=[feeds.contacts.pk])).content.decode()
    assert "working copy, derived" in feed_page
    assert response["Location"] == reverse("monitoring_run", args=[delivery.runs.get().pk])


def test_a_page_upload_over_the_limit_leaves_no_part_file(world, feeds, login, helpers, settings,
                                                          django_capture_on_commit_callbacks):
    settings.UPLOAD_MAX_BYTES = 1000
    client = login(world.provider.member, world.provider.organization)
    response = client.post(reverse("monitoring_delivery_upload", args=[feeds.contacts.pk]),
                           {"file": SimpleUploadedFile("contacts.parquet", helpers.good_day())}, follow=True)
    delivery = Delivery.objects.get(feed=feeds.contacts)
    assert delivery.status == "rejected" and "larger than the limit of 1,000 bytes" in delivery.reason
    assert delivery.stored_path == "" and delivery.sha256 == ""
    assert "larger than the limit" in response.content.decode()
    assert not _parts(settings)
    assert not _left(settings, feeds.contacts)


def test_an_aborted_page_upload_leaves_nothing(world, feeds, login, helpers, settings, monkeypatch):
    client = login(world.provider.member, world.provider.organization)
    url = reverse("monitoring_delivery_upload", args=[feeds.contacts.pk])
    data = helpers.good_day()
    # The connection drops inside the file: the body ends before the file's closing boundary.
    boundary = "XyZbOuNdArY"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"contacts.parquet\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data[: len(data) // 2]
    response = client.generic("POST", url, body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 302
    assert "Choose a file to upload" in client.get(response["Location"]).content.decode()
    assert not Delivery.objects.filter(feed=feeds.contacts).exists()
    assert not _parts(settings) and not _left(settings, feeds.contacts)
    # Or the server fails while reading it: what was written is removed all the same.
    calls = []

    def failing(self, raw_data, start):
        calls.append(start)
        if len(calls) > 1:
            raise OSError("connection reset by peer")
        return storage.StorageUploadHandler.__dict__["receive_data_chunk"](self, raw_data, start)

    monkeypatch.setattr(storage.StorageUploadHandler, "receive_data_chunk", failing)
    with pytest.raises(OSError):
        client.post(url, {"file": SimpleUploadedFile("contacts.parquet", data)})
    assert len(calls) == 2
    assert not _parts(settings) and not _left(settings, feeds.contacts)


def test_a_page_upload_still_needs_the_csrf_token(world, feeds, helpers, settings):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.provider.member)
    session = client.session
    session["active_organization_id"] = world.provider.organization.pk
    session.save()
    feed_page = client.get(reverse("monitoring_feed", args=[feeds.contacts.pk]))
    url = reverse("monitoring_delivery_upload", args=[feeds.contacts.pk])
    refused = client.post(url, {"file": SimpleUploadedFile("contacts.parquet", helpers.good_day())})
    assert refused.status_code == 403
    assert not Delivery.objects.filter(feed=feeds.contacts).exists()
    assert not _left(settings, feeds.contacts)
    token = feed_page.cookies["csrftoken"].value
    accepted = client.post(url, {"file": SimpleUploadedFile("contacts.parquet", helpers.good_day()),
                                 "csrfmiddlewaretoken": token})
    assert accepted.status_code == 302 and Delivery.objects.get(feed=feeds.contacts).status == "accepted"


def test_a_viewer_is_refused_before_the_body_is_read(world, feeds, login, helpers, settings):
    client = login(world.buyer.viewer, world.buyer.organization)
    response = client.post(reverse("monitoring_delivery_upload", args=[feeds.contacts.pk]),
                           {"file": SimpleUploadedFile("contacts.parquet", helpers.good_day())})
    assert response.status_code == 403
    assert not (settings.STORAGE_ROOT / "uploads").exists()


# -- the API's multipart route -----------------------------------------------------------------


def test_an_api_upload_is_written_once_into_storage(client, world, feeds, bearer, helpers, settings, written_once):
    provider = bearer(world.provider.member, world.provider.organization)
    packed = gzip.compress(helpers.good_day_jsonl())
    url = f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/deliveries"
    response = client.post(url, {"file": SimpleUploadedFile("contacts.jsonl.gz", packed)}, **provider)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sha256"] == hashlib.sha256(packed).hexdigest() and body["size_bytes"] == len(packed)
    assert (body["file_format"], body["compressed"]) == ("jsonl", True)
    delivery = Delivery.objects.get(pk=body["id"])
    assert delivery.path.read_bytes() == packed and delivery.working_path
    assert not _parts(settings)


def test_an_api_upload_over_the_limit_or_refused_leaves_nothing(client, world, feeds, bearer, helpers, settings):
    provider = bearer(world.provider.member, world.provider.organization)
    url = f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/deliveries"
    settings.UPLOAD_MAX_BYTES = 1000
    too_big = client.post(url, {"file": SimpleUploadedFile("contacts.parquet", helpers.good_day())}, **provider)
    assert too_big.status_code == 422 and "larger than the limit" in too_big.content.decode()
    assert not _parts(settings)
    settings.UPLOAD_MAX_BYTES = 10**9
    outsider = bearer(world.outsider.owner, world.outsider.organization)
    hidden = client.post(url, {"file": SimpleUploadedFile("contacts.parquet", helpers.good_day())}, **outsider)
    assert hidden.status_code == 404
    assert not _left(settings, feeds.contacts)
    assert Delivery.objects.filter(feed=feeds.contacts).count() == 1
