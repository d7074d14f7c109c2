"""`sourcewise check`: parse the command line, run the suite, print the table, exit 0, 1 or 2."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sourcewise.engine.result import SuiteResult
from sourcewise.engine.suite import SuiteError, parse_suite

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exit code 2, as the contract says."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SuiteError([f"sourcewise check: {message}"])


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="sourcewise check",
        description="Check data deliveries against an expectation suite.",
    )
    p.add_argument("suite", help="the suite file (YAML)")
    p.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                   help="replace a dataset's source (repeatable)")
    p.add_argument("--backend", default="duckdb",
                   help="duckdb (default), pyspark, or a database URL such as postgresql://...")
    p.add_argument("--json", metavar="PATH|-", help="write the result document; - for stdout")
    p.add_argument("--failures", metavar="DIR", help="write failing rows to DIR/<check id>.parquet")
    p.add_argument("--sample", type=int, default=20, metavar="N",
                   help="failing rows kept per check in the result (default 20)")
    p.add_argument("--as-of", metavar="TIMESTAMP", help="the time freshness measures against (default now)")
    p.add_argument("--no-cache", action="store_true",
                   help="read and compile the suite afresh, neither reading nor writing the plan "
                        "cache (DuckDB) or the parsed suite")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _data_overrides(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    problems = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            problems.append(f"sourcewise check: --data {value!r} must be NAME=PATH")
        else:
            out[name] = path
    if problems:
        raise SuiteError(problems)
    return out


def main(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    debug = "--debug" in argv
    try:
        return _main(argv, out, err)
    except SuiteError as exc:
        for line in exc.problems:
            print(line, file=err)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("sourcewise check: interrupted", file=err)
        return 130
    except Exception as exc:  # the contract: one line, never a traceback unless --debug
        if debug:
            import traceback

            traceback.print_exc(file=err)
        where = argv[0] if argv and not argv[0].startswith("-") else "sourcewise check"
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{where}: unexpected error: {text} (run with --debug for details)", file=err)
        return EXIT_ERROR


def _main(argv: list[str], out: TextIO, err: TextIO) -> int:
    args = build_parser().parse_args(argv)
    data = _data_overrides(args.data)
    if args.sample < 0:
        raise SuiteError(["sourcewise check: --sample must be 0 or more"])
    json_to_stdout = args.json == "-"
    interactive = err.isatty() and not json_to_stdout
    started = time.perf_counter()

    def progress(message: str) -> None:
        if interactive:
            print(f"  [{time.perf_counter() - started:5.1f}s] {message}", file=err, flush=True)

    suite, problems = parse_suite(args.suite, cache=not args.no_cache)
    if problems:
        if suite is not None and suite.datasets:
            # Report the datasets' problems (missing files, unknown columns) with the
            # suite's own, so that one run shows everything to fix.
            problems += _source_problems(suite, args.backend, data)
        raise SuiteError(problems)
    assert suite is not None

    from sourcewise.engine.compiler import run_suite

    progress(f"checking {suite.display_path}: {len(suite.checks)} checks")
    result = run_suite(
        suite,
        backend=args.backend,
        data=data,
        sample=args.sample,
        as_of=args.as_of,
        failures_dir=args.failures,
        cache=not args.no_cache,
        progress=progress,
    )
    if args.json:
        document = result.to_json()
        if json_to_stdout:
            out.write(document + "\n")
            out.flush()
        else:
            Path(args.json).write_text(document + "\n", encoding="utf-8")
    if not json_to_stdout:
        print(render_table(result), file=out)
    for line in result.problems:
        print(line, file=err)
    return result.exit_code


def _source_problems(suite, backend: str, data: dict[str, str]) -> list[str]:
    """Problems of the sources and columns of the checks that did parse; schema reads only."""
    from sourcewise.engine.backends import BackendError, connect, resolve_sources
    from sourcewise.engine.compiler import column_problems, open_datasets

    sources, problems = resolve_sources(suite, backend, data)
    try:
        conn = connect(backend)
    except BackendError:
        return problems
    try:
        tables, columns, more = open_datasets(suite, conn, sources)
        problems += more + column_problems(suite, suite.checks, columns, tables)
    finally:
        conn.close()
    return problems


def render_table(result: SuiteResult) -> str:
    """One line per check: status, failing rows (or groups), id and message; then a summary."""
    rows = []
    for c in result.checks:
        if c.failing_rows is not None:
            failing = f"{c.failing_rows:,}"
        elif c.failing_groups is not None:
            failing = f"{c.failing_groups:,} groups"
        else:
            failing = "-"
        rows.append((c.status.upper(), failing, c.id, c.message))
    w_status = max([6, *(len(r[0]) for r in rows)])
    w_fail = max([7, *(len(r[1]) for r in rows)])
    w_id = min(40, max([5, *(len(r[2]) for r in rows)]))
    lines = [f"{'STATUS':<{w_status}}  {'FAILING':>{w_fail}}  {'CHECK':<{w_id}}  MESSAGE"]
    for status, failing, cid, message in rows:
        lines.append(f"{status:<{w_status}}  {failing:>{w_fail}}  {cid:<{w_id}}  {message}")
    counts = {s: sum(1 for c in result.checks if c.status == s) for s in ("passed", "failed", "warned", "error")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    datasets = ", ".join(f"{name} {info.get('rows', 0):,} rows" for name, info in result.datasets.items())
    lines.append("")
    lines.append(
        f"{result.status.upper()}: {len(result.checks)} checks ({summary}) on {datasets or 'no data'}"
        f" in {result.duration_s:.2f}s [{result.backend}]"
    )
    return "\n".join(lines)
