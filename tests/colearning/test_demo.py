"""The demo tells the brief's collections story, once, however often it is loaded."""

from __future__ import annotations

import pytest

from sourcewise.colearning.models import Challenge, Idea, SharedLearning, StudyRun


@pytest.mark.django_db
def test_demo_tells_the_collections_story_once():
    from sourcewise.demo import story

    story.load()
    story.load()
    challenge = Challenge.objects.get()
    assert challenge.problem == "Reduce the cost of the collections process"
    assert challenge.engagement.provider.slug == "recova"
    assert sorted(Idea.objects.values_list("status", flat=True)) == ["declined", "on_hold", "pursued"]
    run = StudyRun.objects.get()
    assert run.status == "succeeded" and 10_000 < run.row_count < 50_000
    overall = [r for r in run.results["rows"] if r["segment"] is None]
    assert len(overall) == 6
    # The pilot from month 4 shows in the data.
    assert overall[5]["right_party_contact_rate"] > overall[0]["right_party_contact_rate"] + 0.05
    shared = SharedLearning.objects.get()
    assert shared.provider.slug == "recova"
    for secret in ("Northwind", "Alex Morgan", "Alex", "Morgan"):
        assert secret not in shared.body
