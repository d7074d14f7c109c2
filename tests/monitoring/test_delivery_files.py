"""Delivery files: .jsonl.gz kept as delivered with a working copy, and object-store locations."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from sourcewise.core.models import AuditEvent
from sourcewise.monitoring import services, story
from sourcewise.monitoring.models import Delivery, UploadSession

pytestmark = pytest.mark.django_db


def _stored_files(settings, feed):
    root = settings.STORAGE_ROOT / "deliveries" / str(feed.engagement_id) / str(feed.pk)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_jsonl_gz_is_kept_as_delivered_and_checked_from_its_working_copy(feeds, deliver, helpers, settings):
    text = helpers.bad_day_jsonl()
    packed = gzip.compress(text)
    delivery = deliver(feeds.contacts, packed, filename="contacts-2026-11-20.jsonl.gz")
    assert delivery.status == "accepted", delivery.reason
    assert (delivery.file_format, delivery.compressed) == ("jsonl", True)
    # The evidence is the file as delivered: its bytes, its size, its hash.
    assert delivery.path.read_bytes() == packed and delivery.stored_path.endswith(".jsonl.gz")
    assert delivery.sha256 == hashlib.sha256(packed).hexdigest() and delivery.size_bytes == len(packed)
    # Beside it, the decompressed working copy the engine reads.
    assert delivery.working_path == delivery.stored_path[: -len(".gz")]
    assert delivery.engine_path.read_bytes() == text and delivery.working_size_bytes == len(text)
    assert delivery.columns["customer_id"] == "integer"
    run = delivery.runs.get()
    run.refresh_from_db()
    assert run.status == "failed", run.reason
    assert {f.check_id for f in run.findings.all()} == {
        "contact_was_targeted", "campaign_is_northwinds", "targets_contacted"}
    assert [p.name for p in _stored_files(settings, feeds.contacts)] == sorted(
        [delivery.path.name, delivery.engine_path.name])
    delivery.working_path = "elsewhere.jsonl"
    with pytest.raises(TypeError):
        delivery.save()


def test_other_files_get_no_working_copy(feeds, deliver, helpers):
    text = story.csv_bytes(story.contact_log(helpers.DAY, helpers.LAYOUT))
    for data, name in ((helpers.good_day(), "c.parquet"), (gzip.compress(text), "c.csv.gz"),
                       (helpers.good_day_jsonl(), "c.jsonl")):
        delivery = deliver(feeds.contacts, data, filename=name)
        assert delivery.status == "accepted", (name, delivery.reason)
        assert delivery.working_path == "" and delivery.engine_path == delivery.path


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("contacts.jsonl.gz", b'{"contact_id": 1}\n', "not gzip-compressed"),
        ("contacts.jsonl.gz", gzip.compress(b"contact_id,customer_id\n1,2\n"), "not JSON Lines"),
        ("contacts.jsonl.gz", gzip.compress(b""), "empty once decompressed"),
        ("contacts.jsonl", gzip.compress(b'{"contact_id": 1}\n'), "its name does not end in .gz"),
        ("contacts.parquet.gz", b"\x1f\x8b anything", "is not a .parquet, .csv, .csv.gz, .jsonl or .jsonl.gz file"),
        ("contacts.json.gz", b"\x1f\x8b anything", "is not a .parquet"),
    ],
)
def test_a_bad_jsonl_gz_is_rejected_with_the_reason_and_no_working_copy(feeds, deliver, settings, filename,
                                                                         data, reason):
    delivery = deliver(feeds.contacts, data, filename=filename)
    assert delivery.status == "rejected" and reason in delivery.reason, delivery.reason
    assert delivery.working_path == "" and not delivery.runs.exists()
    # Only the attempt itself is kept (as delivered), nothing derived from it.
    assert _stored_files(settings, feeds.contacts) == ([delivery.path] if delivery.stored_path else [])


def test_a_truncated_jsonl_gz_is_rejected(feeds, deliver, helpers, settings):
    packed = gzip.compress(helpers.good_day_jsonl())
    cut = deliver(feeds.contacts, packed[: len(packed) // 2], filename="contacts.jsonl.gz")
    assert cut.status == "rejected" and "truncated or damaged" in cut.reason
    assert cut.working_path == ""
    # The attempt is kept as delivered (evidence); nothing was decompressed from it.
    assert [p.name for p in _stored_files(settings, feeds.contacts)] == [cut.path.name]


def test_a_jsonl_gz_that_inflates_past_the_limit_is_kept_and_rejected(feeds, deliver, helpers, settings):
    text = helpers.good_day_jsonl()
    packed = gzip.compress(text)
    settings.UPLOAD_MAX_EXPANDED_BYTES = len(text) - 1
    delivery = deliver(feeds.contacts, packed, filename="contacts.jsonl.gz")
    assert delivery.status == "rejected" and "decompresses to more than the limit" in delivery.reason
    assert delivery.working_path == "" and not delivery.runs.exists()
    # The delivered file stays as evidence; no partial working copy is left beside it.
    assert [p.name for p in _stored_files(settings, feeds.contacts)] == [delivery.path.name]
    assert not list(settings.STORAGE_ROOT.rglob("*.part"))


def test_a_jsonl_gz_is_accepted_in_parts_and_from_a_drop_folder(world, feeds, helpers, settings,
                                                              django_capture_on_commit_callbacks):
    import io

    packed = gzip.compress(helpers.good_day_jsonl())
    provider = dict(actor=world.provider.member, organization=world.provider.organization)
    session = services.upload_session_start(**provider, feed=feeds.contacts, filename="day.jsonl.gz",
                                            size_bytes=len(packed))
    services.upload_session_append(**provider, session=session, offset=0, stream=io.BytesIO(packed))
    with django_capture_on_commit_callbacks(execute=True):
        parts = services.upload_session_complete(**provider, session=session)
    assert parts.status == "accepted" and parts.working_path and parts.runs.get().status == "passed"
    (settings.STORAGE_ROOT / "inbox").mkdir()
    (settings.STORAGE_ROOT / "inbox" / "day.jsonl.gz").write_bytes(packed)
    with django_capture_on_commit_callbacks(execute=True):
        registered = services.delivery_register(**provider, feed=feeds.contacts, location="inbox/day.jsonl.gz")
    registered.refresh_from_db()
    dropped = registered.delivery  # copied in by the worker
    assert registered.status == "completed" and dropped.source == "location"
    assert dropped.status == "accepted" and dropped.engine_path.read_bytes() == helpers.good_day_jsonl()
    assert dropped.sha256 == parts.sha256 == hashlib.sha256(packed).hexdigest()


# -- object-store locations -------------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch, settings):
    """A moto S3 in this process, with a bucket; the server's settings point at AWS defaults."""
    moto = pytest.importorskip("moto")
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", "eu-west-2")):
        monkeypatch.setenv(name, value)
    settings.S3_ENDPOINT_URL, settings.S3_REGION = "", "eu-west-2"
    with moto.mock_aws():
        client = boto3.client("s3", region_name="eu-west-2")
        client.create_bucket(Bucket="dialwell-drop", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        yield client


def _register(world, feeds, location, capture):
    with capture(execute=True):
        return services.delivery_register(actor=world.provider.member, organization=world.provider.organization,
                                          feed=feeds.contacts, location=location)


def test_an_s3_object_is_copied_in_by_the_worker_and_checked(world, feeds, helpers, s3, settings,
                                                             django_capture_on_commit_callbacks):
    data = helpers.bad_day()
    s3.put_object(Bucket="dialwell-drop", Key="2026/11/contacts-20261120.parquet", Body=data)
    session = _register(world, feeds, "s3://dialwell-drop/2026/11/contacts-20261120.parquet",
                        django_capture_on_commit_callbacks)
    assert isinstance(session, UploadSession)
    session.refresh_from_db()
    assert session.status == "completed" and session.location.startswith("s3://dialwell-drop/")
    delivery = session.delivery
    assert delivery.status == "accepted" and delivery.source == "location"
    assert delivery.original_name == "contacts-20261120.parquet"
    assert delivery.sha256 == hashlib.sha256(data).hexdigest() and delivery.path.read_bytes() == data
    assert delivery.runs.get().status == "failed"
    assert AuditEvent.objects.filter(action="delivery.register", object_id=str(session.pk)).exists()
    # Done once: the task run again changes nothing.
    assert services.delivery_fetch(session_id=session.pk) == delivery
    assert Delivery.objects.filter(feed=feeds.contacts).count() == 1


def test_a_missing_or_denied_object_is_a_rejected_delivery_with_the_reason(world, feeds, s3, settings, monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    session = _register(world, feeds, "s3://dialwell-drop/nothing-here.parquet", django_capture_on_commit_callbacks)
    session.refresh_from_db()
    missing = session.delivery
    assert missing.status == "rejected"
    assert missing.reason == "There is no object s3://dialwell-drop/nothing-here.parquet."
    no_bucket = _register(world, feeds, "s3://no-such-bucket/x.parquet", django_capture_on_commit_callbacks)
    no_bucket.refresh_from_db()
    assert "There is no bucket 'no-such-bucket'" in no_bucket.delivery.reason
    # Access denied (the bucket's policy or the server's key), as S3 answers it.
    from botocore.stub import Stubber

    from sourcewise.monitoring import objectstore

    denying = objectstore.client()
    stubber = Stubber(denying)
    stubber.add_client_error("get_object", service_error_code="AccessDenied", service_message="Access Denied",
                             http_status_code=403)
    monkeypatch.setattr(objectstore, "client", lambda: denying)
    with stubber:
        denied = _register(world, feeds, "s3://dialwell-drop/secret.parquet", django_capture_on_commit_callbacks)
    denied.refresh_from_db()
    assert denied.delivery.status == "rejected" and "denied access" in denied.delivery.reason
    # Nothing of them is stored.
    assert all(d.stored_path == "" for d in Delivery.objects.filter(feed=feeds.contacts))
    assert not _stored_files(settings, feeds.contacts)


def test_an_object_over_the_limit_or_broken_off_leaves_nothing(world, feeds, helpers, s3, settings, monkeypatch,
                                                               django_capture_on_commit_callbacks):
    s3.put_object(Bucket="dialwell-drop", Key="big.parquet", Body=helpers.good_day())
    settings.UPLOAD_MAX_BYTES = 1000
    big = _register(world, feeds, "s3://dialwell-drop/big.parquet", django_capture_on_commit_callbacks)
    big.refresh_from_db()
    assert big.delivery.status == "rejected" and "larger than the limit" in big.delivery.reason
    settings.UPLOAD_MAX_BYTES = 10**9
    from botocore.exceptions import ReadTimeoutError
    from botocore.response import StreamingBody

    real_read = StreamingBody.read

    def broken(self, amt=None):
        block = real_read(self, 100)
        if not block:
            raise ReadTimeoutError(endpoint_url="s3://dialwell-drop")
        return block

    monkeypatch.setattr(StreamingBody, "read", broken)
    cut = _register(world, feeds, "s3://dialwell-drop/big.parquet", django_capture_on_commit_callbacks)
    cut.refresh_from_db()
    assert cut.delivery.status == "rejected" and "could not be read to the end" in cut.delivery.reason
    assert not _stored_files(settings, feeds.contacts)
    assert not list((settings.STORAGE_ROOT / "deliveries").rglob("*.part"))


def test_a_location_neither_in_storage_nor_s3_is_refused(world, feeds, tmp_path):
    provider = dict(actor=world.provider.member, organization=world.provider.organization, feed=feeds.contacts)
    for location, message in (("/etc/passwd", "must be a file inside the storage root or an object-store URL"),
                              ("https://example.com/x.parquet", "Only s3:// object-store URLs"),
                              ("s3://Bad_Bucket/x.parquet", "is not a bucket name"),
                              ("s3://bucket", "Name one object"),
                              ("s3://bucket/x.xlsx", "is not a .parquet")):
        with pytest.raises(ValidationError) as caught:
            services.delivery_register(**provider, location=location)
        assert message in " ".join(caught.value.messages), location
    assert not UploadSession.objects.exists() and not Delivery.objects.filter(feed=feeds.contacts).exists()


def test_an_s3_compatible_endpoint_comes_from_the_settings(settings, monkeypatch):
    """MinIO and the like: S3_ENDPOINT_URL and S3_REGION, the bucket in the path, AWS credentials."""
    from sourcewise.monitoring import objectstore

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "minio")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "minio-secret")
    settings.S3_ENDPOINT_URL, settings.S3_REGION = "http://minio.internal:9000", "eu-west-2"
    client = objectstore.client()
    assert client.meta.endpoint_url == "http://minio.internal:9000" and client.meta.region_name == "eu-west-2"
    sent = []

    class Sent(Exception):
        pass

    def capture(request, **kwargs):
        sent.append((request.url, request.headers.get("Authorization", b"")))
        raise Sent

    client.meta.events.register("before-send.s3.GetObject", capture)
    with pytest.raises(Sent):
        client.get_object(Bucket="drop", Key="2026/contacts.parquet")
    url, authorization = sent[0]
    assert url == "http://minio.internal:9000/drop/2026/contacts.parquet"
    assert b"Credential=minio/" in (authorization if isinstance(authorization, bytes) else authorization.encode())
    settings.S3_ENDPOINT_URL = ""
    assert objectstore.client().meta.endpoint_url == "https://s3.eu-west-2.amazonaws.com"


