"""The example app turns a configuration mistake into one line naming the setting (exit code 2), never a traceback,
and never shows a password it was given. Real processes: ``python -m examples.rag_chatbot``, ``uvicorn
examples.rag_chatbot.asgi:app`` and ``uvicorn examples.plain_chatbot.app:app``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from examples._serve import bind
from tests._servers import free_port

ROOT = Path(__file__).resolve().parents[3]
PW = "PLANTED-PW-5c81e0"

_CASES = [
    ({"CHATBOT_TIMEOUT_S": "abc"}, "CHATBOT_TIMEOUT_S"),
    ({"CHATBOT_TIMEOUT_S": "-1"}, "CHATBOT_TIMEOUT_S"),
    ({"CHATBOT_TIMEOUT_S": "nan"}, "CHATBOT_TIMEOUT_S"),
    ({"OPENAI_BASE_URL": ""}, "OPENAI_BASE_URL"),
    ({"OPENAI_BASE_URL": "not a url"}, "OPENAI_BASE_URL"),
    ({"OPENAI_BASE_URL": f"https://u:{PW}@llm:notaport/v1"}, "OPENAI_BASE_URL"),
    ({"OPENAI_BASE_URL": f"https://u:{PW}@[::1/v1"}, "OPENAI_BASE_URL"),
    ({"CHATBOT_API_KEYS": f"{PW}"}, "CHATBOT_API_KEYS"),
    ({"CHATBOT_DB": "/nonexistent/folder/chat.db"}, "CHATBOT_DB"),
    ({"OTEL_CHATBOT_LEDGER": f"postgresql://bot:{PW}@127.0.0.1:{{port}}/usage"}, "OTEL_CHATBOT_LEDGER"),
    ({"OTEL_CHATBOT_LEDGER": f"postgresql://bot:{PW}@127.0.0.1:notaport/usage"}, "OTEL_CHATBOT_LEDGER"),
    ({"OTEL_CHATBOT_LEDGER": "/nonexistent/folder/usage.db"}, "OTEL_CHATBOT_LEDGER"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://u:{PW}@collector:notaport"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "bogus"},
     "OTEL_EXPORTER_OTLP_PROTOCOL"),
]  # fmt: skip


def _env(extra: dict[str, str]) -> dict[str, str]:
    # An OTEL_CHATBOT_* variable here is a suite fixture's (tests/conftest.py clears OTEL_* before each test): kept.
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "CHATBOT_", "OPENAI_")) or k.startswith("OTEL_CHATBOT_")
    }
    # A provider that is not there: the configuration must be rejected before the provider is even tried.
    base["OPENAI_BASE_URL"] = f"http://127.0.0.1:{free_port()}/v1"
    return {**base, **{k: v.replace("{port}", str(free_port())) for k, v in extra.items()}}


def _one_line(proc: subprocess.CompletedProcess[str], setting: str) -> str:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    assert setting in lines[0], lines[0]
    assert "5c81e0" not in output
    return lines[0]


@pytest.mark.parametrize(("extra", "setting"), _CASES, ids=[f"{i}-{s}" for i, (_, s) in enumerate(_CASES)])
def test_python_m_rag_chatbot(extra: dict[str, str], setting: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "examples.rag_chatbot", "--port", "0"],
        cwd=ROOT,
        env=_env(extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert _one_line(proc, setting).startswith("rag_chatbot: ")


def test_port_in_use(tmp_path: Path) -> None:
    with bind("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "examples.rag_chatbot", "--port", str(port), "--no-preflight"],
            cwd=ROOT,
            env=_env({}),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert f"port {port} on 127.0.0.1 is already in use" in line


@pytest.mark.parametrize("module", ["examples.rag_chatbot.asgi:app", "examples.plain_chatbot.app:app"])
@pytest.mark.parametrize(
    ("extra", "setting"),
    [({"CHATBOT_TIMEOUT_S": "abc"}, "CHATBOT_TIMEOUT_S"), ({"OPENAI_BASE_URL": "ftp://x"}, "OPENAI_BASE_URL")],
)
def test_uvicorn_entry_points(module: str, extra: dict[str, str], setting: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "uvicorn", module, "--port", str(free_port())],
        cwd=ROOT,
        env=_env(extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    _one_line(proc, setting)


def test_uvicorn_asgi_bad_ledger() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "uvicorn", "examples.rag_chatbot.asgi:app", "--port", str(free_port())],
        cwd=ROOT,
        env=_env({"OTEL_CHATBOT_LEDGER": f"postgresql://bot:{PW}@127.0.0.1:{{port}}/usage"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    _one_line(proc, "OTEL_CHATBOT_LEDGER")
