"""Benchmark `sourcewise check` against hand-written DuckDB SQL, a bare scan, Great Expectations and Soda Core.

    .venv/bin/python bench/run.py                      # 10M rows, 5 runs each, peers 3 runs
    .venv/bin/python bench/run.py --rows 100000000     # 100M rows
    .venv/bin/python bench/run.py --quick              # 1M rows, 3 runs, no peers, docs untouched

Every tool runs as a process of its own on the same Parquet files, in alternating rounds
(the order rotates each round), after one untimed warm-up round that also fills the file
cache. Wall time and peak RSS are those of each process. Every run's counts are compared
with the generator's ground truth (expected.json): a difference for `sourcewise` or the
hand-written SQL fails the benchmark; a peer's differences are reported (their counting
rules differ from the contract's in known ways). Results go to docs/benchmarks.md.

`sourcewise check` is timed three ways: warm, with the compiled-plan cache that the warm-up
round filled (the daily case: the same suite on a delivery of the same shape); cold, with
`--no-cache` (every run imports Ibis and compiles); and warm with `--sample 0`, which
returns counts only, as the hand-written SQL does (the default also returns up to 20
failing rows of every failed check). The plans go to a private temporary directory
(SOURCEWISE_CACHE_DIR), emptied at the start of every benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import verify  # noqa: E402

DATA_ROOT = REPO / "bench-data"
VENVS = DATA_ROOT / "venvs"
DOC = REPO / "docs" / "benchmarks.md"
DATASETS = ("contacts", "targets", "campaigns", "customers")
# sourcewise check with the plan cache warm, with --no-cache, and warm with --sample 0 (counts
# only, as the hand-written SQL: the like-for-like comparison of the counting plan)
OURS = ("ours", "ours_cold", "ours_counts")

# Each peer's virtualenv: pinned, so that results are comparable from run to run.
PEER_REQUIREMENTS = {
    "gx": ["great_expectations==1.24.1", "duckdb-engine==0.17.0", "duckdb==1.5.6",
           "SQLAlchemy==2.1.9"],
    "soda": ["soda-core-duckdb==3.5.6"],  # pins duckdb==1.0.0
}
PEER_VERSIONS = {"gx": ["great_expectations", "duckdb", "duckdb-engine", "SQLAlchemy"],
                 "soda": ["soda-core", "soda-core-duckdb", "duckdb"]}


@dataclass
class Tool:
    name: str  # short key
    label: str  # as shown in the table
    command: list[str]  # {json} is replaced by the output path
    exact: bool  # its counts must equal expected.json
    reps: int
    timeout_s: float
    ok_exit_codes: tuple[int, ...] = (0,)
    unavailable: str | None = None  # why it cannot run here
    runs: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # count mismatches, failures
    details: dict = field(default_factory=dict)  # a peer's expressibility, timings


# ---------------------------------------------------------------------------- running

def timed_run(command: list[str], timeout_s: float) -> dict:
    """Run one process; its wall time, peak RSS (from wait4) and exit code."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # noqa: S603
                            start_new_session=True, cwd=REPO)
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):  # it may have just ended
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    # Drain the pipes in threads so a chatty process never blocks on a full pipe.
    out: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda s=s, k=k: out.__setitem__(k, s.read()))
               for k, s in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    timer.cancel()
    for reader in readers:
        reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux reports KiB
        # CPU seconds of the process and its threads: steadier than wall time when other
        # work shares the cores, and the cost that a loaded machine would feel.
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "exit_code": proc.returncode,
        "timed_out": timed_out.is_set(),
        "stderr_tail": out.get("stderr", b"").decode(errors="replace")[-2000:],
    }


def read_counts(tool: Tool, path: Path) -> dict:
    document = json.loads(path.read_text())
    if tool.name in OURS:
        return verify.engine_checks(document)
    if tool.name == "bare":
        return document["rows"]
    tool.details.update({k: v for k, v in document.items() if k != "checks"})
    return document["checks"]


