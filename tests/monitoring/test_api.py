"""Monitoring's JSON API with a real token: feeds, suites, multipart uploads, runs, findings."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from sourcewise.monitoring import story
from sourcewise.monitoring.models import Delivery, Feed

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer(world):
    from sourcewise.accounts import services as accounts

    def _bearer(user, organization):
        _token, secret = accounts.api_token_create(actor=user, organization=organization, name="test")
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    return _bearer


def test_a_feed_is_created_and_its_suite_saved_through_the_api(client, world, bearer, helpers):
    buyer = bearer(world.buyer.member, world.buyer.organization)
    response = client.post("/api/v1/monitoring/feeds", {
        "engagement_id": world.engagement.pk, "name": "Daily contact log", "slug": "contact-log",
        "expected_schema": story.CONTACT_SCHEMA, "customer_columns": ["customer_id"], "key": ["contact_id"],
        "time_zone": "Europe/London", "due_time": "06:00"}, content_type="application/json", **buyer)
    assert response.status_code == 201, response.content
    feed = response.json()
    assert feed["suite_version"] == 1 and feed["cadence"] == "daily"
    bad = client.post(f"/api/v1/monitoring/feeds/{feed['id']}/suite",
                      {"text": "version: 1\nname: x\ndatasets: {c: {feed: contact-log}}\nchecks: [{dataset: c, unique: []}]\n",
                       "number": 1}, content_type="application/json", **buyer)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "text"]
    check = client.post(f"/api/v1/monitoring/feeds/{feed['id']}/suite/checks",
                        {"check": {"dataset": "delivery", "not_null": ["customer_id"]}},
                        content_type="application/json", **buyer)
    assert check.status_code == 201 and check.json()["number"] == 2
    stale = client.post(f"/api/v1/monitoring/feeds/{feed['id']}/suite",
                        {"text": check.json()["text"] + "\n", "number": 1}, content_type="application/json", **buyer)
    assert stale.status_code == 409
    versions = client.get(f"/api/v1/monitoring/feeds/{feed['id']}/suite", **buyer).json()
    assert [v["number"] for v in versions["items"]] == [2, 1]
    problems = client.post(f"/api/v1/monitoring/feeds/{feed['id']}/suite/validate", {"text": "checks: ["},
                           content_type="application/json", **buyer).json()
    assert problems["valid"] is False and "Invalid YAML" in problems["problems"][0]


def test_multipart_upload_run_and_findings_through_the_api(client, world, feeds, bearer, helpers,
                                                           django_capture_on_commit_callbacks):
    provider = bearer(world.provider.member, world.provider.organization)
    url = f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/deliveries"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"file": SimpleUploadedFile("log.parquet", helpers.bad_day()),
                                     "period": "2026-11-20"}, **provider)
    assert response.status_code == 201, response.content
    delivery = response.json()
    assert delivery["status"] == "accepted" and delivery["period"] == "2026-11-20"
    run = client.get(f"/api/v1/monitoring/runs/{delivery['latest_run_id']}", **provider).json()
    assert run["status"] == "failed" and run["result"]["status"] == "failed" and len(run["finding_ids"]) == 3
    findings = client.get("/api/v1/monitoring/findings", {"feed_id": feeds.contacts.pk}, **provider).json()
    assert findings["count"] == 3
    missed = next(f for f in findings["items"] if f["check_id"] == "targets_contacted")
    detail = client.get(f"/api/v1/monitoring/findings/{missed['id']}", **provider).json()
    assert detail["failing_rows"] == 12 and all("customer_id" in row for row in detail["sample"])
    assert detail["trend"][-1]["status"] == "failed"
    customers = client.get(f"/api/v1/monitoring/findings/{missed['id']}/affected",
                           {"what": "customers"}, **provider)
    rows = list(csv.reader(io.StringIO(b"".join(customers.streaming_content).decode())))
    assert rows[0] == ["customer_id"] and len(rows) == 13
    card = client.get(f"/api/v1/monitoring/engagements/{world.engagement.pk}/scorecard", **provider).json()
    assert card["runs"] >= 1 and card["findings"] == 3
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"/api/v1/monitoring/deliveries/{delivery['id']}/runs", **provider)
    assert again.status_code == 201


def test_a_rejected_upload_answers_422_and_is_kept(client, world, feeds, bearer):
    provider = bearer(world.provider.member, world.provider.organization)
    response = client.post(f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/deliveries",
                           {"file": SimpleUploadedFile("log.csv", b"a,b\n1,2\n")}, **provider)
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert "column 'contact_id' is missing" in message
    kept = Delivery.objects.get(feed=feeds.contacts)
    assert kept.status == "rejected" and f"Delivery {kept.pk} was rejected" in message


def test_the_api_follows_the_tenancy_rule(client, world, feeds, bearer):
    outsider = bearer(world.outsider.owner, world.outsider.organization)
    assert client.get(f"/api/v1/monitoring/feeds/{feeds.contacts.pk}", **outsider).status_code == 404
    assert client.get("/api/v1/monitoring/feeds", **outsider).json()["count"] == 0
    response = client.post(f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/deliveries",
                           {"file": SimpleUploadedFile("log.csv", b"a\n1\n")}, **outsider)
    assert response.status_code == 404
    viewer = bearer(world.buyer.viewer, world.buyer.organization)
    assert client.get(f"/api/v1/monitoring/feeds/{feeds.contacts.pk}", **viewer).status_code == 200
    response = client.post(f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/deliveries",
                           {"file": SimpleUploadedFile("log.csv", b"a\n1\n")}, **viewer)
    assert response.status_code == 403
    assert not Delivery.objects.filter(feed=feeds.contacts, original_name="log.csv").exists()
    assert Feed.objects.filter(engagement=world.engagement).count() == 3
    card = f"/api/v1/monitoring/providers/{world.provider.organization.pk}/scorecard"
    assert client.get(card, **viewer).status_code == 200
    assert client.get(card, **outsider).status_code == 404


def test_monitoring_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for route in ("/api/v1/monitoring/feeds", "/api/v1/monitoring/feeds/{feed_id}/deliveries",
                  "/api/v1/monitoring/runs/{run_id}", "/api/v1/monitoring/findings/{finding_id}/affected",
                  "/api/v1/monitoring/engagements/{engagement_id}/scorecard"):
        assert route in paths
    upload = paths["/api/v1/monitoring/feeds/{feed_id}/deliveries"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]


def test_a_large_file_is_uploaded_in_parts_and_resumed(client, world, feeds, bearer, helpers,
                                                       django_capture_on_commit_callbacks):
    provider = bearer(world.provider.member, world.provider.organization)
    data = helpers.bad_day()
    start = client.post(f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/uploads",
                        {"filename": "big.parquet", "size_bytes": len(data)}, content_type="application/json",
                        **provider)
    assert start.status_code == 201, start.content
    upload = start.json()
    url = f"/api/v1/monitoring/uploads/{upload['id']}"
    half = len(data) // 2
    first = client.put(f"{url}?offset=0", data[:half], content_type="application/octet-stream", **provider)
    assert first.status_code == 200 and first.json()["received_bytes"] == half
    # The connection broke; the client asks where it stands and sends a wrong offset first.
    assert client.get(url, **provider).json()["received_bytes"] == half
    wrong = client.put(f"{url}?offset=0", data[:half], content_type="application/octet-stream", **provider)
    assert wrong.status_code == 409 and str(half) in wrong.json()["detail"]
    early = client.post(f"{url}/complete", **provider)
    assert early.status_code == 409
    client.put(f"{url}?offset={half}", data[half:], content_type="application/octet-stream", **provider)
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(f"{url}/complete", **provider)
    assert done.status_code == 201, done.content
    delivery = Delivery.objects.get(pk=done.json()["id"])
    import hashlib

    assert delivery.sha256 == hashlib.sha256(data).hexdigest()
    assert delivery.runs.get().status == "failed"
    too_big = client.post(f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/uploads",
                          {"filename": "big.parquet", "size_bytes": 10**15}, content_type="application/json",
                          **provider)
    assert too_big.status_code == 422 and "larger than the limit" in too_big.content.decode()


def test_a_file_in_the_storage_root_is_registered_and_nothing_outside(client, world, feeds, bearer, helpers,
                                                                    settings, tmp_path,
                                                                    django_capture_on_commit_callbacks):
    provider = bearer(world.provider.member, world.provider.organization)
    inbox = settings.STORAGE_ROOT / "inbox"
    inbox.mkdir()
    (inbox / "contacts-20261120.parquet").write_bytes(helpers.good_day())
    url = f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/locations"
    with django_capture_on_commit_callbacks(execute=True):  # the worker's copy, run inline
        ok = client.post(url, {"location": "inbox/contacts-20261120.parquet"}, content_type="application/json",
                         **provider)
    assert ok.status_code == 202, ok.content
    assert ok.json()["location"] == "inbox/contacts-20261120.parquet" and ok.json()["delivery_id"] is None
    upload = client.get(f"/api/v1/monitoring/uploads/{ok.json()['id']}", **provider).json()
    assert upload["status"] == "completed" and upload["delivery_id"]
    delivery = client.get(f"/api/v1/monitoring/deliveries/{upload['delivery_id']}", **provider).json()
    assert delivery["source"] == "location" and delivery["original_name"] == "contacts-20261120.parquet"
    outside = tmp_path / "elsewhere.parquet"
    outside.write_bytes(helpers.good_day())
    for location, message in ((str(outside), "inside the storage root"),
                              ("../elsewhere.parquet", "inside the storage root"),
                              ("gs://bucket/x.parquet", "Only s3:// object-store URLs"),
                              ("s3://bucket/inbox/", "Name one object"),
                              ("s3://bucket/x.txt", "is not a .parquet"),
                              ("deliveries/x.parquet", "Sourcewise's own files"),
                              ("inbox/missing.parquet", "No file at")):
        response = client.post(url, {"location": location}, content_type="application/json", **provider)
        assert response.status_code == 422 and message in response.content.decode(), location
    assert Delivery.objects.filter(feed=feeds.contacts).count() == 1


def test_a_part_larger_than_the_request_memory_limit_streams(client, world, feeds, bearer, settings):
    provider = bearer(world.provider.member, world.provider.organization)
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024
    start = client.post(f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/uploads",
                        {"filename": "big.csv", "size_bytes": size}, content_type="application/json", **provider)
    url = f"/api/v1/monitoring/uploads/{start.json()['id']}"
    part = client.put(f"{url}?offset=0", b"x" * size, content_type="application/octet-stream", **provider)
    assert part.status_code == 200, part.content
    assert part.json()["received_bytes"] == size
