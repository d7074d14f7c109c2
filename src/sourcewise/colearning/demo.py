"""The demo's part of co-learning: called by demo.story.load() after the core story.

The brief's story: Northwind asks Recova to help reduce the cost of its collections
process. Recova shadows the arrears desk and interviews customers, studies six months
of call records, brings insights and ideas; Northwind pursues one, declines one and
puts one on hold; the learning goes, without Northwind's name, to Recova's library.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path

from django.core.files import File
from django.utils import timezone

from sourcewise.colearning import services
from sourcewise.colearning.models import Challenge

PROBLEM = "Reduce the cost of the collections process"
SEGMENTS = ("early arrears", "late arrears", "hardship")


def call_records(path: Path, *, accounts: int = 1500, months: int = 6, seed: int = 7) -> int:
    """Deterministic collections call records; from month 4 callbacks at chosen times help."""
    rng = random.Random(seed)
    start = dt.date(2026, 1, 1)
    rows = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write("call_date,account_id,segment,right_party_contact,promise_to_pay,promise_kept,"
                  "handle_seconds,amount_collected,cost\n")
        for n in range(accounts):
            account = f"NW-{100000 + n}"
            segment = SEGMENTS[0] if n % 10 < 6 else SEGMENTS[1] if n % 10 < 9 else SEGMENTS[2]
            for month in range(months):
                improved = month >= 3
                for _call in range(rng.randint(0, 3)):
                    day = start.replace(month=month + 1) + dt.timedelta(days=rng.randint(0, 27))
                    rpc = rng.random() < (0.45 if improved else 0.32) * (0.7 if segment == "hardship" else 1)
                    ptp = rpc and rng.random() < (0.55 if improved else 0.4)
                    kept = ptp and rng.random() < (0.7 if improved else 0.55)
                    handle = rng.randint(60, 420) if rpc else rng.randint(15, 60)
                    amount = round(rng.uniform(40, 400), 2) if kept else 0
                    cost = round(1.2 + handle / 60 * 0.9, 2)
                    out.write(f"{day.isoformat()},{account},{segment},{str(rpc).lower()},"
                              f"{str(ptp).lower()},{str(kept).lower()},{handle},{amount},{cost}\n")
                    rows += 1
    return rows


def load(story) -> None:
    """Add this app's part of the story; loading twice changes nothing."""
    engagement = story.engagements.get("Collections")
    if engagement is None or Challenge.objects.filter(engagement=engagement, problem=PROBLEM).exists():
        return
    vm = story.users["vm@northwind.demo"]
    am = story.users["am@recova.demo"]
    challenge = services.challenge_create(
        actor=vm, engagement=engagement, problem=PROBLEM,
        outcome="Cost per amount collected down 20% by the end of Q3 2026, with no rise in complaints.",
        courage_access="Recova may shadow Northwind's early-arrears desk and call back 40 customers in arrears.",
        courage_consent="Each customer agrees at the start of the call; they may stop at any time.",
        courage_limits="No recordings leave Northwind; no customer in formal hardship is contacted for research.",
        budget_shadowing_planned="12000", budget_shadowing_spent="9400",
        budget_testing_planned="30000", budget_testing_spent="11200",
        stories_customers="A nurse on night shifts never answered daytime calls and felt chased; "
                          "she paid the day someone called at 8 in the evening.",
        stories_project="Both teams sat together at the arrears desk for a week before anyone proposed a fix.",
    )
    shadowing = services.research_session_create(
        actor=am, challenge=challenge, kind="shadowing", held_on=dt.date(2026, 3, 9),
        title="A week at the early-arrears desk", buyer_observers="Alex Morgan",
        provider_observers="Taylor Green", consent=True,
        consent_note="Agents agreed in the team meeting; callers were told at the start of each call.",
        notes="Agents follow a script written for late arrears; most first calls are at 10:00-15:00.",
        tags="shadowing, arrears desk, script",
    )
    interview = services.research_session_create(
        actor=am, challenge=challenge, kind="interview", held_on=dt.date(2026, 3, 17),
        title="Interviews with customers in early arrears", buyer_observers="Priya Shah",
        provider_observers="Taylor Green", consent=True,
        consent_note="Verbal consent at the start of each call, noted by the interviewer.",
        tags="interview, customers",
    )
    shame = services.observation_create(
        actor=am, challenge=challenge, session=interview, persona="Customer in early arrears",
        experience="Avoids calls from the bank because they feel judged and ashamed.",
        pain_points="Calls come at work; the first words are about the debt.",
        desired_outcome="To explain their situation and agree a date they can keep.",
        quotes="I would have paid if they had let me explain.", tags="shame, timing",
    )
    shift = services.observation_create(
        actor=am, challenge=challenge, session=interview, persona="Shift worker",
        experience="Never reachable between 10 and 3; sees missed calls pile up.",
        pain_points="Only daytime calls.", desired_outcome="A call in the evening.",
        quotes="Call me after eight and I will pick up.", tags="timing",
    )
    agent = services.observation_create(
        actor=vm, challenge=challenge, session=shadowing, persona="Collections agent",
        experience="Reads a script written for late arrears to customers one week late.",
        pain_points="Long calls with people who are not the account holder.",
        desired_outcome="Fewer wasted calls; a script for first-time late payers.", tags="script",
    )
    study = services.study_create(
        actor=am, challenge=challenge, name="Six months of early-collections calls", grain="month",
        segment_column="segment",
        metrics=[{"name": "collected_per_call", "formula": "sum(amount_collected) / count()"}],
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "northwind-collections-calls-2026H1.csv"
        call_records(path)
        with open(path, "rb") as handle:
            run = services.study_upload(actor=am, study=study, upload=File(handle, name=path.name))
    timing = services.insight_create(
        actor=am, challenge=challenge, observations=[shame, shift], study_runs=[run],
        statement="Customers in early arrears are willing to pay but unreachable at the times we call.",
        evidence_note="Right-party contact rate is the lowest KPI in every month before the pilot.",
    )
    script = services.insight_create(
        actor=vm, challenge=challenge, observations=[agent, shame],
        statement="The late-arrears script makes first-time late payers feel judged.",
    )
    callback = services.idea_create(
        actor=am, challenge=challenge, insights=[timing], title="Let customers choose a callback time",
        expected_impact="Right-party contacts up a third; cost per amount collected down 15%.",
        effort="low", test_proposed="Offer evening callbacks on half the early-arrears desk for six weeks.",
    )
    sms = services.idea_create(
        actor=am, challenge=challenge, insights=[timing], title="Replace first calls with SMS only",
        expected_impact="Halve the cost of first contact.", effort="low",
        test_proposed="SMS-only first contact for one segment for a month.",
    )
    portal = services.idea_create(
        actor=vm, challenge=challenge, insights=[script, timing],
        title="Self-service payment plans in the mobile app",
        expected_impact="A fifth of early-arrears customers arrange a plan without a call.",
        effort="high", test_proposed="Prototype with ten customers; measure plans made and kept.",
    )
    services.idea_decide(actor=vm, idea=callback, decision="pursued", project_owner="Alex Morgan",
                         milestones=[("Evening shift on the early-arrears desk", dt.date(2026, 4, 6)),
                                     ("Pilot review with Recova", dt.date(2026, 5, 18))])
    services.idea_decide(actor=vm, idea=sms, decision="declined",
                         reason="Our regulator expects a conversation before a payment plan; SMS alone is not enough.")
    services.idea_decide(actor=vm, idea=portal, decision="on_hold",
                         revisit_on=timezone.localdate() + dt.timedelta(days=60),
                         revisit_trigger="When the mobile app release plan for next year is set.")
    services.idea_test_create(
        actor=am, idea=callback, hypothesis="Evening callbacks raise the right-party contact rate.",
        metric="right_party_contact_rate", outcome="confirmed",
        result="From 31% to 44% on the pilot desk (months 4-6 against 1-3).",
    )
    learning = services.learning_create(
        actor=am, challenge=challenge, title="Call early-arrears customers when they can answer",
        body=("At Northwind Bank, customers one or two payments behind were willing to pay but "
              "unreachable during working hours, and felt judged by a late-arrears script. Offering "
              "a callback at a time they chose raised right-party contacts from 31% to 44%. "
              "Alex Morgan's team now staffs an evening shift."),
        process="collections", tags="timing, callbacks, early arrears",
    )
    services.learning_consent(actor=vm, learning=learning)
    services.learning_share(actor=am, learning=learning)
