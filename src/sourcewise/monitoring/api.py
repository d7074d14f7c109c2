"""JSON API of monitoring (mounted under /api/v1/ by config.api): feeds, suites, deliveries,
check runs, findings and scorecards, under the same tenancy rule as the pages."""


import datetime as dt
import functools
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, StreamingHttpResponse
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile
from ninja.pagination import paginate

from sourcewise.core.api import READ_ERRORS, WRITE_ERRORS, ErrorOut, InputSchema, Page, UserRef
from sourcewise.core.selectors import engagement_get, engagement_list
from sourcewise.monitoring import files, selectors, services
from sourcewise.monitoring.models import (
    SCHEMA_TYPES,
    CheckRun,
    Delivery,
    Feed,
    Finding,
    UploadSession,
)

router = Router(tags=["monitoring"])

SchemaType = Literal["integer", "float", "string", "boolean", "date", "timestamp"]
assert set(SchemaType.__args__) == set(SCHEMA_TYPES)  # type: ignore[attr-defined]


def _scope(request: HttpRequest) -> dict[str, Any]:
    return {"user": request.user, "organization": request.organization}


# -- schemas --------------------------------------------------------------------------------


class FeedOut(Schema):
    id: int
    engagement_id: int
    slug: str = Field(description="The name a suite's datasets use for this feed (feed: SLUG).")
    name: str
    description: str
    kind: Literal["delivery", "reference"]
    expected_schema: dict[str, str] = Field(description="column -> contract type")
    customer_columns: list[str] = Field(description="Columns that identify a customer.")
    cadence: Literal["daily", "weekdays", "weekly", "on_change"]
    due_time: dt.time
    due_weekday: int = Field(description="Weekly feeds: 0 = Monday ... 6 = Sunday.")
    time_zone: str
    buyer_owner: UserRef | None
    provider_owner: UserRef | None
    suite_version: int | None = Field(description="The number of the suite's current version.")
    version: int = Field(description="Send it back with an edit (PATCH); 409 if someone saved since.")

    @staticmethod
    def resolve_suite_version(obj: Feed) -> int | None:
        if hasattr(obj, "suite_number"):  # annotated by the selector
            return obj.suite_number
        suite = obj.current_suite()
        return suite.number if suite else None


class FeedIn(InputSchema):
    engagement_id: int
    name: str
    slug: str = Field(description="Letters, digits, - and _.")
    description: str = ""
    kind: Literal["delivery", "reference"] = "delivery"
    expected_schema: dict[str, SchemaType] = Field(default_factory=dict)
    customer_columns: list[str] = Field(default_factory=list)
    key: list[str] = Field(default_factory=list, description="Columns that identify a row (for the first suite).")
    cadence: Literal["daily", "weekdays", "weekly", "on_change"] = "daily"
    due_time: dt.time = dt.time(6, 0)
    due_weekday: int = Field(0, ge=0, le=6)
    time_zone: str = "UTC"


class FeedPatch(InputSchema):
    version: int
    name: str | None = None
    description: str | None = None
    kind: Literal["delivery", "reference"] | None = None
    expected_schema: dict[str, SchemaType] | None = None
    customer_columns: list[str] | None = None
    cadence: Literal["daily", "weekdays", "weekly", "on_change"] | None = None
    due_time: dt.time | None = None
    due_weekday: int | None = Field(None, ge=0, le=6)
    time_zone: str | None = None


class SuiteVersionOut(Schema):
    id: int
    feed_id: int
    number: int
    text: str = Field(description="The suite in the contract's YAML; datasets name feeds.")
    note: str
    created_by: UserRef | None
    created_at: dt.datetime


class SuiteIn(InputSchema):
    text: str
    number: int | None = Field(None, description="The version you edited; 409 if a newer one was saved.")
    note: str = ""


class SuiteCheckIn(InputSchema):
    check: dict[str, Any] = Field(description="One check in the suite format, e.g. {dataset: contacts, not_null: [customer_id]}.")


