"""The engagement page's card for providers, and the server-rendered charts of this app."""

from __future__ import annotations

from django import template

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
    """Horizontal bars of 0-100 values, as SVG, with the same figures as a table."""
    bars = [(label, value) for label, value in (bars or []) if value is not None]
    return {"title": title, "bars": [(label, value, 16 + i * 28, value * 3) for i, (label, value) in
                                     enumerate(bars)], "height": 16 + 28 * len(bars)}


@register.inclusion_tag("providers/_quarter_chart.html")
def quarter_chart(quarters):
    """Interactions per quarter, proactive and reactive stacked, as SVG with a table alternative."""
    quarters = list(quarters or [])
    top = max([p + r for _l, p, r in quarters] + [1])
    scale = 100 / top
    columns = []
    for i, (label, proactive, reactive) in enumerate(quarters):
        p_h, r_h = round(proactive * scale), round(reactive * scale)
        columns.append({"label": label, "proactive": proactive, "reactive": reactive, "x": 40 + i * 70,
                        "p_y": 120 - p_h, "p_h": p_h, "r_y": 120 - p_h - r_h, "r_h": r_h})
    return {"columns": columns, "width": 40 + 70 * len(quarters)}


@register.inclusion_tag("providers/_long_bar_chart.html")
def long_bar_chart(title: str, bars):
    """Like bar_chart, for long labels (a check's name): each label sits above its bar."""
    bars = [(label, value) for label, value in (bars or []) if value is not None]
    return {"title": title, "bars": [(label, value, 14 + i * 40, 30 + i * 40, value * 3) for i, (label, value) in
                                     enumerate(bars)], "height": 8 + 40 * len(bars)}
