"""The engagement page's card for monitoring."""

from django import template

register = template.Library()


@register.inclusion_tag("monitoring/_engagement_card.html", takes_context=True)
def monitoring_card(context, engagement):
    return {"engagement": engagement, "request": context.get("request")}
