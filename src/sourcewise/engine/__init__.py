"""Sourcewise's expectation engine: load a suite, check deliveries against it, report exactly.

Plain Python on Ibis (DuckDB by default, PySpark, or a database URL); it never imports Django.

    from sourcewise.engine import load_suite, run_suite
    suite = load_suite("suite.yaml")
    result = run_suite(suite, backend="duckdb", data={"contacts": "today.parquet"})
"""

from sourcewise.engine.compiler import run_suite
from sourcewise.engine.result import CheckResult, SuiteResult
from sourcewise.engine.suite import Check, Dataset, Suite, SuiteError, load_suite

__all__ = [
    "Check",
    "CheckResult",
    "Dataset",
    "Suite",
    "SuiteError",
    "SuiteResult",
    "load_suite",
    "run_suite",
]
