"""Reads of monitoring, always through the tenancy rule: every query starts from visible_to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q, QuerySet, Sum

from sourcewise.core.selectors import get_visible
from sourcewise.monitoring.models import (
    CheckOutcome,
    CheckRun,
    Delivery,
    Feed,
    Finding,
    SuiteVersion,
)


def feed_list(*, user: Any, organization: Any = None) -> QuerySet[Feed]:
    return Feed.objects.visible_to(user, organization).select_related(
        "engagement__buyer", "engagement__provider", "buyer_owner", "provider_owner",
    ).annotate(suite_number=Max("suite_versions__number"))


def feed_get(*, user: Any, organization: Any = None, pk: Any) -> Feed:
    return get_visible(feed_list(user=user, organization=organization), user=user,
                       organization=organization, pk=pk)


def suite_version_list(*, user: Any, organization: Any = None) -> QuerySet[SuiteVersion]:
    return SuiteVersion.objects.visible_to(user, organization).select_related("feed", "created_by")


def delivery_list(*, user: Any, organization: Any = None) -> QuerySet[Delivery]:
    return Delivery.objects.visible_to(user, organization).select_related(
        "feed__engagement", "uploaded_by", "organization").annotate(latest_run_id=Max("runs__pk"))


def delivery_get(*, user: Any, organization: Any = None, pk: Any) -> Delivery:
    return get_visible(delivery_list(user=user, organization=organization), user=user,
                       organization=organization, pk=pk)


def run_list(*, user: Any, organization: Any = None) -> QuerySet[CheckRun]:
    return CheckRun.objects.visible_to(user, organization).select_related(
        "delivery", "feed__engagement", "suite_version", "requested_by").prefetch_related("findings")


def run_get(*, user: Any, organization: Any = None, pk: Any) -> CheckRun:
    return get_visible(run_list(user=user, organization=organization), user=user,
                       organization=organization, pk=pk)


def finding_list(*, user: Any, organization: Any = None) -> QuerySet[Finding]:
    return Finding.objects.visible_to(user, organization).select_related(
        "feed__engagement", "run__delivery")


def finding_get(*, user: Any, organization: Any = None, pk: Any) -> Finding:
    return get_visible(finding_list(user=user, organization=organization), user=user,
                       organization=organization, pk=pk)


def finding_trend(finding: Finding, *, limit: int = 10) -> list[CheckOutcome]:
    """The same check's outcome in the feed's last `limit` runs up to this one, oldest first."""
    outcomes = CheckOutcome.objects.filter(feed_id=finding.feed_id, check_id=finding.check_id)
    if finding.run_id:
        outcomes = outcomes.filter(run_id__lte=finding.run_id)
    return list(reversed(outcomes.select_related("run").order_by("-run_id")[:limit]))


@dataclass
class CheckScore:
    """One check's record over a scorecard's runs."""

    feed: Feed
    check_id: str
    check_name: str
    runs: int = 0
    passed: int = 0
    failing_rows: int = 0
    series: list[tuple[Any, str, int]] = field(default_factory=list)  # (period, status, failing)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.runs if self.runs else 0.0


@dataclass
class Scorecard:
    checks: list[CheckScore]
    runs: int
    runs_passed: int
    late: int
    findings: int
    failing_rows: int

    @property
    def pass_rate(self) -> float:
        return self.runs_passed / self.runs if self.runs else 0.0


def scorecard(*, user: Any, organization: Any = None, engagement: Any = None, provider: Any = None,
              engagements: Any = None, since: Any = None, feed_kind: str | None = None,
              max_points: int = 60) -> Scorecard:
    """Every check over time for one engagement, or for every engagement of one provider.

    `engagements` narrows to those engagements (e.g. one buyer's with a provider); `since`
    (a date) keeps only the days covered from then on; `feed_kind` keeps one kind of feed
    (e.g. only what the provider delivers, not the buyer's reference data).
    """
    scope = Q()
    if engagement is not None:
        scope &= Q(feed__engagement=engagement)
    if provider is not None:
        scope &= Q(feed__engagement__provider=provider)
    if engagements is not None:
        scope &= Q(feed__engagement__in=engagements)
    if feed_kind is not None:
        scope &= Q(feed__kind=feed_kind)
    outcomes = (CheckOutcome.objects.visible_to(user, organization).filter(scope)
                .filter(**({"period__gte": since} if since is not None else {}))
                .select_related("feed").order_by("feed_id", "check_id", "period", "run_id"))
    scores: dict[tuple[int, str], CheckScore] = {}
    for o in outcomes:
        score = scores.get((o.feed_id, o.check_id))
        if score is None:
            score = scores[(o.feed_id, o.check_id)] = CheckScore(o.feed, o.check_id, o.check_name)
        score.runs += 1
        score.passed += o.status == "passed"
        score.failing_rows += o.failing_rows or 0 if o.status != "passed" else 0
        score.series.append((o.period, o.status, o.failing_rows or 0))
    for score in scores.values():
        score.series = score.series[-max_points:]
    runs = CheckRun.objects.visible_to(user, organization).filter(scope).filter(
        **({"delivery__period__gte": since} if since is not None else {})).filter(
        status__in=CheckRun.FINISHED).aggregate(n=Count("pk"), ok=Count("pk", filter=Q(status="passed")))
    found = Finding.objects.visible_to(user, organization).filter(scope).filter(
        **({"period__gte": since} if since is not None else {})).aggregate(
        late=Count("pk", filter=Q(kind=Finding.Kind.LATE)), n=Count("pk"),
        rows=Sum("failing_rows", filter=Q(kind=Finding.Kind.CHECK)))
    return Scorecard(
        checks=sorted(scores.values(), key=lambda s: (s.feed.name, s.pass_rate, s.check_name)),
        runs=runs["n"], runs_passed=runs["ok"], late=found["late"], findings=found["n"],
        failing_rows=found["rows"] or 0)


def scorecard_rows(*, user: Any, organization: Any = None, engagement: Any = None, provider: Any = None):
    """Every check outcome behind a scorecard, for its CSV export."""
    scope = Q()
    if engagement is not None:
        scope &= Q(feed__engagement=engagement)
    if provider is not None:
        scope &= Q(feed__engagement__provider=provider)
    return (CheckOutcome.objects.visible_to(user, organization).filter(scope)
            .select_related("feed__engagement").order_by("feed__name", "check_id", "period", "run_id"))
