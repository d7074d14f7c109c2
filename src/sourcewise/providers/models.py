"""Models of providers: the buyer's register, due diligence, and the instrumented relationship.

The register (providers, their services, contracts, subcontractors, tiering) and due
diligence (templates, assessments, reviews, selections) are the buyer organisation's
own. A registered provider linked to a Sourcewise organisation lets that organisation's
people answer the assessments sent to it, and nothing else of the register. Interactions
and change notices belong to an engagement and are seen by both of its sides.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from sourcewise.core.tenancy import TenantModel

LEI_SHAPE = re.compile(r"^[A-Z0-9]{18}[0-9]{2}$")


def lei_problem(value: str) -> str | None:
    """Why `value` is not an ISO 17442 LEI (20 characters, ISO 7064 mod 97-10), or None."""
    if not LEI_SHAPE.match(value):
        return "An LEI has 20 characters: 18 letters or digits, then 2 check digits."
    digits = "".join(str(int(ch, 36)) for ch in value)
    if int(digits) % 97 != 1:
        return f"'{value}' is not a valid LEI: its check digits do not match (ISO 17442)."
    return None


class Tier(models.TextChoices):
    CRITICAL = "critical", "Critical"
    IMPORTANT = "important", "Important"
    STANDARD = "standard", "Standard"


# How often a provider of each tier is reassessed (months after the last concluded assessment).
REASSESSMENT_MONTHS = {Tier.CRITICAL: 12, Tier.IMPORTANT: 24, Tier.STANDARD: 36}


class Provider(TenantModel):
    """A provider (current or candidate) in one buyer's register."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        CURRENT = "current", "Current"
        EXITED = "exited", "Exited"

    buyer = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="registered_providers"
    )
    legal_name = models.CharField(max_length=200)
    registration_number = models.CharField(max_length=60, blank=True)
    lei = models.CharField("LEI", max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 two-letter code.")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="subsidiaries"
    )
    # The provider's own Sourcewise organisation, if it has one: its people answer assessments.
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="registered_as_provider",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CANDIDATE)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.STANDARD)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_organization_field = "buyer"

    class Meta:
        ordering = ["legal_name"]
        constraints = [
            models.UniqueConstraint(fields=["buyer", "legal_name"], name="provider_unique_name"),
        ]

    def __str__(self) -> str:
        return self.legal_name

    def get_absolute_url(self) -> str:
        return reverse("provider_detail", args=[self.pk])


