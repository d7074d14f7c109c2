"""The engagement page's card for co-learning."""

from django import template

register = template.Library()


@register.inclusion_tag("colearning/_engagement_card.html", takes_context=True)
def colearning_card(context, engagement):
    return {"engagement": engagement, "request": context.get("request")}
