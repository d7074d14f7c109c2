"""System checks that keep the tenancy rule from being skipped by a new model."""

from __future__ import annotations

from django.apps import apps
from django.core import checks


@checks.register(checks.Tags.models)
def tenant_models_declare_scope(app_configs=None, **kwargs):
    """Every Sourcewise model is tenant-scoped unless it says why it is not."""
    from sourcewise.core.tenancy import TenantModel

    # Models outside the tenancy rule on purpose: people, the audit chain head, throttling.
    exempt = {"accounts.user", "core.audithead", "accounts.loginfailure"}
    errors = []
    for model in apps.get_models():
        if not model.__module__.startswith("sourcewise.") or model._meta.label_lower in exempt:
            continue
        if not issubclass(model, TenantModel):
            errors.append(
                checks.Error(
                    f"{model._meta.label} is not a TenantModel, so visible_to() cannot scope it.",
                    hint="Subclass sourcewise.core.tenancy.TenantModel and declare its tenant field.",
                    obj=model,
                    id="sourcewise.E001",
                )
            )
    return errors
