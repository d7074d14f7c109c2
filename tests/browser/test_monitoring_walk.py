"""The brief's story in real Chromium: upload a bad day, watch the run, open the finding,
download the affected customers."""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from pathlib import Path

from playwright.sync_api import expect

PASSWORD = "correct horse battery staple 42"  # the world fixture's password


def _helpers():
    path = Path(__file__).parent.parent / "monitoring" / "helpers.py"
    spec = importlib.util.spec_from_file_location("monitoring_test_helpers", path)
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_upload_watch_the_run_open_the_finding_download_the_customers(page, world, settings, tmp_path):
    from sourcewise.monitoring import services
    from sourcewise.monitoring.models import CheckRun

    helpers = _helpers()
    feeds = helpers.make_feeds(world)
    # A real queue, so the page shows the run waiting and then finishing.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    log = tmp_path / "dialwell-contacts-20261120.parquet"
    log.write_bytes(helpers.bad_day())

    page.goto("/login/")
    page.get_by_label("Email").fill(world.provider.member.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Monitoring").click()
    page.get_by_role("link", name="Daily contact log").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Daily contact log")

    page.get_by_label("File").set_input_files(str(log))
    page.get_by_role("button", name="Upload and check").click()
    expect(page).to_have_url(re.compile(r"/monitoring/runs/\d+/$"))
    expect(page.get_by_role("status")).to_contain_text("It is being checked")
    expect(page.locator("[data-run-status]")).to_have_text("Queued")

    # The worker picks the run up while the page is open; the page follows by itself.
    run = CheckRun.objects.get(feed=feeds.contacts)
    services.run_execute(run_id=run.pk)
    expect(page.locator("[data-run-status]")).to_have_text("Failed", timeout=10_000)
    findings = page.get_by_role("region", name="Findings")
    expect(findings).to_contain_text("Contacts stay within the campaign's targeted segments")

    findings.get_by_role("link", name="Every targeted customer was contacted").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Every targeted customer was contacted")
    expect(page.get_by_text("12 of")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the affected customers (CSV)").click()
    download = download_info.value
    rows = list(csv.reader(Path(download.path()).read_text().splitlines()))
    assert rows[0] == ["customer_id"] and len(rows) == 1 + 12
