"""One behaviour suite, run on every backend: the fault datasets give the same exact counts everywhere."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from sourcewise.engine import load_suite

from . import faults
from .conftest import BEHAVIOUR_BACKENDS, backend_name, check_on, suite_for

ROW_CHECKS = [cid for cid, e in faults.EXPECTED.items() if "failing_rows" in e]
VALUE_CHECKS = [cid for cid, e in faults.EXPECTED.items() if "value" in e]
GROUP_CHECKS = [cid for cid, e in faults.EXPECTED.items() if "failing_groups" in e]


def test_hand_written_expectations_match_the_rows() -> None:
    oracle = faults.oracle()
    for cid, expected in faults.EXPECTED.items():
        for key in ("failing_rows", "total_rows", "value", "failing_groups"):
            if key in expected and key in oracle.get(cid, {}):
                assert math.isclose(oracle[cid][key], expected[key]), (cid, key)
    assert oracle["contact_id_unique"]["duplicate_keys"] == 11


@pytest.fixture(scope="module", params=BEHAVIOUR_BACKENDS)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The fault suite, run once per backend, with samples."""
    directory = tmp_path_factory.mktemp(f"run-{request.param}")
    backend, path = suite_for(request.param, request, directory)
    result = check_on(request.param, load_suite(path), directory, backend=backend, sample=5, as_of=faults.AS_OF)
    return {"result": result, "doc": result.to_dict(), "backend": backend_name(request.param)}


def _check(run: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in run["doc"]["checks"] if c["id"] == cid)


def test_run_status_and_rows(run: dict[str, Any]) -> None:
    doc = run["doc"]
    assert doc["status"] == "failed"
    assert doc["datasets"]["contacts"] == {"rows": faults.N}
    assert [c["id"] for c in doc["checks"]] == [c["id"] for c in faults.checks()]
    assert doc["backend"] == run["backend"]


@pytest.mark.parametrize("cid", ROW_CHECKS)
def test_row_level_counts(run: dict[str, Any], cid: str) -> None:
    check = _check(run, cid)
    expected = faults.EXPECTED[cid]
    assert check["status"] == expected["status"], check["message"]
    assert check["failing_rows"] == expected["failing_rows"], check["message"]
    total = expected.get("total_rows", faults.N)
    assert check["total_rows"] == total
    assert check["failing_ratio"] == pytest.approx(expected["failing_rows"] / total)
    if "observed" in expected:
        assert check["observed"] == expected["observed"]


@pytest.mark.parametrize("cid", VALUE_CHECKS)
def test_dataset_level_values(run: dict[str, Any], cid: str) -> None:
    check = _check(run, cid)
    expected = faults.EXPECTED[cid]
    assert check["status"] == expected["status"], check["message"]
    assert check["observed"]["value"] == pytest.approx(expected["value"], rel=1e-12)
    assert check["failing_rows"] is None and check["failing_groups"] is None


@pytest.mark.parametrize("cid", GROUP_CHECKS)
def test_grouped_counts(run: dict[str, Any], cid: str) -> None:
    check = _check(run, cid)
    expected = faults.EXPECTED[cid]
    assert check["status"] == expected["status"], check["message"]
    assert check["failing_groups"] == expected["failing_groups"]
    assert check["observed"]["groups"] == faults.oracle()[cid]["groups"]


def test_schema_check_names_each_difference(run: dict[str, Any]) -> None:
    check = _check(run, "contacts_schema")
    assert check["status"] == "failed"
    assert "column handle_time_s is integer, expected string" in check["message"]
    assert "column missing_col is missing" in check["message"]
    assert check["observed"]["value"]["contact_ts"] == "timestamp"


def test_samples_hold_failing_rows_only(run: dict[str, Any]) -> None:
    not_null = _check(run, "ids_not_null")
    assert len(not_null["sample"]) == 5
    for row in not_null["sample"]:
        assert set(row) == {"contact_id", "customer_id", "campaign_id"}
        assert row["customer_id"] is None or row["campaign_id"] is None
    unique = _check(run, "contact_id_unique")
    assert {r["contact_id"] for r in unique["sample"]} <= {None, *range(1, 11)}
    reverse = _check(run, "targets_contacted")  # answered by one full join with contact_in_targets
    assert sorted((r["campaign_id"], r["customer_id"]) for r in reverse["sample"]) == [(3, 999), (4, 998)]
    forward = _check(run, "contact_in_targets")
    assert len(forward["sample"]) == 5
    assert all(r["customer_id"] == 150 or r["campaign_id"] == 11 for r in forward["sample"])
    lookup = _check(run, "client_matches_campaign")
    assert all(r["client_id"] == 99 for r in lookup["sample"])
    assert all("campaigns.client_id" in r for r in lookup["sample"])
    groups = _check(run, "answered_share_by_campaign")
    assert {g["campaign_id"] for g in groups["sample"]} <= {5, 8, 11, None, *range(1, 11)}
    assert all(g["share"] < 0.8 for g in groups["sample"])
    assert _check(run, "enough_rows")["sample"] == []
    assert _check(run, "campaign_known")["sample"] == []  # passed within tolerance: no sample


@pytest.mark.parametrize("backend", BEHAVIOUR_BACKENDS)
def test_failure_exports_hold_every_failing_row(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    backend_arg, path = suite_for(backend, request, tmp_path)
    failures = tmp_path / "failures"
    result = check_on(backend, load_suite(path), tmp_path, backend=backend_arg, sample=2, as_of=faults.AS_OF,
                      failures_dir=failures)
    for check in result.checks:
        if check.failed and check.failing_rows:
            assert 0 < len(check.sample) <= 2, check.id
    for cid in ROW_CHECKS:
        expected = faults.EXPECTED[cid]
        path = failures / f"{cid}.parquet"
        if expected["status"] == "passed":
            assert not path.exists()
            continue
        table = pq.read_table(path)
        assert table.num_rows == expected["failing_rows"], cid
        dataset = next(c["dataset"] for c in faults.checks() if c["id"] == cid)
        assert table.column_names == faults.SCHEMAS[dataset].names
    groups = pq.read_table(failures / "max_handle_by_day.parquet")
    assert groups.num_rows == 1
    assert groups.column_names == ["contact_date", "rows", "max"]


@pytest.mark.parametrize("backend", BEHAVIOUR_BACKENDS)
def test_lookup_with_repeated_key_ends_in_error(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    backend_arg, path = suite_for(backend, request, tmp_path, duplicate=True)
    result = check_on(backend, load_suite(path), tmp_path, backend=backend_arg, sample=0, as_of=faults.AS_OF)
    check = result.check("client_matches_campaign")
    assert result.status == "error"
    assert check.status == "error"
    assert "campaign_id=7" in check.message and "2 times" in check.message
    # The other check of the dataset still runs, unaffected by the bad lookup.
    assert result.check("ids_not_null").failing_rows == 8
