"""Co-learning objects on the world's engagement, hidden from the outsider, for the isolation crawl."""

from __future__ import annotations

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile

FORM_DATA = {
    "problem": "Crawler problem statement", "outcome": "Crawler outcome", "kind": "interview",
    "held_on": "2026-01-01", "title": "Crawler title", "provider_observers": "Crawler",
    "consent": "on", "persona": "Crawler persona", "experience": "Crawler experience",
    "statement": "Crawler insight", "expected_impact": "Crawler impact", "test_proposed": "Crawler test",
    "effort": "low", "decision": "declined", "reason": "Crawler reason", "hypothesis": "Crawler hypothesis",
    "metric": "Crawler metric", "body": "Crawler learning body",
    "grain": "month", "segment_column": "segment",
}

CALLS = (
    "call_date,account_id,segment,right_party_contact,promise_to_pay,promise_kept,handle_seconds,"
    "amount_collected,cost\n"
    "2026-01-05,ACC-100234,retail,true,true,true,100,50.0,5.0\n"
    "2026-02-03,ACC-100235,card,true,true,false,200,0,4.0\n"
)


def populate(world) -> None:
    from sourcewise.colearning import services

    eng, buyer, provider = world.engagement, world.buyer, world.provider
    challenge = services.challenge_create(
        actor=buyer.manager, engagement=eng, problem="Reduce the cost of the collections process",
        outcome="Cost per amount collected down by a fifth within two quarters",
        courage_access="Northwind lets Dialwell shadow agents and call customers in arrears",
        budget_shadowing_planned=12000, stories_customers="A customer in arrears who felt ashamed",
    )
    session = services.research_session_create(
        actor=provider.member, challenge=challenge, kind="shadowing", held_on=dt.date(2026, 1, 12),
        title="Shadowing the early-arrears desk", provider_observers="Sam of Dialwell",
        buyer_observers="Viv of Northwind", consent=True, consent_note="Agents and callers agreed",
        tags="arrears, shame",
        attachments=[SimpleUploadedFile("notes-secret.txt", b"Private session notes"),
                     SimpleUploadedFile("desk-photo-secret.jpg", b"Private desk photo")],
    )
    observation = services.observation_create(
        actor=provider.member, challenge=challenge, session=session,
        persona="Customer in early arrears", experience="Avoids calls because they feel judged",
        quotes="I would pay if they let me explain my situation",
        attachments=[SimpleUploadedFile("transcript-secret.txt", b"Private interview transcript")],
    )
    study = services.study_create(actor=provider.member, challenge=challenge,
                                  name="Collections calls over winter", grain="month",
                                  metrics="collected_per_call = sum(amount_collected) / count()")
    run = services.study_upload(actor=provider.member, study=study,
                                upload=SimpleUploadedFile("winter-calls.csv", CALLS.encode()))
    insight = services.insight_create(
        actor=provider.member, challenge=challenge, statement="Shame, not money, stops early payers",
        observations=[observation], study_runs=[run])
    idea = services.idea_create(
        actor=provider.member, challenge=challenge, title="Offer a callback at a chosen time",
        insights=[insight], expected_impact="More right-party contacts", test_proposed="A/B for a month")
    services.idea_test_create(actor=provider.member, idea=idea, hypothesis="Callbacks raise contact",
                              metric="right_party_contact_rate")
    learning = services.learning_create(
        actor=provider.member, challenge=challenge, title="Shame keeps arrears customers silent",
        body="Northwind Bank customers in early arrears avoid calls out of shame", process="collections")
    services.learning_consent(actor=buyer.manager, learning=learning)
    services.learning_share(actor=provider.member, learning=learning)