class SuiteDraftIn(InputSchema):
    text: str


class ProblemsOut(Schema):
    valid: bool
    problems: list[str]


class DeliveryOut(Schema):
    id: int
    feed_id: int
    status: Literal["accepted", "rejected"]
    reason: str = Field(description="Why it was rejected; empty when accepted.")
    original_name: str
    file_format: str
    compressed: bool
    size_bytes: int
    sha256: str
    columns: dict[str, str]
    period: dt.date = Field(description="The day the delivery covers.")
    source: str
    received_at: dt.datetime
    latest_run_id: int | None

    @staticmethod
    def resolve_latest_run_id(obj: Delivery) -> int | None:
        if hasattr(obj, "latest_run_id"):  # annotated by the selector
            return obj.latest_run_id
        run = obj.runs.order_by("-pk").first()
        return run.pk if run else None


class RunOut(Schema):
    id: int
    delivery_id: int
    feed_id: int
    suite_version: int
    status: Literal["queued", "running", "passed", "failed", "error"]
    progress: str
    reason: str
    backend: str
    attempt: int
    queued_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    engine_seconds: float | None
    finding_ids: list[int]

    @staticmethod
    def resolve_suite_version(obj: CheckRun) -> int:
        return obj.suite_version.number

    @staticmethod
    def resolve_finding_ids(obj: CheckRun) -> list[int]:
        return sorted(f.pk for f in obj.findings.all())  # prefetched by the selector


class RunDetailOut(RunOut):
    result: dict[str, Any] | None = Field(description="The engine's full result document.")


class FindingOut(Schema):
    id: int
    kind: Literal["check", "late"]
    feed_id: int
    run_id: int | None
    check_id: str
    check_name: str
    severity: str
    status: str
    dataset: str
    message: str
    failing_rows: int | None
    total_rows: int | None
    failing_groups: int | None
    period: dt.date
    customer_columns: list[str]
    has_affected_rows: bool
    created_at: dt.datetime

    @staticmethod
    def resolve_has_affected_rows(obj: Finding) -> bool:
        return bool(obj.affected_path)


class TrendPoint(Schema):
    run_id: int
    period: dt.date
    status: str
    failing_rows: int | None


class FindingDetailOut(FindingOut):
    sample: list[dict[str, Any]]
    trend: list[TrendPoint]

    @staticmethod
    def resolve_trend(obj: Finding) -> list[dict]:
        return [{"run_id": o.run_id, "period": o.period, "status": o.status, "failing_rows": o.failing_rows}
                for o in selectors.finding_trend(obj)]


class CheckScoreOut(Schema):
    feed_id: int
    check_id: str
    check_name: str
    runs: int
    passed: int
    pass_rate: float
    failing_rows: int


class ScorecardOut(Schema):
    runs: int
    runs_passed: int
    pass_rate: float
    failing_rows: int
    findings: int
    late_deliveries: int
    checks: list[CheckScoreOut]


class FeedFilters(Schema):
    engagement_id: int | None = None


class RunFilters(Schema):
    feed_id: int | None = None
    status: Literal["queued", "running", "passed", "failed", "error"] | None = None


class FindingFilters(Schema):
    feed_id: int | None = None
    engagement_id: int | None = None
    kind: Literal["check", "late"] | None = None


class DownloadParams(Schema):
    what: Literal["rows", "customers"] = Field("rows", description="Every failing row, or each affected customer's key once.")
    format: Literal["csv", "parquet"] = Field("csv", description="Parquet only for rows.")


# -- feeds ----------------------------------------------------------------------------------


@router.get("/monitoring/feeds", response={200: list[FeedOut], **READ_ERRORS}, summary="List feeds")
@paginate(Page)
def list_feeds(request: HttpRequest, filters: Query[FeedFilters]) -> QuerySet[Feed]:
    feeds = selectors.feed_list(**_scope(request))
    if filters.engagement_id is not None:
        feeds = feeds.filter(engagement_id=filters.engagement_id)
    return feeds.order_by("engagement_id", "name", "pk")


