"""Migration 0003 turns each incident's check into its IncidentCheck row (and late ones per feed)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("resilience", "0002_incident_findings")]
AFTER = [("resilience", "0003_incident_checks_versions")]


@pytest.mark.django_db(transaction=True)
def test_existing_checks_become_incident_check_rows(world):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    Incident = apps.get_model("resilience", "Incident")
    engagement_id = world.engagement.pk

    def make(title, check_name, feed_name, status):
        return Incident.objects.create(engagement_id=engagement_id, title=title, check_name=check_name,
                                       feed_name=feed_name, status=status).pk

    open_id = make("Segment check failed", "contact_was_targeted", "contact-log", "investigating")
    closed_id = make("Segment check failed before", "contact_was_targeted", "contact-log", "closed")
    late_id = make("Daily contact log delivered late", "late_delivery", "contact-log", "reported")
    manual_id = make("Reported by hand", "", "", "reported")
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        apps = executor.loader.project_state(AFTER).apps
        IncidentCheck = apps.get_model("resilience", "IncidentCheck")
        rows = {(r.incident_id, r.check_name, r.feed_name, r.open) for r in IncidentCheck.objects.all()}
        assert rows == {
            (open_id, "contact_was_targeted", "contact-log", True),
            (closed_id, "contact_was_targeted", "contact-log", False),
            (late_id, "late_delivery:contact-log", "contact-log", True),
        }
        Incident = apps.get_model("resilience", "Incident")
        assert Incident.objects.get(pk=late_id).check_name == "late_delivery:contact-log"
        assert not IncidentCheck.objects.filter(incident_id=manual_id).exists()
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
