"""Reminders: unacknowledged incidents and overdue preventive controls, by email and webhook.

Each reminder is sent at most once a day per channel and recipient (ReminderSent
records it). A failed webhook call is recorded as failed and tried again on the
next run; it never raises to the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from sourcewise.accounts.models import Membership
from sourcewise.core.tenancy import Role
from sourcewise.resilience.models import Incident, PreventiveControl, ReminderSent, Webhook

logger = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_S = 5


@dataclass
class Reminder:
    key: str
    engagement: Any
    subject: str
    body: str
    recipients: list[str]  # email addresses
    organizations: list[Any]  # whose webhooks hear of it
    payload: dict[str, Any] = field(default_factory=dict)


def due_reminders(now=None) -> list[Reminder]:
    """Incidents not acknowledged within the plan's target, and controls past their due date."""
    now = now or timezone.now()
    reminders: list[Reminder] = []
    incidents = Incident.objects.filter(status=Incident.Status.REPORTED).select_related(
        "engagement__buyer", "engagement__provider", "plan", "scenario__buyer_owner",
        "scenario__provider_owner")
    for incident in incidents:
        hours = incident.plan.acknowledge_within_hours if incident.plan else 1
        if (now - incident.reported_at).total_seconds() < hours * 3600:
            continue
        # The provider runs the service and acknowledges first; the buyer owns it toward customers.
        orgs = [incident.engagement.provider, incident.engagement.buyer]
        recipients = set(
            Membership.objects.filter(organization__in=orgs, role__in=[Role.OWNER, Role.MANAGER])
            .values_list("user__email", flat=True)
        )
        if incident.scenario is not None:  # the scenario's named responders on both sides
            recipients |= {incident.scenario.buyer_owner.email, incident.scenario.provider_owner.email}
        recipients = sorted(recipients)
        reminders.append(Reminder(
            key=f"incident-unacknowledged:{incident.pk}", engagement=incident.engagement,
            subject=f"Not acknowledged: {incident.title}",
            body=(f"The incident \u201c{incident.title}\u201d on {incident.engagement} was reported "
                  f"{timezone.localtime(incident.reported_at):%Y-%m-%d %H:%M} and is not acknowledged yet "
                  f"(the plan asks within {hours} h).\n\n{_absolute(incident.get_absolute_url())}"),
            recipients=recipients, organizations=orgs,
            payload={"event": "incident.unacknowledged", "incident": incident.pk,
                     "title": incident.title, "engagement": incident.engagement.name,
                     "reported_at": incident.reported_at.isoformat()},
        ))
    controls = PreventiveControl.objects.filter(done_at__isnull=True, due_on__lt=now.date()).select_related(
        "engagement__buyer", "engagement__provider", "owner", "incident")
    for control in controls:
        owner_orgs = [org for org in (control.engagement.buyer, control.engagement.provider)
                      if Membership.objects.filter(user=control.owner, organization=org).exists()]
        url = control.incident.get_absolute_url() if control.incident else ""
        reminders.append(Reminder(
            key=f"control-overdue:{control.pk}", engagement=control.engagement,
            subject=f"Overdue preventive control: {control.description[:80]}",
            body=(f"The preventive control \u201c{control.description}\u201d on {control.engagement} "
                  f"was due on {control.due_on} and is not in place.\n\n{_absolute(url)}"),
            recipients=[control.owner.email], organizations=owner_orgs,
            payload={"event": "control.overdue", "control": control.pk, "description": control.description,
                     "due_on": control.due_on.isoformat(), "owner": control.owner.email,
                     "engagement": control.engagement.name},
        ))
    return reminders


def _absolute(path: str) -> str:
    base = getattr(settings, "SITE_URL", "") or ""
    return f"{base.rstrip('/')}{path}" if path else ""


def _already(reminder: Reminder, channel: str, recipient: str, today) -> bool:
    return ReminderSent.objects.filter(key=reminder.key, channel=channel, recipient=recipient,
                                       sent_on=today, ok=True).exists()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(webhook: Webhook, payload: dict[str, Any]) -> None:
    """POST the JSON payload, signed in X-Sourcewise-Signature; raises on any failure."""
    body = json.dumps(payload, sort_keys=True).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is validated when configured
        webhook.url, data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Sourcewise-Signature": sign(webhook.secret, body)},
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:  # noqa: S310
        if response.status >= 300:
            raise urllib.error.HTTPError(webhook.url, response.status, "not accepted", response.headers, None)


def send_reminders(now=None) -> dict[str, int]:
    """Send what is due; return counts of sent, skipped (already today) and failed."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    webhooks = {w.organization_id: w for w in Webhook.objects.filter(active=True)}
    for reminder in due_reminders(now):
        for email in reminder.recipients:
            if _already(reminder, "email", email, today):
                counts["skipped"] += 1
                continue
            try:
                send_mail(reminder.subject, reminder.body, None, [email])
            except Exception as exc:  # a mail server down must not stop the other reminders
                logger.warning("Reminder %s to %s failed: %s", reminder.key, email, exc)
                _log(reminder, "email", email, today, ok=False, error=str(exc))
                counts["failed"] += 1
            else:
                _log(reminder, "email", email, today)
                counts["sent"] += 1
        for org in reminder.organizations:
            webhook = webhooks.get(org.pk)
            if webhook is None:
                continue
            if _already(reminder, "webhook", webhook.url, today):
                counts["skipped"] += 1
                continue
            try:
                post_webhook(webhook, reminder.payload | {"organization": org.slug})
            except Exception as exc:  # logged and retried on the next run
                logger.warning("Reminder webhook %s for %s failed: %s", webhook.url, reminder.key, exc)
                _log(reminder, "webhook", webhook.url, today, ok=False, error=str(exc))
                counts["failed"] += 1
            else:
                _log(reminder, "webhook", webhook.url, today)
                counts["sent"] += 1
    return counts


def _log(reminder: Reminder, channel: str, recipient: str, today, ok: bool = True, error: str = "") -> None:
    ReminderSent.objects.create(engagement=reminder.engagement, key=reminder.key, channel=channel,
                                recipient=recipient, sent_on=today, ok=ok, error=error[:500])


__all__ = ["due_reminders", "post_webhook", "send_reminders", "sign"]
