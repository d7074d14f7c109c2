"""Every write of monitoring: feeds, suite versions, deliveries, check runs, findings.

Each action is keyword-only, runs in one transaction and records one audit event; work
that must survive the transaction (queueing a run, telling other apps about findings)
happens on commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
import threading
import time
import zoneinfo
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from sourcewise.accounts.models import Organization, User
from sourcewise.core import audit, edits, storage
from sourcewise.core.errors import Conflict
from sourcewise.core.models import Engagement
from sourcewise.core.permissions import require_engagement_role
from sourcewise.core.tenancy import Role
from sourcewise.monitoring import files, objectstore, suites
from sourcewise.monitoring.models import (
    SCHEMA_TYPES,
    CheckOutcome,
    CheckRun,
    Delivery,
    Feed,
    Finding,
    SuiteVersion,
    UploadSession,
)
from sourcewise.monitoring.signals import findings_recorded

logger = logging.getLogger(__name__)

FEED_FIELDS = ("name", "slug", "description", "kind", "expected_schema", "customer_columns",
               "cadence", "due_time", "due_weekday", "time_zone", "buyer_owner", "provider_owner")
MAX_ATTEMPTS = 2
HEARTBEAT_SECONDS = 15
SAMPLE_ROWS = 20


# -- feeds ----------------------------------------------------------------------------------


def _require_active(engagement: Engagement) -> None:
    if engagement.status != Engagement.Status.ACTIVE:
        raise ValidationError(
            f"This engagement is {engagement.get_status_display().lower()}: "
            "feeds and deliveries need an active engagement."
        )


def _clean_feed(engagement: Engagement, fields: dict[str, Any], *, feed: Feed | None = None) -> dict[str, Any]:
    errors: dict[str, str] = {}
    for key in ("name", "slug", "description", "time_zone"):
        if key in fields:
            fields[key] = (fields[key] or "").strip()
    if not fields.get("name"):
        errors["name"] = "Give the feed a name."
    elif len(fields["name"]) > 200:
        errors["name"] = "Keep the name under 200 characters."
    slug = fields.get("slug", "")
    if not slug:
        errors["slug"] = "Give the feed a short name (letters, digits, - and _), used by suites."
    elif not all(c.isalnum() or c in "-_" for c in slug) or len(slug) > 60:
        errors["slug"] = "The short name uses only letters, digits, - and _ (at most 60)."
    elif Feed.objects.filter(engagement=engagement, slug=slug).exclude(pk=getattr(feed, "pk", None)).exists():
        errors["slug"] = f"Another feed of this engagement is called '{slug}'."
    if fields.get("kind") not in Feed.Kind.values:
        errors["kind"] = "Say whether the provider delivers it or it is a reference dataset."
    if fields.get("cadence") not in Feed.Cadence.values:
        errors["cadence"] = "Choose daily, every weekday, weekly or when it changes."
    try:
        zoneinfo.ZoneInfo(fields.get("time_zone") or "")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = f"Unknown time zone '{fields.get('time_zone')}'; use a name like Europe/London."
    if not isinstance(fields.get("due_time"), dt.time):
        errors["due_time"] = "Give the time the delivery is due as HH:MM."
    weekday = fields.get("due_weekday", 0)
    if not isinstance(weekday, int) or not 0 <= weekday <= 6:
        errors["due_weekday"] = "The weekday is 0 (Monday) to 6 (Sunday)."
    schema = fields.get("expected_schema") or {}
    if not isinstance(schema, dict):
        errors["expected_schema"] = "Give the schema as column: type pairs."
    else:
        bad = [f"{c}: {t}" for c, t in schema.items() if t not in SCHEMA_TYPES or not str(c).strip()]
        if bad:
            errors["expected_schema"] = (
                f"Unknown type in {', '.join(bad)}; the types are {', '.join(SCHEMA_TYPES)}."
            )
    fields["expected_schema"] = schema if isinstance(schema, dict) else {}
    customer = fields.get("customer_columns") or []
    if not isinstance(customer, list) or not all(isinstance(c, str) and c for c in customer):
        errors["customer_columns"] = "List the columns that identify a customer."
    elif schema and isinstance(schema, dict) and (missing := [c for c in customer if c not in schema]):
        errors["customer_columns"] = f"Not in the expected schema: {', '.join(missing)}."
    for side in ("buyer", "provider"):
        owner = fields.get(f"{side}_owner")
        org = getattr(engagement, side)
        if owner is not None and not owner.memberships.filter(organization=org).exists():
            errors[f"{side}_owner"] = f"The {side}'s owner must be a member of {org}."
    if errors:
        raise ValidationError(errors)
    return fields


@transaction.atomic
def feed_create(
    *,
    actor: User,
    organization: Organization | None,
    engagement: Engagement,
    name: str,
    slug: str,
    description: str = "",
    kind: str = Feed.Kind.DELIVERY,
    expected_schema: dict[str, str] | None = None,
    customer_columns: list[str] | None = None,
    cadence: str = Feed.Cadence.DAILY,
    due_time: dt.time = dt.time(6, 0),
    due_weekday: int = 0,
    time_zone: str = "UTC",
    buyer_owner: User | None = None,
    provider_owner: User | None = None,
    key: list[str] | None = None,
) -> Feed:
    """A new feed, with a first suite version (its schema and a row count). Member on either side."""
    membership = require_engagement_role(actor, engagement, Role.MEMBER, organization=organization)
    _require_active(engagement)
    fields = _clean_feed(engagement, dict(
        name=name, slug=slug, description=description, kind=kind,
        expected_schema=dict(expected_schema or {}), customer_columns=list(customer_columns or []),
        cadence=cadence, due_time=due_time, due_weekday=due_weekday, time_zone=time_zone,
        buyer_owner=buyer_owner, provider_owner=provider_owner,
    ))
    feed = Feed.objects.create(engagement=engagement, **fields)
    audit.record(actor=actor, action="feed.create", obj=feed, organization=membership.organization,
                 changes=audit.created(audit.snapshot(feed, FEED_FIELDS)))
    text = suites.starter(feed.slug, feed.name, feed.expected_schema, list(key or []))
    _save_version(feed=feed, actor=actor, text=text, note="First version", membership=membership)
    return feed


@transaction.atomic
def feed_update(
    *,
    actor: User,
    organization: Organization | None,
    feed: Feed,
    expected_version: int | None,
    **changes: Any,
) -> Feed:
    """Edit a feed's description, schema, cadence or owners; 409 if someone saved meanwhile."""
    edits.refuse_unknown(changes, FEED_FIELDS)
    feed = Feed.objects.select_for_update().select_related("engagement").get(pk=feed.pk)
    membership = require_engagement_role(actor, feed.engagement, Role.MEMBER, organization=organization)
    edits.check_version(feed, expected_version, "feed")
    if "slug" in changes and changes["slug"] != feed.slug and feed.suite_versions.exists():
        raise ValidationError({"slug": "Suites name this feed by its short name; it cannot change."})
    return edits.save_edit(
        feed, fields=FEED_FIELDS, changes=changes,
        clean=lambda merged: _clean_feed(feed.engagement, merged, feed=feed),
        expected_version=expected_version, what="feed", actor=actor, action="feed.update",
        organization=membership.organization,
    )


