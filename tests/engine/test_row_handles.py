"""Samples by row number (DuckDB, one Parquet file): the fused scan grouped by which checks a
row fails returns every count and the first failing rows' numbers, and one query reads those
rows back. Counts and values must equal the plain fused scan's, samples must be the first
failing rows of the file, and every case the plan cannot take falls back unchanged."""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from sourcewise.engine import load_suite, run_suite

ROWS = 3000


def _write(tmp_path: Path, rows: int = ROWS) -> None:
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT range AS order_id, "  # noqa: S608
        "CASE WHEN range % 97 = 5 THEN NULL ELSE 1 + range % 40 END AS customer_id, "
        "CASE WHEN range % 11 = 3 THEN 'fax' WHEN range % 13 = 0 THEN NULL ELSE 'web' END AS channel, "
        "(range % 500) - 7 AS amount, "
        "1 + range % 4 AS shop_id, "
        "CASE WHEN range % 7 = 1 THEN 99 ELSE range % 4 + 1 END AS shop_echo, "
        "TIMESTAMP '2026-11-01 00:00:00' + range * INTERVAL 1 MINUTE AS placed_at "
        f"FROM range({rows})) TO '{tmp_path / 'orders.parquet'}' (FORMAT parquet)"
    )
    con.execute(f"COPY (SELECT range + 1 AS shop_id, range + 1 AS shop_echo FROM range(4)) TO '{tmp_path / 'shops.parquet'}' (FORMAT parquet)")  # noqa: S608
    con.close()


def _suite(tmp_path: Path, checks: list[dict], orders: str = "orders.parquet") -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({
        "version": 1, "name": "orders",
        "datasets": {"orders": {"path": orders, "key": ["order_id"]}, "shops": {"path": "shops.parquet", "key": ["shop_id"]}},
        "checks": checks,
    }))
    return path


CHECKS = [
    {"id": "customer_present", "dataset": "orders", "not_null": ["customer_id"]},
    {"id": "channel_known", "dataset": "orders", "accepted_values": {"column": "channel", "values": ["web", "app"]}},
    {"id": "amount_positive", "dataset": "orders", "range": {"column": "amount", "min": 0}},
    {"id": "shop_matches", "dataset": "orders", "lookup": {"to": "shops", "on": ["shop_id"]},
     "row_condition": "shop_echo = shops.shop_echo"},
    {"id": "mostly_web", "dataset": "orders", "share": {"condition": "channel = 'web'", "min": 0.5}},
    {"id": "largest", "dataset": "orders", "metric": {"column": "amount", "stat": "max", "max": 1000}},
    {"id": "smallest", "dataset": "orders", "metric": {"column": "amount", "stat": "min", "min": -100}},
    {"id": "total", "dataset": "orders", "metric": {"column": "amount", "stat": "sum", "min": 0}},
    {"id": "few_without_channel", "dataset": "orders", "metric": {"column": "channel", "stat": "null_ratio", "max": 0.5}},
    {"id": "typical_amount", "dataset": "orders", "metric": {"column": "amount", "stat": "mean", "min": 0, "max": 200}},
    {"id": "fresh", "dataset": "orders", "freshness": {"column": "placed_at", "max_age": "30d"}},
]


def _first_failing(tmp_path: Path, where: str, columns: str, n: int) -> list[tuple]:
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT {columns} FROM read_parquet('{tmp_path / 'orders.parquet'}') AS o "  # noqa: S608
        f"LEFT JOIN read_parquet('{tmp_path / 'shops.parquet'}') AS s USING (shop_id) "
        f"WHERE {where} ORDER BY o.order_id LIMIT {n}"
    ).fetchall()
    con.close()
    return rows


def _plain(result) -> list[tuple]:  # noqa: ANN001
    return [(c.id, c.status, c.failing_rows, c.total_rows, c.observed, c.message) for c in result.checks]


def test_counts_and_values_equal_the_plain_scan_and_samples_are_the_first_failing_rows(tmp_path: Path) -> None:
    _write(tmp_path)
    suite = load_suite(_suite(tmp_path, CHECKS))
    steps: list[str] = []
    by_number = run_suite(suite, sample=4, as_of="2026-11-10T00:00:00", progress=steps.append, cache=False)
    plain = run_suite(suite, sample=0, as_of="2026-11-10T00:00:00", cache=False)  # no samples: the plain fused scan
    assert _plain(by_number) == _plain(plain)
    assert by_number.check("customer_present").failing_rows == sum(1 for i in range(ROWS) if i % 97 == 5)

    # One scan of orders, no sample scan, one read by row number for every failed check.
    assert sum(s.startswith("orders: one scan") for s in steps) == 1
    assert not any("samples for" in s or "sample for" in s for s in steps)
    assert sum(s.startswith("orders: ") and "read by row number" in s for s in steps) == 1

    def sample(check: str) -> list[tuple]:
        return [tuple(r.values()) for r in by_number.check(check).sample]

    assert sample("customer_present") == _first_failing(tmp_path, "o.customer_id IS NULL", "o.order_id, o.customer_id", 4)
    assert sample("channel_known") == _first_failing(
        tmp_path, "o.channel IS NOT NULL AND o.channel NOT IN ('web', 'app')", "o.order_id, o.channel", 4)
    assert sample("amount_positive") == _first_failing(tmp_path, "o.amount < 0", "o.order_id, o.amount", 4)
    # A lookup's column is shown as the check saw it.
    assert by_number.check("shop_matches").sample[0].keys() == {"order_id", "shop_echo", "shops.shop_echo"}
    assert sample("shop_matches") == _first_failing(
        tmp_path, "o.shop_echo <> s.shop_echo", "o.order_id, o.shop_echo, s.shop_echo", 4)