def run_once(tool: Tool, expected: dict, workdir: Path) -> dict:
    output = workdir / f"{tool.name}.json"
    output.unlink(missing_ok=True)
    result = timed_run([arg.replace("{json}", str(output)) for arg in tool.command],
                       tool.timeout_s)
    if result["timed_out"]:
        result["error"] = f"timed out after {tool.timeout_s:.0f} s"
    elif result["exit_code"] not in tool.ok_exit_codes or not output.exists():
        last = result["stderr_tail"].strip().splitlines()[-3:]
        result["error"] = f"exit code {result['exit_code']}: " + " / ".join(last)
    else:
        counts = read_counts(tool, output)
        if tool.name == "bare":
            result["mismatches"] = [] if counts else ["no output"]
        else:
            result["mismatches"] = verify.mismatches(expected, counts)
        if tool.name in OURS and result["exit_code"] != 1:
            # The suite has failing error-severity checks: the contract's exit code is 1.
            result["mismatches"].append(f"exit code {result['exit_code']}, expected 1")
    return result


def run_rounds(tools: list[Tool], expected: dict, warmup: bool) -> None:
    runnable = [t for t in tools if t.unavailable is None]
    rounds = max((t.reps for t in runnable), default=0)
    with tempfile.TemporaryDirectory(prefix="sourcewise-bench-") as tmp:
        workdir = Path(tmp)
        for round_no in range(-1 if warmup else 0, rounds):
            offset = max(round_no, 0) % max(len(runnable), 1)
            order = runnable[offset:] + runnable[:offset]
            for tool in order:
                if tool.unavailable or (round_no >= 0 and len(tool.runs) >= tool.reps):
                    continue
                result = run_once(tool, expected, workdir)
                tag = "warm-up" if round_no < 0 else f"run {round_no + 1}/{tool.reps}"
                note = result.get("error") or (
                    f"{len(result['mismatches'])} count differences"
                    if result.get("mismatches") else "counts exact")
                print(f"  {tool.label:<38} {tag:<10} {result['wall_s']:8.2f} s "
                      f"{result['cpu_s']:6.2f} s CPU {result['peak_rss_mb']:8.0f} MB  {note}",
                      file=sys.stderr, flush=True)
                if result.get("error"):
                    tool.problems.append(f"{tag}: {result['error']}")
                    tool.unavailable = f"failed: {result['error']}"  # stop timing a broken tool
                    continue
                if result["mismatches"] and not any(p.startswith("counts") for p in tool.problems):
                    tool.problems.append("counts differ from expected.json: "
                                         + "; ".join(result["mismatches"]))
                if round_no >= 0:
                    result["round"] = round_no
                    tool.runs.append(result)


# ---------------------------------------------------------------------------- setup

def ensure_data(rows: int) -> Path:
    data = DATA_ROOT / str(rows)
    if not (data / "expected.json").exists():
        free_gb = shutil.disk_usage(DATA_ROOT.parent).free / 1e9
        print(f"generating {rows:,} rows in {data} ({free_gb:.0f} GB free)", file=sys.stderr)
        generate.generate(rows, data)
    return data


