"""Emails of the providers app: assessments sent, reminders before they are due, overdue reviews.

`send_reminders` is the periodic job (see periodic.py); a reminder already sent today
for the same object and organisation is not sent again.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from sourcewise.accounts.models import Membership
from sourcewise.core.tenancy import Role
from sourcewise.providers.models import Assessment, ChangeNotice, ReminderSent

logger = logging.getLogger(__name__)

# Reminders start this many days before an assessment is due.
REMIND_DAYS_BEFORE_DUE = 3


def _emails(organization, minimum: str = Role.MEMBER) -> list[str]:
    roles = [Role.OWNER, Role.MANAGER] + ([Role.MEMBER] if minimum == Role.MEMBER else [])
    return sorted(
        Membership.objects.filter(organization=organization, role__in=roles, user__is_active=True)
        .values_list("user__email", flat=True)
    )


def _base_url() -> str:
    return getattr(settings, "SITE_URL", "").rstrip("/")


def assessment_sent(assessment_id: int, token: str | None) -> None:
    """Tell the provider a questionnaire waits for it (with the link, if it has no account)."""
    assessment = Assessment.objects.select_related("provider", "provider__buyer", "provider__organization").get(
        pk=assessment_id)
    if token:
        recipients = [assessment.invite_email]
        link = _base_url() + reverse("assessment_answer_by_link", args=[token])
    else:
        recipients = _emails(assessment.provider.organization)
        link = _base_url() + reverse("assessment_detail", args=[assessment.pk])
    send_mail(
        f"Due diligence questionnaire from {assessment.provider.buyer.name}",
        f"{assessment.provider.buyer.name} asks {assessment.provider.legal_name} to answer a due "
        f"diligence questionnaire by {assessment.due_date:%d %B %Y}.\n\nAnswer it here: {link}\n",
        None, recipients,
    )


def change_announced(notice_id: int) -> None:
    """Tell the buyer's people a change is planned, while there is time to influence it."""
    notice = ChangeNotice.objects.select_related("engagement__buyer", "engagement__provider").get(pk=notice_id)
    send_mail(
        f"Planned change from {notice.engagement.provider.name}: {notice.title}",
        f"{notice.engagement.provider.name} plans a change on {notice.effective_date:%d %B %Y}: {notice.title}.\n\n"
        f"{notice.description}\n\nReview it by {notice.review_by:%d %B %Y}: comment, ask for evidence, object "
        f"or accept.\n{_base_url()}{reverse('change_notice_detail', args=[notice.pk])}\n",
        None, _emails(notice.engagement.buyer),
    )


def assessment_submitted(assessment_id: int) -> None:
    """Tell the person who sent the questionnaire that the answers are in."""
    assessment = Assessment.objects.select_related("provider", "sent_by").get(pk=assessment_id)
    send_mail(
        f"{assessment.provider.legal_name} submitted its due diligence answers",
        f"Review them, with their score and red flags:\n"
        f"{_base_url()}{reverse('assessment_detail', args=[assessment.pk])}\n",
        None, [assessment.sent_by.email],
    )


def _once_today(organization, kind: str, object_id: int, recipients: list[str], subject: str, body: str,
                today: dt.date) -> bool:
    """Send one reminder unless it was already sent today; True if it was sent now."""
    if not recipients:
        return False
    try:
        with transaction.atomic():
            ReminderSent.objects.create(organization=organization, kind=kind, object_id=object_id,
                                        day=today, recipients=len(recipients))
            send_mail(subject, body, None, recipients)
    except IntegrityError:
        return False
    return True


def _remind_by_link(assessment: Assessment, subject: str, when: str, today: dt.date) -> bool:
    """Remind a candidate without an account, with a working link.

    Only the hash of the first link was kept, so the reminder cannot repeat it: it carries
    a new link, and the earlier one stops working. The new link, the bookkeeping row and
    the email stand or fall together: a failed email leaves the earlier link working.
    """
    from sourcewise.providers import services

    provider = assessment.provider
    try:
        with transaction.atomic():
            ReminderSent.objects.create(organization=provider.buyer, kind="assessment-due",
                                        object_id=assessment.pk, day=today, recipients=1)
            token = services.assessment_reminder_link(assessment=assessment)
            link = _base_url() + reverse("assessment_answer_by_link", args=[token])
            send_mail(
                subject,
                f"The due diligence questionnaire {provider.buyer.name} sent to {provider.legal_name} {when}.\n\n"
                f"Answer it here: {link}\n\nThis link replaces the one in earlier emails, which no "
                f"longer works. Your answers saved so far are kept.\n",
                None, [assessment.invite_email],
            )
    except IntegrityError:
        return False
    return True


def send_reminders(now: dt.datetime | None = None) -> int:
    """Remind providers of questionnaires due soon or overdue, and buyers of overdue change reviews.

    Returns how many reminders were sent.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    sent = 0
    due_soon = Assessment.objects.filter(
        status__in=[Assessment.Status.SENT, Assessment.Status.REOPENED],
        due_date__lte=today + dt.timedelta(days=REMIND_DAYS_BEFORE_DUE),
    ).select_related("provider", "provider__buyer", "provider__organization")
    for assessment in due_soon:
        provider = assessment.provider
        when = "is overdue" if assessment.due_date < today else f"is due on {assessment.due_date:%d %B %Y}"
        subject = f"Reminder: the questionnaire from {provider.buyer.name} {when}"
        if provider.organization_id:
            sent += _once_today(
                provider.organization, "assessment-due", assessment.pk, _emails(provider.organization), subject,
                f"The due diligence questionnaire {provider.buyer.name} sent to {provider.legal_name} {when}. "
                f"Submit your answers in Sourcewise:\n"
                f"{_base_url()}{reverse('assessment_detail', args=[assessment.pk])}\n",
                today,
            )
        elif assessment.invite_email:
            sent += _remind_by_link(assessment, subject, when, today)
    overdue = ChangeNotice.objects.filter(
        status__in=list(ChangeNotice.OPEN), review_by__lt=today
    ).select_related("engagement", "engagement__buyer", "engagement__provider")
    for notice in overdue:
        buyer = notice.engagement.buyer
        sent += _once_today(
            buyer, "change-review-overdue", notice.pk, _emails(buyer),
            f"Overdue review: {notice.title}",
            f"{notice.engagement.provider.name} announced '{notice.title}' for {notice.effective_date:%d %B %Y}. "
            f"Your review was due on {notice.review_by:%d %B %Y}: comment, ask for evidence, object or "
            f"accept before the change happens.\n{_base_url()}{reverse('change_notice_detail', args=[notice.pk])}\n",
            today,
        )
    if sent:
        logger.info("Sent %d provider reminders", sent)
    return sent
