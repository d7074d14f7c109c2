"""Server-rendered inline SVG charts: nothing fetched, nothing run in the browser.

Every chart is `aria-hidden` decoration beside a table that says the same in text.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLOURS = {"passed": "#2e7d4f", "failed": "#c0392b", "warned": "#b7791f", "error": "#6b7280", "late": "#c0392b"}


def bars(points: list[tuple[str, str, int]], *, width: int = 240, height: int = 48) -> SafeString:
    """One bar per run: its height the failing rows (a passed run is a short green tick).

    `points` is [(label, status, failing_rows)], oldest first.
    """
    if not points:
        return mark_safe("")
    n = len(points)
    gap = 2
    bar_w = max(2.0, (width - gap * (n - 1)) / n)
    top = max((p[2] for p in points), default=0) or 1
    parts = [f'<svg class="chart" role="img" aria-hidden="true" focusable="false" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, status, failing) in enumerate(points):
        h = 3.0 if status == "passed" or not failing else max(4.0, (height - 2) * failing / top)
        x = i * (bar_w + gap)
        colour = COLOURS.get(status, "#6b7280")
        parts.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                     f'fill="{colour}"><title>{escape(label)}: {escape(status)}, '
                     f'{failing:,} failing rows</title></rect>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped labels only
