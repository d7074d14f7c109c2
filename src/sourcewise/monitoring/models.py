"""Models of monitoring: every one is a TenantModel (see core.tenancy), shared by an engagement.

A feed is what the provider delivers; its suite (versions of one YAML text) says what the
buyer expects of it; a delivery is one immutable file; a check run checks one delivery
against one suite version; each failed check becomes a finding.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from sourcewise.core.tenancy import TenantModel

SCHEMA_TYPES = ("integer", "float", "string", "boolean", "date", "timestamp")


class Feed(TenantModel):
    """What a provider delivers in an engagement (a daily log), or a reference dataset."""

    class Kind(models.TextChoices):
        DELIVERY = "delivery", "Delivery from the provider"
        REFERENCE = "reference", "Reference dataset"

    class Cadence(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKDAYS = "weekdays", "Every weekday (Monday to Friday)"
        WEEKLY = "weekly", "Weekly"
        ON_CHANGE = "on_change", "When it changes (never late)"

    engagement = models.ForeignKey("core.Engagement", on_delete=models.PROTECT, related_name="feeds")
    slug = models.SlugField(max_length=60, help_text="The name a suite's datasets use for this feed.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.DELIVERY)
    # {"column": "integer" | "float" | "string" | "boolean" | "date" | "timestamp"}
    expected_schema = models.JSONField(default=dict, blank=True)
    # Columns that identify a customer: the affected-customer list of a finding.
    customer_columns = models.JSONField(default=list, blank=True)
    cadence = models.CharField(max_length=20, choices=Cadence.choices, default=Cadence.DAILY)
    due_time = models.TimeField(default="06:00")
    due_weekday = models.PositiveSmallIntegerField(
        default=0, help_text="For a weekly feed: 0 = Monday ... 6 = Sunday."
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    buyer_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    provider_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_engagement_field = "engagement"

    class Meta:
        ordering = ["engagement_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["engagement", "slug"], name="feed_slug_unique_in_engagement"),
            models.CheckConstraint(condition=Q(due_weekday__lte=6), name="feed_weekday_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("monitoring_feed", args=[self.pk])

    def current_suite(self) -> SuiteVersion | None:
        return self.suite_versions.order_by("-number").first()


class SuiteVersion(TenantModel):
    """One saved, validated version of a feed's suite; versions are never edited."""

    feed = models.ForeignKey(Feed, on_delete=models.PROTECT, related_name="suite_versions")
    number = models.PositiveIntegerField()
    text = models.TextField(help_text="The suite in the contract's YAML; datasets name feeds.")
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "feed__engagement"

    class Meta:
        ordering = ["feed_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["feed", "number"], name="suite_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.feed} suite v{self.number}"


class Delivery(TenantModel):
    """One file the provider delivered: immutable evidence, never edited, never deleted."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    class Source(models.TextChoices):
        PAGE = "page", "Uploaded in the page"
        API = "api", "Uploaded through the API"
        LOCATION = "location", "Registered location"
        DEMO = "demo", "Demo data"

    feed = models.ForeignKey(Feed, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=20, choices=Status.choices)
    reason = models.TextField(blank=True, help_text="Why a delivery was rejected.")
    original_name = models.CharField(max_length=255)
    # Relative to STORAGE_ROOT; empty when nothing could be kept (over the size limit).
    stored_path = models.CharField(max_length=500, blank=True)
    # A copy derived from the delivered file for the engine (a .jsonl.gz decompressed to .jsonl),
    # relative to STORAGE_ROOT; empty when the engine reads the delivered file itself.
    working_path = models.CharField(max_length=500, blank=True)
    file_format = models.CharField(max_length=20, blank=True)  # parquet | csv | jsonl
    compressed = models.BooleanField(default=False)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    columns = models.JSONField(default=dict, blank=True)  # as found: {"column": "type"}
    period = models.DateField(help_text="The business day (or week) the delivery covers.")
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.PAGE)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The side that delivered it.",
    )
    received_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "feed__engagement"
    # Only these may change after a delivery is stored, and only through the services.
    IMMUTABLE = ("feed_id", "original_name", "stored_path", "working_path", "file_format", "compressed",
                 "size_bytes", "sha256", "period", "received_at")

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["feed", "status", "-received_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="rejected") | ~Q(stored_path=""), name="delivery_accepted_has_file"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.received_at:%Y-%m-%d %H:%M})"

    def get_absolute_url(self) -> str:
        return reverse("monitoring_delivery", args=[self.pk])

    def save(self, *args, **kwargs):
        if not self._state.adding and self.pk:
            stored = type(self).objects.filter(pk=self.pk).values(*self.IMMUTABLE).first()
            if stored and any(stored[f] != getattr(self, f) for f in self.IMMUTABLE):
                raise TypeError("A delivery is evidence: its file and facts are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("A delivery is evidence: it is never deleted.")

    @property
    def path(self) -> Path | None:
        return Path(settings.STORAGE_ROOT) / self.stored_path if self.stored_path else None

    @property
    def engine_path(self) -> Path | None:
        """The file a check run reads: the working copy when there is one, else the delivered file."""
        if self.working_path:
            return Path(settings.STORAGE_ROOT) / self.working_path
        return self.path

    @property
    def working_size_bytes(self) -> int | None:
        """The working copy's size (derived from the delivery, not counted as delivered)."""
        if not self.working_path:
            return None
        try:
            return self.engine_path.stat().st_size
        except OSError:
            return None