@router.post("/monitoring/feeds", response={201: FeedOut, **WRITE_ERRORS}, summary="Add a feed")
def create_feed(request: HttpRequest, payload: FeedIn):
    """A feed in an engagement, with a first suite (its schema and a row count). Member on either side."""
    engagement = engagement_get(**_scope(request), pk=payload.engagement_id)
    data = payload.model_dump(exclude={"engagement_id"})
    feed = services.feed_create(actor=request.user, organization=request.organization,
                                engagement=engagement, **data)
    return Status(201, selectors.feed_get(**_scope(request), pk=feed.pk))


@router.get("/monitoring/feeds/{feed_id}", response={200: FeedOut, **READ_ERRORS}, summary="Get a feed")
def get_feed(request: HttpRequest, feed_id: int):
    return selectors.feed_get(**_scope(request), pk=feed_id)


@router.patch("/monitoring/feeds/{feed_id}", response={200: FeedOut, 409: ErrorOut, **WRITE_ERRORS},
              summary="Edit a feed")
def update_feed(request: HttpRequest, feed_id: int, payload: FeedPatch):
    feed = selectors.feed_get(**_scope(request), pk=feed_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    services.feed_update(actor=request.user, organization=request.organization, feed=feed,
                         expected_version=version, **changes)
    return selectors.feed_get(**_scope(request), pk=feed_id)


# -- suites ---------------------------------------------------------------------------------


@router.get("/monitoring/feeds/{feed_id}/suite", response={200: list[SuiteVersionOut], **READ_ERRORS},
            summary="A feed's suite versions")
@paginate(Page)
def list_suite_versions(request: HttpRequest, feed_id: int):
    """Every saved version, newest first; the first is the one new deliveries are checked with."""
    feed = selectors.feed_get(**_scope(request), pk=feed_id)
    return selectors.suite_version_list(**_scope(request)).filter(feed=feed).order_by("-number")


@router.post("/monitoring/feeds/{feed_id}/suite", response={201: SuiteVersionOut, 409: ErrorOut, **WRITE_ERRORS},
             summary="Save a new suite version")
def save_suite(request: HttpRequest, feed_id: int, payload: SuiteIn):
    """Validate and save the suite as a new version. Member on the buyer's side.

    A suite that does not validate answers 422 with one line per problem under `text`.
    """
    feed = selectors.feed_get(**_scope(request), pk=feed_id)
    version = services.suite_save(actor=request.user, organization=request.organization, feed=feed,
                                  text=payload.text, expected_number=payload.number, note=payload.note)
    return Status(201, version)


@router.post("/monitoring/feeds/{feed_id}/suite/checks", response={201: SuiteVersionOut, **WRITE_ERRORS},
             summary="Add one check to a suite")
def add_suite_check(request: HttpRequest, feed_id: int, payload: SuiteCheckIn):
    feed = selectors.feed_get(**_scope(request), pk=feed_id)
    version = services.suite_add_check(actor=request.user, organization=request.organization, feed=feed,
                                       check=payload.check)
    return Status(201, version)


@router.post("/monitoring/feeds/{feed_id}/suite/validate", response={200: ProblemsOut, **READ_ERRORS},
             summary="Validate a draft suite")
def validate_suite(request: HttpRequest, feed_id: int, payload: SuiteDraftIn):
    """Check a draft without saving it."""
    feed = selectors.feed_get(**_scope(request), pk=feed_id)
    problems = services.suite_validate(feed=feed, text=payload.text)
    return {"valid": not problems, "problems": problems}


# -- deliveries -----------------------------------------------------------------------------


@router.get("/monitoring/feeds/{feed_id}/deliveries", response={200: list[DeliveryOut], **READ_ERRORS},
            summary="A feed's deliveries")
@paginate(Page)
def list_deliveries(request: HttpRequest, feed_id: int):
    feed = selectors.feed_get(**_scope(request), pk=feed_id)
    return selectors.delivery_list(**_scope(request)).filter(feed=feed).order_by("-received_at", "-pk")


def _uploads_written_once(run):
    """Install the storage upload handler before django-ninja reads the multipart body."""

    @functools.wraps(run)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any):
        handler = files.upload_handler(request, int(settings.UPLOAD_MAX_BYTES))
        request.upload_handlers = [handler]
        try:
            return run(request, *args, **kwargs)
        finally:
            handler.cleanup()  # a file not adopted (refused, broken request) is not kept

    return wrapped


