"""The demo's part of resilience: called by demo.story.load() after the core story.

Northwind's plan for outbound marketing calls, with the brief's failure scenario;
a collections plan last exercised long ago (flagged); a past incident, closed with
its postmortem; and the brief's incident, opened from the bad day's failed checks (one
incident for the one failure) and acknowledged by Dialwell. The services stamp "now", so
the story's times are set afterwards: the measured durations read as a real incident's.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from sourcewise.monitoring.models import Finding
from sourcewise.resilience import findings, services
from sourcewise.resilience.models import (
    Cause,
    Incident,
    OptionComment,
    PreventiveControl,
    ResiliencePlan,
    SolutionOption,
    TimelineEntry,
)
from sourcewise.resilience.postmortem import postmortem_markdown

FEED = "contact-log"  # monitoring's daily contact log (its slug)
SEGMENT_CHECK = "contact_was_targeted"  # the check that fails on monitoring's bad day
DETECTING_CHECKS = [SEGMENT_CHECK, "targets_contacted", "campaign_is_northwinds"]
PAST_TITLE = "SMS campaign sent outside the permitted contact hours"


def load(story) -> None:
    """Add this app's part of the story; loading twice changes nothing."""
    users = story.users
    vm, owner = users["vm@northwind.demo"], users["owner@northwind.demo"]
    am, ops = users["am@dialwell.demo"], users["ops@dialwell.demo"]
    outbound = story.engagements["Outbound marketing calls"]
    collections = story.engagements["Collections"]

    plan = ResiliencePlan.objects.filter(engagement=outbound, service="Outbound marketing calls").first()
    if plan is None:
        plan = services.plan_create(
            actor=vm, engagement=outbound, service="Outbound marketing calls",
            description="Marketing contacts to Northwind's targeted customer segments, run by Dialwell.",
            max_disruption_hours=48, max_customers_affected=150, acknowledge_within_hours=2,
            solution_within_hours=72,
            customer_template=(
                "Dear customer, we recently contacted you about {service} in a way that did not fit "
                "you. That was our mistake and we are sorry. {buyer} has stopped these contacts "
                "while we put it right."),
            executive_template=(
                "{count} customers were affected by a failure in {service}: {summary}. {buyer} owns "
                "the response toward customers; {provider} is fixing the cause with us."),
        )
        services.scenario_add(
            actor=am, plan=plan, title="The targeting data integration fails",
            description="Dialwell's dialler loads Northwind's segment file through a data-conversion "
                        "contractor; a failed or stale load sends the wrong customers the wrong offers.",
            detected_by_feeds=[FEED],
            detected_by_checks=DETECTING_CHECKS,
            response_steps="Pause the affected campaigns\nRe-load the segment file and compare counts\n"
                           "Tell Northwind's vendor manager within 2 hours\nSend the customer message",
            buyer_owner=vm, provider_owner=am,
        )
        services.exercise_record(actor=am, plan=plan, held_on=timezone.localdate() - dt.timedelta(days=60),
                                 result="passed", notes="Table-top run of the integration failure.")

    if not ResiliencePlan.objects.filter(engagement=collections).exists():
        collections_plan = services.plan_create(
            actor=vm, engagement=collections, service="Early-stage collections calls",
            max_disruption_hours=24, max_customers_affected=200,
        )
        services.exercise_record(
            actor=vm, plan=collections_plan, held_on=timezone.localdate() - dt.timedelta(days=500),
            result="partial", notes="Recova's backup dialler took four hours to start.",
        )

    if not Incident.objects.filter(engagement=outbound, title=PAST_TITLE).exists():
        _past_incident(outbound, vm, owner, am, ops)

    # The brief's incident comes from monitoring's bad-day findings, as the signal would bring
    # it once the demo commits: the failed error checks of the run open one incident, and
    # a finding already linked is left alone, so loading twice changes nothing.
    touched = findings.record_findings(
        Finding.objects.filter(feed__engagement=outbound, kind=Finding.Kind.CHECK, severity="error",
                               status="failed").select_related("feed", "run__delivery").order_by("pk"))
    for incident in touched:
        if incident.status == Incident.Status.REPORTED:
            _acknowledged_on_the_day(incident, am)


