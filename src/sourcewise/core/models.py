"""Engagements (the space a buyer and a provider share) and the append-only audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from sourcewise.core.tenancy import TenantModel, TenantQuerySet


class Engagement(TenantModel):
    """An outsourcing arrangement: one organisation buys, another provides."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"

    name = models.CharField(max_length=200)
    buyer = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="engagements_as_buyer"
    )
    provider = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="engagements_as_provider"
    )
    services = models.TextField(
        blank=True, help_text="The processes the provider runs, e.g. outbound marketing calls."
    )
    description = models.TextField(blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROPOSED)
    # The side that proposed it; the other side's manager accepts it.
    proposed_by = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Optimistic lock: an edit based on an older version is refused, not silently lost.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(buyer=F("provider")), name="engagement_two_parties"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(end_date__gte=F("start_date")),
                name="engagement_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("engagement_detail", args=[self.pk])

    @classmethod
    def tenant_filter(cls, org_ids) -> Q:
        return Q(buyer__in=org_ids) | Q(provider__in=org_ids)

    def tenant_organizations(self):
        return [self.buyer, self.provider]

    def tenant_engagement(self):
        return self

    def side_of(self, organization) -> str | None:
        """'buyer' or 'provider' for a party of this engagement, else None."""
        org_id = getattr(organization, "pk", organization)
        if org_id == self.buyer_id:
            return "buyer"
        if org_id == self.provider_id:
            return "provider"
        return None


class AuditQuerySet(TenantQuerySet):
    def update(self, **kwargs):
        raise TypeError("The audit trail is append-only: records are never updated.")

    def delete(self):
        raise TypeError("The audit trail is append-only: records are never deleted.")


class AuditEvent(TenantModel):
    """One write: who, for which organisation and engagement, which object, what changed, when.

    Each record carries the hash of the one before it, so `sourcewise audit verify`
    finds a record that was changed or removed behind the product's back.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=254)
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    engagement = models.ForeignKey(
        Engagement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    changes = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditQuerySet.as_manager()

    # An engagement's record is seen by both sides; an organisation's own record only by it.
    tenant_organization_field = "organization"
    tenant_engagement_field = "engagement"

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["object_type", "object_id", "-seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_repr}"

    @classmethod
    def tenant_filter(cls, org_ids) -> Q:
        # Engagement-scoped records stay visible to both sides even when the acting
        # organisation is recorded; private records have no engagement.
        return Q(engagement__isnull=True, organization__in=org_ids) | Q(
            engagement__buyer__in=org_ids
        ) | Q(engagement__provider__in=org_ids)

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("The audit trail is append-only: records are never updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit trail is append-only: records are never deleted.")


class AuditHead(models.Model):
    """The newest record's number and hash: removing the last records cannot go unseen."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"Audit chain head at #{self.seq}"