def test_an_s3_location_through_the_api_answers_202_then_points_at_the_delivery(
        client, world, feeds, helpers, s3, django_capture_on_commit_callbacks):
    from sourcewise.accounts import services as accounts

    _token, secret = accounts.api_token_create(actor=world.provider.member,
                                               organization=world.provider.organization, name="test")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    s3.put_object(Bucket="dialwell-drop", Key="day.parquet", Body=helpers.good_day())
    url = f"/api/v1/monitoring/feeds/{feeds.contacts.pk}/locations"
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(url, {"location": "s3://dialwell-drop/day.parquet"},
                               content_type="application/json", **auth)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "open" and body["delivery_id"] is None
    assert body["location"] == "s3://dialwell-drop/day.parquet" and body["filename"] == "day.parquet"
    for callback in queued:  # the worker runs the task
        callback()
    later = client.get(f"/api/v1/monitoring/uploads/{body['id']}", **auth).json()
    assert later["status"] == "completed" and later["delivery_id"]
    delivery = client.get(f"/api/v1/monitoring/deliveries/{later['delivery_id']}", **auth).json()
    assert delivery["status"] == "accepted" and delivery["source"] == "location"
    bad = client.post(url, {"location": "ftp://host/day.parquet"}, content_type="application/json", **auth)
    assert bad.status_code == 422 and "Only s3:// object-store URLs" in bad.content.decode()
    outsider = accounts.api_token_create(actor=world.outsider.owner, organization=world.outsider.organization,
                                         name="test")[1]
    hidden = client.get(f"/api/v1/monitoring/uploads/{body['id']}", HTTP_AUTHORIZATION=f"Bearer {outsider}")
    assert hidden.status_code == 404


