"""Great Expectations 1.x (SQL on DuckDB via duckdb_engine) on the checks of bench/suite.yaml.

Runs in its own virtualenv (bench-data/venvs/gx, made by bench/run.py): GX needs SQLAlchemy
and duckdb_engine, which our environment does not carry.

    python bench/peers/gx_run.py DATA_DIR --json PATH

Writes {"checks": {check id: counts}, "expressibility": {check id: how}} for the harness.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # GX's import alone takes seconds; reported apart

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import duckdb  # noqa: E402
import great_expectations as gx  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.execution_engine import sqlalchemy_execution_engine  # noqa: E402

AS_OF = dt.datetime(2026, 11, 22, 7, 0, 0)
DATASETS = ("contacts", "targets", "campaigns", "customers")
CONTACT_COLUMNS = ["contact_id", "customer_id", "campaign_id", "client_id", "channel",
                   "contact_date", "contacted_at", "handle_time_s", "answered_after_s",
                   "outcome", "agent_id", "phone", "recording_consent"]


class _DuckDBDialect(str):
    """Stands for DuckDB in GX's list of dialects that need one persistent connection."""

    value = "duckdb"


# GX closes its SQLAlchemy connection after each query, and duckdb_engine then returns an
# empty result set: every metric fails with IndexError (GX issues 10738 and 11579). GX
# keeps one connection open for sqlite and a few others; treat DuckDB the same way.
sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS = (
    *sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS, _DuckDBDialect("duckdb"))


def expectations() -> dict[str, list[tuple[str, str, object]]]:
    """Per dataset: (check id, how it is expressed, expectation)."""
    E = gx.expectations  # noqa: N806
    # Custom queries name the tables: GX substitutes {batch} with "(...) AS subselect", so
    # "{batch} AS c" is a syntax error, and the queries need an alias to correlate.
    native, custom = "native", "custom SQL (UnexpectedRowsExpectation)"
    return {
        "contacts": [
            ("contact_id_unique", native, E.ExpectColumnValuesToBeUnique(column="contact_id")),
            ("contact_keys_present", "native, one expectation per column (counts summed: "
             "exact only because no row lacks both)",
             E.ExpectColumnValuesToNotBeNull(column="customer_id")),
            ("contact_keys_present", "", E.ExpectColumnValuesToNotBeNull(column="campaign_id")),
            ("channel_known", native,
             E.ExpectColumnValuesToBeInSet(column="channel", value_set=["phone", "sms", "email"])),
            ("handle_time_plausible", native,
             E.ExpectColumnValuesToBeBetween(column="handle_time_s", min_value=0, max_value=7200)),
            # ExpectColumnValuesToMatchRegex: "Regex is not supported for dialect duckdb".
            ("phone_well_formed", custom, E.UnexpectedRowsExpectation(
                unexpected_rows_query="SELECT * FROM {batch} "
                "WHERE NOT regexp_full_match(phone, '\\+447[0-9]{{9}}')")),
            ("sale_needs_a_conversation", "native, with row_condition",
             E.ExpectColumnValuesToBeBetween(
                 column="handle_time_s", min_value=60, row_condition='col("outcome")=="sale"',
                 condition_parser="great_expectations")),
            ("campaign_of_this_client", custom, E.UnexpectedRowsExpectation(
                unexpected_rows_query="SELECT c.* FROM contacts AS c JOIN campaigns AS k "
                "ON c.campaign_id = k.campaign_id WHERE c.client_id <> k.client_id")),
            ("contact_was_targeted", custom, E.UnexpectedRowsExpectation(
                unexpected_rows_query="SELECT * FROM contacts AS c WHERE c.campaign_id IS NOT NULL "
                "AND c.customer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM targets AS t "
                "WHERE t.campaign_id = c.campaign_id AND t.customer_id = c.customer_id)")),
            ("customer_known", custom, E.UnexpectedRowsExpectation(
                unexpected_rows_query="SELECT * FROM contacts AS c WHERE c.customer_id IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM customers AS u "
                "WHERE u.customer_id = c.customer_id)")),
            ("answered_within_20s", custom, E.UnexpectedRowsExpectation(
                unexpected_rows_query="SELECT campaign_id, contact_date FROM {batch} "
                "GROUP BY campaign_id, contact_date HAVING sum(CASE WHEN answered_after_s <= 20 "
                "THEN 1 ELSE 0 END) / count(*) < 0.8")),
            ("contacts_fresh", "native (max of the column against a fixed bound)",
             E.ExpectColumnMaxToBeBetween(column="contacted_at",
                                          min_value=AS_OF - dt.timedelta(hours=26))),
            ("contacts_delivered", native, E.ExpectTableRowCountToBeBetween(min_value=10_000)),
            # Column types: ExpectColumnValuesToBeOfType raises KeyError 'type' on DuckDB views.
            ("contacts_schema", "native, column names only (types fail on DuckDB)",
             E.ExpectTableColumnsToMatchSet(column_set=CONTACT_COLUMNS, exact_match=False)),
            ("agents_on_shift", native,
             E.ExpectColumnUniqueValueCountToBeBetween(column="agent_id", min_value=400)),
            ("phone_mostly_present", "native (mostly=0.75)",
             E.ExpectColumnValuesToNotBeNull(column="phone", mostly=0.75)),
        ],
        "targets": [
            ("targets_contacted", custom, E.UnexpectedRowsExpectation(
                unexpected_rows_query="SELECT * FROM targets AS t WHERE t.campaign_id IS NOT NULL "
                "AND t.customer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM contacts AS c "
                "WHERE c.campaign_id = t.campaign_id AND c.customer_id = t.customer_id)")),
        ],
        "campaigns": [
            ("campaign_dates_ordered", native, E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="end_date", column_B="start_date", or_equal=True)),
        ],
        "customers": [
            ("customer_id_unique", native, E.ExpectColumnValuesToBeUnique(column="customer_id")),
        ],
    }


