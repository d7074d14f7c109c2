"""The demo tells the brief's story in monitoring: one bad day, one late day, downloads that work."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from sourcewise.monitoring.models import CheckRun, Delivery, Feed, Finding

pytestmark = pytest.mark.django_db


def test_the_demo_shows_the_integration_failure_and_loads_once():
    import io

    call_command("demo", stdout=io.StringIO())
    feed = Feed.objects.get(slug="contact-log", engagement__name="Outbound marketing calls")
    assert Delivery.objects.filter(feed=feed, status="accepted").count() == 14
    runs = CheckRun.objects.filter(feed=feed)
    assert runs.filter(status="passed").count() == 13 and runs.filter(status="failed").count() == 1
    bad = runs.get(status="failed")
    found = {f.check_id: f.failing_rows for f in bad.findings.all()}
    assert found == {"contact_was_targeted": 200, "campaign_is_northwinds": 60, "targets_contacted": 95}
    missed = bad.findings.get(check_id="targets_contacted")
    assert len(list(missed.customer_keys())) == 95
    late = Finding.objects.filter(feed=feed, kind="late")
    assert late.count() == 1 and "arrived 2 h 40 min after" in late.get().message
    counts = (Delivery.objects.count(), Finding.objects.count(), CheckRun.objects.count())
    call_command("demo", stdout=io.StringIO())
    assert (Delivery.objects.count(), Finding.objects.count(), CheckRun.objects.count()) == counts