# -- suites ---------------------------------------------------------------------------------


def suite_validate(*, feed: Feed, text: str) -> list[str]:
    """Problems of a suite text for `feed` (empty when it is valid); nothing is saved."""
    slugs = set(Feed.objects.filter(engagement_id=feed.engagement_id).values_list("slug", flat=True))
    _parsed, problems = suites.parse(text, feed_slugs=slugs, own_slug=feed.slug)
    return problems


def _save_version(*, feed: Feed, actor: User | None, text: str, note: str, membership) -> SuiteVersion:
    problems = suite_validate(feed=feed, text=text)
    if problems:
        raise ValidationError({"text": problems})
    last = feed.suite_versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = SuiteVersion.objects.create(feed=feed, number=last + 1, text=text, note=note[:300],
                                          created_by=actor if getattr(actor, "pk", None) else None)
    audit.record(actor=actor, action="suite.save", obj=version,
                 organization=getattr(membership, "organization", None),
                 changes={"number": {"before": last or None, "after": version.number}})
    return version


@transaction.atomic
def suite_save(
    *,
    actor: User,
    organization: Organization | None,
    feed: Feed,
    text: str,
    expected_number: int | None,
    note: str = "",
) -> SuiteVersion:
    """Save the suite as a new version if it validates; the buyer's side writes expectations.

    `expected_number` is the version the editor started from: if another was saved since,
    the save is refused (409) rather than silently replacing it.
    """
    feed = Feed.objects.select_for_update().select_related("engagement").get(pk=feed.pk)
    membership = require_engagement_role(actor, feed.engagement, Role.MEMBER, side="buyer",
                                         organization=organization)
    current = feed.current_suite()
    if expected_number is not None and current is not None and expected_number != current.number:
        raise Conflict(
            f"Version {current.number} of this suite was saved after you opened version "
            f"{expected_number}. Reload to see it, then make your change again."
        )
    if current is not None and current.text == text:
        return current
    return _save_version(feed=feed, actor=actor, text=text, note=note, membership=membership)


@transaction.atomic
def suite_add_check(*, actor: User, organization: Organization | None, feed: Feed, check: dict) -> SuiteVersion:
    """Add one check (a mapping in the contract's format) to the feed's suite as a new version.

    The whole suite is validated with the check in it; a check that does not validate
    raises ValidationError naming the problem and saves nothing. Needs the member role
    on the buyer's side. Other apps use this to turn a lesson into a preventive check.
    """
    if not isinstance(check, dict) or not check:
        raise ValidationError({"check": "Give the check as a mapping in the suite format."})
    feed = Feed.objects.select_for_update().select_related("engagement").get(pk=feed.pk)
    membership = require_engagement_role(actor, feed.engagement, Role.MEMBER, side="buyer",
                                         organization=organization)
    current = feed.current_suite()
    text = suites.add_check(current.text if current else "", dict(check))
    label = check.get("id") or check.get("name") or "a check"
    return _save_version(feed=feed, actor=actor, text=text, note=f"Added {label}"[:300], membership=membership)


# -- deliveries -----------------------------------------------------------------------------


def _local_date(feed: Feed, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(feed.time_zone)).date()


def delivery_receive(
    *,
    actor: User | None,
    organization: Organization | None,
    feed: Feed,
    stream: Any,
    filename: str,
    period: dt.date | None = None,
    source: str = Delivery.Source.PAGE,
    start_run: bool = True,
    received_at: dt.datetime | None = None,
    upload_session: UploadSession | None = None,
) -> Delivery:
    """Store one delivered file and, when it is accepted, queue its check run.

    The file is streamed to storage in chunks while hashed, under a temporary name
    renamed when complete; a `storage.StoredUpload` (a page or API upload the request
    already wrote into storage) is adopted by renaming it. A file that cannot be accepted
    (wrong name, over the limit, empty, truncated, mislabelled, not the feed's schema) is
    kept as a rejected delivery with the reason; the caller sees the reason in
    `delivery.reason`. A `.jsonl.gz` is kept as delivered and, once proven whole,
    decompressed into a `.jsonl` working copy that the check runs read. With
    `upload_session` (a location claimed by `delivery_fetch`) the delivery is recorded and
    the session completed in one transaction, and only while the session is still claimed.
    """
    feed = Feed.objects.select_related("engagement").get(pk=feed.pk)
    membership = require_engagement_role(actor, feed.engagement, Role.MEMBER, organization=organization)
    _require_active(feed.engagement)
    filename = os.path.basename((filename or "").replace("\\", "/")).strip()[:255] or "unnamed"
    received = received_at or timezone.now()
    period = period or _local_date(feed, received)
    fmt = files.format_of(filename)
    limit = int(settings.UPLOAD_MAX_BYTES)
    base = dict(feed=feed, original_name=filename, period=period, source=source,
                uploaded_by=actor if getattr(actor, "pk", None) else None,
                organization=membership.organization, received_at=received)
    adopted = isinstance(stream, storage.StoredUpload)
    if fmt is None:
        # Drain nothing: the content is not kept, but the attempt is recorded.
        if adopted:
            stream.close()
        return _record_delivery(actor, membership, Delivery(
            **base, status=Delivery.Status.REJECTED,
            reason=f"'{filename}' is not a {files.ACCEPTED_NAMES} file."), start_run=False,
            upload_session=upload_session)
    file_format, compressed = fmt
    suffix = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}[file_format] + (".gz" if compressed else "")
    directory = f"deliveries/{feed.engagement_id}/{feed.pk}/{received:%Y/%m}"
    if adopted:
        stored = stream.adopt(directory=directory, suffix=suffix)
    else:
        stored = storage.stream_to_storage(stream, directory=directory, suffix=suffix,
                                           compressed=compressed, limit=limit)
    delivery = Delivery(**base, file_format=file_format, compressed=compressed,
                        size_bytes=stored.size, sha256=stored.sha256, stored_path=stored.relative_path)
    if stored.too_large:
        delivery.status = Delivery.Status.REJECTED
        delivery.reason = (f"The file is larger than the limit of {_size(limit)} "
                           f"({_size(stored.size)} or more); nothing was stored.")
        delivery.sha256 = ""
        return _record_delivery(actor, membership, delivery, start_run=False, upload_session=upload_session)
    try:
        try:
            delivery.columns = files.inspect_file(storage_path(stored.relative_path), file_format,
                                                  compressed, stored)
            problems = files.schema_problems(delivery.columns, feed.expected_schema)
            if problems:
                raise files.FileProblem("The file does not match the feed's schema: " + "; ".join(problems) + ".")
            if compressed and file_format in files.NEEDS_WORKING_COPY:
                # Proven whole above (inspect_file); the engine reads the decompressed sibling.
                working = files.decompress_copy(storage_path(stored.relative_path),
                                                limit=settings.UPLOAD_MAX_EXPANDED_BYTES)
                delivery.working_path = str(working.relative_to(storage.storage_root()))
            delivery.status = Delivery.Status.ACCEPTED
        except files.FileProblem as exc:
            # Kept as a rejected attempt with the reason: the file stays as evidence.
            delivery.status = Delivery.Status.REJECTED
            delivery.reason = str(exc)
        return _record_delivery(actor, membership, delivery, upload_session=upload_session,
                                start_run=start_run and delivery.status == Delivery.Status.ACCEPTED)
    except BaseException:
        # Anything else (a bug, the database refusing the row): no row, so no file, delivered or derived.
        storage.discard(stored.relative_path)
        storage.discard(delivery.working_path)
        raise