def test_an_s3_location_in_the_page_waits_for_the_worker(world, feeds, helpers, s3, login,
                                                         django_capture_on_commit_callbacks):
    from django.urls import reverse

    s3.put_object(Bucket="dialwell-drop", Key="day.parquet", Body=helpers.good_day())
    client = login(world.provider.member, world.provider.organization)
    url = reverse("monitoring_delivery_register", args=[feeds.contacts.pk])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(url, {"location": "s3://dialwell-drop/day.parquet"})
    assert response["Location"] == reverse("monitoring_feed", args=[feeds.contacts.pk])
    page = client.get(response["Location"]).content.decode()
    assert "registered: the worker copies it in" in page
    assert "Waiting for the worker to copy in" in page and "s3://dialwell-drop/day.parquet" in page
    for callback in queued:
        callback()
    page = client.get(response["Location"]).content.decode()
    assert "Waiting for the worker" not in page and "day.parquet" in page
    refused = client.post(url, {"location": "/etc/passwd"}, follow=True).content.decode()
    assert "must be a file inside the storage root or an object-store URL s3://bucket/key" in refused


def test_an_object_that_cannot_be_stored_here_is_rejected_with_the_reason(
        world, feeds, helpers, s3, settings, monkeypatch, django_capture_on_commit_callbacks):
    from sourcewise.core import storage

    s3.put_object(Bucket="dialwell-drop", Key="day.parquet", Body=helpers.good_day())

    def full(self, block):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.StorageWriter, "write", full)
    session = _register(world, feeds, "s3://dialwell-drop/day.parquet", django_capture_on_commit_callbacks)
    session.refresh_from_db()
    assert session.status == "completed" and session.delivery.status == "rejected"
    assert "could not be stored here" in session.delivery.reason and "No space left" in session.delivery.reason
    assert not _stored_files(settings, feeds.contacts)