@router.post("/monitoring/feeds/{feed_id}/deliveries", response={201: DeliveryOut, **WRITE_ERRORS},
             summary="Upload a delivery (multipart)")
@decorate_view(_uploads_written_once)
def upload_delivery(request: HttpRequest, feed_id: int, file: File[UploadedFile],
                    period: Form[dt.date | None] = None):
    """Send the file as multipart/form-data field `file` (.parquet, .csv, .csv.gz, .jsonl, .jsonl.gz).

    A file that cannot be accepted answers 422 naming the reason, and is kept as a
    rejected delivery (its id is in the message). An accepted one is checked in the
    background: follow `latest_run_id`.
    """
    feed = selectors.feed_get(**_scope(request), pk=feed_id)
    delivery = services.delivery_receive(
        actor=request.user, organization=request.organization, feed=feed, stream=file,
        filename=file.name or "", period=period, source=Delivery.Source.API)
    _rejected_is_422(delivery)
    return Status(201, selectors.delivery_get(**_scope(request), pk=delivery.pk))


@router.get("/monitoring/deliveries/{delivery_id}", response={200: DeliveryOut, **READ_ERRORS},
            summary="Get a delivery")
def get_delivery(request: HttpRequest, delivery_id: int):
    return selectors.delivery_get(**_scope(request), pk=delivery_id)


@router.post("/monitoring/deliveries/{delivery_id}/runs", response={201: RunOut, **WRITE_ERRORS},
             summary="Check a delivery again")
def repeat_run(request: HttpRequest, delivery_id: int):
    """A new run of the same delivery with the feed's current suite version."""
    delivery = selectors.delivery_get(**_scope(request), pk=delivery_id)
    run = services.run_repeat(actor=request.user, organization=request.organization, delivery=delivery)
    return Status(201, selectors.run_get(**_scope(request), pk=run.pk))


class UploadIn(InputSchema):
    filename: str = Field(description="The file's name: .parquet, .csv, .csv.gz, .jsonl or .jsonl.gz.")
    size_bytes: int = Field(description="The whole file's size in bytes.")
    period: dt.date | None = Field(None, description="The day it covers; today in the feed's time zone if left out.")


class UploadOut(Schema):
    id: int
    feed_id: int
    filename: str
    size_bytes: int
    received_bytes: int = Field(description="Bytes stored so far: the offset of the next part.")
    status: Literal["open", "fetching", "completed", "failed"] = Field(
        description="open: receiving parts, or a location waiting for the worker; fetching: the worker is "
                    "copying it in; completed: see delivery_id; failed: not copied in, see reason.")
    location: str = Field(description="For a registered s3:// location: the object the worker copies in.")
    delivery_id: int | None
    reason: str = Field(description="Why a registered location was not copied in (status failed).")
    fetch_started_at: dt.datetime | None = Field(description="When the worker started copying the location.")


class UploadPartParams(Schema):
    offset: int = Field(ge=0, description="Where this part starts; must equal received_bytes.")


class LocationIn(InputSchema):
    location: str = Field(description="A file inside the server's storage root (e.g. inbox/dialwell/2026-11-20.parquet), "
                                      "or an object-store URL s3://bucket/key.")
    period: dt.date | None = None


