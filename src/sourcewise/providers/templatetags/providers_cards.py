"""The engagement page's card for providers."""

from django import template

register = template.Library()


@register.inclusion_tag("providers/_engagement_card.html", takes_context=True)
def providers_card(context, engagement):
    return {"engagement": engagement, "request": context.get("request")}
