"""Models of resilience: plans per service, incidents run by the brief's principles, reminders.

Every model is a TenantModel shared by the engagement's two sides (webhooks are
private to one organisation).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from sourcewise.core.tenancy import TenantModel

# A plan whose last exercise is older than this is flagged.
EXERCISE_MAX_AGE = dt.timedelta(days=365)


class ResiliencePlan(TenantModel):
    """The plan for one important business service of an engagement."""

    engagement = models.ForeignKey(
        "core.Engagement", on_delete=models.PROTECT, related_name="resilience_plans"
    )
    service = models.CharField(max_length=200, help_text="The important business service.")
    description = models.TextField(blank=True)
    # Impact tolerance: the worst disruption the buyer can accept.
    max_disruption_hours = models.PositiveIntegerField(
        help_text="The longest disruption the service can tolerate, in hours."
    )
    max_customers_affected = models.PositiveIntegerField(
        help_text="The most customers who may be affected before harm is intolerable."
    )
    acknowledge_within_hours = models.PositiveIntegerField(
        default=1, help_text="How soon an incident must be acknowledged."
    )
    solution_within_hours = models.PositiveIntegerField(
        default=24, help_text="How soon a solution must be agreed."
    )
    customer_template = models.TextField(
        blank=True,
        help_text="Message to affected customers. {service}, {count} and {summary} are filled in.",
    )
    executive_template = models.TextField(
        blank=True, help_text="Message to the buyer's executives. Same placeholders."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_engagement_field = "engagement"

    class Meta:
        ordering = ["service", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["engagement", "service"], name="plan_one_per_service"),
        ]

    def __str__(self) -> str:
        return self.service

    def get_absolute_url(self) -> str:
        return reverse("resilience_plan_detail", args=[self.pk])

    def last_exercised_on(self) -> dt.date | None:
        dates = [e.held_on for e in self.exercises.all()]
        return max(dates) if dates else None

    def exercise_overdue(self, today: dt.date | None = None) -> bool:
        """Not exercised in the last 12 months (or never)."""
        today = today or timezone.localdate()
        last = self.last_exercised_on()
        return last is None or today - last > EXERCISE_MAX_AGE


class FailureScenario(TenantModel):
    """A way the service can fail, how it is detected, who responds and how."""

    plan = models.ForeignKey(ResiliencePlan, on_delete=models.CASCADE, related_name="scenarios")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Feed and check names, kept as text: monitoring turns them into links.
    detected_by_feeds = models.JSONField(default=list)
    detected_by_checks = models.JSONField(default=list)
    response_steps = models.TextField(help_text="One step per line.")
    buyer_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    provider_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_engagement_field = "plan__engagement"

    class Meta:
        ordering = ["title", "pk"]

    def __str__(self) -> str:
        return self.title

    def steps(self) -> list[str]:
        return [line.strip() for line in self.response_steps.splitlines() if line.strip()]


class Exercise(TenantModel):
    """A rehearsal of the plan; its gaps become preventive controls."""

    class Result(models.TextChoices):
        PASSED = "passed", "Passed"
        PARTIAL = "partial", "Passed with gaps"
        FAILED = "failed", "Failed"

    plan = models.ForeignKey(ResiliencePlan, on_delete=models.CASCADE, related_name="exercises")
    held_on = models.DateField()
    result = models.CharField(max_length=20, choices=Result.choices)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_engagement_field = "plan__engagement"

    class Meta:
        ordering = ["-held_on", "-pk"]

    def __str__(self) -> str:
        return f"Exercise of {self.plan} on {self.held_on}"


class Incident(TenantModel):
    """A service failure, run from report to postmortem."""

    class Status(models.TextChoices):
        REPORTED = "reported", "Reported"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        INVESTIGATING = "investigating", "Investigating"
        SOLUTION_AGREED = "solution_agreed", "Solution agreed"
        REMEDIATING = "remediating", "Remediating"
        IN_REVIEW = "in_review", "In review"
        CLOSED = "closed", "Closed"

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Source(models.TextChoices):
        MANUAL = "manual", "Opened by hand"
        API = "api", "Opened through the API"
        FINDING = "finding", "Opened from a failed check"

    class Party(models.TextChoices):
        UNKNOWN = "", "Not established yet"
        BUYER = "buyer", "The buyer"
        PROVIDER = "provider", "The provider"
        SUBCONTRACTOR = "subcontractor", "A subcontractor"

    engagement = models.ForeignKey(
        "core.Engagement", on_delete=models.PROTECT, related_name="incidents"
    )
    plan = models.ForeignKey(
        ResiliencePlan, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    scenario = models.ForeignKey(
        FailureScenario, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REPORTED)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    # The first check behind an incident opened from findings (all of them: `checks`).
    check_name = models.CharField(max_length=200, blank=True)
    feed_name = models.CharField(max_length=200, blank=True)
    source_url = models.CharField(max_length=500, blank=True)
    affected_customers = models.JSONField(default=list)
    failing_rows = models.PositiveBigIntegerField(default=0)
    occurred_at = models.DateTimeField(default=timezone.now)
    reported_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    solution_agreed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Acknowledge: ownership toward customers is the buyer's whoever caused it.
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledgement = models.TextField(blank=True, help_text="The ownership and apology statement.")
    caused_by = models.CharField(max_length=20, choices=Party.choices, blank=True, default="")
    caused_by_detail = models.CharField(max_length=200, blank=True)
    owned_toward_customers_by = models.CharField(max_length=20, default="buyer")
    customer_message = models.TextField(blank=True)
    executive_message = models.TextField(blank=True)
    # Fix the problem: the decision among the options.
    chosen_option = models.ForeignKey(
        "SolutionOption", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_note = models.TextField(blank=True)
    # Forgive but don't forget.
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    lessons = models.TextField(blank=True)
    postmortem = models.TextField(blank=True, help_text="Markdown, written when the incident closes.")
    # Monitoring's findings behind an incident opened (or added to) from failed checks.
    findings = models.ManyToManyField(
        "monitoring.Finding", through="IncidentFinding", related_name="incidents", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_engagement_field = "engagement"

    class Meta:
        ordering = ["-reported_at", "-pk"]
        indexes = [
            models.Index(fields=["engagement", "status"]),
            models.Index(fields=["engagement", "check_name"]),
        ]

    def __str__(self) -> str:
        return self.title

    def check_list(self) -> list[IncidentCheck]:
        return list(self.checks.all())

    def get_absolute_url(self) -> str:
        return reverse("incident_detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.CLOSED

    def acknowledgement_overdue(self) -> bool:
        """Still not acknowledged after the plan's target (1 hour without a plan)."""
        if self.status != self.Status.REPORTED:
            return False
        hours = self.plan.acknowledge_within_hours if self.plan else 1
        return (timezone.now() - self.reported_at).total_seconds() > hours * 3600

    def root_cause(self):
        return next((c for c in self.causes.all() if c.kind == Cause.Kind.ROOT), None)

    def measures(self) -> list[dict]:
        """Time to acknowledge, to agree a solution and to close, against the plan's tolerance."""
        plan = self.plan
        targets = {
            "acknowledge": (self.acknowledged_at, plan.acknowledge_within_hours if plan else None),
            "agree a solution": (self.solution_agreed_at, plan.solution_within_hours if plan else None),
            "close": (self.closed_at, plan.max_disruption_hours if plan else None),
        }
        now = timezone.now()
        rows = []
        for label, (reached, target_hours) in targets.items():
            elapsed = (reached or now) - self.reported_at
            hours = elapsed.total_seconds() / 3600
            within = None if target_hours is None else hours <= target_hours
            rows.append({
                "label": label, "done": reached is not None, "hours": round(hours, 1),
                "target_hours": target_hours, "within": within,
            })
        return rows


