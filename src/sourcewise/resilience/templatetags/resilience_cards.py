"""The engagement page's card for resilience."""

from django import template

register = template.Library()


@register.inclusion_tag("resilience/_engagement_card.html", takes_context=True)
def resilience_card(context, engagement):
    return {"engagement": engagement, "request": context.get("request")}
