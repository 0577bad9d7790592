"""The same rules and panels against the embedded ``/metrics`` endpoint (no Collector), scraped by a real Prometheus.

The example chatbot runs with the embedded default (``oc.configure(service)``; ``tel.mount(app)`` serves
``/metrics``); a Prometheus 2.42 of our own scrapes it every second and loads the production rule files. After chat
traffic, every panel query returns data (except the Collector's own panel: there is no Collector here).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests._http import eventually
from tests.integration.rules._assets import NEEDS_LABEL, RULE_FILES, panel_queries, variable_values
from tests.integration.rules._prometheus import (
    PrometheusProcess,
    ScrapeTarget,
    finite_samples,
    prometheus,
    wait_for_panels,
)
from tests.integration.rules._traffic import finish, start_driver, unique_service

NOT_EMBEDDED = {"Collector export failures and queue usage"}
TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, list[str]]]:
    """Chat traffic until every panel has data from the embedded endpoint; yields Prometheus and the empty panels."""
    tmp = tmp_path_factory.mktemp("embedded")
    service = unique_service("dash-embedded")
    queries = [
        q
        for q in panel_queries(variable_values(service=service))
        if q.panel not in NOT_EMBEDDED and q.panel not in NEEDS_LABEL
    ]
    port_file = tmp / "port"
    driver = start_driver(service, "--embedded", "--waves", "0", "--port-file", str(port_file), stdin=subprocess.PIPE)
    assert driver.stdin is not None
    try:
        port = eventually(lambda: port_file.read_text() if port_file.exists() else None, timeout=60.0, interval=0.2)
        assert port, f"the embedded chatbot did not start: {driver.poll()=}"
        target = ScrapeTarget("embedded", f"127.0.0.1:{port}")
        with prometheus(tmp / "prometheus", [target], RULE_FILES) as prom:
            up = eventually(lambda: finite_samples(prom.url, 'up{job="embedded"} == 1') or None, timeout=TIMEOUT_S)
            assert up, "Prometheus never scraped the embedded /metrics endpoint"
            driver.stdin.write("go\n")
            driver.stdin.flush()
            empty = wait_for_panels(prom.url, queries, timeout=TIMEOUT_S)
            yield prom, empty
    finally:
        finish(driver)  # closes its stdin: the driver stops sending, stops serving and exits


def test_embedded_metrics_feed_every_panel(embedded_run: tuple[PrometheusProcess, list[str]]) -> None:
    _, empty = embedded_run
    assert not empty, f"panel queries without data from the embedded /metrics endpoint: {empty}"


def test_embedded_metrics_evaluate_every_rule(embedded_run: tuple[PrometheusProcess, list[str]]) -> None:
    prom, _ = embedded_run
    assert prom.rule_health() == []
