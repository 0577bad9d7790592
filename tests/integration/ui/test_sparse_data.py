"""The overview with one history interval: a lone point is drawn on a readable time axis, not one stretched over years,
and a flat error rate of 0 reads 0-100%, not 0-10,000%. (No app needed: real spans through a real processor.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from playwright.sync_api import BrowserContext

from otel_chatbot import semconv
from otel_chatbot.stats import StatsSpanProcessor
from otel_chatbot.ui import render_standalone, view_document
from tests.integration.ui.conftest import assert_charts_drawn, open_page

pytestmark = pytest.mark.browser

_SCALES = """(div) => ({x: [div.uplot.scales.x.min, div.uplot.scales.x.max],
                       y: [div.uplot.scales.y.min, div.uplot.scales.y.max]})"""


def test_one_history_interval_gets_a_readable_axis(context: BrowserContext, tmp_path: Path, screenshots: Path) -> None:
    stats = StatsSpanProcessor(service_name="one-interval")
    provider = TracerProvider()
    provider.add_span_processor(stats)
    tracer = provider.get_tracer(__name__)
    for _ in range(3):
        with (
            tracer.start_as_current_span("POST /chat"),
            tracer.start_as_current_span("chat", attributes={semconv.CHATBOT_STAGE: "generation"}),
        ):
            pass
    snapshot = stats.snapshot()
    assert len(snapshot.history) == 1
    page_file = tmp_path / "view.html"
    page_file.write_text(render_standalone(view_document(snapshot)), encoding="utf-8")

    page, _ = open_page(context, f"{page_file.as_uri()}#/overview", "overview", screenshots)
    assert_charts_drawn(page, "overview")
    scales: dict[str, dict[str, Any]] = {
        name: page.locator(f'div.chart[data-chart="{name}"]').evaluate(_SCALES)
        for name in ("requests_per_s", "error_rate")
    }
    when = snapshot.history[0].start
    for name, scale in scales.items():
        low, high = scale["x"]
        assert low < when < high and high - low <= 600, f"{name}: x axis {low}..{high} around {when}"
    assert scales["error_rate"]["y"] == [0, 1], scales["error_rate"]  # 0-100%
    page.close()


def test_a_malformed_trace_link_shows_a_message_not_a_stuck_page(
    context: BrowserContext, tmp_path: Path, screenshots: Path
) -> None:
    stats = StatsSpanProcessor(service_name="bad-link")
    provider = TracerProvider()
    provider.add_span_processor(stats)
    with provider.get_tracer(__name__).start_as_current_span("POST /chat"):
        pass
    page_file = tmp_path / "view.html"
    page_file.write_text(render_standalone(view_document(stats.snapshot())), encoding="utf-8")
    # "%E0%A4%A" is a broken %-escape: decodeURIComponent throws on it.
    page, _ = open_page(context, f"{page_file.as_uri()}#/trace/%E0%A4%A", "trace", screenshots, shot="bad-link")
    assert "is not among the 0 kept traces" in page.inner_text("main#page")
    page.close()
