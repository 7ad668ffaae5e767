"""The comparison report as a reviewer opens it in `mlflow ui`: the compare run's page, Artifacts
tab, the report's .html file.

What runs for real: an embedded store like tandem's (sqlite `mlflow.db` beside an `mlartifacts`
artifact root) holding three seeds per framework of pipeline-shaped runs (`runs.py`), then
`build_comparison`, `write_report` and `log_report` as `tandem compare` calls them; the installed
MLflow's UI server (`mlflow ui`) on that store; the system Chromium, driven by Playwright.

How MLflow 3.17's UI shows an .html artifact (its `ShowArtifactHtmlView`, read from the bundled
JavaScript): the client-side route `#/experiments/<experiment id>/runs/<run id>/artifacts/<path>`
(what the Artifacts tab navigates to when a file is picked) selects the file; the view fetches
its text from `/get-artifact?path=<path>&run_uuid=<run id>` and shows it in
`<iframe class="mlflow-html-iframe" sandbox="allow-scripts" src="blob:…">`, a Blob URL of that
text. The frame has an opaque origin and no URL of the store's, so only a self-contained report
renders there: relative links to the plot files would not resolve, the report's data-URI images
do. (Files over 50 MiB are not previewed at all.)

What is checked, inside that frame: the report's title, every section heading in order, the red
banner of the failed fairness audit (the pair is logged with PyTorch's network 19% bigger), and
every plot decoded with a nonzero natural width: the report a reviewer reads, not just an iframe.
`test_the_verdict_is_shown_first_naming_the_failed_check` reads the verdict's sentences there.
A screenshot of the page (the UI around the report's frame) is left in the module's tmp
directory; every failure names it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import Browser, Frame, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from components.common.tracking import ARTIFACTS_DIR, SQLITE_FILE
from components.compare.report import build_comparison, log_report, write_report
from tests.browser import chromium
from tests.components.compare.fixtures import BANNER, HEADINGS
from tests.components.compare.runs import log_group
from tests.processes import free_ports, log_tail, stop_group

pytestmark = pytest.mark.slow

EXPERIMENT = "tandem-toy"
# PyTorch's network 19% bigger than TensorFlow's (323 parameters): the one failed audit item
# that BANNER counts.
BIGGER_NETWORK = {"pytorch": {"parameter_count": "384"}}
VERDICT_SELECTOR = "#verdict .verdict-line"

MLFLOW = Path(sys.executable).parent / "mlflow"
SERVER_START_S = 60.0
SERVER_STOP_S = 15.0
PAGE_LOAD_S = 60.0
REPORT_FRAME = "iframe.mlflow-html-iframe"
VIEWPORT = {"width": 1400, "height": 1000}


@dataclass(frozen=True)
class LoggedReport:
    """The store, and where in it the compare run keeps the report."""

    store: Path
    uri: str
    experiment_id: str
    run_id: str
    artifact: str
    plots: int


@dataclass(frozen=True)
class ReportView:
    """The report's frame in the MLflow UI page at `url`, and a screenshot of that page."""

    frame: Frame
    url: str
    screenshot: Path


@pytest.fixture(scope="module")
def logged_report(tmp_path_factory) -> LoggedReport:
    """Pipeline runs of both frameworks and the compare run `tandem compare` leaves."""
    store = tmp_path_factory.mktemp("output")
    uri = f"sqlite:///{(store / SQLITE_FILE).resolve()}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment(
        EXPERIMENT, artifact_location=(store / ARTIFACTS_DIR).resolve().as_uri()
    )
    log_group(client, experiment_id, "g1", params=BIGGER_NETWORK)
    comparison = build_comparison(uri, EXPERIMENT)
    files = write_report(comparison, store / "reports" / f"{EXPERIMENT}.html")
    run_id = log_report(comparison, files)
    return LoggedReport(store, uri, experiment_id, run_id, files.html.name, len(files.plots))


def _wait_until_healthy(server: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"mlflow ui exited with {server.returncode} before serving {url}:\n{log_tail(log)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"mlflow ui did not answer {url}/health within {SERVER_START_S:.0f} s:\n{log_tail(log)}"
    )


