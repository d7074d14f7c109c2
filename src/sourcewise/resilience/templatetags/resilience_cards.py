"""The engagement page's card for resilience: open incidents and the plans, flagged when stale."""

from django import template

from sourcewise.resilience.models import Incident, ResiliencePlan

register = template.Library()


@register.inclusion_tag("resilience/_engagement_card.html", takes_context=True)
def resilience_card(context, engagement):
    # The engagement was fetched through the tenancy rule by the page; its rows share its scope.
    open_incidents = Incident.objects.filter(engagement=engagement).exclude(status="closed").order_by(
        "-reported_at")
    plans = ResiliencePlan.objects.filter(engagement=engagement).prefetch_related("exercises")
    return {
        "engagement": engagement, "request": context.get("request"),
        "open_incidents": list(open_incidents[:5]), "open_count": open_incidents.count(),
        "critical_count": open_incidents.filter(severity="critical").count(), "plans": list(plans),
    }
