"""Provider register, due diligence, relationship health, change notices and scorecards (issue 6)."""

from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "sourcewise.providers"
    label = "providers"
    verbose_name = "Providers"
