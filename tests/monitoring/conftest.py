"""Monitoring fixtures: the story's three feeds on world.engagement, and files to deliver."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import pytest


def _load_helpers():
    path = Path(__file__).with_name("helpers.py")
    spec = importlib.util.spec_from_file_location("monitoring_test_helpers", path)
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


HELPERS = _load_helpers()


@pytest.fixture
def helpers():
    """tests/monitoring/helpers.py: the story's files and feeds."""
    return HELPERS


@pytest.fixture
def feeds(world):
    return HELPERS.make_feeds(world)


@pytest.fixture
def deliver(world, django_capture_on_commit_callbacks):
    """Deliver bytes to a feed as the provider, running the check (the task) on commit."""
    from sourcewise.monitoring import services

    def _deliver(feed, data: bytes, filename: str = "contacts.parquet", **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return services.delivery_receive(
                actor=kwargs.pop("actor", world.provider.member),
                organization=kwargs.pop("organization", world.provider.organization),
                feed=feed, stream=io.BytesIO(data), filename=filename, **kwargs)

    return _deliver
