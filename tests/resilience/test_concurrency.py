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


@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_failing_check_at_once_open_one_incident(world):
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def report(customers: list[str]) -> None:
        from django.db import connections

        try:
            barrier.wait()
            services.incident_record_failure(
                engagement=world.engagement, check_name="contact_in_target_segment", feed_name="contacts",
                severity="error", affected_customers=customers, failing_rows=len(customers), summary="failed")
        except Exception as exc:  # the test reports any error either run hits
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report, args=(["C-1", "C-2"],)),
               threading.Thread(target=report, args=(["C-2", "C-3"],))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    incident = Incident.objects.get()
    assert sorted(incident.affected_customers) == ["C-1", "C-2", "C-3"] and incident.failing_rows == 4


@pytest.mark.django_db(transaction=True)
def test_two_runs_failing_an_overlapping_set_of_checks_at_once_end_in_one_incident(world):
    from sourcewise.resilience.models import IncidentCheck

    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def report(names: list[str], customer: str) -> None:
        from django.db import connections

        try:
            barrier.wait()
            services.incident_record_failures(
                engagement=world.engagement, feed_name="contacts",
                failures=[services.Failure(check_name=n, summary=f"{n} failed", affected_customers=[customer],
                                           failing_rows=1) for n in names])
        except Exception as exc:  # the test reports any error either run hits
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report, args=(["segment", "targets"], "C-1")),
               threading.Thread(target=report, args=(["segment", "targets"], "C-2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    incident = Incident.objects.get()
    assert sorted(incident.affected_customers) == ["C-1", "C-2"] and incident.failing_rows == 4
    assert sorted(IncidentCheck.objects.values_list("check_name", flat=True)) == ["segment", "targets"]