def storage_path(relative: str) -> Path:
    return storage.storage_root() / relative


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


@transaction.atomic
def _record_delivery(actor, membership, delivery: Delivery, *, start_run: bool,
                     upload_session: UploadSession | None = None) -> Delivery:
    if upload_session is not None:
        claimed = UploadSession.objects.select_for_update().filter(
            pk=upload_session.pk, status=UploadSession.Status.FETCHING).exists()
        if not claimed:
            # Marked failed as stale meanwhile (this worker was slow, not dead): it said
            # nothing was kept, so this copy is not recorded either.
            raise FetchGivenUp(f"The copy of {upload_session.location} was given up on before it finished.")
    delivery.save()
    action = "delivery.accept" if delivery.status == Delivery.Status.ACCEPTED else "delivery.reject"
    audit.record(actor=actor, action=action, obj=delivery, organization=membership.organization,
                 changes=audit.created(audit.snapshot(
                     delivery, ["feed", "original_name", "size_bytes", "sha256", "period", "status", "reason"])))
    if upload_session is not None:
        UploadSession.objects.filter(pk=upload_session.pk).update(
            status=UploadSession.Status.COMPLETED, delivery=delivery, size_bytes=delivery.size_bytes,
            received_bytes=delivery.size_bytes, part_path="", heartbeat_at=timezone.now())
    if start_run and delivery.status == Delivery.Status.ACCEPTED:
        version = delivery.feed.current_suite()
        if version is not None:
            _queue_run(delivery=delivery, version=version, actor=actor)
    return delivery


def _queue_run(*, delivery: Delivery, version: SuiteVersion, actor) -> CheckRun:
    run = CheckRun.objects.create(delivery=delivery, feed=delivery.feed, suite_version=version,
                                  requested_by=actor if getattr(actor, "pk", None) else None,
                                  progress="Waiting for a worker")
    transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: int) -> None:
    from sourcewise.monitoring.tasks import run_check

    run_check.enqueue(run_id)


@transaction.atomic
def run_repeat(*, actor: User, organization: Organization | None, delivery: Delivery) -> CheckRun:
    """Check the same delivery again, with the feed's current suite version."""
    delivery = Delivery.objects.select_related("feed__engagement").get(pk=delivery.pk)
    membership = require_engagement_role(actor, delivery.feed.engagement, Role.MEMBER, organization=organization)
    if delivery.status != Delivery.Status.ACCEPTED:
        raise ValidationError(f"This delivery was rejected ({delivery.reason}); there is nothing to check.")
    version = delivery.feed.current_suite()
    if version is None:
        raise ValidationError("This feed has no suite yet.")
    if delivery.runs.filter(status__in=[CheckRun.Status.QUEUED, CheckRun.Status.RUNNING]).exists():
        raise ValidationError("A run of this delivery is already waiting or running.")
    run = _queue_run(delivery=delivery, version=version, actor=actor)
    audit.record(actor=actor, action="run.repeat", obj=run, organization=membership.organization,
                 changes={"delivery": {"before": None, "after": delivery.pk},
                          "suite_version": {"before": None, "after": version.number}})
    return run


# -- check runs -----------------------------------------------------------------------------


def _claim(run_id: int) -> CheckRun | None:
    with transaction.atomic():
        run = CheckRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != CheckRun.Status.QUEUED:
            return None
        now = timezone.now()
        run.status, run.attempt = CheckRun.Status.RUNNING, run.attempt + 1
        run.started_at = run.heartbeat_at = now
        run.progress = "Starting"
        run.save(update_fields=["status", "attempt", "started_at", "heartbeat_at", "progress"])
        return run


def _resolve_data(run: CheckRun, parsed: suites.ParsedSuite) -> dict[str, str]:
    """Each dataset's file: this delivery for its own feed, the latest accepted one for others."""
    data, problems = {}, []
    for dataset, slug in parsed.bindings.items():
        if slug == run.feed.slug:
            data[dataset] = str(run.delivery.engine_path)
            continue
        latest = (Delivery.objects.filter(feed__engagement_id=run.feed.engagement_id, feed__slug=slug,
                                          status=Delivery.Status.ACCEPTED)
                  .order_by("-received_at", "-pk").first())
        if latest is None:
            problems.append(f"dataset '{dataset}': feed '{slug}' has no accepted delivery yet")
        else:
            data[dataset] = str(latest.engine_path)
    if problems:
        from sourcewise.engine import SuiteError

        raise SuiteError(problems)
    return data