class ProviderContact(TenantModel):
    """A person at the provider: the account manager, the escalation contact, the DPO, security.

    At most one contact per provider is primary: it stands for the provider in the CSV and
    register-of-information exports and receives a candidate's invitation link by default.
    """

    class Role(models.TextChoices):
        ACCOUNT_MANAGER = "account_manager", "Account manager"
        ESCALATION = "escalation", "Escalation"
        DPO = "dpo", "Data protection officer"
        SECURITY = "security", "Security"
        OTHER = "other", "Other"

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ACCOUNT_MANAGER)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    is_primary = models.BooleanField("Primary contact", default=False)
    created_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_organization_field = "provider__buyer"

    class Meta:
        ordering = ["-is_primary", "name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["provider"], condition=Q(is_primary=True),
                                    name="one_primary_contact_per_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()})"


class TierChange(TenantModel):
    """One change of a provider's tier, with the reason given for it."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="tier_changes")
    tier_before = models.CharField(max_length=20, choices=Tier.choices, blank=True)
    tier = models.CharField(max_length=20, choices=Tier.choices)
    reason = models.TextField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)

    tenant_organization_field = "provider__buyer"

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.provider}: {self.tier_before or 'none'} → {self.tier}"


class Criticality(models.TextChoices):
    CRITICAL = "critical", "Critical or important function"
    IMPORTANT = "important", "Important"
    LOW = "low", "Not critical"


class ProviderService(TenantModel):
    """A service a provider runs for the buyer."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, blank=True)
    criticality = models.CharField(max_length=20, choices=Criticality.choices, default=Criticality.LOW)
    criticality_reason = models.TextField(blank=True)
    data_handled = models.TextField(blank=True)
    personal_data = models.BooleanField(default=False)
    service_location = models.CharField(max_length=200, blank=True, help_text="Where the service runs.")
    data_location = models.CharField(max_length=200, blank=True, help_text="Where the data sits.")
    created_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_organization_field = "provider__buyer"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"


class Contract(TenantModel):
    """The contract under which a service runs."""

    class Renewal(models.TextChoices):
        AUTOMATIC = "automatic", "Renews automatically"
        BY_AGREEMENT = "agreement", "Renewed by agreement"
        NONE = "none", "Does not renew"

    class Substitutability(models.TextChoices):
        EASY = "easy", "Easily substitutable"
        DIFFICULT = "difficult", "Substitutable with difficulty"
        NOT = "not", "Not substitutable"

    service = models.ForeignKey(ProviderService, on_delete=models.CASCADE, related_name="contracts")
    reference = models.CharField(max_length=100)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    renewal = models.CharField(max_length=20, choices=Renewal.choices, default=Renewal.BY_AGREEMENT)
    buyer_notice_days = models.PositiveIntegerField(null=True, blank=True)
    provider_notice_days = models.PositiveIntegerField(null=True, blank=True)
    annual_cost = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    governing_law = models.CharField(max_length=100, blank=True)
    exit_plan = models.TextField(blank=True)
    substitutability = models.CharField(
        max_length=20, choices=Substitutability.choices, default=Substitutability.DIFFICULT
    )
    created_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_organization_field = "service__provider__buyer"

    class Meta:
        ordering = ["-start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="contract_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"Contract {self.reference}"


class Subcontractor(TenantModel):
    """A fourth party (or further down): a subcontractor of the provider or of another subcontractor."""

    service = models.ForeignKey(ProviderService, on_delete=models.CASCADE, related_name="subcontractors")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    # DORA's rank: 2 for the provider's own subcontractor, 3 for theirs, and so on.
    rank = models.PositiveSmallIntegerField(default=2)
    legal_name = models.CharField(max_length=200)
    registration_number = models.CharField(max_length=60, blank=True)
    lei = models.CharField("LEI", max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)
    function = models.CharField(max_length=200, help_text="What it does for the service.")
    service_location = models.CharField(max_length=200, blank=True)
    data_location = models.CharField(max_length=200, blank=True)
    personal_data = models.BooleanField(default=False)
    start_date = models.DateField(null=True, blank=True, help_text="Since when it subcontracts.")
    end_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_organization_field = "service__provider__buyer"

    class Meta:
        ordering = ["rank", "legal_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(start_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="subcontractor_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.legal_name


# --- due diligence ---------------------------------------------------------------------


class QuestionnaireTemplate(TenantModel):
    """A due-diligence questionnaire of one buyer: sections of weighted questions."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    builtin_key = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "builtin_key"], condition=~Q(builtin_key=""),
                name="one_builtin_template_per_org",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Section(TenantModel):
    template = models.ForeignKey(QuestionnaireTemplate, on_delete=models.CASCADE, related_name="sections")
    title = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)

    tenant_organization_field = "template__organization"

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.title


class Question(TenantModel):
    """A question; its answer maps to a score (0-100) and may raise red flags.

    `options` lists the choices with their scores ([{"label": ..., "score": ...}]);
    for numbers it lists bands ([{"min": 0, "score": 100}, ...], highest min reached wins).
    `red_flags` lists rules ([{"when": ..., ...,"explanation": ...}]; see scoring.py).
    """

    class Kind(models.TextChoices):
        CHOICE = "choice", "One choice"
        MULTI = "multi", "Several choices"
        NUMBER = "number", "Number"
        TEXT = "text", "Text"
        FILE = "file", "File evidence"

    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="questions")
    key = models.SlugField(max_length=60)
    text = models.TextField()
    help_text = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    options = models.JSONField(default=list, blank=True)
    weight = models.PositiveSmallIntegerField(default=1)
    red_flags = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    tenant_organization_field = "section__template__organization"

    class Meta:
        ordering = ["section__position", "position", "pk"]

    def __str__(self) -> str:
        return self.text[:80]

    def option_labels(self) -> list[str]:
        return [str(o.get("label")) for o in self.options if "label" in o]


class Selection(TenantModel):
    """Choosing a provider for one service: the candidates' assessments, compared, and the choice."""

    buyer = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    service_name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    chosen = models.ForeignKey(
        "Assessment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_note = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    tenant_organization_field = "buyer"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.service_name

    def get_absolute_url(self) -> str:
        return reverse("provider_selection", args=[self.pk])


class Assessment(TenantModel):
    """A questionnaire sent to one provider, answered by its people, reviewed by the buyer.

    The buyer sees it through its register; the provider's linked organisation sees it
    (and only it) to answer. Reviews, scores and red flags stay with the buyer.
    """

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        SUBMITTED = "submitted", "Submitted"
        REOPENED = "reopened", "Reopened"
        CONCLUDED = "concluded", "Concluded"

    class Conclusion(models.TextChoices):
        APPROVED = "approved", "Approved"
        CONDITIONS = "conditions", "Approved with conditions"
        REJECTED = "rejected", "Rejected"

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="assessments")
    template = models.ForeignKey(QuestionnaireTemplate, on_delete=models.PROTECT, related_name="+")
    selection = models.ForeignKey(
        Selection, null=True, blank=True, on_delete=models.SET_NULL, related_name="assessments"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SENT)
    due_date = models.DateField()
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    conclusion = models.CharField(max_length=20, choices=Conclusion.choices, blank=True)
    conclusion_note = models.TextField(blank=True)
    concluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    concluded_at = models.DateTimeField(null=True, blank=True)
    # Shown to the provider: why the buyer reopened its submitted answers.
    reopen_reason = models.TextField(blank=True)
    # A candidate without an account answers through a link: only the hash is kept.
    invite_email = models.EmailField(blank=True)
    invite_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    invite_expires_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    tenant_organization_field = "provider__buyer"

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"Due diligence of {self.provider}"

    def get_absolute_url(self) -> str:
        return reverse("assessment_detail", args=[self.pk])

    @classmethod
    def tenant_filter(cls, org_ids) -> Q:
        return Q(provider__buyer__in=org_ids) | Q(provider__organization__in=org_ids)

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.SENT, self.Status.REOPENED)


class Answer(TenantModel):
    """The provider's answer to one question of one assessment."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="+")
    choices = models.JSONField(default=list, blank=True)
    number = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    text = models.TextField(blank=True)
    # Stored through core.storage (STORAGE_ROOT-relative name); the file's own name is kept apart.
    evidence = models.FileField(max_length=300, blank=True)
    evidence_name = models.CharField(max_length=255, blank=True)
    evidence_size = models.PositiveBigIntegerField(null=True, blank=True)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    answered_by_label = models.CharField(max_length=254)
    answered_at = models.DateTimeField(default=timezone.now)

    tenant_organization_field = "assessment__provider__buyer"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessment", "question"], name="one_answer_per_question"),
        ]

    def __str__(self) -> str:
        return f"Answer to {self.question.key}"

    @classmethod
    def tenant_filter(cls, org_ids) -> Q:
        return Q(assessment__provider__buyer__in=org_ids) | Q(
            assessment__provider__organization__in=org_ids
        )


class Review(TenantModel):
    """A buyer reviewer's score and comment on an assessment (never shown to the provider)."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    score = models.PositiveSmallIntegerField()
    comment = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    tenant_organization_field = "assessment__provider__buyer"

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=100), name="review_score_0_100"),
        ]

    def __str__(self) -> str:
        return f"Review by {self.reviewer}"


