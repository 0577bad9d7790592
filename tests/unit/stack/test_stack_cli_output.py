"""What ``otel-chatbot stack up`` prints for the app: lines to paste into its shell, each a working configuration."""

from __future__ import annotations

import shlex
from types import SimpleNamespace

import pytest

from otel_chatbot.cli import _stack
from otel_chatbot.telemetry._otlp import target


def test_stack_up_prints_the_export_lines_for_both_protocols(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = SimpleNamespace(
        collector_otlp_grpc_url="http://127.0.0.1:14317",
        collector_otlp_http_url="http://127.0.0.1:14318",
        jaeger_url="http://127.0.0.1:16686",
        prometheus_url="http://127.0.0.1:9090",
        collector_metrics_url="http://127.0.0.1:8888/metrics",
    )
    _stack._print_urls(stack)  # type: ignore[arg-type]
    lines = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("export ")]
    assert len(lines) == 2
    resolved = []
    for line in lines:  # each line, as the shell would apply it, gives configure() the collector's port and protocol
        for assignment in shlex.split(line)[1:]:
            name, _, value = assignment.partition("=")
            monkeypatch.setenv(name, value)
        resolved.append(target(None))
    assert resolved == [("grpc", "http://127.0.0.1:14317"), ("http/protobuf", "http://127.0.0.1:14318/v1/traces")]
