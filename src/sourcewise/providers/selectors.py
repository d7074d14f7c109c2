"""Every read of the providers app, through the tenancy rule; plus the figures pages show.

The scorecard reads each source through one small function (`SCORECARD_SOURCES`):
SLA results come from monitoring's scorecard selector and incidents from resilience, both
for the buyer's own engagements with the provider's linked organisation only; each answers
None ("no data yet") when there is nothing to show; nothing is invented.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from sourcewise.core.models import Engagement
from sourcewise.core.selectors import engagement_list, get_visible
from sourcewise.providers import scoring
from sourcewise.providers.models import (
    REASSESSMENT_MONTHS,
    Answer,
    Assessment,
    ChangeNotice,
    Contract,
    FollowUp,
    Interaction,
    Provider,
    ProviderContact,
    ProviderService,
    Question,
    QuestionnaireTemplate,
    Selection,
    Subcontractor,
)


def _org_pk(organization: Any) -> Any:
    return getattr(organization, "pk", organization)


# --- register --------------------------------------------------------------------------


def provider_list(*, user: Any, organization: Any) -> QuerySet[Provider]:
    """The register of the organisation acted for (never another buyer's), with each primary contact."""
    primary = ProviderContact.objects.filter(provider=OuterRef("pk"), is_primary=True)
    return (
        Provider.objects.visible_to(user, organization)
        .filter(buyer=organization)
        .select_related("parent", "organization")
        .annotate(
            service_count=Count("services", distinct=True),
            last_concluded_at=Max("assessments__concluded_at"),
            primary_contact_name=Subquery(primary.values("name")[:1]),
            primary_contact_email=Subquery(primary.values("email")[:1]),
        )
    )


def provider_contacts(provider: Provider) -> list[ProviderContact]:
    """The provider's contacts, the primary one first."""
    return list(provider.contacts.all())


def get_contact(*, user: Any, organization: Any, pk: Any) -> ProviderContact:
    return get_visible(ProviderContact.objects.filter(provider__buyer=organization).select_related(
        "provider", "provider__buyer"), user=user, organization=organization, pk=pk)


def reassessment_due(provider: Provider) -> dt.date | None:
    """When the provider's tier asks for its next assessment; None when never concluded (due now)."""
    # Rows of provider_list carry the date already: no query per row.
    if hasattr(provider, "last_concluded_at"):
        concluded = provider.last_concluded_at
    else:
        concluded = provider.assessments.filter(status=Assessment.Status.CONCLUDED).aggregate(
            last=Max("concluded_at"))["last"]
    if concluded is None:
        return None
    return _months_later(timezone.localtime(concluded).date(), REASSESSMENT_MONTHS[provider.tier])


def provider_get(*, user: Any, organization: Any, pk: Any) -> Provider:
    return get_visible(provider_list(user=user, organization=organization), user=user,
                       organization=organization, pk=pk)


def provider_services(provider: Provider) -> list[ProviderService]:
    return list(
        provider.services.prefetch_related(
            Prefetch("contracts", queryset=Contract.objects.order_by("-start_date")),
            Prefetch("subcontractors", queryset=Subcontractor.objects.select_related("parent")),
        )
    )


def subcontractor_chain(service: ProviderService) -> list[tuple[int, Subcontractor]]:
    """The service's subcontractors as a tree, depth first: (depth, subcontractor)."""
    subs = list(service.subcontractors.all())
    children: dict[Any, list[Subcontractor]] = {}
    for sub in subs:
        children.setdefault(sub.parent_id, []).append(sub)
    ordered: list[tuple[int, Subcontractor]] = []

    def walk(parent_id: Any, depth: int) -> None:
        for sub in sorted(children.get(parent_id, []), key=lambda s: s.legal_name):
            ordered.append((depth, sub))
            walk(sub.pk, depth + 1)

    walk(None, 0)
    return ordered


def register_for_export(*, user: Any, organization: Any) -> QuerySet[Provider]:
    return provider_list(user=user, organization=organization).prefetch_related(
        Prefetch("contacts", queryset=ProviderContact.objects.filter(is_primary=True), to_attr="primary_contacts"),
        Prefetch("services", queryset=ProviderService.objects.prefetch_related(
            Prefetch("contracts", queryset=Contract.objects.order_by("-start_date")),
            Prefetch("subcontractors", queryset=Subcontractor.objects.select_related("parent")),
        ))
    ).order_by("legal_name")


def get_service(*, user: Any, organization: Any, pk: Any) -> ProviderService:
    return get_visible(ProviderService.objects.filter(provider__buyer=organization).select_related(
        "provider", "provider__buyer"), user=user, organization=organization, pk=pk)


def get_contract(*, user: Any, organization: Any, pk: Any) -> Contract:
    return get_visible(Contract.objects.filter(service__provider__buyer=organization).select_related(
        "service__provider__buyer"), user=user, organization=organization, pk=pk)


def get_subcontractor(*, user: Any, organization: Any, pk: Any) -> Subcontractor:
    return get_visible(Subcontractor.objects.filter(service__provider__buyer=organization).select_related(
        "service", "service__provider", "service__provider__buyer", "parent"),
        user=user, organization=organization, pk=pk)


# --- due diligence ----------------------------------------------------------------------


def template_list(*, user: Any, organization: Any) -> QuerySet[QuestionnaireTemplate]:
    return QuestionnaireTemplate.objects.visible_to(user, organization).filter(organization=organization)


def template_questions(template: QuestionnaireTemplate) -> list[Question]:
    return list(Question.objects.filter(section__template=template).select_related("section"))


def assessment_list(*, user: Any, organization: Any) -> QuerySet[Assessment]:
    """Assessments the organisation sent (as buyer) or must answer (as the assessed provider)."""
    return Assessment.objects.visible_to(user, organization).filter(
        Q(provider__buyer=organization) | Q(provider__organization=organization)
    ).select_related("provider", "provider__buyer", "template", "selection")


def assessment_get(*, user: Any, organization: Any, pk: Any) -> Assessment:
    return get_visible(assessment_list(user=user, organization=organization), user=user,
                       organization=organization, pk=pk)


def side_of_assessment(assessment: Assessment, organization: Any) -> str:
    """'buyer' for the organisation that sent it; 'provider' for the one that answers it."""
    return "buyer" if assessment.provider.buyer_id == _org_pk(organization) else "provider"


# What the provider sees in its questionnaire's history: its own answers, sending, submitting
# and reopening (whose reason it is shown anyway); never reviews, conclusions or link bookkeeping.
PROVIDER_HISTORY_ACTIONS = ("assessment.send", "assessment.answer", "assessment.submit", "assessment.reopen")


def assessment_history(assessment: Assessment, *, user: Any, organization: Any) -> QuerySet:
    """The audit records of a questionnaire that the organisation acted for may see.

    The records are the buyer's (its audit trail), so the buyer sees them all. The answering
    provider, having reached `assessment` through the scoped selector, sees the records of
    its own side's work on it and nothing of the buyer's judgement.
    """
    from sourcewise.core.audit import history_for
    from sourcewise.core.models import AuditEvent

    if side_of_assessment(assessment, organization) == "buyer":
        return history_for(assessment, user=user, organization=organization)
    return AuditEvent.objects.filter(
        object_type=Assessment._meta.label_lower, object_id=str(assessment.pk),
        action__in=PROVIDER_HISTORY_ACTIONS,
    ).select_related("actor")


def assessment_result(assessment: Assessment) -> scoring.Result:
    questions = template_questions(assessment.template)
    answers = {a.question_id: a for a in assessment.answers.all()}
    return scoring.evaluate(questions, answers)


def selection_list(*, user: Any, organization: Any) -> QuerySet[Selection]:
    return Selection.objects.visible_to(user, organization).filter(buyer=organization).select_related(
        "chosen", "chosen__provider").annotate(candidate_count=Count("assessments"))


def selection_get(*, user: Any, organization: Any, pk: Any) -> Selection:
    return get_visible(selection_list(user=user, organization=organization), user=user,
                       organization=organization, pk=pk)


@dataclass
class Candidate:
    assessment: Assessment
    result: scoring.Result
    review_average: int | None
    evidence: list[Answer]


@dataclass
class ComparisonRow:
    key: str
    text: str
    section: str
    weight: int
    cells: list[tuple[str, int, bool]]  # per candidate: answer text, score, red-flagged


def selection_comparison(selection: Selection) -> tuple[list[Candidate], list[ComparisonRow]]:
    """The candidates side by side: totals, red flags, evidence, and every question's answers."""
    assessments = list(
        selection.assessments.select_related("provider", "template").prefetch_related(
            Prefetch("answers", queryset=Answer.objects.select_related("question")), "reviews"
        ).order_by("provider__legal_name")
    )
    candidates, by_key = [], {}
    for assessment in assessments:
        questions = template_questions(assessment.template)
        answers = {a.question_id: a for a in assessment.answers.all()}
        result = scoring.evaluate(questions, answers)
        reviews = [r.score for r in assessment.reviews.all()]
        candidates.append(Candidate(
            assessment=assessment, result=result,
            review_average=round(sum(reviews) / len(reviews)) if reviews else None,
            evidence=[a for a in answers.values() if a.question.kind == "file" and a.evidence],
        ))
        for row in result.questions:
            by_key.setdefault(row.question.key, row.question)
    rows = []
    for key, question in by_key.items():
        cells = []
        for candidate in candidates:
            match = next((r for r in candidate.result.questions if r.question.key == key), None)
            flagged = any(f.question_key == key for f in candidate.result.red_flags)
            if match is None:
                cells.append(("not asked", 0, False))
            else:
                cells.append((scoring.answer_text(match.question, match.answer), match.score, flagged))
        rows.append(ComparisonRow(key, question.text, question.section.title, question.weight, cells))
    return candidates, rows


# --- the relationship -------------------------------------------------------------------


def interaction_list(*, user: Any, organization: Any, engagement: Engagement) -> QuerySet[Interaction]:
    return Interaction.objects.visible_to(user, organization).filter(engagement=engagement).prefetch_related(
        "follow_ups").select_related("logged_by")


def follow_up_get(*, user: Any, organization: Any, pk: Any) -> FollowUp:
    return get_visible(FollowUp.objects.select_related("interaction__engagement"), user=user,
                       organization=organization, pk=pk)


def change_notice_list(*, user: Any, organization: Any) -> QuerySet[ChangeNotice]:
    return ChangeNotice.objects.visible_to(user, organization).select_related(
        "engagement", "engagement__buyer", "engagement__provider", "announced_by")


def change_notice_get(*, user: Any, organization: Any, pk: Any) -> ChangeNotice:
    return get_visible(change_notice_list(user=user, organization=organization), user=user,
                       organization=organization, pk=pk)


PROACTIVE_ALERT_SHARE = 0.25
MIN_INTERACTIONS_FOR_ALERT = 3
SILENCE_DAYS = 90


@dataclass
class Health:
    interactions: int  # in the period (12 months unless a scorecard asks for another)
    proactive: int
    reactive: int
    proactive_share: int | None  # percent
    average_gap_days: int | None
    days_since_last: int | None
    open_follow_ups: int
    overdue_follow_ups: int
    alert: str | None
    quarters: list[tuple[str, int, int]] = field(default_factory=list)  # label, proactive, reactive
    period_days: int = 365


def _quarter(day: dt.date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def _period_label(days: int) -> str:
    return "the last 12 months" if days == 365 else f"the last {days} days"


def relationship_health(engagement: Engagement, *, today: dt.date | None = None, days: int = 365) -> Health:
    """Cadence, the proactive share, open follow-ups and an alert for a problems-only relationship.

    Interactions count over the last `days` (12 months on the relationship page; the
    scorecard's chosen period there); the quarters charted are those the period touches.
    """
    today = today or timezone.localdate()
    since = today - dt.timedelta(days=days)
    rows = list(Interaction.objects.filter(engagement=engagement, date__gt=since, date__lte=today)
                .order_by("date").values_list("date", "kind"))
    reactive = sum(1 for _d, kind in rows if kind in Interaction.REACTIVE)
    proactive = len(rows) - reactive
    share = round(100 * proactive / len(rows)) if rows else None
    gaps = [(b[0] - a[0]).days for a, b in zip(rows, rows[1:], strict=False)]
    last = Interaction.objects.filter(engagement=engagement, date__lte=today).order_by("-date").values_list(
        "date", flat=True).first()
    follow_ups = FollowUp.objects.filter(interaction__engagement=engagement, done_at__isnull=True)
    open_count = follow_ups.count()
    overdue = follow_ups.filter(due_date__lt=today).count()
    alert = None
    if len(rows) >= MIN_INTERACTIONS_FOR_ALERT and proactive / len(rows) <= PROACTIVE_ALERT_SHARE:
        alert = (f"This relationship only speaks at problems and renewals: {reactive} of {len(rows)} "
                 f"interactions in {_period_label(days)} were escalations, incident calls or renewal "
                 "talks. Schedule governance reviews and workshops.")
    elif last is None or (today - last).days > SILENCE_DAYS:
        alert = (f"No interaction logged in the last {SILENCE_DAYS} days: the relationship is not being "
                 "instrumented.")
    counts: dict[tuple[int, int], list[int]] = {}
    for day, kind in rows:
        counts.setdefault(_quarter(day), [0, 0])[1 if kind in Interaction.REACTIVE else 0] += 1
    quarters = []
    year, q = _quarter(today)
    first = _quarter(since + dt.timedelta(days=1))
    for _ in range(4):
        if (year, q) < first:
            break
        p, r = counts.get((year, q), [0, 0])
        quarters.append((f"Q{q} {year}", p, r))
        year, q = (year, q - 1) if q > 1 else (year - 1, 4)
    return Health(
        interactions=len(rows), proactive=proactive, reactive=reactive, proactive_share=share,
        average_gap_days=round(sum(gaps) / len(gaps)) if gaps else None,
        days_since_last=(today - last).days if last else None,
        open_follow_ups=open_count, overdue_follow_ups=overdue, alert=alert, quarters=quarters[::-1],
        period_days=days,
    )


# --- scorecard ------------------------------------------------------------------------------


def _months_later(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, 28))


def due_diligence_figures(provider: Provider) -> dict[str, Any] | None:
    """The latest submitted or concluded assessment: score, red flags, reviews, conclusion."""
    latest = provider.assessments.filter(
        status__in=[Assessment.Status.SUBMITTED, Assessment.Status.CONCLUDED]
    ).select_related("template").prefetch_related("answers", "reviews").order_by("-submitted_at").first()
    months = REASSESSMENT_MONTHS[provider.tier]
    reassess = reassessment_due(provider)
    if latest is None:
        return {"assessment": None, "reassessment_due": reassess, "reassessment_months": months}
    result = assessment_result(latest)
    reviews = [r.score for r in latest.reviews.all()]
    return {
        "assessment": latest, "score": result.total, "red_flags": result.red_flags,
        "review_average": round(sum(reviews) / len(reviews)) if reviews else None,
        "conclusion": latest.get_conclusion_display() if latest.conclusion else None,
        "reassessment_due": reassess, "reassessment_months": months,
        "bars": [("Weighted score", result.total), ("Reviewers' average",
                  round(sum(reviews) / len(reviews)) if reviews else None)],
    }


def engagements_of(provider: Provider, *, user: Any, organization: Any) -> QuerySet[Engagement]:
    """The buyer's engagements with the provider's Sourcewise organisation, if linked."""
    if provider.organization_id is None:
        return Engagement.objects.none()
    return engagement_list(user=user, organization=organization).filter(
        buyer=provider.buyer, provider=provider.organization)


def relationship_figures(provider: Provider, *, user: Any, organization: Any,
                         days: int = 365) -> list[tuple[Engagement, Health]]:
    return [(e, relationship_health(e, days=days))
            for e in engagements_of(provider, user=user, organization=organization)]


def change_notice_figures(provider: Provider, *, user: Any, organization: Any, days: int = 365) -> dict[str, int]:
    """Notices announced in the period, and those still open or overdue (whenever announced)."""
    notices = ChangeNotice.objects.filter(
        engagement__in=engagements_of(provider, user=user, organization=organization))
    today = timezone.localdate()
    start = dt.datetime.combine(today - dt.timedelta(days=days), dt.time.min,
                                tzinfo=timezone.get_current_timezone())
    return notices.aggregate(
        total=Count("pk", filter=Q(announced_at__gte=start)),
        open=Count("pk", filter=Q(status__in=list(ChangeNotice.OPEN))),
        overdue=Count("pk", filter=Q(status__in=list(ChangeNotice.OPEN), review_by__lt=today)),
        objected=Count("pk", filter=Q(status=ChangeNotice.Status.OBJECTED)),
    )


SCORECARD_PERIOD_DAYS = 90  # the default period
SCORECARD_PERIODS = (30, 90, 180, 365)


def scorecard_period(value: Any) -> int:
    """The scorecard period in days from a request's `days`; ValueError naming the choices."""
    if value in (None, ""):
        return SCORECARD_PERIOD_DAYS
    try:
        days = int(str(value).strip())
    except ValueError:
        days = None
    if days not in SCORECARD_PERIODS:
        raise ValueError(f"The period is one of {', '.join(map(str, SCORECARD_PERIODS))} days, not '{value}'.")
    return days


def _percent(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


def sla_figures(provider: Provider, *, user: Any, organization: Any,
                days: int = SCORECARD_PERIOD_DAYS) -> dict[str, Any] | None:
    """SLA results from monitoring over the last `days`, for the buyer's engagements only.

    Only delivery feeds count (what the provider delivers), not the buyer's reference data.
    Read through monitoring's own scorecard selector; None when nothing was checked in the period.
    """
    from sourcewise.monitoring.models import Feed
    from sourcewise.monitoring.selectors import scorecard

    if provider.organization_id is None:
        return None
    engagements = engagements_of(provider, user=user, organization=organization)
    since = timezone.localdate() - dt.timedelta(days=days)
    card = scorecard(user=user, organization=organization, engagements=engagements, since=since,
                     feed_kind=Feed.Kind.DELIVERY)
    if not card.runs and not card.checks and not card.late:
        return None
    checks_run = sum(c.runs for c in card.checks)
    checks_passed = sum(c.passed for c in card.checks)
    return {
        "period_days": days, "since": since,
        "engagements": sorted(set(engagements.filter(
            Q(feeds__outcomes__period__gte=since) | Q(feeds__findings__period__gte=since),
            feeds__kind=Feed.Kind.DELIVERY,
        ).values_list("name", flat=True))),
        "runs": card.runs, "runs_passed": card.runs_passed, "pass_rate": _percent(card.runs_passed, card.runs),
        "checks_run": checks_run, "checks_passed": checks_passed,
        "check_pass_rate": _percent(checks_passed, checks_run),
        "failing_rows": card.failing_rows, "late_deliveries": card.late, "findings": card.findings,
        "checks": [{"feed": c.feed.name, "check": c.check_name, "runs": c.runs, "passed": c.passed,
                    "pass_rate": _percent(c.passed, c.runs), "failing_rows": c.failing_rows}
                   for c in card.checks],
        "bars": [(f"{c.feed.name}: {c.check_name}", _percent(c.passed, c.runs)) for c in card.checks],
    }


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _duration_label(hours: float | None) -> str | None:
    if hours is None:
        return None
    if hours < 1 / 60:
        return "under a minute"
    if hours < 1:
        return f"{round(hours * 60)} min"
    return f"{hours:.1f} h"


def incident_figures(provider: Provider, *, user: Any, organization: Any,
                     days: int = SCORECARD_PERIOD_DAYS) -> dict[str, Any] | None:
    """Incidents of the buyer's engagements with the provider: reported in the period or still open.

    Counts (open, closed), the median time to acknowledge beside the plans' targets, and
    recurrence (incidents resilience linked as similar to a past one). None when there are none.
    """
    from sourcewise.resilience.models import Incident, IncidentLink
    from sourcewise.resilience.selectors import incident_list

    if provider.organization_id is None:
        return None
    since = timezone.localdate() - dt.timedelta(days=days)
    start = dt.datetime.combine(since, dt.time.min, tzinfo=timezone.get_current_timezone())
    incidents = list(
        incident_list(user=user, organization=organization)
        .filter(engagement__in=engagements_of(provider, user=user, organization=organization))
        .filter(Q(reported_at__gte=start) | ~Q(status=Incident.Status.CLOSED))
        .order_by("reported_at")
    )
    if not incidents:
        return None
    now = timezone.now()
    ack_hours: list[float] = []
    within = with_target = overdue = 0
    for incident in incidents:
        target = incident.plan.acknowledge_within_hours if incident.plan_id else None
        if incident.acknowledged_at is not None:
            hours = max((incident.acknowledged_at - incident.reported_at).total_seconds(), 0) / 3600
            ack_hours.append(hours)
            if target is not None:
                with_target += 1
                within += hours <= target
        elif target is not None and (now - incident.reported_at).total_seconds() > target * 3600:
            overdue += 1
    targets = sorted({i.plan.acknowledge_within_hours for i in incidents if i.plan_id})
    recurring = (IncidentLink.objects.visible_to(user, organization)
                 .filter(incident__in=[i.pk for i in incidents]).values("incident").distinct().count())
    closed = sum(i.status == Incident.Status.CLOSED for i in incidents)
    median = _median(ack_hours)
    return {
        "period_days": days, "since": since,
        "total": len(incidents), "open": len(incidents) - closed, "closed": closed,
        "by_severity": {label: n for value, label in Incident.Severity.choices
                        if (n := sum(i.severity == value for i in incidents))},
        "acknowledged": len(ack_hours),
        "median_hours_to_acknowledge": round(median, 1) if median is not None else None,
        "median_label": _duration_label(median),
        "acknowledge_targets_hours": targets,
        "acknowledged_with_target": with_target, "acknowledged_within_target": within,
        "unacknowledged_past_target": overdue,
        "recurring": recurring,
        "bars": [("Closed", _percent(closed, len(incidents))),
                 ("Acknowledged within the plan's target", _percent(within, with_target)),
                 ("Similar to a past incident", _percent(recurring, len(incidents)))],
    }


SCORECARD_SOURCES = {
    "relationship": relationship_figures,
    "change_notices": change_notice_figures,
    "sla": sla_figures,
    "incidents": incident_figures,
}


def provider_scorecard(provider: Provider, *, user: Any, organization: Any,
                       days: int = SCORECARD_PERIOD_DAYS) -> dict[str, Any]:
    """Every figure of the scorecard over the last `days` (one of SCORECARD_PERIODS).

    Due diligence is the latest submitted assessment whatever its date: it is not a
    figure of a period.
    """
    if days not in SCORECARD_PERIODS:
        raise ValueError(f"The period is one of {', '.join(map(str, SCORECARD_PERIODS))} days.")
    today = timezone.localdate()
    card: dict[str, Any] = {"due_diligence": due_diligence_figures(provider), "period_days": days,
                            "since": today - dt.timedelta(days=days), "periods": SCORECARD_PERIODS}
    for name, source in SCORECARD_SOURCES.items():
        card[name] = source(provider, user=user, organization=organization, days=days)
    return card
