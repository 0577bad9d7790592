"""A real Prometheus (Debian's 2.42 binary) of our own, for tests that need their own rules or scrape targets.

The stack's Prometheus loads the production rules; the tests that need a test copy of the rules (short ``for:``) or
another scrape target (the embedded ``/metrics`` endpoint) start one of these on a free loopback port.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._http import eventually, get_json, http_ok, prom_query
from tests._servers import free_port, stop_process
from tests.integration.rules._assets import RULE_FILES, PanelQuery


def finite_samples(base_url: str, expr: str) -> list[dict[str, Any]]:
    """The samples of an instant query whose value is a finite number (NaN means "no data" on a panel)."""
    return [s for s in prom_query(base_url, expr) if math.isfinite(float(s["value"][1]))]


def empty_panels(base_url: str, queries: Sequence[PanelQuery]) -> list[str]:
    return [q.name for q in queries if not finite_samples(base_url, q.expr)]


def wait_for_panels(base_url: str, queries: Sequence[PanelQuery], *, timeout: float) -> list[str]:
    """Poll until every panel query has a finite sample; return the names of the panels still empty at the deadline."""
    pending = list(queries)

    def probe() -> list[str] | None:
        nonlocal pending
        pending = [q for q in pending if not finite_samples(base_url, q.expr)]
        return [] if not pending else None

    eventually(probe, timeout=timeout, interval=1.0)
    return [q.name for q in pending]


def rules_with_short_for(dest: Path, *, for_duration: str) -> list[Path]:
    """The production rule files with every ``for:`` shortened (for tests that watch an alert reach ``firing``)."""
    copies = []
    for path in RULE_FILES:
        text = re.sub(r"(?m)^(\s+for:)\s*\S+", rf"\1 {for_duration}", path.read_text(encoding="utf-8"))
        copy = dest / path.name
        copy.write_text(text, encoding="utf-8")
        copies.append(copy)
    return copies


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    address: str  # host:port
    honor_labels: bool = True


class PrometheusProcess:
    """``prometheus`` on a free loopback port with our config; stopped (by its pid) on :meth:`stop`."""

    def __init__(self, workdir: Path, targets: Sequence[ScrapeTarget], rule_files: Sequence[Path]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus not found on PATH: apt-get install -y --no-install-recommends prometheus")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [
                {"job_name": t.job, "honor_labels": t.honor_labels, "static_configs": [{"targets": [t.address]}]}
                for t in targets
            ],
        }
        config_file = workdir / "prometheus.yml"
        config_file.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        self.log = workdir / "prometheus.log"
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool | None:
            if self._process.poll() is not None:
                pytest.fail(f"prometheus exited with {self._process.returncode}:\n{self.log.read_text()[-3000:]}")
            return http_ok(f"{self.url}/-/ready")

        if not eventually(ready, timeout=timeout, interval=0.2):
            pytest.fail(f"prometheus not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self._process)

    def alerts(self) -> list[dict[str, Any]]:
        answer = get_json(f"{self.url}/api/v1/alerts")
        assert answer["status"] == "success", answer
        alerts: list[dict[str, Any]] = answer["data"]["alerts"]
        return alerts

    def rule_health(self) -> list[str]:
        """``group/rule: lastError`` of every rule Prometheus could not evaluate."""
        answer = get_json(f"{self.url}/api/v1/rules")
        return [
            f"{group['name']}/{rule['name']}: {rule.get('lastError')}"
            for group in answer["data"]["groups"]
            for rule in group["rules"]
            if rule.get("health") == "err"
        ]


@contextmanager
def prometheus(
    workdir: Path, targets: Sequence[ScrapeTarget], rule_files: Sequence[Path]
) -> Iterator[PrometheusProcess]:
    workdir.mkdir(parents=True, exist_ok=True)
    process = PrometheusProcess(workdir, targets, rule_files)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@contextmanager
def failing_collector(binary: Path, workdir: Path) -> Iterator[tuple[str, str]]:
    """otelcol-chatbot with collector/otelcol.yaml, except that its Jaeger exporter points at a closed port and does
    not retry: every span export fails at once. Yields (OTLP gRPC URL, self-telemetry address host:port)."""
    from tests.integration.rules._assets import REPO

    config = (REPO / "collector" / "otelcol.yaml").read_text(encoding="utf-8")
    retry_on = "    retry_on_failure:\n      enabled: true"
    assert config.count(retry_on) == 1, "collector/otelcol.yaml changed: update failing_collector()"
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "otelcol.yaml"
    config_file.write_text(config.replace(retry_on, "    retry_on_failure:\n      enabled: false"), encoding="utf-8")
    grpc, http, exporter, health, telemetry, dead = (free_port() for _ in range(6))
    env = {
        "OTEL_CHATBOT_COLLECTOR_OTLP_GRPC": f"127.0.0.1:{grpc}",
        "OTEL_CHATBOT_COLLECTOR_OTLP_HTTP": f"127.0.0.1:{http}",
        "OTEL_CHATBOT_COLLECTOR_PROMETHEUS": f"127.0.0.1:{exporter}",
        "OTEL_CHATBOT_COLLECTOR_HEALTH": f"127.0.0.1:{health}",
        "OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT": str(telemetry),
        "OTEL_CHATBOT_JAEGER_OTLP_GRPC": f"127.0.0.1:{dead}",  # nothing listens there
        "OTEL_CHATBOT_METRICS_FLUSH_INTERVAL": "1s",
    }
    log = workdir / "otelcol.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "--config", str(config_file)],
            env={"PATH": "/usr/bin:/bin", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def healthy() -> bool | None:
            if process.poll() is not None:
                pytest.fail(f"otelcol-chatbot exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            return http_ok(f"http://127.0.0.1:{health}/")

        if not eventually(healthy, timeout=30.0, interval=0.2):
            pytest.fail(f"otelcol-chatbot not healthy after 30 s:\n{log.read_text()[-3000:]}")
        yield f"http://127.0.0.1:{grpc}", f"127.0.0.1:{telemetry}"
    finally:
        stop_process(process)