# -- a fetch claimed once, and never left waiting ---------------------------------------------


def _registered(world, feeds, location, capture):
    """Register an s3:// location without running its task (the worker has not picked it up)."""
    with capture(execute=False):
        return services.delivery_register(actor=world.provider.member, organization=world.provider.organization,
                                          feed=feeds.contacts, location=location)


def _left_behind(settings, feed):
    """Files of the feed's deliveries and anything under uploads/, relative to the storage root."""
    root = settings.STORAGE_ROOT
    uploads = sorted(p for p in (root / "uploads").rglob("*") if p.is_file())
    return sorted(str(p.relative_to(root)) for p in _stored_files(settings, feed) + uploads)


def test_a_fetch_run_twice_copies_the_object_once(world, feeds, helpers, s3, settings, monkeypatch,
                                                  django_capture_on_commit_callbacks):
    s3.put_object(Bucket="dialwell-drop", Key="day.parquet", Body=helpers.good_day())
    session = _registered(world, feeds, "s3://dialwell-drop/day.parquet", django_capture_on_commit_callbacks)
    # The task queued twice (or retried after it finished): the second finds it completed.
    first = services.delivery_fetch(session_id=session.pk)
    second = services.delivery_fetch(session_id=session.pk)
    assert first is not None and second == first
    assert Delivery.objects.filter(feed=feeds.contacts).count() == 1
    session.refresh_from_db()
    assert session.status == "completed" and session.delivery == first and session.fetch_started_at
    assert session.part_path == "" and _left_behind(settings, feeds.contacts) == [first.stored_path]
    # The same id queued twice: the second task runs while the first is still copying.
    other = _registered(world, feeds, "s3://dialwell-drop/day.parquet", django_capture_on_commit_callbacks)
    real_inspect, during = services.files.inspect_file, []

    def second_task_meanwhile(*args, **kwargs):
        if not during:
            during.append(services.delivery_fetch(session_id=other.pk))
            during.append(UploadSession.objects.get(pk=other.pk).status)
        return real_inspect(*args, **kwargs)

    monkeypatch.setattr(services.files, "inspect_file", second_task_meanwhile)
    delivered = services.delivery_fetch(session_id=other.pk)
    assert during == [None, "fetching"]  # it found the claim and copied nothing
    other.refresh_from_db()
    assert other.status == "completed" and other.delivery == delivered
    assert Delivery.objects.filter(feed=feeds.contacts).count() == 2  # one per registration
    assert services._claim_fetch(other.pk) is None


