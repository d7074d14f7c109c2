"""Monitoring's figures: the web process's memory during a large upload, and upload-to-findings time.

    .venv/bin/python bench/monitoring.py --rows 1000000 --upload-mb 512
    .venv/bin/python bench/monitoring.py --rows 10000000 --upload-mb 2048 --write-doc

It builds a throwaway Sourcewise (SQLite and storage in a temporary folder), starts the real
web server (`sourcewise serve --no-worker`, one gunicorn worker) and a task worker
(`sourcewise worker`) as processes of their own, then:

1. **Memory.** Streams a file of `--upload-mb` MB as a multipart upload to the API
   (the path a person's browser and an API client use) and reads the web worker's peak
   resident set (VmHWM) before and after. The file is CSV text that does not match the
   feed's schema, so it goes through the whole streaming path (hash, store, inspect) and is
   then kept as a rejected delivery.
2. **Upload to findings.** Uploads the benchmark's contacts file (bench/generate.py, with
   its known faults) and times from the first byte sent until the run's findings are
   stored (polling the API), against `sourcewise check` on the same files as a process of
   its own, writing the result document and the failing rows as the run does (the
   engine's own time, interpreter start included).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "src"))

DATASETS = ("contacts", "targets", "campaigns", "customers")
DOC = REPO / "docs" / "benchmarks.md"


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(t) for t in text]
    return found


def data_for(rows: int) -> Path:
    import generate

    out = REPO / "bench-data" / str(rows)
    if not (out / "expected.json").exists():
        generate.generate(rows, out)
    return out


def setup(workdir: Path, data: Path) -> dict:
    """A world with one engagement, the benchmark's four feeds, references delivered, a token."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from sourcewise.accounts import services as accounts
    from sourcewise.accounts.models import Membership, Organization, User
    from sourcewise.core import services as core
    from sourcewise.monitoring import services

    buyer = Organization.objects.create(name="Bench Bank", slug="bench-bank")
    provider = Organization.objects.create(name="Bench Calls", slug="bench-calls")
    user = User.objects.create_user("bench@bank.test", secrets.token_hex(16), full_name="Bench")
    Membership.objects.create(user=user, organization=buyer, role="owner")
    agent = User.objects.create_user("bench@calls.test", secrets.token_hex(16), full_name="Agent")
    Membership.objects.create(user=agent, organization=provider, role="owner")
    engagement = core.engagement_propose(actor=user, organization=buyer, counterpart=provider,
                                         our_side="buyer", name="Bench outbound")
    engagement = core.engagement_accept(actor=agent, engagement=engagement)
    feeds = {}
    for name in DATASETS:
        feeds[name] = services.feed_create(actor=user, organization=buyer, engagement=engagement,
                                           name=name.title(), slug=name, customer_columns=["customer_id"]
                                           if name in ("contacts", "targets", "customers") else [],
                                           kind="delivery" if name == "contacts" else "reference",
                                           cadence="daily" if name == "contacts" else "on_change")
    junk = services.feed_create(actor=user, organization=buyer, engagement=engagement, name="Large upload",
                                slug="large-upload", expected_schema={"customer_id": "integer"})
    for name in DATASETS[1:]:
        with open(data / f"{name}.parquet", "rb") as fh:
            d = services.delivery_receive(actor=user, organization=buyer, feed=feeds[name], stream=fh,
                                          filename=f"{name}.parquet", start_run=False)
        assert d.status == "accepted", d.reason
    # The same suite, its datasets naming feeds instead of files.
    text = re.sub(r"\{path: [^,}]*/(\w+)\.parquet", r"{feed: \1", (HERE / "suite.yaml").read_text())
    services.suite_save(actor=user, organization=buyer, feed=feeds["contacts"], text=text, expected_number=None)
    _token, secret = accounts.api_token_create(actor=agent, organization=provider, name="bench")
    return {"token": secret, "contacts": feeds["contacts"].pk, "junk": junk.pk}


def stream_upload(port: int, token: str, feed_id: int, path: Path, filename: str) -> tuple[int, dict, float]:
    """A multipart POST whose body is read from disk in 1 MB blocks and sent as it is read."""
    boundary = "sourcewise-bench-" + secrets.token_hex(8)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    t0 = time.perf_counter()
    conn.putrequest("POST", f"/api/v1/monitoring/feeds/{feed_id}/deliveries")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as fh:
        while block := fh.read(1024 * 1024):
            conn.send(block)
    conn.send(tail)
    response = conn.getresponse()
    body = json.loads(response.read() or b"{}")
    conn.close()
    return response.status, body, t0


