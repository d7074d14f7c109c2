"""Reads of plans and incidents, always through the tenancy rule."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Prefetch, QuerySet

from sourcewise.core.selectors import get_visible
from sourcewise.resilience.models import (
    Exercise,
    FailureScenario,
    Incident,
    PreventiveControl,
    ResiliencePlan,
    SolutionOption,
)


def plan_list(*, user: Any, organization: Any = None) -> QuerySet[ResiliencePlan]:
    return (
        ResiliencePlan.objects.visible_to(user, organization)
        .select_related("engagement", "engagement__buyer", "engagement__provider")
        .annotate(last_exercise=Max("exercises__held_on"), scenario_count=Count("scenarios", distinct=True))
    )


def plan_get(*, user: Any, organization: Any = None, pk: Any) -> ResiliencePlan:
    queryset = plan_list(user=user, organization=organization).prefetch_related(
        "scenarios__buyer_owner", "scenarios__provider_owner",
        Prefetch("exercises", queryset=Exercise.objects.prefetch_related("gaps__owner")),
    )
    return get_visible(queryset, user=user, organization=organization, pk=pk)


def incident_list(*, user: Any, organization: Any = None) -> QuerySet[Incident]:
    return Incident.objects.visible_to(user, organization).select_related(
        "engagement", "engagement__buyer", "engagement__provider", "plan"
    ).prefetch_related("checks")


def incident_get(*, user: Any, organization: Any = None, pk: Any) -> Incident:
    queryset = incident_list(user=user, organization=organization).select_related(
        "scenario", "acknowledged_by", "decided_by", "signed_off_by", "chosen_option", "opened_by"
    ).prefetch_related(
        "timeline", "causes",
        Prefetch("options", queryset=SolutionOption.objects.prefetch_related("comments__author")),
        Prefetch("controls", queryset=PreventiveControl.objects.select_related("owner")),
        "resembles__similar",
    )
    return get_visible(queryset, user=user, organization=organization, pk=pk)


def control_get(*, user: Any, organization: Any = None, pk: Any) -> PreventiveControl:
    return get_visible(PreventiveControl.objects.select_related("engagement", "incident", "exercise__plan"),
                       user=user, organization=organization, pk=pk)


def option_get(*, user: Any, organization: Any = None, pk: Any) -> SolutionOption:
    return get_visible(SolutionOption.objects.select_related("incident"), user=user,
                       organization=organization, pk=pk)


def scenario_get(*, user: Any, organization: Any = None, pk: Any) -> FailureScenario:
    return get_visible(
        FailureScenario.objects.select_related("plan__engagement__buyer", "plan__engagement__provider",
                                               "buyer_owner", "provider_owner"),
        user=user, organization=organization, pk=pk)


def exercise_get(*, user: Any, organization: Any = None, pk: Any) -> Exercise:
    return get_visible(Exercise.objects.select_related("plan__engagement"), user=user,
                       organization=organization, pk=pk)