def _past_incident(engagement, vm, owner, am, ops) -> None:
    incident = services.incident_open(
        actor=vm, engagement=engagement, title=PAST_TITLE,
        description="Customers received campaign SMS messages after 21:00.",
        affected_customers=[f"NW-{200000 + i}" for i in range(86)],
    )

    def version() -> int:
        return Incident.objects.get(pk=incident.pk).version

    services.incident_acknowledge(
        actor=am, incident=incident, expected_version=version(), caused_by="provider",
        statement="Dialwell owns this failure and apologises to Northwind and its customers.")
    services.incident_advance(actor=ops, incident=incident, to="investigating", expected_version=version())
    services.cause_add(
        actor=ops, incident=incident, kind="root", category="process",
        mechanism="The SMS scheduler used the server's UTC clock, so 20:00 local time was sent as 21:00 "
                  "after the clocks changed")
    services.cause_add(
        actor=ops, incident=incident, kind="contributing", category="process",
        mechanism="No check compared send times with the permitted contact hours before release")
    option = services.option_add(
        actor=am, incident=incident, title="Schedule in local time and block sends after 20:30",
        cost="3 developer days", time="1 week", risk="Low", tradeoffs="Fewer evening sends")
    services.option_add(
        actor=am, incident=incident, title="Stop evening SMS entirely", cost="None", time="Immediate",
        risk="Lower response rates", tradeoffs="Simple, but loses the best contact window")
    services.option_comment(actor=vm, option=option, text="We prefer this: it keeps the evening window.")
    services.incident_decide(actor=vm, incident=incident, option=option, expected_version=version())
    services.control_add(
        actor=ops, incident=incident, description="Alert when any send is scheduled after 20:30 local time",
        owner=ops, due_on=timezone.localdate() - dt.timedelta(days=30))
    services.incident_advance(actor=ops, incident=incident, to="remediating", expected_version=version())
    services.incident_advance(actor=ops, incident=incident, to="in_review", expected_version=version())
    services.incident_sign_off(actor=owner, incident=incident, expected_version=version())
    services.incident_close(actor=am, incident=incident, expected_version=version(),
                            lessons="Every schedule is checked in the customer's local time.")
    start = timezone.make_aware(dt.datetime.combine(timezone.localdate() - dt.timedelta(days=PAST_DAYS_AGO),
                                                    dt.time(21, 20)))
    _retime(incident, start, PAST_SCHEDULE)


# When each step of the past incident happened, after it was reported (timeline kinds in order):
# acknowledged 40 minutes later, investigated that evening, causes and options the next morning,
# the buyer's decision the day after, remediated within the week, signed off and closed.
PAST_DAYS_AGO = 35
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
PAST_SCHEDULE = {
    "opened": [0 * H],
    "acknowledged": [40 * M],
    "status": [70 * M, 2 * 24 * H + 3 * H, 6 * 24 * H + 2 * H],
    "cause": [13 * H + 10 * M, 13 * H + 40 * M],
    "option": [15 * H, 15 * H + 20 * M],
    "comment": [36 * H + 30 * M],
    "decision": [37 * H + 10 * M],
    "control": [38 * H],
    "sign_off": [8 * 24 * H + 16 * H],
    "closed": [8 * 24 * H + 17 * H],
}
CURRENT_SCHEDULE = {"opened": [0 * H], "check": [0 * H, 0 * H, 0 * H], "acknowledged": [40 * M]}


def _acknowledged_on_the_day(incident: Incident, am) -> None:
    """Dialwell acknowledged the bad day's incident some 40 minutes after the check run reported it."""
    services.incident_acknowledge(
        actor=am, incident=incident, expected_version=incident.version, caused_by="provider",
        statement="Dialwell owns this failure: we called customers Northwind did not target, and we "
                  "apologise to Northwind and to them.")
    # Reported when the delivery was checked, a few minutes after it arrived.
    _retime(incident, incident.occurred_at + 4 * M, CURRENT_SCHEDULE)


def _retime(incident: Incident, start: dt.datetime, schedule: dict[str, list[dt.timedelta]]) -> None:
    """Give the demo's incident the times a real one would have had (the services stamp "now").

    Each timeline entry gets the next time of its kind in `schedule`, from `start`; the
    incident's milestones follow their entries, and a postmortem is written again with them.
    """
    incident = Incident.objects.get(pk=incident.pk)
    used: dict[str, int] = {}
    last = start
    stamps: dict[str, dt.datetime] = {}
    for entry in incident.timeline.order_by("at", "pk"):
        offsets = schedule.get(entry.kind, [])
        index = used.get(entry.kind, 0)
        used[entry.kind] = index + 1
        at = start + offsets[index] if index < len(offsets) else last + M
        last = max(last, at)
        TimelineEntry.objects.filter(pk=entry.pk).update(at=at)
        stamps.setdefault(entry.kind, at)
        stamps[f"last:{entry.kind}"] = at
    fields = {"reported_at": start, "created_at": start, "occurred_at": min(incident.occurred_at, start),
              "updated_at": last}
    for field, kind in (("acknowledged_at", "acknowledged"), ("solution_agreed_at", "decision"),
                        ("signed_off_at", "sign_off"), ("closed_at", "closed")):
        if getattr(incident, field) is not None and kind in stamps:
            fields[field] = stamps[kind]
    Incident.objects.filter(pk=incident.pk).update(**fields)
    for model, kind, lookup in ((Cause, "cause", "incident"), (SolutionOption, "option", "incident"),
                                (OptionComment, "comment", "option__incident"),
                                (PreventiveControl, "control", "incident")):
        if kind in stamps:
            model.objects.filter(**{lookup: incident}).update(created_at=stamps[kind])
    incident = Incident.objects.get(pk=incident.pk)
    if incident.status == Incident.Status.CLOSED:
        Incident.objects.filter(pk=incident.pk).update(postmortem=postmortem_markdown(incident))
