"""Resilience plans and incidents (issue 5)."""

from django.apps import AppConfig


class ResilienceConfig(AppConfig):
    name = "sourcewise.resilience"
    label = "resilience"
    verbose_name = "Resilience"

    def ready(self) -> None:
        # Failed checks of monitoring open (or add to) incidents.
        from sourcewise.monitoring.signals import findings_recorded
        from sourcewise.resilience.findings import on_findings_recorded

        findings_recorded.connect(on_findings_recorded, dispatch_uid="resilience.findings_to_incidents")
