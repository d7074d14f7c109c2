"""Soda Core 3 (soda-core-duckdb) on the checks of bench/suite.yaml, written in soda_checks.yaml.

Runs in its own virtualenv (bench-data/venvs/soda, made by bench/run.py): soda-core-duckdb
3.5.6 pins duckdb 1.0.0, older than ours.

    python bench/peers/soda_run.py DATA_DIR --json PATH

Writes {"checks": {check id: counts}, "expressibility": {check id: how}} for the harness.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import duckdb  # noqa: E402
from soda.scan import Scan  # noqa: E402

HERE = Path(__file__).resolve().parent
AS_OF = "2026-11-22T07:00:00+00:00"
DATASETS = ("contacts", "targets", "campaigns", "customers")

EXPRESSIBILITY = {
    "contact_id_unique": "native; counts duplicated keys, not rows",
    "contact_keys_present": "native, one check per column (counts summed)",
    "channel_known": "native (valid values)",
    "handle_time_plausible": "native (valid min/max)",
    "phone_well_formed": "native (valid regex)",
    "sale_needs_a_conversation": "native (failed rows, fail condition)",
    "campaign_of_this_client": "custom SQL (failed rows, fail query)",
    "contact_was_targeted": "native reference check; with two columns it counts a row with a NULL key as missing",
    "customer_known": "native reference check",
    "answered_within_20s": "custom SQL (failed rows, fail query on the groups)",
    "contacts_fresh": "native (freshness, NOW variable)",
    "contacts_delivered": "native",
    "contacts_schema": "native",
    "agents_on_shift": "custom SQL (user-defined metric query)",
    "phone_mostly_present": "native (missing_percent, reported rounded to 0.01%)",
    "targets_contacted": "native reference check (targets has no NULL keys)",
    "campaign_dates_ordered": "native (failed rows, fail condition)",
    "customer_id_unique": "native; counts duplicated keys, not rows",
}
WARN = {"answered_within_20s"}
GROUPED = {"answered_within_20s"}
VALUE = {"contacts_delivered", "agents_on_shift"}
STATUS_ONLY = {"contacts_fresh", "contacts_schema"}


def run(data: Path) -> dict:
    imported = time.perf_counter()
    con = duckdb.connect()
    for name in DATASETS:
        path = str(data / f"{name}.parquet").replace("'", "''")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")  # noqa: S608
    scan = Scan()
    scan.set_data_source_name("duckdb")
    scan.add_duckdb_connection(con)
    scan.set_scan_definition_name("bench")
    scan.add_variables({"NOW": AS_OF})
    scan.add_sodacl_yaml_file(str(HERE / "soda_checks.yaml"))
    scan.execute()
    if scan.has_error_logs():
        print(scan.get_error_logs_text(), file=sys.stderr)
    checks: dict[str, dict] = {}
    for result in scan.get_scan_results()["checks"]:
        check_id = result["name"].split(".")[0]
        value = (result.get("diagnostics") or {}).get("value")
        entry = checks.setdefault(check_id, {"status": "passed"})
        if result["outcome"] not in ("pass", "fail", "warn"):
            entry["status"] = "error"
            continue
        if result["outcome"] != "pass" and entry["status"] != "error":
            entry["status"] = "warned" if check_id in WARN else "failed"
        if check_id in STATUS_ONLY:
            continue
        if check_id in VALUE:
            entry["value"] = value
        elif check_id == "phone_mostly_present":
            entry["value"] = value / 100  # Soda reports a percentage
        elif check_id in GROUPED:
            entry["failing_groups"] = int(value)
        else:
            entry["failing_rows"] = entry.get("failing_rows", 0) + int(value)
    return {"checks": checks, "expressibility": EXPRESSIBILITY,
            "queries": len(scan._queries),
            "timings": {"import_s": round(imported - _STARTED, 3),
                        "validate_s": round(time.perf_counter() - imported, 3)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    Path(args.json).write_text(json.dumps(run(args.data.resolve()), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
