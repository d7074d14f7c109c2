"""JSON API of co-learning (mounted under /api/v1/ by config.api)."""

from ninja import Router

router = Router(tags=["colearning"])