WARN = {"answered_within_20s"}
GROUPED = {"answered_within_20s"}
VALUE = {"contacts_delivered", "agents_on_shift"}
STATUS_ONLY = {"contacts_fresh", "contacts_schema"}


def run(data: Path) -> dict:
    imported = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gx-bench-") as tmp:
        database = Path(tmp) / "bench.duckdb"
        con = duckdb.connect(str(database))
        for name in DATASETS:
            path = str(data / f"{name}.parquet").replace("'", "''")
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")  # noqa: S608
        con.close()

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_sql(name="bench", connection_string=f"duckdb:///{database}")
        checks: dict[str, dict] = {}
        how: dict[str, str] = {}
        for dataset, items in expectations().items():
            suite = gx.ExpectationSuite(name=f"bench-{dataset}")
            for check_id, expressed, expectation in items:
                expectation.meta = {"check_id": check_id}
                suite.add_expectation(expectation)
                how[check_id] = how.get(check_id) or expressed
            batch = (source.add_table_asset(name=dataset, table_name=dataset)
                     .add_batch_definition_whole_table("all").get_batch())
            outcome = batch.validate(suite, result_format="BASIC")
            for result in outcome.results:
                merge(checks, result.expectation_config.meta["check_id"], result)
    return {"checks": checks, "expressibility": how,
            "timings": {"import_s": round(imported - _STARTED, 3),
                        "validate_s": round(time.perf_counter() - imported, 3)}}


def merge(checks: dict, check_id: str, result) -> None:
    if result.exception_info and result.exception_info.get("raised_exception"):
        checks[check_id] = {"status": "error",
                            "error": result.exception_info.get("exception_message")}
        return
    found = result.result
    passed = bool(result.success)
    entry = checks.setdefault(check_id, {"status": "passed"})
    if entry["status"] == "error":
        return
    if not passed:
        entry["status"] = "warned" if check_id in WARN else "failed"
    if check_id in STATUS_ONLY:
        return
    if check_id in VALUE:
        entry["value"] = found.get("observed_value")
    elif check_id == "phone_mostly_present":
        entry["value"] = found["unexpected_count"] / found["element_count"]
    elif check_id in GROUPED:
        entry["failing_groups"] = found.get("observed_value")
    else:
        count = found.get("unexpected_count", found.get("observed_value"))
        entry["failing_rows"] = entry.get("failing_rows", 0) + int(count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    Path(args.json).write_text(json.dumps(run(args.data.resolve()), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
