"""The engagement page's card for co-learning: its challenges and how far each has come."""

from django import template

from sourcewise.colearning.selectors import challenge_list

register = template.Library()


@register.inclusion_tag("colearning/_engagement_card.html", takes_context=True)
def colearning_card(context, engagement):
    request = context.get("request")
    challenges = challenge_list(user=request.user, organization=request.organization,
                                engagement=engagement)[:5] if request else []
    return {"engagement": engagement, "request": request, "challenges": challenges,
            "can_write": context.get("can_write")}
