"""The demo's part of resilience: called by demo.story.load() after the core story."""

from __future__ import annotations


def load(story) -> None:
    """Add this app's part of the story; loading twice changes nothing."""
