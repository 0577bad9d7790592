"""A real app restart: a process exports to a dead endpoint and is killed; the next process of the service (same
buffer folder) delivers what the dead one made, exactly once. About 5 s per test (two Python processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_chatbot import env
from tests._http import eventually
from tests._otlp_receiver import OtlpReceiver
from tests._servers import free_port

ROOT = Path(__file__).resolve().parents[3]
N = 120

# Makes N spans exporting to ENDPOINT, flushes (the endpoint is down: they go to the buffer), then ends as MODE says.
_APP = textwrap.dedent(
    """
    import os, signal, sys
    import otel_chatbot as oc
    from opentelemetry import trace

    endpoint, protocol, prefix, count, mode = sys.argv[1:6]
    tel = oc.configure("restart-app", endpoint=endpoint, protocol=protocol, embedded=False)
    tracer = trace.get_tracer("app")
    for i in range(int(count)):
        with tracer.start_as_current_span(f"{prefix}{i}"):
            pass
        if i % 25 == 24:
            tel.force_flush()
    tel.force_flush()
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)  # no shutdown, no atexit: a crash
    print("shutdown", tel.shutdown(timeout=10), flush=True)
    """
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _APP, *args],
        cwd=ROOT,
        env={**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "50"},  # the test's OTEL_CHATBOT_EXPORT_BUFFER passed on
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(request: pytest.FixtureRequest) -> Iterator[OtlpReceiver]:
    with OtlpReceiver(request.param) as r:
        yield r


def test_spans_of_a_killed_process_are_delivered_by_the_next_one(receiver: OtlpReceiver) -> None:
    dead = f"http://127.0.0.1:{free_port()}" + ("" if receiver.protocol == "grpc" else "/v1/traces")
    first = _run(dead, receiver.protocol, "first-", str(N), "kill")
    assert first.returncode == -signal.SIGKILL, first.stderr
    folder = Path(os.environ[env.OTEL_CHATBOT_EXPORT_BUFFER])
    assert sum(int(p.name.split("-")[2].split(".")[0]) for p in folder.glob("*/t-*.otlp")) == N  # all on disk
    receiver.start()
    second = _run(receiver.endpoint, receiver.protocol, "second-", "10", "exit")
    assert second.returncode == 0, second.stderr
    assert "shutdown True" in second.stdout
    names = eventually(lambda: receiver.span_names() if len(receiver.span_names()) >= N + 10 else None, 20, 0.1)
    assert names is not None
    first_names = [n for n in names if n.startswith("first-")]
    assert first_names == [f"first-{i}" for i in range(N)]  # every span of the dead process, once, in order
    assert sorted(n for n in names if n.startswith("second-")) == sorted(f"second-{i}" for i in range(10))
    assert len(set(receiver.span_ids())) == N + 10
    assert not list(folder.glob("*/t-*.otlp"))  # delivered, deleted


def test_a_clean_exit_while_the_endpoint_is_down_leaves_everything_for_the_next_start(receiver: OtlpReceiver) -> None:
    first = _run(receiver.endpoint, receiver.protocol, "first-", str(N), "exit")  # receiver not started yet
    assert first.returncode == 0, first.stderr
    assert "shutdown True" in first.stdout
    receiver.start()
    second = _run(receiver.endpoint, receiver.protocol, "second-", "5", "exit")
    assert second.returncode == 0, second.stderr
    names = eventually(lambda: receiver.span_names() if len(receiver.span_names()) >= N + 5 else None, 20, 0.1)
    assert names is not None
    assert [n for n in names if n.startswith("first-")] == [f"first-{i}" for i in range(N)]
    assert len(set(receiver.span_ids())) == N + 5
