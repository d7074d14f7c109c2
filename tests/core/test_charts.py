"""core.charts: the one home of the product's inline SVG charts (geometry computed on the server)."""

from __future__ import annotations

from sourcewise.core import charts


def test_run_bars_are_decoration_with_escaped_titles():
    assert charts.bars([]) == ""
    svg = charts.bars([("2026-01-01", "passed", 0), ("<b>2026-01-02</b>", "failed", 40), ("2026-01-03", "failed", 20)],
                      width=100, height=42)
    assert 'aria-hidden="true"' in svg and "<b>" not in svg and "&lt;b&gt;2026-01-02&lt;/b&gt;" in svg
    # The worst run reaches the top; a passed run is a short tick; half the failures, half the height.
    assert 'y="39.0" width="32.0" height="3.0"' in svg
    assert 'y="2.0" width="32.0" height="40.0" fill="#c0392b"' in svg
    assert 'height="20.0"' in svg


def test_horizontal_bars_drop_unknown_values_and_clamp_to_100():
    chart = charts.hbars([("Weighted score", 50), ("Reviewers' average", None), ("Over", 130), ("Under", -5)])
    assert [(b["label"], b["value"], b["width"]) for b in chart["bars"]] == [
        ("Weighted score", 50, 150), ("Over", 130, 300), ("Under", -5, 0)]
    assert chart["height"] == 8 + 3 * charts.HBAR_ROW
    first, second = chart["bars"][:2]
    assert second["label_y"] - first["label_y"] == charts.HBAR_ROW and first["label_y"] < first["bar_y"]
    assert charts.hbars(None) == {"bars": [], "width": charts.HBAR_WIDTH, "height": 8}


def test_stacked_columns_scale_to_the_tallest():
    chart = charts.stacked_columns([("Q1 2026", 2, 2), ("Q2 2026", 0, 1)])
    q1, q2 = chart["columns"]
    assert (q1["lower_h"], q1["upper_h"], q1["lower_y"], q1["upper_y"]) == (50, 50, 70, 20)
    assert (q2["lower_h"], q2["upper_h"], q2["upper_y"]) == (0, 25, 95)
    assert q2["x"] - q1["x"] == charts.COLUMN_STEP and chart["width"] == 40 + 2 * charts.COLUMN_STEP


def test_a_line_skips_gaps_and_reports_its_scale():
    drawn = charts.line([1.0, None, 3.0], width=108, height=58, pad=4)
    assert drawn["points"] == "4.0,54.0 104.0,4.0"
    assert (drawn["low"], drawn["high"]) == (1.0, 3.0)
    assert charts.line([None, None])["points"] == "" and charts.line([])["low"] is None
    flat = charts.line([2.0, 2.0], width=20, height=20, pad=0)
    assert flat["points"] == "0.0,20.0 20.0,20.0"