def ensure_venv(name: str) -> tuple[Path | None, str | None]:
    """The peer's virtualenv, created and installed on first use; (python, why-not)."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    marker = venv / ".bench-requirements"
    wanted = "\n".join(PEER_REQUIREMENTS[name])
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python, None
    print(f"creating {venv} ({', '.join(PEER_REQUIREMENTS[name])})", file=sys.stderr)
    log = VENVS / f"{name}-install.log"
    VENVS.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
                 [str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS[name]]]
        for step in steps:
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode:  # noqa: S603
                tail = [ln for ln in log.read_text().splitlines() if "is ignored" not in ln]
                return None, f"install failed ({log}): {' / '.join(tail[-3:])}"
    marker.write_text(wanted)
    return python, None


def package_versions(python: Path, packages: list[str]) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys\n"
            "v = {}\n"
            "for p in sys.argv[1:]:\n"
            "    try: v[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: v[p] = 'not installed'\n"
            "print(json.dumps(v))")
    done = subprocess.run([str(python), "-c", code, *packages],  # noqa: S603
                          capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def compile_bytecode() -> None:
    """Write the bytecode of our package and scripts, as an installed package has it.

    With PYTHONDONTWRITEBYTECODE set (as on the team's machines) an editable install never
    caches its bytecode, so every `sourcewise check` would compile the engine from source,
    about 55-60 ms that no installed copy pays (the hand-written script is one small file).
    compileall writes the files whatever that variable says."""
    import compileall

    for folder in (REPO / "src", HERE):
        compileall.compile_dir(str(folder), quiet=1)


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1),
            "os": platform.platform()}


def build_tools(args: argparse.Namespace, data: Path, expected_doc: dict) -> list[Tool]:
    py = str(REPO / ".venv" / "bin" / "python")
    sourcewise = REPO / ".venv" / "bin" / "sourcewise"
    overrides = [a for name in DATASETS for a in ("--data", f"{name}={data / name}.parquet")]
    ours = [str(sourcewise), "check", str(HERE / "suite.yaml"), *overrides,
            "--as-of", expected_doc["as_of"], "--json", "{json}"]
    tools = [
        Tool("ours", "sourcewise check", ours,
             exact=True, reps=args.reps, timeout_s=args.timeout, ok_exit_codes=(0, 1)),
        Tool("ours_cold", "sourcewise check (plan cache cold)", [*ours, "--no-cache"],
             exact=True, reps=args.reps, timeout_s=args.timeout, ok_exit_codes=(0, 1)),
        Tool("ours_counts", "sourcewise check --sample 0 (counts only)", [*ours, "--sample", "0"],
             exact=True, reps=args.reps, timeout_s=args.timeout, ok_exit_codes=(0, 1)),
        Tool("handwritten", "hand-written DuckDB SQL",
             [py, str(HERE / "handwritten.py"), str(data), "--json", "{json}"],
             exact=True, reps=args.reps, timeout_s=args.timeout),
        Tool("bare", "bare scan of the needed columns",
             [py, str(HERE / "handwritten.py"), str(data), "--bare", "--json", "{json}"],
             exact=False, reps=args.reps, timeout_s=args.timeout),
    ]
    try:  # the engine is being written alongside this harness
        subprocess.run([py, "-c", "import sourcewise.engine.cli"], check=True,  # noqa: S603
                       capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        for tool in tools[:3]:
            tool.unavailable = "sourcewise.engine is not importable: " + (
                exc.stderr.strip().splitlines() or ["?"])[-1]
    for name in args.skip:
        for tool in tools:
            if tool.name == name:
                tool.unavailable = "skipped (--skip)"
    if args.no_peers:
        return tools
    peers = {"gx": ("Great Expectations (SQL on DuckDB)", "gx_run.py"),
             "soda": ("Soda Core 3 (samples off)", "soda_run.py")}
    for name, (label, script) in peers.items():
        if name in args.skip:
            continue
        python, why_not = ensure_venv(name)
        tool = Tool(name, label, [str(python), str(HERE / "peers" / script), str(data),
                                  "--json", "{json}"],
                    exact=False, reps=args.peer_reps, timeout_s=args.peer_timeout,
                    unavailable=why_not)
        tools.append(tool)
    return tools


# ---------------------------------------------------------------------------- report

def paired(runs: list[dict], base_runs: list[dict]) -> dict | None:
    """Wall-time ratios to the hand-written SQL's run of the same round (the two ran minutes
    apart at most, so a slow spell of the shared machine falls on both): their median, a
    distribution-free 95% confidence interval for that median (order statistics of the
    binomial sign test), and in how many rounds this tool was the faster."""
    base = {r["round"]: r["wall_s"] for r in base_runs}
    ratios = sorted(r["wall_s"] / base[r["round"]] for r in runs if r["round"] in base)
    n = len(ratios)
    if n < 6:  # fewer pairs than the smallest n whose 95% interval exists
        return None
    # The largest k with P(Binomial(n, 1/2) < k) <= 2.5%: [r_k, r_(n+1-k)] covers the median.
    k, below = 0, 0.0
    while below + math.comb(n, k) / 2**n <= 0.025:
        below += math.comb(n, k) / 2**n
        k += 1
    return {"pairs": n, "median": statistics.median(ratios), "low": ratios[k - 1],
            "high": ratios[n - k], "faster": sum(1 for x in ratios if x < 1)}


def summarise(tools: list[Tool]) -> list[dict]:
    base = next((t for t in tools if t.name == "handwritten" and t.runs), None)
    base_median = statistics.median(r["wall_s"] for r in base.runs) if base else None
    base_cpu = statistics.median(r["cpu_s"] for r in base.runs) if base else None
    rows = []
    for tool in tools:
        if not tool.runs:
            rows.append({"tool": tool.label, "name": tool.name,
                         "status": tool.unavailable or "no runs", "problems": tool.problems})
            continue
        walls = [r["wall_s"] for r in tool.runs]
        median = statistics.median(walls)
        rows.append({
            "tool": tool.label, "name": tool.name, "runs": len(walls),
            "median_s": median, "min_s": min(walls), "max_s": max(walls),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in tool.runs),
            "ratio": median / base_median if base_median else None,
            "median_cpu_s": statistics.median(r["cpu_s"] for r in tool.runs),
            "cpu_ratio": (statistics.median(r["cpu_s"] for r in tool.runs) / base_cpu
                          if base_cpu else None),
            "counts": ("exact" if not tool.problems else
                       ("WRONG" if tool.exact else "differ")) if tool.name != "bare" else "-",
            "problems": tool.problems, "details": tool.details,
            "status": tool.unavailable,  # set if it broke after some runs
            "paired": paired(tool.runs, base.runs) if base and tool is not base else None,
        })
    return rows


def markdown_section(meta: dict, rows: list[dict], expected_doc: dict) -> str:
    lay = expected_doc["layout"]
    lines = [
        f"### {meta['rows']:,} contacts — {meta['finished_at']}",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
        f"{meta['machine']['ram_gib']} GiB RAM; load average before/after: "
        f"{meta['load_before']} / {meta['load_after']} (a shared machine).  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "  ",
        f"Data: contacts {meta['rows']:,} rows, targets {lay['targets']:,}, campaigns "
        f"{lay['campaigns']}, customers {lay['customers']:,}; Parquet "
        f"{meta['data_mb']:,.0f} MB. 15 checks and 3 reconciliations (bench/suite.yaml).",
        "",
        "| tool | runs | median wall | min | max | median CPU | peak RSS | vs hand-written"
        " (wall, CPU) | counts |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "median_s" not in row:
            lines.append(f"| {row['tool']} | 0 | not run: {row['status']} | | | | | | |")
            continue
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-"
        if row.get("cpu_ratio") is not None:
            ratio += f", {row['cpu_ratio']:.2f}x"
        lines.append(
            f"| {row['tool']} | {row['runs']} | {row['median_s']:.2f} s | {row['min_s']:.2f} s"
            f" | {row['max_s']:.2f} s | {row['median_cpu_s']:.2f} s"
            f" | {row['peak_rss_mb'] / 1024:.2f} GB | {ratio} | {row['counts']} |")
    lines.append("")
    pairs = [r for r in rows if r.get("paired")]
    if pairs:
        lines.append("Paired by round against the hand-written SQL (wall; median of the per-round "
                     "ratios, its 95% confidence interval, rounds in which the tool was faster):")
        lines.append("")
        for row in pairs:
            p = row["paired"]
            lines.append(f"- {row['tool']}: {p['median']:.3f}x (95% CI {p['low']:.3f}x to "
                         f"{p['high']:.3f}x), faster in {p['faster']} of {p['pairs']} rounds")
        lines.append("")
    notes = [r for r in rows if r.get("problems")]
    if notes:
        lines.append("Problems and count differences:")
        lines.append("")
        for row in notes:
            for problem in row["problems"]:
                lines.append(f"- {row['tool']}: {problem}")
        lines.append("")
    timings = [r for r in rows if (r.get("details") or {}).get("timings")]
    if timings:
        lines.append("Inside the peers' processes (last run): " + "; ".join(
            f"{r['tool']}: import {r['details']['timings']['import_s']:.1f} s, checks "
            f"{r['details']['timings']['validate_s']:.1f} s"
            + (f", {r['details']['queries']} queries" if r["details"].get("queries") else "")
            for r in timings) + ".")
        lines.append("")
    return "\n".join(lines)


def expressibility_section(rows: list[dict], expected_doc: dict) -> str:
    peers = [r for r in rows if (r.get("details") or {}).get("expressibility")]
    if not peers:
        return ""
    lines = ["| check | " + " | ".join(r["tool"] for r in peers) + " |",
             "|---|" + "---|" * len(peers)]
    for check_id in expected_doc["checks"]:
        lines.append(f"| {check_id} | " + " | ".join(
            r["details"]["expressibility"].get(check_id, "not expressed") for r in peers) + " |")
    return "\n".join(lines)


DOC_HEADER = """# Benchmarks

