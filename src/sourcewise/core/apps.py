"""Tenancy, the audit trail, engagements and the web shell that every other app builds on."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "sourcewise.core"
    label = "core"
    verbose_name = "Sourcewise core"

    def ready(self) -> None:
        from sourcewise.core import checks  # noqa: F401  (registers system checks)
