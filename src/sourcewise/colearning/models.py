"""Models of co-learning: every one is a TenantModel (see core.tenancy).

A challenge and everything under it (research, studies, insights, ideas, learnings)
belongs to its engagement, so both sides see it. A shared learning belongs to the
provider's library: its own members read it across all its clients, and so do the
buyers of that provider whose industry is the learning's (never the client it came
from by name: the shared copy is anonymised when it is made).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from sourcewise.core.tenancy import TenantModel


class Side(models.TextChoices):
    BUYER = "buyer", "Buyer"
    PROVIDER = "provider", "Provider"


class Authored(TenantModel):
    """Who wrote an artifact, and for which side of the engagement."""

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_side = models.CharField(max_length=10, choices=Side.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class Challenge(Authored):
    """A problem buyer and provider solve together, with the three power-ups made explicit."""

    engagement = models.ForeignKey(
        "core.Engagement", on_delete=models.PROTECT, related_name="challenges"
    )
    problem = models.CharField(
        max_length=300, help_text="In the client's words, e.g. reduce the cost of collections."
    )
    outcome = models.TextField(help_text="The measurable outcome that says it worked.")
    # Courage: how close to its customers the buyer lets the provider come.
    courage_access = models.TextField(blank=True)
    courage_consent = models.TextField(blank=True)
    courage_limits = models.TextField(blank=True)
    # Budget, planned and spent, for shadowing and for testing ideas.
    budget_shadowing_planned = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    budget_shadowing_spent = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    budget_testing_planned = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    budget_testing_spent = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    # Stories: the customers' and the project's own.
    stories_customers = models.TextField(blank=True)
    stories_project = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_engagement_field = "engagement"

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_shadowing_planned__gte=0) & Q(budget_shadowing_spent__gte=0)
                & Q(budget_testing_planned__gte=0) & Q(budget_testing_spent__gte=0),
                name="challenge_budget_not_negative",
            )
        ]

    def __str__(self) -> str:
        return self.problem

    def get_absolute_url(self) -> str:
        return reverse("colearning_challenge", args=[self.pk])


class ResearchSession(Authored):
    """A shadowing session or an interview: when, who observed from each side, consent."""

    class Kind(models.TextChoices):
        SHADOWING = "shadowing", "Shadowing session"
        INTERVIEW = "interview", "Interview"

    challenge = models.ForeignKey(Challenge, on_delete=models.PROTECT, related_name="sessions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    held_on = models.DateField()
    title = models.CharField(max_length=200)
    buyer_observers = models.CharField(max_length=300, blank=True)
    provider_observers = models.CharField(max_length=300, blank=True)
    consent = models.BooleanField(default=False)
    consent_note = models.CharField(max_length=300, blank=True)
    notes = models.TextField(blank=True)
    tags = models.CharField(max_length=300, blank=True)

    tenant_engagement_field = "challenge__engagement"

    class Meta:
        ordering = ["-held_on", "-pk"]
        constraints = [
            # People are observed only with their consent; the record says how it was given.
            models.CheckConstraint(condition=Q(consent=True), name="research_session_has_consent"),
        ]

    def __str__(self) -> str:
        return self.title

    def tag_list(self) -> list[str]:
        return split_tags(self.tags)


class Observation(Authored):
    """Who is in the process and what they experience."""

    challenge = models.ForeignKey(Challenge, on_delete=models.PROTECT, related_name="observations")
    session = models.ForeignKey(
        ResearchSession, null=True, blank=True, on_delete=models.PROTECT, related_name="observations"
    )
    persona = models.CharField(max_length=200, help_text="Role or persona, e.g. customer in arrears.")
    experience = models.TextField()
    pain_points = models.TextField(blank=True)
    desired_outcome = models.TextField(blank=True)
    quotes = models.TextField(blank=True)
    tags = models.CharField(max_length=300, blank=True)

    tenant_engagement_field = "challenge__engagement"

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.persona}: {self.experience[:80]}"

    def tag_list(self) -> list[str]:
        return split_tags(self.tags)


class Attachment(Authored):
    """A file kept with a research session or an observation (notes, photos, a consent form).

    It belongs to the challenge of its session or observation, so it is seen by exactly
    those who see that artifact. The file itself sits in STORAGE_ROOT under `file`.
    """

    challenge = models.ForeignKey(Challenge, on_delete=models.PROTECT, related_name="attachments")
    session = models.ForeignKey(
        ResearchSession, null=True, blank=True, on_delete=models.PROTECT, related_name="attachments"
    )
    observation = models.ForeignKey(
        Observation, null=True, blank=True, on_delete=models.PROTECT, related_name="attachments"
    )
    file = models.FileField(upload_to="colearning/attachments/", max_length=300)
    name = models.CharField(max_length=200, help_text="The file's name as it was uploaded.")
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)

    tenant_engagement_field = "challenge__engagement"

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # Exactly one owner: a session or an observation.
            models.CheckConstraint(
                condition=(Q(session__isnull=False) & Q(observation__isnull=True))
                | (Q(session__isnull=True) & Q(observation__isnull=False)),
                name="attachment_has_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def owner(self) -> ResearchSession | Observation:
        return self.session if self.session_id else self.observation

    def get_absolute_url(self) -> str:
        return reverse("colearning_attachment", args=[self.pk])


class DataStudy(Authored):
    """Call-centre data studied over time; its results are those of the last good run."""

    class Grain(models.TextChoices):
        WEEK = "week", "Week"
        MONTH = "month", "Month"

    challenge = models.ForeignKey(Challenge, on_delete=models.PROTECT, related_name="studies")
    name = models.CharField(max_length=200)
    grain = models.CharField(max_length=10, choices=Grain.choices, default=Grain.MONTH)
    segment_column = models.CharField(max_length=100, default="segment")
    # User-defined metrics: [{"name": ..., "formula": ...}] in the engine's metric language.
    metrics = models.JSONField(default=list, blank=True)
    current_run = models.ForeignKey(
        "StudyRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)

    tenant_engagement_field = "challenge__engagement"

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "data studies"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("colearning_study", args=[self.pk])


class StudyRun(TenantModel):
    """One upload of a study's data and what became of it; a failed run keeps its error."""

    class Status(models.TextChoices):
        PENDING = "pending", "Computing"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(DataStudy, on_delete=models.PROTECT, related_name="runs")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to="colearning/studies/", blank=True)
    file_name = models.CharField(max_length=200)
    size_bytes = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices)
    errors = models.JSONField(default=list, blank=True)
    row_count = models.PositiveBigIntegerField(null=True, blank=True)
    # {"grain": ..., "metrics": [names], "rows": [{"period", "segment", name: value, ...}]}
    results = models.JSONField(default=dict, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "study__challenge__engagement"

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="study_run_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.study} run {self.number}"


class Insight(Authored):
    """What the research means; it cites its evidence."""

    challenge = models.ForeignKey(Challenge, on_delete=models.PROTECT, related_name="insights")
    statement = models.TextField()
    observations = models.ManyToManyField(Observation, blank=True, related_name="insights")
    study_runs = models.ManyToManyField(StudyRun, blank=True, related_name="insights")
    evidence_note = models.TextField(blank=True, help_text="Which study result, e.g. the KPI and period.")

    tenant_engagement_field = "challenge__engagement"

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.statement[:120]


class Idea(Authored):
    """Something to try, grown from insights; the client decides what becomes of it."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Awaiting the client's decision"
        PURSUED = "pursued", "Pursued"
        DECLINED = "declined", "Declined"
        ON_HOLD = "on_hold", "On hold"

    class Effort(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    challenge = models.ForeignKey(Challenge, on_delete=models.PROTECT, related_name="ideas")
    insights = models.ManyToManyField(Insight, related_name="ideas")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    expected_impact = models.TextField()
    effort = models.CharField(max_length=10, choices=Effort.choices, default=Effort.MEDIUM)
    test_proposed = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROPOSED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    revisit_on = models.DateField(null=True, blank=True)
    revisit_trigger = models.CharField(max_length=300, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    project_owner = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_engagement_field = "challenge__engagement"

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="declined") | ~Q(decline_reason=""),
                name="idea_declined_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="on_hold") | Q(revisit_on__isnull=False) | ~Q(revisit_trigger=""),
                name="idea_on_hold_has_revisit",
            ),
            models.CheckConstraint(
                condition=~Q(status="pursued") | ~Q(project_owner=""),
                name="idea_pursued_has_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Milestone(TenantModel):
    """A step of the project a pursued idea became."""

    idea = models.ForeignKey(Idea, on_delete=models.CASCADE, related_name="milestones")
    title = models.CharField(max_length=200)
    due_on = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)

    tenant_engagement_field = "idea__challenge__engagement"

    class Meta:
        ordering = ["due_on", "pk"]

    def __str__(self) -> str:
        return self.title


class IdeaTest(Authored):
    """A test of an idea: the hypothesis, the metric that judges it, and the result."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        CONFIRMED = "confirmed", "Confirmed"
        REFUTED = "refuted", "Refuted"
        INCONCLUSIVE = "inconclusive", "Inconclusive"

    idea = models.ForeignKey(Idea, on_delete=models.PROTECT, related_name="tests")
    hypothesis = models.TextField()
    metric = models.CharField(max_length=200)
    result = models.TextField(blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RUNNING)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_engagement_field = "idea__challenge__engagement"

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.hypothesis[:120]


class Learning(Authored):
    """What the engagement learned; with the buyer's consent it can go to the provider's library."""

    challenge = models.ForeignKey(Challenge, on_delete=models.PROTECT, related_name="learnings")
    title = models.CharField(max_length=200)
    body = models.TextField()
    industry = models.CharField(max_length=100, blank=True)
    process = models.CharField(max_length=100, blank=True)
    tags = models.CharField(max_length=300, blank=True)
    consent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    consent_at = models.DateTimeField(null=True, blank=True)

    tenant_engagement_field = "challenge__engagement"

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.title

    @property
    def has_consent(self) -> bool:
        return self.consent_at is not None


class SharedLearning(TenantModel):
    """The anonymised copy of a learning in the provider's library."""

    provider = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="shared_learnings"
    )
    # The original stays inside its engagement; the library keeps only the link's id so
    # that a second share updates nothing silently (it is refused).
    source = models.OneToOneField(
        Learning, on_delete=models.PROTECT, related_name="shared_copy"
    )
    title = models.CharField(max_length=200)
    body = models.TextField()
    industry = models.CharField(max_length=100, blank=True)
    process = models.CharField(max_length=100, blank=True)
    tags = models.CharField(max_length=300, blank=True)
    # The text's embedding (sparse: {feature index: weight}), from colearning.semantic.
    embedding = models.JSONField(default=dict, blank=True)
    shared_at = models.DateTimeField(default=timezone.now)

    tenant_organization_field = "provider"

    class Meta:
        ordering = ["-shared_at", "-pk"]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def tenant_filter(cls, org_ids) -> Q:
        """The provider's members, and the provider's clients in the learning's industry."""
        from sourcewise.core.models import Engagement

        same_industry_client = Engagement.objects.filter(
            provider=OuterRef("provider"), buyer__in=org_ids,
            buyer__industry=OuterRef("industry"),
        ).exclude(buyer__industry="")
        return Q(provider__in=org_ids) | Q(Exists(same_industry_client))

    def tenant_organizations(self):
        return [self.provider]

    def tag_list(self) -> list[str]:
        return split_tags(self.tags)


def split_tags(text: str) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]