class _Pulse:
    """Proof that a worker is alive: a thread beats every HEARTBEAT_SECONDS while a long job lasts.

    Only outside a transaction: inside one (the demo loader, tests) its writes would wait
    on the job's own lock. Subclasses say what a beat writes.
    """

    name = "pulse"

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def beat(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> _Pulse:
        if not transaction.get_connection().in_atomic_block:
            self.thread = threading.Thread(target=self._beat, name=self.name, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _beat(self) -> None:
        from django.db import connection

        try:
            while not self.stopped.wait(HEARTBEAT_SECONDS):
                self.beat()
        finally:
            connection.close()


class _Heartbeat(_Pulse):
    """Progress from the engine: the latest step, and proof the worker is alive.

    One engine step (a join over 100M rows) can outlast MONITORING_STALE_RUN_SECONDS, so
    the thread of `_Pulse` also beats while the run lasts.
    """

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id, self.last = run_id, 0.0
        self.name = f"heartbeat-run-{run_id}"

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last < 1.0:
            return
        self.last = now
        CheckRun.objects.filter(pk=self.run_id, status=CheckRun.Status.RUNNING).update(
            progress=str(message)[:300], heartbeat_at=timezone.now())

    def beat(self) -> None:
        CheckRun.objects.filter(pk=self.run_id, status=CheckRun.Status.RUNNING).update(heartbeat_at=timezone.now())


def run_execute(*, run_id: int, backend: str = "duckdb") -> str:
    """Run a queued check run to the end; the task calls this. Returns the run's status.

    The engine writes failing rows to a private directory that is renamed into place
    just before the results are stored in one transaction, so a worker killed at any
    point leaves either a finished run or one that is retried (see runs_recover_stale).
    """
    from sourcewise.engine import SuiteError, run_suite

    run = _claim(run_id)
    if run is None:
        return "skipped"
    run = CheckRun.objects.select_related("delivery", "feed", "suite_version").get(pk=run.pk)
    runs_dir = storage.storage_root() / "runs" / str(run.pk)
    runs_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".attempt-{run.attempt}-", dir=runs_dir))
    heartbeat = _Heartbeat(run.pk)
    try:
        slugs = set(Feed.objects.filter(engagement_id=run.feed.engagement_id).values_list("slug", flat=True))
        parsed, problems = suites.parse(run.suite_version.text, feed_slugs=slugs, own_slug=run.feed.slug)
        if problems:
            raise SuiteError(problems)
        suite = suites.engine_suite(parsed, work)
        data = _resolve_data(run, parsed)
        t0 = time.perf_counter()
        with heartbeat:
            result = run_suite(suite, backend=backend, data=data, sample=SAMPLE_ROWS,
                               failures_dir=work / "failures", progress=heartbeat,
                               cache=settings.ENGINE_PLAN_CACHE_DIR)
        engine_seconds = time.perf_counter() - t0
    except SuiteError as exc:
        shutil.rmtree(work, ignore_errors=True)
        return _finish_error(run.pk, run.attempt,
                             "The suite could not be run: " + "; ".join(suites.clean_problems(exc.problems)))
    except Exception as exc:  # the run must end with a reason, whatever the engine raised
        logger.exception("Check run %s failed", run.pk)
        shutil.rmtree(work, ignore_errors=True)
        return _finish_error(run.pk, run.attempt,
                             f"The check stopped with an internal error: {type(exc).__name__}: {exc}")
    # Each attempt has its own folder: a worker thought dead but only slow cannot
    # overwrite the files of the attempt that replaced it.
    final = runs_dir / f"failures-{run.attempt}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(work / "failures", final)
    shutil.rmtree(work, ignore_errors=True)
    try:
        return _store_results(run.pk, run.attempt, result, engine_seconds, final, parsed)
    except BaseException:
        # Not stored: leave it for the retry, which writes its own files.
        shutil.rmtree(final, ignore_errors=True)
        raise


@transaction.atomic
def _finish_error(run_id: int, attempt: int, reason: str) -> str:
    run = CheckRun.objects.select_for_update().get(pk=run_id)
    if run.status != CheckRun.Status.RUNNING or run.attempt != attempt:
        return run.status
    run.status, run.reason, run.finished_at = CheckRun.Status.ERROR, reason[:5000], timezone.now()
    run.progress = "Could not run"
    run.save(update_fields=["status", "reason", "finished_at", "progress"])
    audit.record(actor=None, action="run.error", obj=run, changes={"status": {"before": "running", "after": "error"},
                                                                    "reason": {"before": None, "after": reason[:500]}})
    return run.status


@transaction.atomic
def _store_results(run_id: int, attempt: int, result, engine_seconds: float, failures: Path, parsed) -> str:
    run = CheckRun.objects.select_for_update().select_related("feed", "delivery").get(pk=run_id)
    if run.status != CheckRun.Status.RUNNING or run.attempt != attempt:
        # Given up on and re-queued meanwhile: the attempt that replaced this one stores.
        shutil.rmtree(failures, ignore_errors=True)
        return run.status
    document = result.to_dict()
    feed_by_slug = {f.slug: f for f in Feed.objects.filter(engagement_id=run.feed.engagement_id)}
    keys = suites.dataset_keys(parsed)
    relative = str(failures.relative_to(storage.storage_root()))
    findings, outcomes = [], []
    for check in result.checks:
        outcomes.append(CheckOutcome(
            run=run, feed=run.feed, check_id=check.id, check_name=check.name, severity=check.severity,
            status=check.status, failing_rows=check.failing_rows, total_rows=check.total_rows,
            period=run.delivery.period))
        if check.status == "passed":
            continue
        dataset_feed = feed_by_slug.get(parsed.bindings.get(check.dataset, ""), run.feed)
        customer_columns = list(dataset_feed.customer_columns)
        affected = failures / f"{check.id}.parquet"
        sample = [dict(r) for r in check.sample]
        if affected.exists():
            wanted = list(dict.fromkeys([*keys.get(check.dataset, []), *customer_columns,
                                         *(sample[0].keys() if sample else [])]))
            present = [c for c in wanted if c in files.parquet_columns(affected)] or None
            sample = [{k: _jsonable(v) for k, v in row.items()}
                      for row in files.head_rows(affected, SAMPLE_ROWS, present)]
        findings.append(Finding(
            kind=Finding.Kind.CHECK, feed=run.feed, run=run, check_id=check.id, check_name=check.name,
            severity=check.severity, status=check.status, dataset=check.dataset,
            message=check.message, failing_rows=check.failing_rows, total_rows=check.total_rows,
            failing_groups=check.failing_groups, sample=sample, customer_columns=customer_columns,
            affected_path=f"{relative}/{check.id}.parquet" if affected.exists() else "",
            period=run.delivery.period))
    CheckOutcome.objects.bulk_create(outcomes)
    Finding.objects.bulk_create(findings)
    before = run.status
    run.status = {"passed": CheckRun.Status.PASSED, "failed": CheckRun.Status.FAILED}.get(
        result.status, CheckRun.Status.ERROR)
    if run.status == CheckRun.Status.ERROR:
        run.reason = "; ".join(suites.clean_problems(result.problems))[:5000] or "A check ended in error."
    run.result, run.engine_seconds, run.backend = document, engine_seconds, document["backend"]
    run.finished_at = timezone.now()
    run.failures_path = relative
    run.progress = f"Finished: {sum(1 for c in result.checks if c.status != 'passed')} of {len(result.checks)} checks fell short"
    run.save()
    audit.record(actor=None, action="run.finish", obj=run,
                 changes={"status": {"before": before, "after": run.status},
                          "findings": {"before": None, "after": len(findings)}})
    stored = list(Finding.objects.filter(run=run).order_by("pk"))
    transaction.on_commit(lambda: findings_recorded.send(sender=Finding, run=run, findings=stored))
    return run.status


