"""Where samples are not read back by row number (several files, CSV, JSON, a `unique` whose
sample shows more than its key), a check's sample is still its first failing rows in the
order of the files, so that the same delivery shows the same samples on every run."""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from sourcewise.engine import load_suite, run_suite

FILES = 6
ROWS = 60_000  # per file, in row groups of 5,000: enough for every thread to take a part


def _write(tmp_path: Path) -> Path:
    directory = tmp_path / "orders"
    directory.mkdir()
    con = duckdb.connect()
    for f in range(FILES):
        con.execute(
            f"COPY (SELECT {f * ROWS} + range AS order_id, "  # noqa: S608
            "CASE WHEN range % 37 = 5 THEN -1 ELSE range % 500 END AS amount, "
            "(range % 1000) AS ref "
            f"FROM range({ROWS})) TO '{directory / f'part-{f}.parquet'}' (FORMAT parquet, ROW_GROUP_SIZE 5000)"
        )
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{directory}/*.parquet') ORDER BY order_id) "  # noqa: S608
        f"TO '{tmp_path / 'orders.csv'}' (HEADER)"
    )
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{directory}/*.parquet') ORDER BY order_id) "  # noqa: S608
        f"TO '{tmp_path / 'orders.jsonl'}' (FORMAT json)"
    )
    con.close()
    return directory


def _suite(tmp_path: Path, path: str, checks: list[dict], key: list[str] | None = None) -> Path:
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({
        "version": 1, "name": "orders",
        "datasets": {"orders": {"path": path, **({"key": key} if key else {})}},
        "checks": checks,
    }))
    return suite


def _ids(result, check: str) -> list[int]:
    return [row["order_id"] for row in next(c for c in result.checks if c.id == check).sample]


def test_row_samples_of_several_files_csv_and_json_are_the_first_failing_rows(tmp_path: Path) -> None:
    _write(tmp_path)
    first = [i for i in range(FILES * ROWS) if i % ROWS % 37 == 5][:20]
    for path in ("orders/*.parquet", "orders.csv", "orders.jsonl"):
        suite = load_suite(_suite(tmp_path, path, [
            {"id": "amount_positive", "dataset": "orders", "range": {"column": "amount", "min": 0}},
        ], key=["order_id"]))
        for _ in range(3):
            result = run_suite(suite, sample=20)
            assert _ids(result, "amount_positive") == first, path


def test_rows_of_duplicated_keys_are_read_in_file_order(tmp_path: Path) -> None:
    directory = _write(tmp_path)
    # `ref` repeats every 1,000 rows, so every value is duplicated. The sample shows the key
    # order_id too, so the rows of the 20 smallest duplicated refs (0 to 19) are read again
    # by ref: the first 20 of them in the files are order_id 0 to 19.
    suite = load_suite(_suite(tmp_path, f"{directory.name}/*.parquet", [
        {"id": "ref_unique", "dataset": "orders", "unique": ["ref"]},
    ], key=["order_id"]))
    for _ in range(3):
        assert _ids(run_suite(suite, sample=20), "ref_unique") == list(range(20))