Produced by `bench/run.py` (see its docstring; `make bench`). Each section is one run of
the harness: every tool as a process of its own on the same Parquet files, in alternating
rounds after one untimed warm-up round; wall time and peak RSS per process; counts of
every run compared with the generator's ground truth (`expected.json`). Ratios are medians
against the hand-written SQL's median measured in the same run; below each table, each
tool's runs are also paired with the hand-written SQL's run of the same round (the median
per-round ratio, with a 95% confidence interval from the sign test), which a slow spell of
the shared machine moves far less. The bare scan reads each
needed column of every dataset once (`count(col)`) and is a floor, not a checker.
A rerun at the same size replaces its section.
"""


def update_doc(rows: int, section: str, expressibility: str) -> None:
    start, end = f"<!-- bench:{rows}:start -->", f"<!-- bench:{rows}:end -->"
    text = DOC.read_text() if DOC.exists() else DOC_HEADER
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    if expressibility:
        estart, eend = "<!-- bench:expressibility:start -->", "<!-- bench:expressibility:end -->"
        eblock = (f"{estart}\n## What the peers can express\n\nFrom the peers' driver scripts "
                  f"(bench/peers/); \"custom SQL\" means the check was written as a query.\n\n"
                  f"{expressibility}\n{eend}")
        if estart in text and eend in text:
            text = text[:text.index(estart)] + eblock + text[text.index(eend) + len(eend):]
        else:
            text = text.rstrip("\n") + "\n\n" + eblock + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


# ---------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=5, help="timed runs of ours/SQL/bare")
    parser.add_argument("--peer-reps", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds, ours/SQL/bare")
    parser.add_argument("--peer-timeout", type=float, default=900, help="seconds per peer run")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["ours", "ours_cold", "ours_counts", "handwritten", "bare", "gx", "soda"])
    parser.add_argument("--quick", action="store_true",
                        help="1M rows, 3 runs, no peers, docs/benchmarks.md untouched")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument("--write-docs", action="store_true", help="write docs even with --quick")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.reps, args.no_peers = 1_000_000, 3, True
    write_docs = (args.write_docs or not args.quick) and not args.no_docs

    data = ensure_data(args.rows)
    expected_doc = json.loads((data / "expected.json").read_text())
    compile_bytecode()
    tools = build_tools(args, data, expected_doc)
    for tool in tools:
        if tool.unavailable:
            print(f"  {tool.label}: not run ({tool.unavailable})", file=sys.stderr)

    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="sourcewise-bench-plans-") as plans:
        # Inherited by every `sourcewise check` process: its warm-up run writes the plan.
        os.environ["SOURCEWISE_CACHE_DIR"] = plans
        try:
            run_rounds(tools, expected_doc["checks"], warmup=True)
        finally:
            os.environ.pop("SOURCEWISE_CACHE_DIR", None)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())

    ours_py = REPO / ".venv" / "bin" / "python"
    versions = {"python": platform.python_version(),
                **package_versions(ours_py, ["duckdb", "ibis-framework", "pyarrow", "sourcewise"])}
    for tool in tools:
        if tool.name in PEER_VERSIONS and (VENVS / tool.name / "bin" / "python").exists():
            for pkg, version in package_versions(VENVS / tool.name / "bin" / "python",
                                                 PEER_VERSIONS[tool.name]).items():
                versions[f"{pkg} ({tool.name} venv)"] = version
    meta = {
        "rows": args.rows,
        "command": " ".join([".venv/bin/python", "bench/run.py", *(argv or sys.argv[1:])]),
        "finished_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "versions": versions,
        "load_before": load_before, "load_after": load_after,
        "data_mb": sum(f.stat().st_size for f in data.glob("*.parquet")) / 1e6,
    }
    rows = summarise(tools)
    section = markdown_section(meta, rows, expected_doc)
    print("\n" + section)
    expressibility = expressibility_section(rows, expected_doc)
    if expressibility:
        print(expressibility)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (data / f"results-{stamp}.json").write_text(
        json.dumps({"meta": meta, "tools": rows, "raw": {t.name: t.runs for t in tools}},
                   indent=2, default=str))
    if write_docs:
        update_doc(args.rows, section, expressibility)
        print(f"\nwrote {DOC.relative_to(REPO)}", file=sys.stderr)

    # Fail loudly: wrong counts from the engine or the yardstick make the figures meaningless.
    broken = [t for t in tools if t.exact and t.problems]
    for tool in broken:
        print(f"FAILED: {tool.label}: " + " | ".join(tool.problems), file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
