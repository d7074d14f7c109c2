"""The product's charts, in one place: inline SVG computed on the server, no script, no CDN.

Every chart is either `aria-hidden` decoration or titled (`role="img"` with a title), and
the page always shows the same figures as a table. Apps call these functions for the
geometry (and, for the smallest charts, the markup); their templates only lay it out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLOURS = {"passed": "#2e7d4f", "failed": "#c0392b", "warned": "#b7791f", "error": "#6b7280", "late": "#c0392b"}


def bars(points: list[tuple[str, str, int]], *, width: int = 240, height: int = 48) -> SafeString:
    """Monitoring's run strip: one bar per run, its height the failing rows (a passed run is a short tick).

    `points` is [(label, status, failing_rows)], oldest first. Decoration (`aria-hidden`):
    the page lists the runs in a table.
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


# Horizontal bars of percentages: each label sits on its own line above its bar, so a long
# label (a feed and check name) never collides with the bar, and short ones read the same.
HBAR_WIDTH = 420
HBAR_ROW = 40
HBAR_SCALE = 3  # pixels per percent: 100 % is 300 px, leaving room for the value


def hbars(values: Sequence[tuple[str, int | None]]) -> dict[str, Any]:
    """The geometry of horizontal 0-100 bars; values that are None (nothing to measure) are left out.

    Returns {"bars": [{"label", "value", "label_y", "bar_y", "width", "value_x"}], "width", "height"}.
    """
    rows = [(label, value) for label, value in (values or []) if value is not None]
    out = []
    for i, (label, value) in enumerate(rows):
        clamped = max(0, min(100, value))
        out.append({"label": label, "value": value, "label_y": 14 + i * HBAR_ROW, "bar_y": 19 + i * HBAR_ROW,
                    "width": clamped * HBAR_SCALE, "value_x": clamped * HBAR_SCALE + 6,
                    "text_y": 30 + i * HBAR_ROW})
    return {"bars": out, "width": HBAR_WIDTH, "height": 8 + HBAR_ROW * len(out)}


COLUMN_BASE = 120  # the baseline of stacked columns; the tallest column is 100 px
COLUMN_STEP = 70
COLUMN_WIDTH = 40


def stacked_columns(groups: Sequence[tuple[str, int, int]]) -> dict[str, Any]:
    """The geometry of two-part stacked columns, e.g. proactive under reactive interactions per quarter.

    `groups` is [(label, lower, upper)]; returns {"columns": [...], "width", "height", "base"}.
    """
    groups = list(groups or [])
    top = max([lower + upper for _label, lower, upper in groups] + [1])
    scale = 100 / top
    columns = []
    for i, (label, lower, upper) in enumerate(groups):
        low_h, up_h = round(lower * scale), round(upper * scale)
        columns.append({"label": label, "lower": lower, "upper": upper, "x": 40 + i * COLUMN_STEP,
                        "lower_y": COLUMN_BASE - low_h, "lower_h": low_h,
                        "upper_y": COLUMN_BASE - low_h - up_h, "upper_h": up_h})
    return {"columns": columns, "width": 40 + COLUMN_STEP * len(groups), "height": 150, "base": COLUMN_BASE,
            "bar_width": COLUMN_WIDTH}


def line(values: Sequence[float | None], *, width: int = 320, height: int = 120, pad: int = 8) -> dict[str, Any]:
    """The geometry of a line over evenly spaced periods; gaps (None) are skipped.

    The line is fitted to its own range, so `low` and `high` are returned for the page to
    draw the scale (a line fitted to its range exaggerates small moves otherwise).
    Returns {"points": "x,y x,y ...", "low", "high", "width", "height"}.
    """
    known = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    points: list[str] = []
    low = high = None
    if known:
        low, high = min(known), max(known)
        span = (high - low) or 1.0
        step = (width - 2 * pad) / max(len(values) - 1, 1)
        for i, v in enumerate(values):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            x = pad + i * step
            y = height - pad - (v - low) / span * (height - 2 * pad)
            points.append(f"{x:.1f},{y:.1f}")
    return {"points": " ".join(points), "low": low, "high": high, "width": width, "height": height}
