"""Line charts of a study's KPIs: the figures and labels of each chart; the line itself is core.charts'."""

from __future__ import annotations

from typing import Any

from sourcewise.core import charts

WIDTH, HEIGHT, PAD = 320, 120, 8


def _fmt(name: str, value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if name.endswith("_rate") else f"{value:,.2f}"


def study_charts(run, *, segment: str | None = None) -> list[dict[str, Any]]:
    """One chart per metric over the periods, for all records or one segment."""
    rows = [r for r in run.results.get("rows", []) if r.get("segment") == segment]
    result = []
    for name in run.results.get("metrics", []):
        values = [(r["period"], r.get(name)) for r in rows]
        drawn = charts.line([v for _, v in values], width=WIDTH, height=HEIGHT, pad=PAD)
        first = next((v for _, v in values if v is not None), None)
        last = next((v for _, v in reversed(values) if v is not None), None)
        result.append({
            "name": name, "label": name.replace("_", " ").capitalize(),
            "points": drawn["points"], "width": drawn["width"], "height": drawn["height"],
            "table": [(p, _fmt(name, v)) for p, v in values],
            "summary": f"from {_fmt(name, first)} to {_fmt(name, last)}" if values else "no data",
            # The scale is drawn: a line fitted to its own range exaggerates small moves.
            "high": _fmt(name, drawn["high"]), "low": _fmt(name, drawn["low"]),
            "first_period": values[0][0] if values else "", "last_period": values[-1][0] if values else "",
        })
    return result
