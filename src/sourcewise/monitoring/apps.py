"""Feeds, deliveries, check runs, findings and SLA scorecards (issue 4)."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "sourcewise.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"
