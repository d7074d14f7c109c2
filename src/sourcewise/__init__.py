"""Sourcewise: the workspace an outsourcing buyer and its provider share."""

__version__ = "0.1.0"
