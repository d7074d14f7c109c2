"""Monitoring's objects on world.engagement for the isolation crawl: feeds, a checked bad day."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

FORM_DATA = {
    "slug": "crawler-feed", "kind": "delivery", "cadence": "daily", "due_time": "06:00",
    "time_zone": "UTC", "text": "version: 1", "engagement_id": "1",
}


def _helpers():
    spec = importlib.util.spec_from_file_location("monitoring_test_helpers", Path(__file__).with_name("helpers.py"))
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def populate(world) -> None:
    from django.db import transaction

    from sourcewise.monitoring import services

    helpers = _helpers()
    feeds = helpers.make_feeds(world)
    # The run is queued on commit; the crawl's test transaction never commits, so run it here.
    with transaction.atomic():
        delivery = services.delivery_receive(
            actor=world.provider.member, organization=world.provider.organization, feed=feeds.contacts,
            stream=io.BytesIO(helpers.bad_day()), filename="Northwind contact log secret.parquet")
    services.run_execute(run_id=delivery.runs.get().pk)
    services.delivery_receive(
        actor=world.provider.member, organization=world.provider.organization, feed=feeds.contacts,
        stream=io.BytesIO(b""), filename="empty delivery of Northwind.csv")
