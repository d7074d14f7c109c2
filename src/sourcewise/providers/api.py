"""JSON API of providers (mounted under /api/v1/ by config.api)."""

from ninja import Router

router = Router(tags=["providers"])
