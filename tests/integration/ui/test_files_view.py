"""The same run's dump in the browser: served by ``otel-chatbot ui FILE``, and as ``report --html`` opened from disk
with the network off. (The app is stopped to write its dump, so these run after test_app_view.py.)"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Route

from otel_chatbot import semconv
from tests.integration.example.conftest import ROOT
from tests.integration.ui.conftest import PAGES, assert_charts_drawn, open_page, waterfall

pytestmark = pytest.mark.browser

CLI = str(Path(sys.executable).parent / "otel-chatbot")


def _slowest(snapshot: dict[str, Any]) -> dict[str, Any]:
    traces: list[dict[str, Any]] = snapshot["traces"]
    assert traces, "the dump kept no traces"
    return max(traces, key=lambda t: t["duration_ms"])


def _every_page(context: BrowserContext, base: str, snapshot: dict[str, Any], screenshots: Path) -> dict[str, int]:
    """Open every page (and the slowest trace) of the view at ``base``; each loads cleanly and draws its charts."""
    drawn = {}
    for name in PAGES:
        page, _ = open_page(context, f"{base}#/{name}", name, screenshots)
        drawn[name] = len(assert_charts_drawn(page, name))
        page.close()
    for name in ("overview", "stages", "cost"):
        assert drawn[name] >= 1, f"the {name} page drew no chart: {drawn}"
    trace = _slowest(snapshot)
    page, _ = open_page(context, f"{base}#/trace/{trace['trace_id']}", "trace", screenshots, "trace-slowest")
    rows = waterfall(page, trace["trace_id"])
    assert [r["name"] for r in rows] == [s["name"] for s in trace["spans"]]
    assert [r["stage"] for r in rows] == [s["attributes"].get(semconv.CHATBOT_STAGE) for s in trace["spans"]]
    page.close()
    conversation = max(snapshot["conversations"], key=lambda c: len(c["turns"]))
    page, _ = open_page(context, f"{base}#/conversation/{conversation['conversation_id']}", "conversation", screenshots)
    assert len(page.query_selector_all("a.trace-link")) >= len(conversation["turns"])
    assert_charts_drawn(page, "conversation")
    page.close()
    return drawn


@pytest.fixture
def ui_server(example_dump: Path) -> Iterator[str]:
    """``otel-chatbot ui DUMP --port 0``: yields the URL it prints; stopped with Ctrl-C (SIGINT)."""
    proc = subprocess.Popen(
        [CLI, "ui", str(example_dump), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "otel-chatbot ui: the file ... at http://127.0.0.1:PORT/ (Ctrl-C to stop)"
        found = re.search(r"at (http://127\.0\.0\.1:\d+/?\S*)", line)
        assert found, f"otel-chatbot ui printed {line!r} (exit code {proc.poll()})"
        yield found.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err


def test_ui_serves_the_dump_of_the_run(
    ui_server: str, example_dump: Path, context: BrowserContext, screenshots: Path
) -> None:
    snapshot = json.loads(example_dump.read_text())
    drawn = _every_page(context, ui_server, snapshot, screenshots)
    print(f"charts per page: {drawn}")


def test_report_html_works_from_disk_with_the_network_off(
    example_dump: Path, browser: Browser, screenshots: Path, tmp_path: Path
) -> None:
    html = tmp_path / "report.html"
    made = subprocess.run(
        [CLI, "report", str(example_dump), "--html", str(html)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stdout + made.stderr
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    leaving: list[str] = []

    def no_network(route: Route) -> None:
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            leaving.append(route.request.url)
            route.abort()

    context.route("**/*", no_network)
    try:
        snapshot = json.loads(example_dump.read_text())
        drawn = _every_page(context, html.as_uri(), snapshot, screenshots)
    finally:
        context.close()
    assert not leaving, f"requests left the page: {leaving}"
    print(f"{html}: charts per page: {drawn}")
