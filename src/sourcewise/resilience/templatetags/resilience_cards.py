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


@register.inclusion_tag("resilience/_finding_incidents.html")
def finding_incidents(finding):
    """On a monitoring finding's page: the incident it opened or was added to."""
    # The finding was fetched through the tenancy rule; its incidents share its engagement.
    return {"incidents": list(finding.incidents.order_by("-reported_at"))}


@register.inclusion_tag("resilience/_linked_names.html")
def linked_names(names):
    """Names as links where they matched a feed page (pairs from findings.feed_links)."""
    return {"names": names}