class UploadSession(TenantModel):
    """A large delivery sent in parts through the API, or an object-store location the worker
    copies in; it becomes a Delivery when completed.

    A location goes OPEN (registered) -> FETCHING (claimed by one worker, under a row lock,
    before any byte is copied) -> COMPLETED (with its delivery, accepted or rejected), or
    FAILED with the reason when the copy could not start or its worker stopped.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Receiving parts"
        FETCHING = "fetching", "Being copied in"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Not copied in"

    feed = models.ForeignKey(Feed, on_delete=models.PROTECT, related_name="upload_sessions")
    filename = models.CharField(max_length=255)
    size_bytes = models.PositiveBigIntegerField(help_text="The whole file's size, announced at the start.")
    received_bytes = models.PositiveBigIntegerField(default=0)
    period = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    part_path = models.CharField(max_length=500, blank=True)  # relative to STORAGE_ROOT
    # A registered object-store location (s3://bucket/key) the worker copies in; no parts then.
    location = models.CharField(max_length=1000, blank=True)
    delivery = models.OneToOneField(
        Delivery, null=True, blank=True, on_delete=models.PROTECT, related_name="upload_session"
    )
    reason = models.TextField(blank=True, help_text="Why a registered location was not copied in.")
    # When the location's task was (last) queued; the stale-fetch job queues a lost one again.
    queued_at = models.DateTimeField(default=timezone.now)
    # When a worker claimed the location, and its last sign of life while copying.
    fetch_started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "feed__engagement"

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(received_bytes__lte=models.F("size_bytes")),
                                   name="upload_session_not_past_its_size"),
        ]

    def __str__(self) -> str:
        return f"Upload of {self.filename}"


class CheckRun(TenantModel):
    """One check of one delivery against one suite version, run as a background task."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Could not run"

    FINISHED = ("passed", "failed", "error")

    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="runs")
    feed = models.ForeignKey(Feed, on_delete=models.PROTECT, related_name="runs")
    suite_version = models.ForeignKey(SuiteVersion, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    backend = models.CharField(max_length=40, default="duckdb")
    attempt = models.PositiveSmallIntegerField(default=0)
    reason = models.TextField(blank=True, help_text="Why the run could not finish.")
    progress = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    engine_seconds = models.FloatField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True, help_text="The engine's full result document.")
    failures_path = models.CharField(max_length=500, blank=True)  # relative to STORAGE_ROOT

    tenant_engagement_field = "feed__engagement"

    class Meta:
        ordering = ["-queued_at", "-pk"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"Run #{self.pk} of {self.feed}"

    def get_absolute_url(self) -> str:
        return reverse("monitoring_run", args=[self.pk])

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class CheckOutcome(TenantModel):
    """One check's outcome in one finished run: the series scorecards and trends are drawn from."""

    run = models.ForeignKey(CheckRun, on_delete=models.PROTECT, related_name="outcomes")
    feed = models.ForeignKey(Feed, on_delete=models.PROTECT, related_name="outcomes")
    check_id = models.CharField(max_length=200)
    check_name = models.CharField(max_length=300)
    severity = models.CharField(max_length=10)
    status = models.CharField(max_length=10)  # passed | failed | warned | error
    failing_rows = models.BigIntegerField(null=True)
    total_rows = models.BigIntegerField(null=True)
    period = models.DateField()
    recorded_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "feed__engagement"

    class Meta:
        ordering = ["feed_id", "check_id", "period"]
        indexes = [models.Index(fields=["feed", "check_id", "-recorded_at"])]

    def __str__(self) -> str:
        return f"{self.check_id}: {self.status}"


class Finding(TenantModel):
    """What fell short: a failed check of a run, or a delivery that did not arrive in time."""

    class Kind(models.TextChoices):
        CHECK = "check", "Failed check"
        LATE = "late", "Late delivery"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CHECK)
    feed = models.ForeignKey(Feed, on_delete=models.PROTECT, related_name="findings")
    run = models.ForeignKey(
        CheckRun, null=True, blank=True, on_delete=models.PROTECT, related_name="findings"
    )
    check_id = models.CharField(max_length=200)
    check_name = models.CharField(max_length=300)
    severity = models.CharField(max_length=10)  # error | warn
    status = models.CharField(max_length=10)  # failed | warned | error | late
    dataset = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)
    failing_rows = models.BigIntegerField(null=True, blank=True)
    total_rows = models.BigIntegerField(null=True, blank=True)
    failing_groups = models.BigIntegerField(null=True, blank=True)
    sample = models.JSONField(default=list, blank=True)
    customer_columns = models.JSONField(default=list, blank=True)
    affected_path = models.CharField(max_length=500, blank=True)  # failing rows, Parquet
    period = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "feed__engagement"

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["feed", "period"], condition=Q(kind="late"), name="finding_one_late_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.check_name} ({self.period})"

    def get_absolute_url(self) -> str:
        return reverse("monitoring_finding", args=[self.pk])

    @property
    def affected_file(self) -> Path | None:
        return Path(settings.STORAGE_ROOT) / self.affected_path if self.affected_path else None

    def customer_keys(self):
        """Each affected customer's key once, as a tuple of `customer_columns` values."""
        from sourcewise.monitoring.files import distinct_keys

        if not self.affected_path or not self.customer_columns:
            return iter(())
        return distinct_keys(self.affected_file, self.customer_columns)
