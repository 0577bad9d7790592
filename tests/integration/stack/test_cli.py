"""``otel-chatbot stack up | status | down`` as a user runs it, on free loopback ports."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from otel_chatbot import cli
from otel_chatbot.env import OTEL_CHATBOT_CACHE
from otel_chatbot.stack import Binaries, StackPorts
from otel_chatbot.stack import _build as build
from otel_chatbot.stack import _runner as runner

pytestmark = pytest.mark.stack


def _use_free_ports(monkeypatch: pytest.MonkeyPatch) -> StackPorts:
    ports = StackPorts.free()
    for name, value in ports.environ().items():
        monkeypatch.setenv(name, value)
    return ports


def test_up_status_down(
    stack_binaries: Binaries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(OTEL_CHATBOT_CACHE, str(stack_binaries.collector.parents[2]))
    ports = _use_free_ports(monkeypatch)
    run_dir = tmp_path / "run"
    try:
        assert cli.main(["stack", "up", "--run-dir", str(run_dir)]) == 0
        out = capsys.readouterr().out
        assert f"http://{ports.collector_otlp_grpc}" in out
        assert f"http://{ports.jaeger_query_http}" in out
        records = runner.read_records(run_dir)
        assert [r.name for r in records] == ["jaeger", "prometheus", "otelcol"]
        assert all(r.alive() for r in records)
        assert (run_dir / "otelcol.log").is_file()

        assert cli.main(["stack", "status", "--run-dir", str(run_dir)]) == 0
        assert capsys.readouterr().out.count("healthy") == 3
        assert cli.main(["stack", "up", "--run-dir", str(run_dir)]) == 0
        assert "already running" in capsys.readouterr().out
    finally:
        assert cli.main(["stack", "down", "--run-dir", str(run_dir)]) == 0
    assert "stopped jaeger, prometheus, otelcol" in capsys.readouterr().out
    assert not any(r.alive() for r in records)
    assert cli.main(["stack", "status", "--run-dir", str(run_dir)]) == 3


def test_a_port_in_use_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ports = _use_free_ports(monkeypatch)
    host, port = ports.jaeger_query_http.split(":")
    with socket.socket() as taken:
        taken.bind((host, int(port)))
        taken.listen()
        assert cli.main(["stack", "up", "--run-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"port {port}" in err and "in use" in err and "OTEL_CHATBOT_JAEGER_QUERY_HTTP=" in err
    assert runner.read_records(tmp_path) == []


def test_a_missing_go_toolchain_is_one_line_naming_the_fix(
    stack_binaries: Binaries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bin"  # a PATH with Prometheus (installed) but no Go
    path.mkdir()
    for binary in (stack_binaries.prometheus, stack_binaries.promtool):
        (path / binary.name).symlink_to(binary)
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.setattr(build, "_GO_FALLBACKS", ())
    monkeypatch.setenv(OTEL_CHATBOT_CACHE, str(tmp_path / "empty-cache"))  # nothing built yet
    assert cli.main(["stack", "build"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Go toolchain not found: install Go >= 1.25" in err


def test_down_never_signals_a_process_that_only_reuses_a_recorded_pid(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = runner.ProcessRecord(name="sleeper", pid=other.pid, start_ticks=0, health_url="", log="")
        assert live.start_ticks != runner.proc_start_ticks(other.pid)
        # the record says pid X started at another time: the recorded process died and X was given to `other`
        (tmp_path / runner.PIDS_FILE).write_text(json.dumps([dataclasses.asdict(live)]))
        assert not live.alive()
        assert runner.stop(tmp_path) == ["sleeper"]
        assert other.poll() is None  # untouched
        assert runner.read_records(tmp_path) == []
    finally:
        other.kill()
        other.wait()
