"""The engagement page's card for monitoring: its feeds, their last check, recent findings."""

import datetime as dt

from django import template
from django.utils import timezone

register = template.Library()


@register.inclusion_tag("monitoring/_engagement_card.html", takes_context=True)
def monitoring_card(context, engagement):
    from sourcewise.monitoring import selectors

    request = context.get("request")
    scope = {"user": request.user, "organization": getattr(request, "organization", None)}
    feeds = list(selectors.feed_list(**scope).filter(engagement=engagement).order_by("name"))
    for feed in feeds:
        feed.last_run = feed.runs.order_by("-pk").first()
    since = timezone.now() - dt.timedelta(days=30)
    open_findings = selectors.finding_list(**scope).filter(
        feed__engagement=engagement, created_at__gte=since).count()
    return {"engagement": engagement, "request": request, "feeds": feeds,
            "open_findings": open_findings, "can_write": context.get("can_write")}