class TimelineEntry(TenantModel):
    """Everything that happens to an incident, in order."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=254)
    kind = models.CharField(max_length=40)
    text = models.TextField()

    tenant_engagement_field = "incident__engagement"

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.text[:80]}"


class Cause(TenantModel):
    """What exactly went wrong: a category and a specific mechanism."""

    class Kind(models.TextChoices):
        ROOT = "root", "Root cause"
        CONTRIBUTING = "contributing", "Contributing factor"

    class Category(models.TextChoices):
        DATA = "data", "Data"
        PROCESS = "process", "Process"
        PEOPLE = "people", "People and training"
        TECHNOLOGY = "technology", "Technology"
        INTEGRATION = "integration", "Integration between systems"
        SUPPLIER = "supplier", "Supplier or subcontractor"
        COMMUNICATION = "communication", "Communication"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="causes")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    category = models.CharField(max_length=20, choices=Category.choices)
    mechanism = models.TextField(help_text="How exactly it went wrong.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "incident__engagement"

    class Meta:
        ordering = ["kind", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"], condition=Q(kind="root"), name="cause_one_root_per_incident"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.mechanism[:80]}"


class SolutionOption(TenantModel):
    """One way to fix the problem, with what it costs and risks."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="options")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    cost = models.CharField(max_length=200)
    time = models.CharField(max_length=200)
    risk = models.CharField(max_length=200)
    tradeoffs = models.TextField()
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "incident__engagement"

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.title


