"""JSON API of monitoring (mounted under /api/v1/ by config.api)."""

from ninja import Router

router = Router(tags=["monitoring"])