def _rejected_is_422(delivery: Delivery) -> None:
    if delivery.status == Delivery.Status.REJECTED:
        raise ValidationError({"file": f"Delivery {delivery.pk} was rejected: {delivery.reason}"})


class _Body:
    """The request body as a stream read in blocks, never whole."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    def read(self, size: int = -1) -> bytes:
        return self.request.read(size)


@router.post("/monitoring/feeds/{feed_id}/uploads", response={201: UploadOut, **WRITE_ERRORS},
             summary="Start a resumable upload")
def start_upload(request: HttpRequest, feed_id: int, payload: UploadIn):
    """For large files: announce the file, PUT its parts in order (`?offset=`), then complete it.

    After a broken connection, GET the upload and continue from `received_bytes`.
    """
    feed = selectors.feed_get(**_scope(request), pk=feed_id)
    session = services.upload_session_start(actor=request.user, organization=request.organization, feed=feed,
                                            filename=payload.filename, size_bytes=payload.size_bytes,
                                            period=payload.period)
    return Status(201, session)


def _upload_get(request: HttpRequest, upload_id: int) -> UploadSession:
    from sourcewise.core.selectors import get_visible

    return get_visible(UploadSession, **_scope(request), pk=upload_id)


@router.get("/monitoring/uploads/{upload_id}", response={200: UploadOut, **READ_ERRORS},
            summary="Where a resumable upload stands")
def get_upload(request: HttpRequest, upload_id: int):
    return _upload_get(request, upload_id)


@router.put("/monitoring/uploads/{upload_id}", response={200: UploadOut, 409: ErrorOut, **WRITE_ERRORS},
            summary="Send one part of a resumable upload",
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
def put_upload_part(request: HttpRequest, upload_id: int, params: Query[UploadPartParams]):
    """The part's bytes are the body (application/octet-stream); 409 says the offset to send from."""
    session = _upload_get(request, upload_id)
    return services.upload_session_append(actor=request.user, organization=request.organization,
                                          session=session, offset=params.offset, stream=_Body(request))


@router.post("/monitoring/uploads/{upload_id}/complete", response={201: DeliveryOut, 409: ErrorOut, **WRITE_ERRORS},
             summary="Complete a resumable upload")
def complete_upload(request: HttpRequest, upload_id: int):
    """Every byte arrived: the file becomes a delivery and is checked. 422 if it is rejected."""
    session = _upload_get(request, upload_id)
    delivery = services.upload_session_complete(actor=request.user, organization=request.organization,
                                                session=session)
    _rejected_is_422(delivery)
    return Status(201, selectors.delivery_get(**_scope(request), pk=delivery.pk))


@router.post("/monitoring/feeds/{feed_id}/locations",
             response={202: UploadOut, **WRITE_ERRORS},
             summary="Register a file in the storage root or an s3:// object as a delivery")
def register_location(request: HttpRequest, feed_id: int, payload: LocationIn):
    """The worker copies the file (a drop folder inside the storage root) or the `s3://bucket/key`
    object in as a delivery and checks it.

    The answer is 202 with an upload whose `delivery_id` is set once it has arrived
    (GET /monitoring/uploads/{id}); a missing or denied file becomes a rejected delivery
    with the reason. An upload whose copy could not start or whose worker stopped is
    `failed` with its `reason`.
    """
    feed = selectors.feed_get(**_scope(request), pk=feed_id)
    session = services.delivery_register(actor=request.user, organization=request.organization, feed=feed,
                                         location=payload.location, period=payload.period)
    return Status(202, _upload_get(request, session.pk))


# -- runs -----------------------------------------------------------------------------------


@router.get("/monitoring/runs", response={200: list[RunOut], **READ_ERRORS}, summary="List check runs")
@paginate(Page)
def list_runs(request: HttpRequest, filters: Query[RunFilters]):
    runs = selectors.run_list(**_scope(request))
    if filters.feed_id is not None:
        runs = runs.filter(feed_id=filters.feed_id)
    if filters.status:
        runs = runs.filter(status=filters.status)
    return runs.order_by("-pk")


