"""JSON API of resilience (mounted under /api/v1/ by config.api)."""

from ninja import Router

router = Router(tags=["resilience"])
