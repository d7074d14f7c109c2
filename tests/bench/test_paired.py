"""The harness's paired figure: per-round ratios to the hand-written SQL and a sign-test interval."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run_module():
    sys.path.insert(0, str(REPO / "bench"))  # run.py imports generate and verify beside it
    try:
        spec = importlib.util.spec_from_file_location("bench_run", REPO / "bench" / "run.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "bench"))


run = _run_module()


def _runs(walls: list[float], rounds: list[int] | None = None) -> list[dict]:
    return [{"round": r, "wall_s": w} for r, w in zip(rounds or range(len(walls)), walls, strict=True)]


def test_ratios_pair_runs_of_the_same_round():
    base = _runs([2.0, 4.0, 2.0, 4.0, 2.0, 4.0, 2.0, 4.0])
    # Each run is 10% slower than the hand-written run of its round; unpaired medians of
    # these two lists would hide it (both 3.0 and 3.3 come from the mix of slow and fast rounds).
    tool = _runs([2.2, 4.4, 2.2, 4.4, 2.2, 4.4, 2.2, 4.4])
    p = run.paired(tool, base)
    assert p["pairs"] == 8 and p["faster"] == 0
    assert abs(p["median"] - 1.1) < 1e-9 and abs(p["low"] - 1.1) < 1e-9 and abs(p["high"] - 1.1) < 1e-9


def test_the_interval_is_the_sign_test_order_statistics():
    # n = 10: P(B <= 1) = 11/1024 <= 2.5% < P(B <= 2) = 56/1024, so k = 2: [r_2, r_9].
    base = _runs([1.0] * 10)
    tool = _runs([0.90, 0.95, 0.97, 0.99, 1.00, 1.01, 1.02, 1.03, 1.05, 1.20])
    p = run.paired(tool, base)
    assert (p["low"], p["high"]) == (0.95, 1.05)
    assert p["median"] == 1.005 and p["faster"] == 4


def test_rounds_without_a_partner_are_left_out_and_too_few_pairs_give_none():
    base = _runs([1.0, 1.0, 1.0], rounds=[0, 1, 2])
    tool = _runs([1.0, 1.0, 1.0, 1.0], rounds=[0, 1, 2, 3])
    assert run.paired(tool, base) is None  # 3 pairs: no 95% interval exists
