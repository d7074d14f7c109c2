"""Monitoring's findings become incidents: the receiver of `monitoring.signals.findings_recorded`.

Every failed check of severity `error` opens an incident, or adds to the open one for the
same check (`services.incident_record_failure`), with the finding linked to it. The check's
id is the incident's check (what a plan's scenarios name and what stays stable when a check
is renamed); the feed's slug is its feed (what suites name).

Late deliveries open an incident only when the plan says so: a failure scenario of the
engagement lists `late_delivery` among the checks that detect it. Otherwise a late delivery
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
    return any(LATE_CHECK in (s.detected_by_checks or [])
               for s in FailureScenario.objects.filter(plan__engagement_id=engagement_id))


def record_finding(finding):
    """The incident this finding opened or was added to; None when it opens none.

    A finding already linked is left as it is (the signal and the demo may both offer it).
    """
    from sourcewise.monitoring.models import Finding

    if finding.severity != "error" or finding.status not in ("failed", "late"):
        return None
    existing = IncidentFinding.objects.filter(finding=finding).select_related("incident").first()
    if existing is not None:
        return existing.incident
    feed = finding.feed
    engagement = feed.engagement
    if finding.kind == Finding.Kind.LATE:
        if not _late_opens_incident(engagement.pk):
            return None
        return services.incident_record_failure(
            engagement=engagement, check_name=LATE_CHECK, feed_name=feed.slug, severity="error",
            affected_customers=[], failing_rows=0,
            summary=finding.message or f"{feed.name} was not delivered in time for {finding.period}.",
            source_url=finding.get_absolute_url(), title=f"{feed.name} delivered late",
            finding=finding)
    customers = [_customer_label(k) for k in finding.customer_keys()]
    rows = finding.failing_rows or 0
    summary = f"{finding.check_name} fell short on {feed.name} for {finding.period:%d %b %Y}"
    summary += f": {rows} failing rows, {len(customers)} customers affected."
    if finding.message:
        summary += f" {finding.message}"
    return services.incident_record_failure(
        engagement=engagement, check_name=finding.check_id, feed_name=feed.slug, severity="error",
        affected_customers=customers, failing_rows=rows, summary=summary,
        source_url=finding.get_absolute_url(), title=f"{finding.check_name} failed on {feed.name}",
        occurred_at=finding.run.delivery.received_at if finding.run_id else finding.created_at,
        finding=finding)


def record_findings(findings: Iterable) -> list:
    """Each finding through `record_finding`, each in its own transaction; the incidents touched.

    One finding that cannot be recorded is logged and does not stop the others, nor the
    monitoring run that sent them.
    """
    touched = []
    for finding in findings:
        try:
            with transaction.atomic():
                incident = record_finding(finding)
        except Exception:  # noqa: BLE001 - a broken link must never fail the check run
            logger.exception("Finding %s could not be recorded as an incident", finding.pk)
            continue
        if incident is not None and incident not in touched:
            touched.append(incident)
    return touched


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
