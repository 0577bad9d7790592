"""``./scripts/demo`` itself, with a short, fast load: it runs, reports every stage, and stops what it started."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import urllib.request
from pathlib import Path

from examples.rag_chatbot.app import BREAKDOWN_STAGES
from tests.integration.example.conftest import ROOT, Process

STAGES = (*BREAKDOWN_STAGES, "generation", "retrieval", "memory_update")


def _listening(url: str) -> bool:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, int(port))) == 0


def test_demo_runs_reports_every_stage_and_cleans_up() -> None:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--turns", "20", "--concurrency", "4", "--fast"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    load = out.split("load summary (client side)")[1].split("== bottleneck report")[0]
    assert "20 chat turns" in load
    assert re.search(r"latency\s+p50 \d+ ms\s+p95 \d+ ms\s+p99 \d+ ms", load)
    report = out.split("== bottleneck report")[1]
    # Request order, the nested stages indented under their parent (docs/example.md's trace).
    nested = {"retrieval", "backend_ttfb", "stream_processing"}
    for stage in STAGES:
        indent = "  " if stage in nested else ""
        assert re.search(rf"^{indent}{stage}\s+\d+\s", report, re.MULTILINE), (
            f"{stage} missing from the report:\n{report}"
        )
    rows = [line.split()[0] for line in report.split("Latency per stage (ms)")[1].split("\n\n")[0].splitlines()[4:]]
    assert rows[:3] == ["request_parsing", "auth_validation", "request_preparation"], rows
    assert rows.index("backend_ttfb") == rows.index("generation") + 1, rows
    for section in ("Streaming", "Usage per model", "Caches", "Variants side by side", "Recommendations"):
        assert section in report
    assert "gpt-4o-mini" in report and "$" in report
    assert re.search(r"^system: cpu \d+% busy", report, re.MULTILINE)
    # It keeps its dump and ledger, and the commands it prints to use them work.
    next_steps = out.split("next, try")[1].split("demo finished")[0]
    commands = [line.split() for line in next_steps.splitlines() if line.startswith("otel-chatbot ")]
    assert [c[1] for c in commands] == ["ui", "report", "usage", "usage"]
    _check_the_web_view(commands.pop(0))
    for command in commands:
        ran = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=os.environ)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "$" in ran.stdout, ran.stdout
        if "--by" not in command or "model" in command:
            assert "gpt-4o-mini" in ran.stdout, ran.stdout
    # Everything the demo started is stopped.
    urls = re.findall(r"at (http://127\.0\.0\.1:\d+)", out)
    assert len(urls) == 2
    assert not any(_listening(url) for url in urls)


def test_demo_with_openai_but_no_key_is_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--provider", "openai"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "demo: --provider openai needs OPENAI_API_KEY (export OPENAI_API_KEY=sk-...)"


def test_demo_with_a_rejected_key_shows_the_401_not_the_key(tmp_path: Path) -> None:
    """--provider openai against an OpenAI-compatible server that rejects the key: one line, the key never shown."""
    key = "sk-demo-wrong-key-0123456789abcdef"
    server = Process(
        "examples.llm_server", ["--require-api-key"], tmp_path, {"OPENAI_API_KEY": "sk-the-accepted-key-0000"}
    )
    try:
        base = f"http://127.0.0.1:{server.wait_port()}/v1"
        proc = subprocess.run(
            [str(ROOT / "scripts" / "demo"), "--provider", "openai", "--turns", "1"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "OPENAI_API_KEY": key, "OPENAI_BASE_URL": base},
        )
    finally:
        server.stop()
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("rag_chatbot: LLM provider returned 401: Incorrect API key provided")
    assert key not in proc.stdout + proc.stderr


def _check_the_web_view(command: list[str]) -> None:
    """``otel-chatbot ui FILE`` (on a free port here) serves the demo's dump: its run's model and stages."""
    proc = subprocess.Popen(
        [*command, "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/) ", line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + "api/view", timeout=30) as response:
            view = json.loads(response.read())
        assert {s["stage"] for s in view["snapshot"]["stages"]} >= set(STAGES)
        assert view["snapshot"]["traces"] and view["snapshot"]["history"]
        with urllib.request.urlopen(match.group(1), timeout=30) as response:
            assert b'<main id="page"' in response.read()
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
