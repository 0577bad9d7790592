"""The web view in a real browser: headless Debian Chromium driven by Playwright, against a real run of the example app.

One run per package (``example_run``): the local LLM server and the example RAG chatbot as real processes, real
traffic through them (the load generator's JSON and streamed conversations, provider errors, a rejected key, a bad
body), then the pages. ``example_dump`` stops the app so it writes its dump: the tests that use it come last.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from examples.loadgen.load import Stats
from examples.loadgen.load import run as run_load
from tests._http import get_json
from tests.integration.example.conftest import APP_KEY, ROOT, Process

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (scripts/_browser_install.sh installs it); CHATBOT_CHROMIUM names another one."""
CHROMIUM_FLAGS = (
    "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces it may not get
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps trying to reach Google's hosts (updates, sync, safe browsing): on a closed network
    # that is a stream of refused connections and failed look-ups.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
MOUNT = "/otel-chatbot"
PAGES = ("overview", "stages", "cost", "variants", "traces", "conversations", "recommendations")
"""The pages in the navigation (UI_CONTRACT section 2); a trace and a conversation have pages of their own."""
SCREENSHOTS = ROOT / ".run" / "screenshots"
README_IMAGE = ROOT / "docs" / "img" / "ui-overview.png"

# Fast but realistic enough to show: ~80 ms to the first token, ~20 tokens at 300 tokens/s, a few slow outliers (the
# slowest traces) and provider 500s (errors on the overview and the traces).
LLM_ARGS = (
    *("--ttft-ms", "80", "--ttft-sigma", "0.2", "--tokens-per-s", "300", "--tokens-per-s-sd", "30"),
    *("--output-tokens-median", "20", "--outlier-rate", "0.05", "--outlier-factor", "6"),
    *("--error-500-rate", "0.15", "--seed", "11"),
)
ROUNDS = 3
HISTORY_INTERVAL_S = 10.0
"""The history's interval in the example app (StatsSpanProcessor's default)."""
LOAD: dict[str, Any] = {
    "turns": 36,
    "concurrency": 4,
    "users": 12,
    "stream_share": 0.5,
    "feedback_share": 0.3,
    "seed": 4,
}


@dataclass
class ExampleRun:
    """The example app after real traffic: where it listens, what the load generator saw, where its dump goes."""

    app: Process
    url: str
    dump: Path
    load: Stats
    bad_requests: int
    stopped: bool = False
    stderr: str = field(default="", repr=False)

    @property
    def view_url(self) -> str:
        """The web view mounted in the app."""
        assert not self.stopped, "the app was stopped for its dump: the live-app tests must run before the dump tests"
        return self.url + MOUNT + "/"

    def view(self) -> dict[str, Any]:
        """The view document the pages draw (GET <mount>/api/view)."""
        assert not self.stopped, "the app was stopped for its dump"
        document: dict[str, Any] = get_json(self.url + MOUNT + "/api/view")
        return document

    def stop(self) -> None:
        """SIGTERM the app: it writes its dump (``--dump``) on the way out."""
        if not self.stopped:
            code, self.stderr = self.app.stop()
            self.stopped = True
            assert code == 0, self.stderr


def _traffic(url: str) -> tuple[Stats, int]:
    """Real traffic: the load generator's conversations (JSON and streamed, several turns each, feedback) in
    ``ROUNDS`` rounds, each in an interval of the app's history of its own (so the overview's time series have several
    points), then two bad requests (a rejected key, a bad body). In-process, so each turn's outcome is known."""
    stats = Stats()
    for round_ in range(ROUNDS):
        if round_:  # into the next history interval (they start at multiples of the interval, as epoch seconds)
            time.sleep(HISTORY_INTERVAL_S - time.time() % HISTORY_INTERVAL_S + 0.05)
        load = {**LOAD, "turns": LOAD["turns"] // ROUNDS, "seed": LOAD["seed"] + round_}
        args = argparse.Namespace(url=url, api_keys="demo-acme,demo-globex,demo-initech", timeout=60.0, **load)
        done = asyncio.run(run_load(args, out=io.StringIO()))
        stats.results += done.results
        stats.trace_ids += done.trace_ids
        stats.feedback += done.feedback
    with httpx.Client(base_url=url, timeout=30) as client:
        body = {"message": "hello", "user_id": "user-x"}
        bad_key = client.post("/chat", json=body, headers={"authorization": "Bearer not-a-key"})
        assert bad_key.status_code == 401, bad_key.text
        bad_body = client.post("/chat", json={"msg": 3}, headers={"authorization": f"Bearer {APP_KEY}"})
        assert bad_body.status_code in (400, 422), bad_body.text
    return stats, 2


@pytest.fixture(scope="package")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleRun]:
    tmp = tmp_path_factory.mktemp("ui-run")
    (tmp / "llm").mkdir()
    llm = Process("examples.llm_server", LLM_ARGS, tmp / "llm")
    app: Process | None = None
    try:
        base = f"http://127.0.0.1:{llm.wait_port()}/v1"
        dump = tmp / "stats.json"
        app = Process(
            "examples.rag_chatbot",
            ["--dump", str(dump)],
            tmp,
            env={"OPENAI_BASE_URL": base, "CHATBOT_DB": str(tmp / "memory.sqlite")},
        )
        url = f"http://127.0.0.1:{app.wait_port()}"
        load, extra = _traffic(url)
        statuses = Counter(r.status for r in load.results)
        assert len(load.results) == LOAD["turns"] and statuses["200"] >= LOAD["turns"] * 0.6, statuses
        assert len(statuses) > 1, f"no provider error in the run: {statuses}"
        run = ExampleRun(app=app, url=url, dump=dump, load=load, bad_requests=extra)
        yield run
        run.stop()
    finally:
        if app is not None and app.proc.poll() is None:
            app.stop()
        llm.stop()


@pytest.fixture(scope="package")
def example_dump(example_run: ExampleRun) -> Path:
    """The app's own dump of this run (written at shutdown): the source for ``ui FILE`` and ``report --html``."""
    example_run.stop()
    assert example_run.dump.is_file(), f"the app wrote no dump at {example_run.dump}: {example_run.stderr}"
    return example_run.dump


def chromium_path() -> str:
    path = os.environ.get("CHATBOT_CHROMIUM", CHROMIUM)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"no Chromium at {path}: run scripts/_browser_install.sh (Debian's chromium package), or set "
            "CHATBOT_CHROMIUM=/path/to/chromium",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium, a fresh profile (Playwright makes a new empty user-data-dir for every launch)."""
    path = chromium_path()
    try:
        launched = playwright.chromium.launch(
            executable_path=path, headless=True, args=list(CHROMIUM_FLAGS), timeout=60_000
        )
    except PlaywrightError as exc:
        pytest.fail(f"cannot start Chromium ({path}): {exc.message}", pytrace=False)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    """``.run/screenshots/<test name>/`` (git-ignored), emptied; printed so a person can look."""
    folder: Path = SCREENSHOTS / request.node.name.replace("[", "-").replace("]", "")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"screenshots: {folder}")
    _WRITTEN.append(folder)
    return folder


_WRITTEN: list[Path] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the screenshots went, also when the tests passed (their own output is captured then)."""
    if _WRITTEN:
        terminalreporter.section("browser screenshots")
        for folder in _WRITTEN:
            terminalreporter.write_line(f"{folder}: {', '.join(sorted(p.name for p in folder.glob('*.png')))}")


class Watch:
    """What went wrong on a page: console errors, uncaught exceptions, failed requests, HTTP errors."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("request", lambda req: self.requests.append(req.url))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location})")

    def _failed(self, request: Request) -> None:
        self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def check(self, where: str) -> None:
        assert not self.problems, f"{where}:\n" + "\n".join(self.problems)


# A chart's canvas, copied into a fresh 2D canvas and read back: how many pixels are painted and how many distinct
# colours there are (a blank or flat canvas has one).
_CANVAS_PIXELS = """
(chart) => {
  const canvas = chart.querySelector('canvas');
  if (!canvas) return {error: 'no <canvas> in the chart'};
  const width = canvas.width, height = canvas.height;
  if (!width || !height) return {error: `the canvas is ${width}x${height}`};
  const copy = document.createElement('canvas');
  copy.width = width;
  copy.height = height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(canvas, 0, 0);
  const data = ctx.getImageData(0, 0, width, height).data;
  const colours = new Set();
  let painted = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] !== 0) painted++;
    if (colours.size < 256) colours.add(`${data[i]},${data[i + 1]},${data[i + 2]},${data[i + 3]}`);
  }
  return {width, height, painted, colours: colours.size};
}
"""


@dataclass
class Chart:
    name: str
    points: int
    pixels: dict[str, Any]


def open_page(
    context: BrowserContext, url: str, page_name: str, screenshots: Path | None, shot: str | None = None
) -> tuple[Page, Watch]:
    """Open ``url`` in a new tab, wait until ``main#page`` is the page ``page_name`` with its data rendered and its
    charts drawn, screenshot it, and check nothing went wrong; the page stays open for more checks."""
    page = context.new_page()
    watch = Watch(page)
    page.goto(url, wait_until="load")
    ready = f'main#page[data-page="{page_name}"][data-ready="true"]'
    try:
        page.wait_for_selector(ready, timeout=20_000)
        # data-points is set once a chart has drawn (UI_CONTRACT section 2).
        page.wait_for_function(
            "() => [...document.querySelectorAll('div.chart')].every((c) => c.hasAttribute('data-points'))",
            timeout=20_000,
        )
    except PlaywrightError as exc:
        found = page.evaluate(
            "() => { const m = document.querySelector('main#page');"
            " return m ? `${m.dataset.page} ready=${m.dataset.ready}` : 'no main#page'; }"
        )
        watch.check(f"{url} (never ready: {found})")
        raise AssertionError(f"{url}: {page_name} page never ready ({found}): {exc.message}") from None
    if screenshots is not None:
        save_screenshot(page, screenshots / f"{shot or page_name}.png")
    watch.check(url)
    return page, watch


def save_screenshot(page: Page, path: Path) -> None:
    """The whole page as PNG (written here: Playwright's own ``path=`` starts executor threads that outlive a test)."""
    path.write_bytes(page.screenshot(full_page=True))


def charts(page: Page) -> list[Chart]:
    found = []
    for element in page.query_selector_all("div.chart"):
        name = element.get_attribute("data-chart") or "?"
        points = int(element.get_attribute("data-points") or "0")
        found.append(Chart(name, points, element.evaluate(_CANVAS_PIXELS)))
    return found


def assert_charts_drawn(page: Page, where: str) -> list[Chart]:
    """Every chart on the page has drawn data points and its canvas is not blank."""
    drawn = charts(page)
    for chart in drawn:
        assert chart.points > 0, f"{where}: chart {chart.name!r} drew no data points"
        pixels = chart.pixels
        assert "error" not in pixels, f"{where}: chart {chart.name!r}: {pixels.get('error')}"
        assert pixels["painted"] > 0 and pixels["colours"] >= 2, f"{where}: chart {chart.name!r} is blank: {pixels}"
    return drawn


def waterfall(page: Page, trace_id: str) -> list[dict[str, Any]]:
    """The waterfall's rows, top to bottom: span name, stage, depth."""
    table = page.query_selector(f'table.waterfall[data-trace-id="{trace_id}"]')
    assert table is not None, f"no waterfall for trace {trace_id}"
    rows: list[dict[str, Any]] = table.eval_on_selector_all(
        "tr.span",
        "(rows) => rows.map((r) => ({name: r.dataset.spanName, stage: r.dataset.stage || null,"
        " depth: Number(r.dataset.depth)}))",
    )
    return rows