def _jsonable(value: Any) -> Any:
    from sourcewise.engine.result import json_value

    return json_value(value)


def runs_recover_stale(*, now: dt.datetime | None = None) -> int:
    """Runs whose worker died: retried once, then marked as failed with the reason.

    A running run whose heartbeat is older than MONITORING_STALE_RUN_SECONDS lost its worker; a queued run
    that waited that long lost its task (queued on commit, then the process stopped).
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.MONITORING_STALE_RUN_SECONDS)
    changed = 0
    stale = CheckRun.objects.filter(status=CheckRun.Status.RUNNING, heartbeat_at__lt=cutoff)
    lost = CheckRun.objects.filter(status=CheckRun.Status.QUEUED, queued_at__lt=cutoff)
    for run_id in list(stale.values_list("pk", flat=True)) + list(lost.values_list("pk", flat=True)):
        with transaction.atomic():
            run = CheckRun.objects.select_for_update().get(pk=run_id)
            if run.status == CheckRun.Status.RUNNING and run.heartbeat_at and run.heartbeat_at < cutoff:
                last = run.heartbeat_at
                if run.attempt >= MAX_ATTEMPTS:
                    run.status, run.finished_at = CheckRun.Status.ERROR, now
                    run.reason = (f"The worker stopped during attempt {run.attempt} (last sign of life "
                                  f"{last:%Y-%m-%d %H:%M:%S} UTC); it was not retried again.")
                    run.progress = "Could not run"
                    action = "run.error"
                else:
                    run.status, run.queued_at = CheckRun.Status.QUEUED, now
                    run.reason = (f"The worker stopped during attempt {run.attempt} (last sign of life "
                                  f"{last:%Y-%m-%d %H:%M:%S} UTC); retried.")
                    run.progress = "Waiting for a worker (retry)"
                    action = "run.retry"
                run.save()
                audit.record(actor=None, action=action, obj=run,
                             changes={"status": {"before": "running", "after": run.status}})
                if run.status == CheckRun.Status.QUEUED:
                    transaction.on_commit(lambda pk=run.pk: _enqueue(pk))
                changed += 1
            elif run.status == CheckRun.Status.QUEUED and run.queued_at < cutoff:
                run.queued_at = now
                run.save(update_fields=["queued_at"])
                transaction.on_commit(lambda pk=run.pk: _enqueue(pk))
                changed += 1
    return changed


# -- late deliveries ------------------------------------------------------------------------


def due_moment(feed: Feed, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, feed.due_time, tzinfo=zoneinfo.ZoneInfo(feed.time_zone))


def due_days(feed: Feed, start: dt.date, end: dt.date) -> list[dt.date]:
    """The days in [start, end] on which the feed is due."""
    days, day = [], start
    while day <= end:
        if (feed.cadence == Feed.Cadence.DAILY
                or (feed.cadence == Feed.Cadence.WEEKDAYS and day.weekday() < 5)
                or (feed.cadence == Feed.Cadence.WEEKLY and day.weekday() == feed.due_weekday)):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def late_deliveries_scan(*, now: dt.datetime | None = None, lookback_days: int = 14) -> list[Finding]:
    """Raise a finding for each due day whose delivery had not arrived by the due time.

    Looks back `lookback_days` (never before the feed existed); one finding per feed and
    day, so running it again changes nothing.
    """
    now = now or timezone.now()
    raised: list[Finding] = []
    feeds = Feed.objects.exclude(cadence=Feed.Cadence.ON_CHANGE).filter(
        engagement__status=Engagement.Status.ACTIVE).select_related("engagement")
    for feed in feeds:
        today = _local_date(feed, now)
        # Due from the feed's creation, or from its first delivery if that came earlier.
        first = feed.deliveries.order_by("period").values_list("period", flat=True).first()
        since = min(filter(None, [_local_date(feed, feed.created_at), first]))
        start = max(since, today - dt.timedelta(days=lookback_days))
        step = 7 if feed.cadence == Feed.Cadence.WEEKLY else 1
        for day in due_days(feed, start, today):
            due = due_moment(feed, day)
            if due > now:
                continue
            window_start = day - dt.timedelta(days=step - 1)
            on_time = Delivery.objects.filter(
                feed=feed, status=Delivery.Status.ACCEPTED, period__gte=window_start, period__lte=day,
                received_at__lte=due).exists()
            if on_time or Finding.objects.filter(feed=feed, kind=Finding.Kind.LATE, period=day).exists():
                continue
            raised.append(_raise_late(feed, day, due, now))
    if raised:
        transaction.on_commit(lambda: findings_recorded.send(sender=Finding, run=None, findings=raised))
    return raised


@transaction.atomic
def _raise_late(feed: Feed, day: dt.date, due: dt.datetime, now: dt.datetime) -> Finding:
    arrived = Delivery.objects.filter(feed=feed, status=Delivery.Status.ACCEPTED, period=day).order_by(
        "received_at").first()
    when = f"{feed.due_time:%H:%M} {feed.time_zone}"
    if arrived is None:
        message = f"No delivery for {day:%a %d %b %Y} had arrived by {when}."
    else:
        late_by = arrived.received_at - due
        message = (f"The delivery for {day:%a %d %b %Y} arrived {_duration(late_by)} after "
                   f"the due time of {when}.")
    finding = Finding.objects.create(
        kind=Finding.Kind.LATE, feed=feed, check_id="late_delivery",
        check_name=f"{feed.name} delivered by {when}", severity="error", status="late",
        message=message, period=day, created_at=now)
    audit.record(actor=None, action="finding.late", obj=finding,
                 changes=audit.created({"period": day, "message": message}))
    return finding


def _duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# -- preview --------------------------------------------------------------------------------


def suite_preview(*, feed: Feed, text: str) -> dict[str, Any]:
    """A draft suite run against the feed's latest accepted delivery; nothing is stored.

    Returns {"problems": [...]} when the draft does not validate or cannot run, else
    {"delivery": Delivery, "result": the engine's result document}.
    """
    from sourcewise.engine import SuiteError, run_suite

    slugs = set(Feed.objects.filter(engagement_id=feed.engagement_id).values_list("slug", flat=True))
    parsed, problems = suites.parse(text, feed_slugs=slugs, own_slug=feed.slug)
    if problems:
        return {"problems": problems}
    latest = feed.deliveries.filter(status=Delivery.Status.ACCEPTED).order_by("-received_at", "-pk").first()
    if latest is None:
        return {"problems": ["There is no accepted delivery of this feed to preview against yet."]}
    probe = CheckRun(delivery=latest, feed=feed)
    with tempfile.TemporaryDirectory(prefix="sw-preview-") as tmp:
        try:
            suite = suites.engine_suite(parsed, Path(tmp))
            result = run_suite(suite, data=_resolve_data(probe, parsed), sample=5,
                               cache=settings.ENGINE_PLAN_CACHE_DIR)
        except SuiteError as exc:
            return {"problems": suites.clean_problems(exc.problems)}
    return {"delivery": latest, "result": result.to_dict()}


# -- resumable uploads and registered locations ---------------------------------------------


@transaction.atomic
def upload_session_start(
    *,
    actor: User,
    organization: Organization | None,
    feed: Feed,
    filename: str,
    size_bytes: int,
    period: dt.date | None = None,
) -> UploadSession:
    """Announce a large delivery that will arrive in parts (resumable after a broken connection)."""
    feed = Feed.objects.select_related("engagement").get(pk=feed.pk)
    membership = require_engagement_role(actor, feed.engagement, Role.MEMBER, organization=organization)
    _require_active(feed.engagement)
    filename = os.path.basename((filename or "").replace("\\", "/")).strip()[:255]
    errors = {}
    if files.format_of(filename) is None:
        errors["filename"] = f"'{filename}' is not a {files.ACCEPTED_NAMES} file."
    limit = int(settings.UPLOAD_MAX_BYTES)
    if size_bytes <= 0:
        errors["size_bytes"] = "The file is empty: announce its size in bytes (more than 0)."
    elif size_bytes > limit:
        errors["size_bytes"] = f"The file is larger than the limit of {_size(limit)}."
    if errors:
        raise ValidationError(errors)
    directory = storage.storage_root() / "uploads" / str(feed.pk)
    directory.mkdir(parents=True, exist_ok=True)
    session = UploadSession.objects.create(
        feed=feed, filename=filename, size_bytes=size_bytes, period=period, part_path="",
        created_by=actor, organization=membership.organization)
    session.part_path = f"uploads/{feed.pk}/.session-{session.pk}.part"
    session.save(update_fields=["part_path"])
    storage_path(session.part_path).touch()
    audit.record(actor=actor, action="upload.start", obj=session, organization=membership.organization,
                 changes=audit.created({"filename": filename, "size_bytes": size_bytes}))
    return session


def _require_receiving(session: UploadSession) -> None:
    if session.location:
        raise ValidationError(f"This upload is the registered location {session.location}, which the worker "
                              "copies in; it takes no parts.")
    if session.status != UploadSession.Status.OPEN:
        raise ValidationError("This upload is already completed.")


def upload_session_append(
    *, actor: User, organization: Organization | None, session: UploadSession, offset: int, stream: Any,
) -> UploadSession:
    """Write one part at `offset`, which must be where the file stands (else 409 saying where).

    A part is streamed to the end of the partial file; a broken part is cut back to the
    last whole byte received, so the client resumes from `received_bytes`.
    """
    session = UploadSession.objects.select_related("feed__engagement").get(pk=session.pk)
    require_engagement_role(actor, session.feed.engagement, Role.MEMBER, organization=organization)
    _require_receiving(session)
    if offset != session.received_bytes:
        raise Conflict(f"This upload has {session.received_bytes} bytes; send the part that starts there.")
    path = storage_path(session.part_path)
    written = 0
    with open(path, "r+b") as fh:
        fh.seek(session.received_bytes)
        try:
            for block in storage.chunks(stream):
                if session.received_bytes + written + len(block) > session.size_bytes:
                    raise ValidationError(f"The parts are larger than the announced {session.size_bytes} bytes.")
                fh.write(block)
                written += len(block)
        finally:
            fh.truncate(session.received_bytes + written)
            fh.flush()
            os.fsync(fh.fileno())
            # The count moves only with bytes on disk; an interrupted part keeps what arrived.
            UploadSession.objects.filter(pk=session.pk).update(received_bytes=session.received_bytes + written)
    session.refresh_from_db()
    return session


def upload_session_complete(
    *, actor: User, organization: Organization | None, session: UploadSession,
) -> Delivery:
    """All parts arrived: the file becomes a delivery (accepted or rejected, like an upload)."""
    session = UploadSession.objects.select_related("feed__engagement").get(pk=session.pk)
    require_engagement_role(actor, session.feed.engagement, Role.MEMBER, organization=organization)
    _require_receiving(session)
    if session.received_bytes != session.size_bytes:
        raise Conflict(f"Only {session.received_bytes} of {session.size_bytes} bytes have arrived; "
                       f"send the rest from byte {session.received_bytes}.")
    path = storage_path(session.part_path)
    with open(path, "rb") as fh:
        delivery = delivery_receive(actor=actor, organization=organization, feed=session.feed, stream=fh,
                                    filename=session.filename, period=session.period,
                                    source=Delivery.Source.API)
    with transaction.atomic():
        UploadSession.objects.filter(pk=session.pk).update(status=UploadSession.Status.COMPLETED,
                                                           delivery=delivery)
    path.unlink(missing_ok=True)
    return delivery


# Storage that belongs to Sourcewise itself: a registered location may not point into it.
OWN_FOLDERS = ("deliveries", "runs", "uploads")


def delivery_register(
    *,
    actor: User,
    organization: Organization | None,
    feed: Feed,
    location: str,
    period: dt.date | None = None,
) -> UploadSession:
    """A file the provider placed in a drop folder or an object store, registered for the worker.

    A path inside the storage root (an SFTP drop folder, say) or an `s3://bucket/key` URL
    becomes an UploadSession that the worker copies in (`delivery_fetch`) into Sourcewise's
    own storage with its checksum, so the evidence cannot change when the drop folder does;
    the session then points at the delivery. Anything else (a path outside the storage
    root or inside Sourcewise's own folders, another scheme, a missing file) is refused.
    """
    feed = Feed.objects.select_related("engagement").get(pk=feed.pk)
    require_engagement_role(actor, feed.engagement, Role.MEMBER, organization=organization)
    text = (location or "").strip()
    if objectstore.is_object_url(text):
        try:
            where = objectstore.parse(text)
        except ValueError as exc:
            raise ValidationError({"location": str(exc)}) from None
        return _register_location(actor=actor, organization=organization, feed=feed, where=where, period=period)
    root = storage.storage_root().resolve()
    candidate = Path(text)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not text or not resolved.is_relative_to(root) or resolved == root:
        raise ValidationError({"location": f"The location must be a file inside the storage root or an "
                                           f"object-store URL s3://bucket/key; '{text}' is neither."})
    relative = resolved.relative_to(root)
    if relative.parts[0] in OWN_FOLDERS:
        raise ValidationError({"location": f"'{relative.parts[0]}/' holds Sourcewise's own files; "
                                           "register a file from a drop folder instead."})
    if not resolved.is_file():
        raise ValidationError({"location": f"No file at '{relative}' inside the storage root."})
    return _register_location(actor=actor, organization=organization, feed=feed,
                              where=objectstore.DropLocation(relative.as_posix()), period=period)


@transaction.atomic
def _register_location(*, actor: User, organization: Organization | None, feed: Feed,
                       where: objectstore.ObjectLocation | objectstore.DropLocation,
                       period: dt.date | None) -> UploadSession:
    membership = require_engagement_role(actor, feed.engagement, Role.MEMBER, organization=organization)
    _require_active(feed.engagement)
    if files.format_of(where.filename) is None:
        raise ValidationError({"location": f"'{where.filename}' is not a {files.ACCEPTED_NAMES} file."})
    session = UploadSession.objects.create(
        feed=feed, filename=where.filename[:255], size_bytes=0, period=period, part_path="",
        location=where.url, created_by=actor, organization=membership.organization)
    audit.record(actor=actor, action="delivery.register", obj=session, organization=membership.organization,
                 changes=audit.created({"location": where.url}))
    transaction.on_commit(lambda: _enqueue_fetch(session.pk))
    return session


def _enqueue_fetch(session_id: int) -> None:
    from sourcewise.monitoring.tasks import fetch_location

    fetch_location.enqueue(session_id)


class FetchGivenUp(Exception):
    """A location's copy was marked failed (its worker thought dead) before it could be recorded."""


def _fetch_directory(session_id: int) -> str:
    """Where the worker writes one location's object until a delivery adopts it (renamed, not copied)."""
    return f"uploads/fetch/{session_id}"


class _FetchPulse(_Pulse):
    def __init__(self, session_id: int) -> None:
        super().__init__()
        self.session_id, self.name = session_id, f"heartbeat-fetch-{session_id}"

    def beat(self) -> None:
        UploadSession.objects.filter(pk=self.session_id, status=UploadSession.Status.FETCHING).update(
            heartbeat_at=timezone.now())


class _FetchedObject(storage.StoredUpload):
    """An object the worker copied into its session's folder, for `delivery_receive` to adopt.

    Adopting renames it into deliveries/ and notes the new name on the session
    (`part_path`) at once, so a worker that dies before the delivery is recorded leaves a
    file the stale-fetch job can name and remove.
    """

    def __init__(self, writer: storage.StorageWriter, *, session_id: int, name: str) -> None:
        super().__init__(writer, name=name, content_type="application/octet-stream", size=writer.out.size,
                         charset=None, content_type_extra=None)
        self.session_id = session_id

    def adopt(self, *, directory: str, suffix: str) -> storage.StoredFile:
        stored = super().adopt(directory=directory, suffix=suffix)
        if stored.relative_path:
            UploadSession.objects.filter(pk=self.session_id).update(part_path=stored.relative_path)
        return stored


def _claim_fetch(session_id: int) -> UploadSession | None:
    """Take a registered location for this worker, under the row's lock, before any byte is copied.

    None when there is nothing to do: no such session, not a location, or one already
    claimed, completed or failed (a retried task, or one queued twice). A location whose
    registrant can no longer deliver, or whose engagement is no longer active, fails here
    with the reason instead of waiting forever.
    """
    with transaction.atomic():
        session = (UploadSession.objects.select_for_update(of=("self",))
                   .select_related("feed__engagement", "created_by", "organization")
                   .filter(pk=session_id).first())
        if session is None or session.status != UploadSession.Status.OPEN or not session.location:
            return None
        try:
            require_engagement_role(session.created_by, session.feed.engagement, Role.MEMBER,
                                    organization=session.organization)
            _require_active(session.feed.engagement)
        except (PermissionDenied, ValidationError) as exc:
            _fail_fetch(session, _fetch_failure(session, exc))
            return None
        session.status = UploadSession.Status.FETCHING
        session.fetch_started_at = session.heartbeat_at = timezone.now()
        session.save(update_fields=["status", "fetch_started_at", "heartbeat_at"])
        return session


def _fetch_failure(session: UploadSession, exc: BaseException) -> str:
    """Why a location could not be copied in, in the user's words."""
    if isinstance(exc, PermissionDenied):
        who = session.created_by.display_name if session.created_by else "The person who registered it"
        where = f" of {session.organization}" if session.organization else ""
        return (f"{who} registered {session.location} but is no longer a member{where} who can deliver "
                "to this engagement, so it was not copied in; nothing was kept. Someone who can deliver "
                "can register the location again.")
    if isinstance(exc, ValidationError):
        return f"{session.location} was not copied in: {' '.join(exc.messages)} Nothing was kept."
    return (f"Copying {session.location} stopped with an internal error ({type(exc).__name__}: {exc}); "
            "nothing was kept; register the location again.")


def _fail_fetch(session: UploadSession, reason: str) -> None:
    """Mark a location failed with the reason; inside the transaction that holds its row."""
    before = session.status
    session.status, session.reason = UploadSession.Status.FAILED, reason[:5000]
    session.save(update_fields=["status", "reason"])
    audit.record(actor=None, action="upload.fail", obj=session, organization=session.organization,
                 changes={"status": {"before": before, "after": session.status},
                          "reason": {"before": None, "after": reason[:500]}})


def _discard_fetch_files(session_id: int) -> None:
    """Remove what a fetch left that no delivery holds.

    That is the session's folder under uploads/fetch/ (the object while it was copied),
    and a file already renamed into deliveries/ (noted in `part_path`) whose delivery was
    never recorded, with the working copy derived from it.
    """
    root = storage.storage_root()
    shutil.rmtree(root / _fetch_directory(session_id), ignore_errors=True)
    part = UploadSession.objects.filter(pk=session_id).values_list("part_path", flat=True).first()
    if not part or not part.startswith("deliveries/") or Delivery.objects.filter(stored_path=part).exists():
        return
    path = root / part
    left = [path]
    if path.name.lower().endswith(".gz"):
        working = path.name[: -len(".gz")]
        left += [path.with_name(working), path.with_name(f".{working}.part")]
    for leftover in left:
        leftover.unlink(missing_ok=True)


def delivery_fetch(*, session_id: int) -> Delivery | None:
    """The worker's half of an object-store registration: copy the object in as a delivery.

    The session is claimed first (FETCHING, under its row's lock), so a retried task or
    one queued twice copies nothing a second time. The object is streamed into the
    session's own folder (hashed, within UPLOAD_MAX_BYTES), then adopted by
    `delivery_receive` like an upload: the delivery is recorded and the session completed
    in one transaction. An object that does not exist, is denied, or breaks off while
    read becomes a rejected delivery with the reason. A copy that cannot start or stops
    for any other reason (the registrant left, an internal error) marks the session
    FAILED with the reason, and nothing of it stays stored.
    """
    session = _claim_fetch(session_id)
    if session is None:
        done = UploadSession.objects.select_related("delivery").filter(pk=session_id).first()
        return getattr(done, "delivery", None)
    try:
        with _FetchPulse(session.pk):
            delivery = _copy_object(session)
        # Its file was renamed into deliveries/ (or never kept): the folder is empty.
        shutil.rmtree(storage.storage_root() / _fetch_directory(session.pk), ignore_errors=True)
        return delivery
    except FetchGivenUp:
        _discard_fetch_files(session.pk)
        return None
    except Exception as exc:  # the session must end with a reason, whatever went wrong
        if not isinstance(exc, (PermissionDenied, ValidationError)):
            logger.exception("Fetching %s (upload %s) failed", session.location, session.pk)
        _discard_fetch_files(session.pk)
        with transaction.atomic():
            locked = UploadSession.objects.select_for_update().filter(pk=session.pk).first()
            if locked is not None and locked.status == UploadSession.Status.FETCHING:
                _fail_fetch(locked, _fetch_failure(session, exc))
        return None


def _copy_object(session: UploadSession) -> Delivery:
    from botocore.exceptions import BotoCoreError, ClientError

    where = objectstore.location_of(session.location)
    common = dict(actor=session.created_by, organization=session.organization, feed=session.feed,
                  filename=where.filename, period=session.period, source=Delivery.Source.LOCATION,
                  upload_session=session)
    try:
        body = objectstore.open_location(where)
    except objectstore.LocationProblem as exc:
        return _reject_unread(**common, reason=str(exc))
    try:
        fetched = _download(session, where, body)
    except (BotoCoreError, ClientError) as exc:
        # The partial file was removed; the attempt is kept with the reason.
        return _reject_unread(**common, reason=objectstore.describe(exc, where))
    except OSError as exc:
        # Storage could not take it (disk full, say): nothing half-stored, the reason kept.
        return _reject_unread(**common, reason=f"{where.url} could not be stored here: {exc}")
    finally:
        body.close()
    try:
        return delivery_receive(**common, stream=fetched)
    except OSError as exc:
        _discard_fetch_files(session.pk)
        return _reject_unread(**common, reason=f"{where.url} could not be stored here: {exc}")


def _download(session: UploadSession, where: objectstore.ObjectLocation | objectstore.DropLocation, body: Any) -> _FetchedObject:
    """The object's bytes into the session's folder, hashed and within the limit."""
    _file_format, compressed = files.format_of(where.filename) or ("", False)
    writer = storage.StorageWriter(directory=_fetch_directory(session.pk), suffix="", compressed=compressed,
                                   limit=int(settings.UPLOAD_MAX_BYTES))
    try:
        UploadSession.objects.filter(pk=session.pk).update(
            part_path=str(writer.part.relative_to(storage.storage_root())))
        for block in storage.chunks(body):
            writer.write(block)
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    return _FetchedObject(writer, session_id=session.pk, name=where.filename)


def fetches_recover_stale(*, now: dt.datetime | None = None) -> int:
    """Locations whose worker stopped while copying: marked failed with the reason, never fetched again.

    A FETCHING session whose heartbeat is older than MONITORING_STALE_RUN_SECONDS lost its
    worker. It is not copied again by itself (the worker may have got further than its
    last sign of life shows); what it left under the storage root is removed and a person
    registers the location again. A location still OPEN that long after its task was
    queued lost the task before any worker claimed it: it is queued again (the claim
    makes a duplicate task harmless). Returns how many sessions were failed or re-queued.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.MONITORING_STALE_RUN_SECONDS)
    lost = UploadSession.objects.filter(status=UploadSession.Status.OPEN, queued_at__lt=cutoff).exclude(location="")
    requeued = 0
    for session_id in list(lost.values_list("pk", flat=True)):
        with transaction.atomic():
            # One conditional UPDATE: a worker's claim in between leaves it alone.
            if UploadSession.objects.filter(
                    pk=session_id, status=UploadSession.Status.OPEN, queued_at__lt=cutoff).update(queued_at=now):
                transaction.on_commit(lambda pk=session_id: _enqueue_fetch(pk))
                requeued += 1
    stale = UploadSession.objects.filter(status=UploadSession.Status.FETCHING, heartbeat_at__lt=cutoff)
    failed = 0
    for session_id in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            session = UploadSession.objects.select_for_update().filter(pk=session_id).first()
            if (session is None or session.status != UploadSession.Status.FETCHING
                    or session.heartbeat_at is None or session.heartbeat_at >= cutoff):
                continue
            _fail_fetch(session, (
                f"The worker stopped while copying {session.location} (last sign of life "
                f"{session.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); nothing was kept; register the location again."))
        # After the commit: a worker that was only slow can no longer record what it copied.
        _discard_fetch_files(session_id)
        failed += 1
    return failed + requeued


def _reject_unread(*, actor, organization, feed, filename, period, source, reason: str,
                   upload_session: UploadSession | None = None) -> Delivery:
    """A delivery whose file could not be read at all: kept as a rejected attempt with the reason."""
    feed = Feed.objects.select_related("engagement").get(pk=feed.pk)
    membership = require_engagement_role(actor, feed.engagement, Role.MEMBER, organization=organization)
    received = timezone.now()
    return _record_delivery(actor, membership, Delivery(
        feed=feed, original_name=filename[:255], period=period or _local_date(feed, received), source=source,
        uploaded_by=actor, organization=membership.organization, received_at=received,
        file_format=(files.format_of(filename) or ("", False))[0],
        status=Delivery.Status.REJECTED, reason=reason), start_run=False, upload_session=upload_session)