def test_a_registrant_who_left_fails_the_fetch_with_the_reason(world, feeds, helpers, s3, settings, login,
                                                               django_capture_on_commit_callbacks):
    from django.urls import reverse

    from sourcewise.accounts import services as accounts
    from sourcewise.accounts.models import Membership

    s3.put_object(Bucket="dialwell-drop", Key="day.parquet", Body=helpers.good_day())
    session = _registered(world, feeds, "s3://dialwell-drop/day.parquet", django_capture_on_commit_callbacks)
    _token, secret = accounts.api_token_create(actor=world.provider.manager,
                                               organization=world.provider.organization, name="test")
    accounts.membership_remove(actor=world.provider.owner, membership=Membership.objects.get(
        user=world.provider.member, organization=world.provider.organization))
    assert services.delivery_fetch(session_id=session.pk) is None
    session.refresh_from_db()
    assert session.status == "failed" and session.delivery is None
    assert "Member of Dialwell Outsourcing registered s3://dialwell-drop/day.parquet" in session.reason
    assert "no longer a member" in session.reason and "nothing was kept" in session.reason
    assert AuditEvent.objects.filter(action="upload.fail", object_id=str(session.pk)).exists()
    assert not Delivery.objects.filter(feed=feeds.contacts).exists() and not _left_behind(settings, feeds.contacts)
    # Failed is final: the task run again does nothing.
    assert services.delivery_fetch(session_id=session.pk) is None
    assert not Delivery.objects.filter(feed=feeds.contacts).exists()
    # The API and the page say why.
    body = login(world.provider.manager).get(
        f"/api/v1/monitoring/uploads/{session.pk}", HTTP_AUTHORIZATION=f"Bearer {secret}").json()
    assert body["status"] == "failed" and body["delivery_id"] is None and "no longer a member" in body["reason"]
    page = login(world.buyer.member, world.buyer.organization).get(
        reverse("monitoring_feed", args=[feeds.contacts.pk])).content.decode()
    assert "Registered but not copied in" in page and "no longer a member" in page
    assert "Waiting for the worker" not in page


