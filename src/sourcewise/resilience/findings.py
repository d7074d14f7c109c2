"""Monitoring's findings become incidents: the receiver of `monitoring.signals.findings_recorded`.

One failure, one incident: the failed `error` checks of one check run open ONE incident
together, except those a still-open incident follows, which add to it
(`services.incident_record_failures`); every finding is linked to its incident. The check's
id is the incident's check (what a plan's scenarios name and what stays stable when a check
is renamed); the feed's slug is its feed (what suites name).

Late deliveries open an incident only when the plan says so: a failure scenario of the
engagement lists `late_delivery` (or `late_delivery:<feed slug>`) among the checks that
detect it. Each late feed has its own open incident (check key `late_delivery:<feed slug>`).
Otherwise a late delivery
stays monitoring's finding and scorecard entry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from sourcewise.resilience import services
from sourcewise.resilience.models import FailureScenario, IncidentFinding

logger = logging.getLogger(__name__)

LATE_CHECK = "late_delivery"


def _customer_label(key: tuple) -> str:
    return " / ".join("" if v is None else str(v) for v in key)


def _late_opens_incident(engagement_id: int) -> bool:
    return any(str(name) == LATE_CHECK or str(name).startswith(f"{LATE_CHECK}:")
               for s in FailureScenario.objects.filter(plan__engagement_id=engagement_id)
               for name in (s.detected_by_checks or []))


def late_check_key(feed) -> str:
    """The check key of a feed's late deliveries: one open incident per late feed."""
    return f"{LATE_CHECK}:{feed.slug}"


def _eligible(finding) -> bool:
    """An error finding (failed check or late delivery) not linked to an incident yet."""
    if finding.severity != "error" or finding.status not in ("failed", "late"):
        return False
    return not IncidentFinding.objects.filter(finding=finding).exists()


def _failure(finding) -> services.Failure:
    from sourcewise.monitoring.models import Finding

    feed = finding.feed
    if finding.kind == Finding.Kind.LATE:
        return services.Failure(
            check_name=late_check_key(feed), label=finding.check_name or f"{feed.name} delivered on time",
            summary=finding.message or f"{feed.name} was not delivered in time for {finding.period}.",
            source_url=finding.get_absolute_url(), finding=finding)
    customers = [_customer_label(k) for k in finding.customer_keys()]
    rows = finding.failing_rows or 0
    summary = f"{finding.check_name} fell short on {feed.name} for {finding.period:%d %b %Y}"
    summary += f": {rows} failing rows, {len(customers)} customers affected."
    if finding.message:
        summary += f" {finding.message}"
    return services.Failure(
        check_name=finding.check_id, label=finding.check_name, summary=summary,
        affected_customers=customers, failing_rows=rows, source_url=finding.get_absolute_url(),
        occurred_at=finding.run.delivery.received_at if finding.run_id else finding.created_at,
        finding=finding)


def _record_group(group: list) -> list:
    from sourcewise.monitoring.models import Finding

    feed = group[0].feed
    late = group[0].kind == Finding.Kind.LATE
    return services.incident_record_failures(
        engagement=feed.engagement, feed_name=feed.slug, feed_label=feed.name,
        failures=[_failure(f) for f in group], title=f"{feed.name} delivered late" if late else "")


def record_findings(findings: Iterable) -> list:
    """Monitoring's error findings as incidents; the incidents touched.

    One failure, one incident: the failed checks of one check run that no open incident
    follows yet open ONE incident together; a check with an open incident adds to it.
    A feed's late deliveries share one open incident per feed. A finding already linked
    is left as it is (the signal and the demo may both offer it). Each group is its own
    transaction: one that cannot be recorded is logged and does not stop the others, nor
    the monitoring run that sent them.
    """
    from sourcewise.monitoring.models import Finding

    groups: dict[tuple, list] = {}
    for finding in findings:
        if not _eligible(finding):
            continue
        if finding.kind == Finding.Kind.LATE:
            if not _late_opens_incident(finding.feed.engagement_id):
                continue
            key = ("late", finding.feed_id)
        else:
            key = ("run", finding.run_id, finding.feed_id)
        groups.setdefault(key, []).append(finding)
    touched = []
    for group in groups.values():
        try:
            with transaction.atomic():
                incidents = _record_group(group)
        except Exception:  # noqa: BLE001 - a broken link must never fail the check run
            logger.exception("Findings %s could not be recorded as an incident", [f.pk for f in group])
            continue
        touched.extend(i for i in incidents if i not in touched)
    return touched


def record_finding(finding):
    """The incident this finding opened or was added to; None when it opens none."""
    existing = IncidentFinding.objects.filter(finding=finding).select_related("incident").first()
    if existing is not None:
        return existing.incident
    record_findings([finding])
    linked = IncidentFinding.objects.filter(finding=finding).select_related("incident").first()
    return linked.incident if linked else None


def on_findings_recorded(sender, run=None, findings=(), **kwargs) -> None:
    record_findings(findings)


def linked_findings(incident) -> list:
    """The monitoring findings behind an incident, oldest first (same engagement by construction)."""
    return list(incident.findings.select_related("feed").order_by("period", "pk"))


def finding_customers_url(finding) -> str:
    """Where the finding's affected customers download as CSV; empty when it names none."""
    from django.urls import reverse

    if not finding.affected_path or not finding.customer_columns:
        return ""
    return reverse("monitoring_finding_download", args=[finding.pk]) + "?what=customers"


def feed_links(engagement, feed_names=(), check_names=()) -> dict[str, list[tuple[str, str]]]:
    """Names of feeds and checks (as a scenario keeps them) with the feed page each matches.

    A feed name matches a feed of the engagement by slug or name; a check name matches the
    feed whose current suite holds a check with that id or name. Unmatched names keep an
    empty link.
    """
    import yaml
    from django.urls import reverse

    from sourcewise.monitoring.models import Feed

    feeds = list(Feed.objects.filter(engagement=engagement).order_by("pk"))
    by_name = {}
    checks = {}
    for feed in feeds:
        url = reverse("monitoring_feed", args=[feed.pk])
        by_name.setdefault(feed.slug.lower(), url)
        by_name.setdefault(feed.name.lower(), url)
        suite = feed.current_suite()
        try:
            doc = yaml.safe_load(suite.text) if suite else None
        except yaml.YAMLError:
            doc = None
        listed = doc.get("checks") if isinstance(doc, dict) else None
        for check in listed if isinstance(listed, list) else []:
            if isinstance(check, dict):
                for key in (check.get("id"), check.get("name")):
                    if key:
                        checks.setdefault(str(key).lower(), url)
    return {
        "feeds": [(n, by_name.get(str(n).strip().lower(), "")) for n in feed_names],
        "checks": [(n, checks.get(str(n).strip().lower(), "")) for n in check_names],
    }