class OptionComment(TenantModel):
    """The client's (or anyone's) input on an option before the decision."""

    option = models.ForeignKey(SolutionOption, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=10)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "option__incident__engagement"

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.text[:80]


class PreventiveControl(TenantModel):
    """Something that stops the failure happening again, with an owner and a due date.

    A control of kind "new check" carries an expectation check in the contract's
    format; monitoring adds it to the feed's suite and the applied state is kept here.
    """

    class Kind(models.TextChoices):
        PROCESS = "process", "Process or people change"
        NEW_CHECK = "new_check", "New check on a feed"

    engagement = models.ForeignKey(
        "core.Engagement", on_delete=models.PROTECT, related_name="preventive_controls"
    )
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="controls"
    )
    exercise = models.ForeignKey(
        Exercise, null=True, blank=True, on_delete=models.CASCADE, related_name="gaps"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PROCESS)
    description = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_on = models.DateField()
    feed_name = models.CharField(max_length=200, blank=True)
    check_spec = models.JSONField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_note = models.CharField(max_length=300, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "engagement"

    class Meta:
        ordering = ["due_on", "pk"]

    def __str__(self) -> str:
        return self.description[:120]

    def is_overdue(self, today: dt.date | None = None) -> bool:
        return self.done_at is None and self.due_on < (today or timezone.localdate())


class IncidentCheck(TenantModel):
    """A check whose failures an incident gathers; open while the incident is open.

    The database keeps at most one open incident per check of an engagement: a later
    failure of the check adds to that incident. Closing releases the check, reopening
    takes it back.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="checks")
    engagement = models.ForeignKey("core.Engagement", on_delete=models.PROTECT, related_name="+")
    check_name = models.CharField(max_length=200, help_text="The check's id, or late_delivery:<feed slug>.")
    label = models.CharField(max_length=300, blank=True, help_text="What people call the check.")
    feed_name = models.CharField(max_length=200, blank=True, help_text="The feed's slug.")
    open = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "engagement"

    class Meta:
        ordering = ["pk"]
        constraints = [
            # At most one open incident per check of an engagement: failures add to it.
            models.UniqueConstraint(
                fields=["engagement", "check_name"], condition=Q(open=True),
                name="incident_check_one_open",
            ),
            models.UniqueConstraint(fields=["incident", "check_name"], name="incident_check_once"),
        ]

    def __str__(self) -> str:
        return self.label or self.check_name


class IncidentFinding(TenantModel):
    """A monitoring finding that opened an incident or was added to it (same engagement)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="finding_links")
    finding = models.ForeignKey("monitoring.Finding", on_delete=models.PROTECT, related_name="incident_links")
    linked_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "incident__engagement"

    class Meta:
        ordering = ["linked_at", "pk"]
        constraints = [
            # A finding is counted once: the signal and the demo may both offer it.
            models.UniqueConstraint(fields=["finding"], name="incident_finding_once"),
        ]

    def __str__(self) -> str:
        return f"{self.finding} in {self.incident}"


class IncidentLink(TenantModel):
    """A new incident that resembles a past one, and why."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="resembles")
    similar = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="resembled_by")
    reason = models.CharField(max_length=200)

    tenant_engagement_field = "incident__engagement"

    class Meta:
        ordering = ["-similar__reported_at"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "similar"], name="incident_link_once"),
        ]

    def __str__(self) -> str:
        return f"{self.incident} resembles {self.similar}"


class Webhook(TenantModel):
    """An organisation's endpoint for reminders: JSON, signed with HMAC-SHA256 of its secret."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="resilience_webhook"
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    tenant_organization_field = "organization"

    def __str__(self) -> str:
        return f"Reminder webhook of {self.organization}"


class ReminderSent(TenantModel):
    """A reminder sent (or tried): the same one is not sent twice in a day."""

    engagement = models.ForeignKey("core.Engagement", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100, help_text="What the reminder is about, e.g. incident:7.")
    channel = models.CharField(max_length=20)  # email or webhook
    recipient = models.CharField(max_length=500)
    sent_on = models.DateField()
    ok = models.BooleanField(default=True)
    error = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "engagement"

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["key", "channel", "recipient", "sent_on"])]

    def __str__(self) -> str:
        return f"{self.channel} reminder {self.key} to {self.recipient}"