def test_an_inactive_engagement_or_an_internal_error_fails_the_fetch(world, feeds, helpers, s3, settings,
                                                                     monkeypatch,
                                                                     django_capture_on_commit_callbacks):
    from sourcewise.core.models import Engagement

    s3.put_object(Bucket="dialwell-drop", Key="day.jsonl.gz", Body=gzip.compress(b'{"a": 1}\n'))
    # Something unforeseen after the object was copied and renamed into deliveries/.
    broken = _registered(world, feeds, "s3://dialwell-drop/day.jsonl.gz", django_capture_on_commit_callbacks)

    def crash(*args, **kwargs):
        raise RuntimeError("inspection crashed")

    monkeypatch.setattr(services.files, "inspect_file", crash)
    assert services.delivery_fetch(session_id=broken.pk) is None
    broken.refresh_from_db()
    assert broken.status == "failed"
    assert broken.reason == ("Copying s3://dialwell-drop/day.jsonl.gz stopped with an internal error "
                             "(RuntimeError: inspection crashed); nothing was kept; register the location again.")
    assert not Delivery.objects.filter(feed=feeds.contacts).exists() and not _left_behind(settings, feeds.contacts)
    # The engagement ended between registration and the worker.
    waiting = _registered(world, feeds, "s3://dialwell-drop/day.jsonl.gz", django_capture_on_commit_callbacks)
    Engagement.objects.filter(pk=world.engagement.pk).update(status=Engagement.Status.ENDED)
    assert services.delivery_fetch(session_id=waiting.pk) is None
    waiting.refresh_from_db()
    assert waiting.status == "failed" and "feeds and deliveries need an active engagement" in waiting.reason