@router.get("/monitoring/runs/{run_id}", response={200: RunDetailOut, **READ_ERRORS}, summary="Get a check run")
def get_run(request: HttpRequest, run_id: int):
    """Its status and progress while it runs; the full result document when finished."""
    return selectors.run_get(**_scope(request), pk=run_id)


# -- findings -------------------------------------------------------------------------------


@router.get("/monitoring/findings", response={200: list[FindingOut], **READ_ERRORS}, summary="List findings")
@paginate(Page)
def list_findings(request: HttpRequest, filters: Query[FindingFilters]):
    findings = selectors.finding_list(**_scope(request))
    if filters.feed_id is not None:
        findings = findings.filter(feed_id=filters.feed_id)
    if filters.engagement_id is not None:
        findings = findings.filter(feed__engagement_id=filters.engagement_id)
    if filters.kind:
        findings = findings.filter(kind=filters.kind)
    return findings.order_by("-created_at", "-pk")


@router.get("/monitoring/findings/{finding_id}", response={200: FindingDetailOut, **READ_ERRORS},
            summary="Get a finding")
def get_finding(request: HttpRequest, finding_id: int):
    return selectors.finding_get(**_scope(request), pk=finding_id)


@router.get("/monitoring/findings/{finding_id}/affected", response={200: None, **READ_ERRORS},
            summary="Download a finding's affected rows or customers")
def download_affected(request: HttpRequest, finding_id: int, params: Query[DownloadParams]):
    """`what=rows` (CSV or Parquet): every failing row with every column of its dataset.
    `what=customers` (CSV): each affected customer's key once, the list to contact them."""
    finding = selectors.finding_get(**_scope(request), pk=finding_id)
    path = finding.affected_file
    if path is None or not path.exists():
        raise Http404("No affected rows.")
    stem = f"finding-{finding.pk}-{finding.check_id}"
    if params.what == "customers":
        if not finding.customer_columns:
            raise Http404("The feed names no customer key columns.")
        response = StreamingHttpResponse(files.csv_lines(finding.customer_columns, finding.customer_keys()),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{stem}-customers.csv"'
        return response
    if params.format == "parquet":
        return FileResponse(open(path, "rb"), as_attachment=True, filename=f"{stem}.parquet")
    response = StreamingHttpResponse(files.parquet_as_csv(path), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
    return response


# -- scorecards -----------------------------------------------------------------------------


def _card(card) -> dict:
    return {
        "runs": card.runs, "runs_passed": card.runs_passed, "pass_rate": card.pass_rate,
        "failing_rows": card.failing_rows, "findings": card.findings, "late_deliveries": card.late,
        "checks": [{"feed_id": s.feed.pk, "check_id": s.check_id, "check_name": s.check_name, "runs": s.runs,
                    "passed": s.passed, "pass_rate": s.pass_rate, "failing_rows": s.failing_rows}
                   for s in card.checks],
    }


@router.get("/monitoring/engagements/{engagement_id}/scorecard", response={200: ScorecardOut, **READ_ERRORS},
            summary="An engagement's SLA scorecard")
def engagement_scorecard(request: HttpRequest, engagement_id: int):
    """Every check of the engagement's feeds over time: pass rates, failing rows, late deliveries."""
    engagement = engagement_get(**_scope(request), pk=engagement_id)
    return _card(selectors.scorecard(**_scope(request), engagement=engagement))


@router.get("/monitoring/providers/{organization_id}/scorecard", response={200: ScorecardOut, **READ_ERRORS},
            summary="A provider's SLA scorecard")
def provider_scorecard(request: HttpRequest, organization_id: int):
    """The same, over every engagement you share with the provider."""
    if not engagement_list(**_scope(request)).filter(provider_id=organization_id).exists():
        raise Http404("No such provider.")
    return _card(selectors.scorecard(**_scope(request), provider=organization_id))
