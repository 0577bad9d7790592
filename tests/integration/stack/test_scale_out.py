"""Agent -> loadbalancing by trace id -> 2 gateway collectors -> Jaeger: every trace arrives whole."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_chatbot.stack import RunningStack
from otel_chatbot.stack import _runner as runner
from otel_chatbot.stack._ports import free_ports
from tests._http import eventually

from ._helpers import jaeger_traces, run_app

pytestmark = pytest.mark.stack

N = 24
SERVICE = "stack-scaleout-bot"


def _collector_env(stack: RunningStack, ports: list[int], storage: Path) -> dict[str, str]:
    grpc, http, prom, health, telemetry = ports
    return {
        "OTEL_CHATBOT_COLLECTOR_OTLP_GRPC": f"127.0.0.1:{grpc}",
        "OTEL_CHATBOT_COLLECTOR_OTLP_HTTP": f"127.0.0.1:{http}",
        "OTEL_CHATBOT_COLLECTOR_PROMETHEUS": f"127.0.0.1:{prom}",
        "OTEL_CHATBOT_COLLECTOR_HEALTH": f"127.0.0.1:{health}",
        "OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT": str(telemetry),
        "OTEL_CHATBOT_COLLECTOR_STORAGE_DIR": str(storage),
        "OTEL_CHATBOT_JAEGER_OTLP_GRPC": stack.ports.jaeger_otlp_grpc,
        "OTEL_CHATBOT_METRICS_FLUSH_INTERVAL": "1s",
    }


@pytest.fixture(scope="module")
def tier(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One agent and two gateways (the shipped configs), their own run folder, stopped afterwards."""
    run_dir = tmp_path_factory.mktemp("scale-out")
    ports = free_ports(15)
    gateways = [ports[0:5], ports[5:10]]
    agent = ports[10:15]
    specs = [
        runner.ProcessSpec(
            name=f"gateway{i}",
            argv=[str(stack.binaries.collector), "--config", str(stack.config_dir / "otelcol-gateway.yaml")],
            health_url=f"http://127.0.0.1:{gw[3]}/",
            env=_collector_env(stack, gw, run_dir / f"gateway{i}-queue"),
        )
        for i, gw in enumerate(gateways)
    ]
    agent_env = _collector_env(stack, agent, run_dir / "agent-queue")
    agent_env["OTEL_CHATBOT_GATEWAYS"] = f"[127.0.0.1:{gateways[0][0]}, 127.0.0.1:{gateways[1][0]}]"
    specs.append(
        runner.ProcessSpec(
            name="agent",
            argv=[str(stack.binaries.collector), "--config", str(stack.config_dir / "otelcol-agent.yaml")],
            health_url=f"http://127.0.0.1:{agent[3]}/",
            env=agent_env,
        )
    )
    try:
        records = [runner.start(spec, run_dir) for spec in specs]
        runner.wait_healthy(records)
        yield {"agent_grpc": f"http://127.0.0.1:{agent[0]}", "gateway_telemetry": [gw[4] for gw in gateways]}
    finally:
        runner.stop(run_dir)


def _accepted_spans(telemetry_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{telemetry_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values = re.findall(r'(?m)^otelcol_receiver_accepted_spans(?:_total)?\{[^}]*receiver="otlp"[^}]*\} (\S+)$', text)
    return sum(float(v) for v in values)


def test_agent_and_two_gateways_deliver_every_trace_whole(stack: RunningStack, tier: dict[str, Any]) -> None:
    sent = run_app(tier["agent_grpc"], SERVICE, N)
    traces = eventually(
        lambda: t if len(t := jaeger_traces(stack, SERVICE)) == N and all(len(x["spans"]) == 4 for x in t) else None
    )
    assert traces is not None, [len(t["spans"]) for t in jaeger_traces(stack, SERVICE)]
    assert sorted(t["traceID"] for t in traces) == sorted(sent["trace_ids"])
    for trace_json in traces:
        assert {s["traceID"] for s in trace_json["spans"]} == {trace_json["traceID"]}
    # both gateways took part, and together they received each span exactly once
    per_gateway = eventually(
        lambda: c if sum(c := [_accepted_spans(p) for p in tier["gateway_telemetry"]]) == 4 * N else None
    )
    assert per_gateway is not None, [_accepted_spans(p) for p in tier["gateway_telemetry"]]
    assert all(count > 0 for count in per_gateway), per_gateway
    assert all(count % 4 == 0 for count in per_gateway), per_gateway  # whole traces of 4 spans each