def api_get(port: int, token: str, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the web server did not start")


def junk_csv(path: Path, megabytes: int) -> None:
    line = b"".join(f"{i},{'x' * 80}\n".encode() for i in range(10_000))
    with open(path, "wb") as fh:
        fh.write(b"contact_id,note\n")
        written = 0
        while written < megabytes * 1024 * 1024:
            fh.write(line)
            written += len(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--upload-mb", type=int, default=512)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--reps", type=int, default=3, help="upload-to-findings runs, alternating with the engine alone")
    parser.add_argument("--write-doc", action="store_true", help="append the figures to docs/benchmarks.md")
    args = parser.parse_args(argv)

    data = data_for(args.rows)
    workdir = Path(tempfile.mkdtemp(prefix="sw-bench-monitoring-"))
    env = {**os.environ, "SOURCEWISE_DATA_DIR": str(workdir), "STORAGE_ROOT": str(workdir / "storage"),
           "SECRET_KEY": secrets.token_hex(32), "DJANGO_SETTINGS_MODULE": "sourcewise.config.settings",
           "UPLOAD_MAX_BYTES": str(64 * 1024**3), "DEBUG": "0", "SECURE_COOKIES": "0",
           "ALLOWED_HOSTS": "127.0.0.1,localhost",
           "PYTHONPATH": str(REPO / "src")}
    env.pop("DATABASE_URL", None)
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    ids = setup(workdir, data)
    py = sys.executable
    serve = [py, "-m", "sourcewise", "serve", "--no-worker", "--workers", "1", "--threads", "2",
             "--port", str(args.port)]
    server = subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL)  # noqa: S603 - our own command
    work = [py, "-m", "sourcewise", "worker", "--interval", "0.2", "--no-scheduler"]
    worker = subprocess.Popen(work, env=env, stdout=subprocess.DEVNULL)  # noqa: S603 - our own command
    try:
        wait_ready(args.port)
        web = children(server.pid)[0]
        # 1. Memory while a large file streams through the upload path.
        junk = workdir / "large.csv"
        # A small upload first: the first one imports DuckDB (to inspect the file) and
        # warms the server, which is not what the large one should be charged with.
        junk_csv(junk, 1)
        stream_upload(args.port, ids["token"], ids["junk"], junk, "warm-up.csv")
        junk_csv(junk, args.upload_mb)
        before = vm_hwm_kib(web)
        status, body, t0 = stream_upload(args.port, ids["token"], ids["junk"], junk, "large.csv")
        upload_s = time.perf_counter() - t0
        after = vm_hwm_kib(web)
        junk.unlink()
        print(f"upload of {args.upload_mb} MB ({body.get('detail', body)!s:.80}): HTTP {status} in {upload_s:.1f} s; web worker peak RSS "
              f"{before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after")
        # 2. Upload to findings, against the engine alone, alternating so both see the same machine.
        check = [py, "-m", "sourcewise", "check", str(HERE / "suite.yaml"), "--json", str(workdir / "r.json"),
                 "--failures", str(workdir / "failures")]
        for name in DATASETS:
            check += ["--data", f"{name}={data / f'{name}.parquet'}"]
        product, engine_in_run, engine = [], [], []
        for rep in range(args.reps):
            status, body, t0 = stream_upload(args.port, ids["token"], ids["contacts"], data / "contacts.parquet",
                                             "contacts.parquet")
            assert status == 201, body
            run_id = body["latest_run_id"]
            while True:
                run = api_get(args.port, ids["token"], f"/api/v1/monitoring/runs/{run_id}")
                if run["status"] in ("passed", "failed", "error"):
                    break
                time.sleep(0.1)
            product.append(time.perf_counter() - t0)
            assert run["status"] == "failed", run["reason"]
            engine_in_run.append(run["engine_seconds"])
            # The same work as the run: the result document and every failing row exported.
            shutil.rmtree(workdir / "failures", ignore_errors=True)
            t1 = time.perf_counter()
            subprocess.run(check, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # noqa: S603
                           check=False)
            engine.append(time.perf_counter() - t1)
            print(f"  rep {rep + 1}: upload to findings {product[-1]:.1f} s, engine alone {engine[-1]:.1f} s")
        product_s, engine_s = statistics.median(product), statistics.median(engine)
        run_engine_s = statistics.median(engine_in_run)
        size_mb = (data / "contacts.parquet").stat().st_size / 1024**2
        print(f"{args.rows:,} rows ({size_mb:.0f} MB Parquet), medians of {args.reps}: upload to findings "
              f"{product_s:.1f} s (run's engine time {run_engine_s:.1f} s); `sourcewise check` alone "
              f"{engine_s:.1f} s; ratio {product_s / engine_s:.2f}")
        if args.write_doc:
            load = os.getloadavg()
            with open(DOC, "a") as fh:
                fh.write(
                    f"\n## Monitoring: upload and upload-to-findings ({dt.date.today()}, `bench/monitoring.py "
                    f"--rows {args.rows} --upload-mb {args.upload_mb} --reps {args.reps}`)\n\n"
                    f"{platform.node()}, {os.cpu_count()} cores, load average {load[0]:.2f} at the end.\n\n"
                    "| figure | value |\n|---|---|\n"
                    f"| web worker peak RSS before a {args.upload_mb} MB upload | {before / 1024:.0f} MiB |\n"
                    f"| web worker peak RSS after it | {after / 1024:.0f} MiB |\n"
                    f"| upload of {args.upload_mb} MB (HTTP, loopback) | {upload_s:.1f} s |\n"
                    f"| {args.rows:,}-row delivery: upload to findings stored (median of {args.reps}) "
                    f"| {product_s:.1f} s |\n"
                    f"| the run's own engine time (median) | {run_engine_s:.1f} s |\n"
                    f"| `sourcewise check` alone on the same files, a process (median, alternating) "
                    f"| {engine_s:.1f} s |\n"
                    f"| ratio of the medians (upload to findings / engine alone) | {product_s / engine_s:.2f} |\n")
    finally:
        for proc in (server, worker):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