@pytest.fixture(scope="module")
def mlflow_ui(logged_report, tmp_path_factory) -> Iterator[str]:
    """`mlflow ui` on the store; its base URL. Stopped, with everything it started, at the end.

    It runs uvicorn by name, so the venv's bin directory leads PATH. Its job runner (seven huey
    consumers, for GenAI jobs) stays off: the artifact view does not use it."""
    if not MLFLOW.is_file():
        pytest.fail(f"no mlflow CLI beside the interpreter at {MLFLOW}: run make setup")
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("mlflow-ui") / "server.log"
    environment = {
        **os.environ,
        "PATH": os.pathsep.join([str(MLFLOW.parent), os.environ.get("PATH", "")]),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    command = [
        str(MLFLOW),
        "ui",
        "--backend-store-uri",
        logged_report.uri,
        "--default-artifact-root",
        (logged_report.store / ARTIFACTS_DIR).resolve().as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("w") as output:
        server = subprocess.Popen(
            command,
            cwd=logged_report.store,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_healthy(server, url, log)
        yield url
    finally:
        stop_group(server, SERVER_STOP_S)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless system Chromium under Playwright (no browser download)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), headless=True)
        try:
            yield launched
        finally:
            launched.close()


def _only_loopback(route: Route) -> None:
    """The UI talks only to its own server; anything else is refused, so no test leaves the host."""
    if route.request.url.startswith(("http://127.0.0.1:", "blob:", "data:")):
        route.continue_()
    else:
        route.abort()


@pytest.fixture(scope="module")
def report_view(browser, mlflow_ui, logged_report, tmp_path_factory) -> Iterator[ReportView]:
    """The compare run's Artifacts tab with the report selected, once the report's frame loaded."""
    report = logged_report
    url = (
        f"{mlflow_ui}/#/experiments/{report.experiment_id}/runs/{report.run_id}"
        f"/artifacts/{report.artifact}"
    )
    screenshot = tmp_path_factory.mktemp("screenshot") / "mlflow-ui-report.png"
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(PAGE_LOAD_S * 1000)
    page.route("**/*", _only_loopback)
    step = f"the page {url}"
    try:
        page.goto(url)
        step = f"the report's frame ({REPORT_FRAME}) on {url}"
        frame = page.wait_for_selector(REPORT_FRAME, state="attached").content_frame()
        step = f"the report's <h1> inside {REPORT_FRAME} on {url}"
        frame.wait_for_selector("h1")
        frame.wait_for_load_state("load")
    except PlaywrightTimeout:
        page.screenshot(path=screenshot)
        page.close()
        pytest.fail(f"{step} not found within {PAGE_LOAD_S:.0f} s; screenshot: {screenshot}")
    page.screenshot(path=screenshot)
    try:
        yield ReportView(frame, url, screenshot)
    finally:
        page.close()


def test_the_report_renders_in_the_compare_runs_artifact_view(report_view, logged_report):
    frame, where = report_view.frame, f"in the report's frame on {report_view.url}"
    seen = f"screenshot: {report_view.screenshot}"
    assert report_view.screenshot.stat().st_size > 0, (
        f"empty screenshot at {report_view.screenshot}"
    )

    title = frame.locator("h1").inner_text()
    assert title == "tandem comparison — toy", f"<h1> {title!r} {where}; {seen}"
    headings = frame.locator("h2").all_inner_texts()
    assert [h for h in headings if h in HEADINGS] == list(HEADINGS), (
        f"section headings {headings} {where}, expected {list(HEADINGS)} in order; {seen}"
    )
    banner = frame.locator(".banner.fail").all_inner_texts()
    assert banner == [BANNER], f"failed-audit banner {banner} {where}, expected {BANNER!r}; {seen}"

    images = frame.locator("figure img").evaluate_all(
        "images => images.map(image => ({source: image.getAttribute('src').slice(0, 22),"
        " width: image.naturalWidth}))"
    )
    assert len(images) == logged_report.plots >= 1, (
        f"{len(images)} plot images {where}, expected the {logged_report.plots} plots; {seen}"
    )
    undrawn = [image for image in images if image["width"] == 0]
    assert not undrawn, f"plots {where} that did not decode: {undrawn}; {seen}"
    assert {image["source"] for image in images} == {"data:image/png;base64,"}, images


def test_the_verdict_is_shown_first_naming_the_failed_check(report_view):
    lines = report_view.frame.locator(VERDICT_SELECTOR).all_inner_texts()
    assert lines, (
        f"no {VERDICT_SELECTOR!r} in the report's frame on {report_view.url}; "
        f"screenshot: {report_view.screenshot}"
    )
    assert lines[0].startswith("Unfair comparison: the fairness audit failed — Parameter counts")
    assert any(line.startswith("Quality: ") for line in lines), lines