# --- the relationship -----------------------------------------------------------------


class Interaction(TenantModel):
    """A meeting or call between buyer and provider, logged so the relationship's pattern shows."""

    class Kind(models.TextChoices):
        GOVERNANCE = "governance", "Governance review"
        QBR = "qbr", "Quarterly business review"
        WORKSHOP = "workshop", "Workshop"
        ESCALATION = "escalation", "Escalation"
        INCIDENT = "incident", "Incident call"
        RENEWAL = "renewal", "Renewal negotiation"
        INFORMAL = "informal", "Informal"

    # Driven by a problem or a renewal; everything else is proactive.
    REACTIVE = frozenset({Kind.ESCALATION, Kind.INCIDENT, Kind.RENEWAL})

    engagement = models.ForeignKey("core.Engagement", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    initiated_by = models.CharField(
        max_length=10, choices=[("buyer", "Buyer"), ("provider", "Provider")]
    )
    title = models.CharField(max_length=200)
    topics = models.TextField(blank=True)
    logged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "engagement"

    class Meta:
        ordering = ["-date", "-pk"]
        indexes = [models.Index(fields=["engagement", "-date"])]

    def __str__(self) -> str:
        return self.title

    @property
    def proactive(self) -> bool:
        return self.kind not in self.REACTIVE


class FollowUp(TenantModel):
    """An action agreed in an interaction, with its owner."""

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="follow_ups")
    description = models.CharField(max_length=300)
    owner = models.CharField(max_length=200, help_text="Who does it (a person or a side).")
    due_date = models.DateField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    tenant_engagement_field = "interaction__engagement"

    class Meta:
        ordering = ["done_at", "due_date", "pk"]

    def __str__(self) -> str:
        return self.description


