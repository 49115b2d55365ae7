"""End to end in a real browser: run the example pipeline, start the Dagster webserver on 127.0.0.1, and
look at the RCA report and the incident review in headless Chromium (screenshots for the README)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from logrca import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# the README's screenshots are rewritten only on request (LOGRCA_UPDATE_SCREENSHOTS=1), so a test run leaves the checkout clean
README_SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
pytestmark = [pytest.mark.es, pytest.mark.slow]


def run(args: list[str], env: dict) -> str:
    done = subprocess.run(
        args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def test_report_and_review_in_chromium(es_url, index_prefix, tmp_path, free_port):
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: run scripts/install-browser.sh")
    from playwright.sync_api import expect, sync_playwright

    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "LOGRCA_DATA_DIR": str(tmp_path / "data"),
        "LOGRCA_ES_URL": es_url,
        "LOGRCA_INDEX_PREFIX": index_prefix,
        "LOGRCA_CONFIG": str(PROJECT_ROOT / "examples" / "shop" / "logrca.yaml"),
    }
    Path(env["DAGSTER_HOME"]).mkdir()
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
    )
    bin_dir = Path(sys.executable).parent
    output = run([str(bin_dir / "logrca"), "run"], env)
    incident_partition = next(
        line.split(":")[0] + ":00" for line in output.splitlines() if "INCIDENT" in line
    )
    run(
        [
            str(bin_dir / "dagster"),
            "asset",
            "materialize",
            "-m",
            "logrca.pipelines.definitions",
            "--select",
            "incident_review",
        ],
        env,
    )

    port = free_port()
    server = subprocess.Popen(
        [
            str(bin_dir / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "logrca.pipelines.definitions",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert server.poll() is None, "dagster-webserver exited"
                assert time.monotonic() < deadline, "dagster-webserver did not answer within 120 s"
                time.sleep(1)
        shots = (
            README_SCREENSHOTS
            if os.environ.get("LOGRCA_UPDATE_SCREENSHOTS") == "1"
            else tmp_path / "screenshots"
        )
        shots.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(60_000)
            page.goto(
                f"http://127.0.0.1:{port}/assets/rca_report?partition={incident_partition}&view=partitions"
            )
            skip = page.get_by_role("button", name="Skip")
            if skip.count():
                skip.click()
            page.get_by_text("[Show Markdown]").first.click()  # the "report" metadata entry
            report = page.get_by_role("dialog")
            for section in (
                "Ranked root-cause services",
                "Evidence",
                "Impact",
                "Reproduction hints",
                "Knowledge base",
            ):
                expect(report.get_by_text(section, exact=True).first).to_be_visible()
            expect(report.get_by_text("Incident:", exact=False).first).to_be_visible()
            page.screenshot(path=str(shots / "rca-report.png"))
            # the pictures: service map and template rates with change events, as images the UI shows
            pictures = report.locator("img[src^='data:image/png']")
            expect(pictures).to_have_count(2)
            for index in range(2):
                pictures.nth(index).scroll_into_view_if_needed()
                expect(pictures.nth(index)).to_be_visible()
                assert pictures.nth(index).evaluate("img => img.naturalWidth") > 400
            pictures.nth(0).scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "rca-report-pictures.png"))
            expect(report.get_by_text("Changes (deploys, restarts", exact=False).first).to_be_visible()
            page.keyboard.press("Escape")
            # the incident's hour is marked: the WARN check 'no_incident' failed on it
            page.goto(f"http://127.0.0.1:{port}/assets/rca_report?view=checks")
            expect(page.get_by_text("no_incident").first).to_be_visible()
            page.screenshot(path=str(shots / "rca-report-checks.png"))
            page.get_by_text(
                "Partitions", exact=True
            ).last.click()  # the check's own tab: one status per hour
            expect(page.get_by_text(incident_partition).first).to_be_visible()
            page.wait_for_timeout(2000)
            page.screenshot(path=str(shots / "rca-report-partitions.png"))
            page.goto(f"http://127.0.0.1:{port}/assets/incident_review")
            page.get_by_text("[Show Markdown]").first.click()  # the "review" metadata entry
            review = page.get_by_role("dialog")
            for section in (
                "By service (root cause)",
                "Recurring problems",
                "Time to detect and to resolve (trend, minutes)",
                "Open follow-ups",
            ):
                expect(review.get_by_text(section, exact=True).first).to_be_visible()
            expect(review.locator("img[src^='data:image/png']").first).to_be_visible()
            page.screenshot(path=str(shots / "incident-review.png"))
            assert all(
                (shots / name).stat().st_size > 10_000
                for name in ("rca-report.png", "rca-report-pictures.png", "incident-review.png")
            )
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
