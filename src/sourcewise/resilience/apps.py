"""Resilience plans and incidents (issue 5)."""

from django.apps import AppConfig


class ResilienceConfig(AppConfig):
    name = "sourcewise.resilience"
    label = "resilience"
    verbose_name = "Resilience"
