"""The engagement page's card for providers, and the server-rendered charts of this app."""

from __future__ import annotations

from django import template

from sourcewise.core import charts

register = template.Library()


@register.inclusion_tag("providers/_engagement_card.html", takes_context=True)
def providers_card(context, engagement):
    from sourcewise.providers.models import ChangeNotice
    from sourcewise.providers.selectors import change_notice_list, relationship_health

    request = context.get("request")
    notices = change_notice_list(user=request.user, organization=request.organization).filter(
        engagement=engagement, status__in=list(ChangeNotice.OPEN))
    return {"engagement": engagement, "request": request, "health": relationship_health(engagement),
            "open_notices": notices.order_by("review_by")[:3], "open_count": notices.count()}


@register.simple_tag
def reassessment(provider) -> str:
    """The provider's next reassessment date by its tier, or "Due now" when never concluded."""
    from django.utils import timezone

    from sourcewise.providers.selectors import reassessment_due

    due = reassessment_due(provider)
    if due is None:
        return "Due now"
    return f"{due:%d %b %Y}" + (" (overdue)" if due < timezone.localdate() else "")


@register.filter
def basename(path) -> str:
    return str(path or "").rsplit("/", 1)[-1]


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)


@register.inclusion_tag("providers/_bar_chart.html")
def bar_chart(title: str, bars):
    """Horizontal bars of 0-100 values (geometry from core.charts), with the same figures as a table."""
    return {"title": title, "chart": charts.hbars(bars)}


@register.inclusion_tag("providers/_quarter_chart.html")
def quarter_chart(quarters):
    """Interactions per quarter, proactive and reactive stacked (core.charts), with a table alternative."""
    return {"chart": charts.stacked_columns(quarters)}
