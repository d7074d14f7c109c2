"""Errors that services raise and every interface (page, API, CLI) turns into a clear answer."""

from django.core.exceptions import PermissionDenied, ValidationError

__all__ = ["Conflict", "PermissionDenied", "ValidationError"]


class Conflict(Exception):
    """The object changed since the person loaded it; their edit would overwrite someone's."""
