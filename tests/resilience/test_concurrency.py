"""Two people saving one incident at the same moment: one wins, the other is told (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from sourcewise.core.errors import Conflict
from sourcewise.resilience import services
from sourcewise.resilience.models import Incident

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="real concurrent transactions need PostgreSQL; test_services covers the rule on SQLite",
)


@pytest.mark.django_db(transaction=True)
def test_simultaneous_edits_from_the_same_version_never_both_win(world):
    incident = services.incident_open(actor=world.buyer.member, engagement=world.engagement,
                                      title="Calls outside the targeted segments")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def edit(user, text: str) -> None:
        from django.db import connections

        try:
            barrier.wait()
            services.incident_update(actor=user, incident=incident, expected_version=1, description=text)
            outcomes[text] = "saved"
        except Conflict:
            outcomes[text] = "refused"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=edit, args=(world.buyer.member, "buyer's text")),
               threading.Thread(target=edit, args=(world.provider.member, "provider's text"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["refused", "saved"]
    saved = next(text for text, outcome in outcomes.items() if outcome == "saved")
    incident.refresh_from_db()
    assert incident.description == saved and incident.version == 2
    assert Incident.objects.get().timeline.filter(kind="edit").count() == 1