class ChangeNotice(TenantModel):
    """A change the provider plans, announced so the buyer can influence it before it happens."""

    class Kind(models.TextChoices):
        SUBCONTRACTOR = "subcontractor", "Subcontractor"
        LOCATION = "location", "Location"
        KEY_PEOPLE = "key_people", "Key people"
        TOOLING = "tooling", "Tooling"
        DATA_CONVERSION = "data_conversion", "Data-conversion contractor"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        ANNOUNCED = "announced", "Awaiting review"
        EVIDENCE = "evidence", "Evidence requested"
        OBJECTED = "objected", "Objected"
        ACCEPTED = "accepted", "Accepted"
        WITHDRAWN = "withdrawn", "Withdrawn"

    OPEN = frozenset({Status.ANNOUNCED, Status.EVIDENCE})

    engagement = models.ForeignKey("core.Engagement", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    description = models.TextField()
    effective_date = models.DateField()
    review_by = models.DateField(help_text="The buyer reviews before this date.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ANNOUNCED)
    announced_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    announced_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    tenant_engagement_field = "engagement"

    class Meta:
        ordering = ["effective_date", "pk"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("change_notice_detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def review_overdue(self) -> bool:
        return self.is_open and self.review_by < timezone.localdate()


class ChangeNoticeResponse(TenantModel):
    """A comment, evidence request, objection, acceptance or evidence on a change notice."""

    class Kind(models.TextChoices):
        COMMENT = "comment", "Comment"
        EVIDENCE_REQUEST = "evidence_request", "Asks for evidence"
        EVIDENCE = "evidence", "Evidence"
        OBJECTION = "objection", "Objection"
        ACCEPTANCE = "acceptance", "Acceptance"
        WITHDRAWAL = "withdrawal", "Withdrawal"

    notice = models.ForeignKey(ChangeNotice, on_delete=models.CASCADE, related_name="responses")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    side = models.CharField(max_length=10)
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    tenant_engagement_field = "notice__engagement"

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.notice}"


class ReminderSent(TenantModel):
    """A reminder already emailed today: the periodic job never sends the same one twice a day."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40)
    object_id = models.PositiveBigIntegerField()
    day = models.DateField()
    recipients = models.PositiveSmallIntegerField(default=0)

    tenant_organization_field = "organization"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "object_id", "day"], name="one_reminder_a_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.object_id} on {self.day}"