def test_a_fetch_whose_worker_died_is_failed_by_the_periodic_job(world, feeds, helpers, s3, settings,
                                                                 django_capture_on_commit_callbacks):
    import datetime as dt

    from sourcewise.core.scheduler import discover_jobs

    assert "monitoring.stale_fetches" in {job.name for job in discover_jobs()}
    s3.put_object(Bucket="dialwell-drop", Key="day.parquet", Body=helpers.good_day())
    session = _registered(world, feeds, "s3://dialwell-drop/day.parquet", django_capture_on_commit_callbacks)
    # A worker claimed it and died half-way through the copy.
    claimed = services._claim_fetch(session.pk)
    writer = services.storage.StorageWriter(directory=services._fetch_directory(session.pk), suffix="",
                                            compressed=False, limit=10**9)
    writer.write(helpers.good_day()[:100])
    writer._fh.close()
    UploadSession.objects.filter(pk=session.pk).update(
        part_path=str(writer.part.relative_to(settings.STORAGE_ROOT)))
    assert _left_behind(settings, feeds.contacts)
    soon = claimed.heartbeat_at + dt.timedelta(seconds=settings.MONITORING_STALE_RUN_SECONDS - 1)
    assert services.fetches_recover_stale(now=soon) == 0  # not stale yet
    session.refresh_from_db()
    assert session.status == "fetching"
    later = claimed.heartbeat_at + dt.timedelta(seconds=settings.MONITORING_STALE_RUN_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert services.fetches_recover_stale(now=later) == 1
    assert queued == []  # not fetched again by itself
    session.refresh_from_db()
    assert session.status == "failed" and session.delivery is None
    assert session.reason.startswith("The worker stopped while copying s3://dialwell-drop/day.parquet")
    assert session.reason.endswith("nothing was kept; register the location again.")
    assert not _left_behind(settings, feeds.contacts) and not Delivery.objects.filter(feed=feeds.contacts).exists()
    assert services.fetches_recover_stale(now=later) == 0
    assert services.delivery_fetch(session_id=session.pk) is None


def test_a_worker_given_up_on_cannot_record_what_it_copied(world, feeds, helpers, s3, settings, monkeypatch,
                                                           django_capture_on_commit_callbacks):
    """Slow, not dead: the job marked it failed while it copied; its copy is not kept."""
    import datetime as dt

    s3.put_object(Bucket="dialwell-drop", Key="day.parquet", Body=helpers.good_day())
    session = _registered(world, feeds, "s3://dialwell-drop/day.parquet", django_capture_on_commit_callbacks)
    real_inspect = services.files.inspect_file

    def slow_inspect(*args, **kwargs):
        later = timezone.now() + dt.timedelta(seconds=settings.MONITORING_STALE_RUN_SECONDS + 1)
        assert services.fetches_recover_stale(now=later) == 1
        return real_inspect(*args, **kwargs)

    monkeypatch.setattr(services.files, "inspect_file", slow_inspect)
    assert services.delivery_fetch(session_id=session.pk) is None
    session.refresh_from_db()
    assert session.status == "failed" and "The worker stopped while copying" in session.reason
    assert not Delivery.objects.filter(feed=feeds.contacts).exists() and not _left_behind(settings, feeds.contacts)


def test_a_location_whose_task_was_lost_is_queued_again(world, feeds, helpers, s3, settings,
                                                        django_capture_on_commit_callbacks):
    import datetime as dt

    s3.put_object(Bucket="dialwell-drop", Key="day.parquet", Body=helpers.good_day())
    # Registered, but the process stopped before any worker took its task.
    session = _registered(world, feeds, "s3://dialwell-drop/day.parquet", django_capture_on_commit_callbacks)
    stale_after = dt.timedelta(seconds=settings.MONITORING_STALE_RUN_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert services.fetches_recover_stale(now=session.queued_at + stale_after - dt.timedelta(seconds=2)) == 0
    assert queued == []
    later = session.queued_at + stale_after
    with django_capture_on_commit_callbacks(execute=True):
        assert services.fetches_recover_stale(now=later) == 1  # its task queued again, and run
    session.refresh_from_db()
    assert session.status == "completed" and session.delivery.status == "accepted" and session.queued_at == later
    # Queued again once per period, and never once claimed or completed.
    assert services.fetches_recover_stale(now=later) == 0
    assert Delivery.objects.filter(feed=feeds.contacts).count() == 1


def test_a_fetch_that_still_beats_is_not_failed_and_a_location_takes_no_parts(
        world, feeds, helpers, s3, settings, django_capture_on_commit_callbacks):
    import datetime as dt
    import io

    session = _registered(world, feeds, "s3://dialwell-drop/day.parquet", django_capture_on_commit_callbacks)
    provider = dict(actor=world.provider.member, organization=world.provider.organization, session=session)
    with pytest.raises(ValidationError, match="registered location s3://dialwell-drop/day.parquet"):
        services.upload_session_append(**provider, offset=0, stream=io.BytesIO(b"x"))
    with pytest.raises(ValidationError, match="it takes no parts"):
        services.upload_session_complete(**provider)
    claimed = services._claim_fetch(session.pk)
    # A long copy: the worker's pulse keeps proving it alive past the threshold.
    long_after = claimed.fetch_started_at + dt.timedelta(seconds=3 * settings.MONITORING_STALE_RUN_SECONDS)
    services._FetchPulse(session.pk).beat()
    session.refresh_from_db()
    assert session.heartbeat_at > claimed.heartbeat_at
    UploadSession.objects.filter(pk=session.pk).update(
        heartbeat_at=long_after - dt.timedelta(seconds=settings.MONITORING_STALE_RUN_SECONDS - 5))
    assert services.fetches_recover_stale(now=long_after) == 0
    session.refresh_from_db()
    assert session.status == "fetching"


def test_an_unexpected_failure_while_inspecting_leaves_no_file_and_no_row(feeds, deliver, helpers, settings,
                                                                         monkeypatch):
    from sourcewise.monitoring import files

    def broken(*args, **kwargs):
        raise RuntimeError("inspection crashed")

    monkeypatch.setattr(files, "inspect_file", broken)
    with pytest.raises(RuntimeError):
        deliver(feeds.contacts, gzip.compress(helpers.good_day_jsonl()), filename="contacts.jsonl.gz")
    assert not Delivery.objects.filter(feed=feeds.contacts).exists()
    assert _stored_files(settings, feeds.contacts) == []


def test_a_drop_folder_file_gone_before_the_worker_copies_it_is_a_rejected_delivery(world, feeds, helpers, settings):
    provider = {"actor": world.provider.member, "organization": world.provider.organization}
    (settings.STORAGE_ROOT / "inbox").mkdir()
    dropped = settings.STORAGE_ROOT / "inbox" / "log.parquet"
    dropped.write_bytes(helpers.good_day())
    session = services.delivery_register(**provider, feed=feeds.contacts, location="inbox/log.parquet")
    # Registration leaves the copying to the worker: nothing is stored yet.
    assert session.location == "inbox/log.parquet" and session.delivery is None
    assert not Delivery.objects.filter(feed=feeds.contacts).exists()
    dropped.unlink()
    delivery = services.delivery_fetch(session_id=session.pk)
    assert delivery.status == "rejected" and "inbox/log.parquet" in delivery.reason
    assert "moved or removed before the worker copied it" in delivery.reason
    session.refresh_from_db()
    assert session.status == "completed" and session.delivery == delivery
