"""Line charts of a study's KPIs as inline SVG: drawn on the server, no script, no CDN."""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT, PAD = 320, 120, 8


def _fmt(name: str, value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if name.endswith("_rate") else f"{value:,.2f}"


def study_charts(run, *, segment: str | None = None) -> list[dict[str, Any]]:
    """One chart per metric over the periods, for all records or one segment."""
    rows = [r for r in run.results.get("rows", []) if r.get("segment") == segment]
    charts = []
    for name in run.results.get("metrics", []):
        values = [(r["period"], r.get(name)) for r in rows]
        known = [v for _, v in values if v is not None]
        points = []
        low = high = None
        if known:
            low, high = min(known), max(known)
            span = (high - low) or 1.0
            step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
            for i, (_, v) in enumerate(values):
                if v is None:
                    continue
                x = PAD + i * step
                y = HEIGHT - PAD - (v - low) / span * (HEIGHT - 2 * PAD)
                points.append(f"{x:.1f},{y:.1f}")
        first = next((v for _, v in values if v is not None), None)
        last = next((v for _, v in reversed(values) if v is not None), None)
        charts.append({
            "name": name, "label": name.replace("_", " ").capitalize(),
            "points": " ".join(points), "width": WIDTH, "height": HEIGHT,
            "table": [(p, _fmt(name, v)) for p, v in values],
            "summary": f"from {_fmt(name, first)} to {_fmt(name, last)}" if values else "no data",
            # The scale is drawn: a line fitted to its own range exaggerates small moves.
            "high": _fmt(name, high), "low": _fmt(name, low),
            "first_period": values[0][0] if values else "", "last_period": values[-1][0] if values else "",
        })
    return charts