def test_an_empty_file_counts_nothing(tmp_path: Path) -> None:
    _write(tmp_path, rows=0)
    result = run_suite(load_suite(_suite(tmp_path, CHECKS)), sample=4, as_of="2026-11-10T00:00:00", cache=False)
    assert result.datasets["orders"] == {"rows": 0}
    assert result.check("customer_present").failing_rows == 0
    assert result.check("customer_present").status == "passed"
    assert result.check("largest").observed == {"value": None}
    assert result.check("fresh").status == "failed"  # no value: nothing shows it fresh


def test_cases_the_plan_does_not_take_give_the_same_results(tmp_path: Path) -> None:
    _write(tmp_path)
    # A standard deviation does not add up across groups; seventeen row-local checks are
    # more than the plan's sixteen bits; a glob of two files has no single row number. Each
    # keeps the plain scan with its sample queries, with the same counts.
    mean = [*CHECKS, {"id": "spread", "dataset": "orders", "metric": {"column": "amount", "stat": "stddev", "max": 1000}}]
    many = [*CHECKS, *({"id": f"amount_below_{i}", "dataset": "orders", "range": {"column": "amount", "max": 400 + i}}
                       for i in range(13))]
    (tmp_path / "parts").mkdir()
    con = duckdb.connect()
    for i in range(2):
        con.execute(f"COPY (SELECT * FROM read_parquet('{tmp_path / 'orders.parquet'}') WHERE order_id % 2 = {i}) "  # noqa: S608
                    f"TO '{tmp_path / 'parts' / f'{i}.parquet'}' (FORMAT parquet)")
    con.close()
    for checks, orders in ((mean, "orders.parquet"), (many, "orders.parquet"), (CHECKS, "parts/*.parquet")):
        suite = load_suite(_suite(tmp_path, checks, orders))
        steps: list[str] = []
        sampled = run_suite(suite, sample=3, as_of="2026-11-10T00:00:00", progress=steps.append, cache=False)
        plain = run_suite(suite, sample=0, as_of="2026-11-10T00:00:00", cache=False)
        assert _plain(sampled) == _plain(plain)
        assert not any("read by row number" in s and s.startswith("orders") for s in steps)
        assert any(s.startswith("orders: samples for") for s in steps)
        assert len(sampled.check("amount_positive").sample) == 3


def test_the_same_delivery_always_shows_the_same_samples(tmp_path: Path) -> None:
    # Unique and grouped samples too: the smallest duplicated keys, the first failing groups
    # by their keys, whether the plan is compiled (cold) or read from the cache (warm, where
    # the duplicates come from the plain-SQL head start).
    _write(tmp_path)
    checks = [*CHECKS,
              {"id": "one_order_per_customer", "dataset": "orders", "unique": ["customer_id"]},
              {"id": "shops_mostly_web", "dataset": "orders",
               "share": {"condition": "channel = 'web'", "min": 0.9, "group_by": ["shop_id", "customer_id"]}}]
    suite = load_suite(_suite(tmp_path, checks))
    cache = tmp_path / "plans"
    runs = [run_suite(suite, sample=3, as_of="2026-11-10T00:00:00", cache=cache) for _ in range(3)]

    def samples(result) -> list:  # noqa: ANN001
        # A `unique` whose sample shows more than its columns reads rows back by the
        # smallest duplicated keys and stops at the first rows it finds: which of those
        # keys' rows is not fixed.
        return [c.sample for c in result.checks if c.id != "one_order_per_customer"]

    assert [samples(r) for r in runs[1:]] == [samples(runs[0])] * 2
    assert {r["customer_id"] for r in runs[0].check("one_order_per_customer").sample} <= {1, 2, 3}
    grouped = runs[0].check("shops_mostly_web").sample
    keys = [(g["shop_id"], g["customer_id"]) for g in grouped]
    assert keys == sorted(keys) and len(keys) == 3
