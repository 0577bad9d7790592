"""Outages of the stack under load, with real processes only: the example chatbot (its own process) answers
concurrent conversations and exports OTLP to a native stack of the test's own, whose collector or Jaeger is absent,
SIGKILLed and started again. After recovery every request is a trace in Jaeger (the ids the app reported, no more, no
fewer), and the app never failed a request nor printed a traceback.

Where nothing may be lost: the app's SDK keeps what the collector did not take in its disk-backed export buffer
(its folder is one of the test's), the collector keeps what it accepted in its persistent
sending queue (``<run dir>/otelcol-queue``), Jaeger keeps what it stored in Badger (``<run dir>/jaeger-badger``).
Each test takes ~40-55 s (a stack start, ~20-25 s of load, the wait for the last traces).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_chatbot.stack import Binaries
from tests.integration.outage._harness import (
    Answer,
    Load,
    OwnStack,
    ServerProcess,
    chatbot,
    disk_bytes,
    jaeger_trace_ids,
    own_stack,
    wait_for_traces,
)

pytestmark = pytest.mark.stack

CONCURRENCY = 8
DOWN_S = 15.0
"""How long the collector or Jaeger stays down, under load."""
RECOVERY_TIMEOUT_S = 45.0
"""How long Jaeger may take, after the load stopped, to hold every trace."""


@contextlib.contextmanager
def _chatbot(tmp_path: Path, stack: OwnStack, llm_url: str, service: str) -> Iterator[ServerProcess]:
    """The chatbot as a process exporting to ``stack``; stopped (SIGTERM) at the end, its exit checked."""
    endpoint = stack.running.collector_otlp_grpc_url
    app = chatbot(tmp_path / "app", llm_url=llm_url, otlp_endpoint=endpoint, service=service)
    try:
        yield app
    finally:
        code = app.stop()
    assert code == 0, app.stderr()[-4000:]


def _assert_every_request_is_a_trace(answers: list[Answer], in_jaeger: set[str], app: ServerProcess) -> None:
    failed = [a for a in answers if not a.ok]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed: {sorted({a.status for a in failed})}"
    made = {a.trace_id for a in answers if a.trace_id}
    assert len(made) == len(answers), "every answer names its own trace"
    missing, extra = made - in_jaeger, in_jaeger - made
    assert not missing and not extra, (
        f"{len(answers)} requests made, {len(in_jaeger)} traces in Jaeger: {len(missing)} missing, {len(extra)} extra"
    )
    assert "Traceback" not in app.stderr(), app.stderr()[-4000:]


def _finish(load: Load, stack: OwnStack, service: str, since: float) -> tuple[list[Answer], set[str]]:
    """Stop the load; wait (the app still running: its buffer may still be replaying) until Jaeger has every trace."""
    answers = load.stop()
    assert len(answers) > 50, f"only {len(answers)} requests: the load did not run"
    wanted = {a.trace_id for a in answers if a.trace_id}
    return answers, wait_for_traces(stack.running.jaeger_url, service, wanted, since, RECOVERY_TIMEOUT_S)


def test_collector_absent_when_the_app_starts_then_started(
    stack_binaries: Binaries, llm_url: str, tmp_path: Path
) -> None:
    service, since = "outage-absent-bot", time.time()
    with own_stack(tmp_path / "stack", stack_binaries) as stack:
        stack.stop("otelcol")
        with _chatbot(tmp_path, stack, llm_url, service) as app:
            load = Load(app.wait_url(), CONCURRENCY).start()
            try:
                time.sleep(DOWN_S)
                during = len(load.answers())
                stack.start("otelcol")
                time.sleep(3.0)
            finally:
                answers, in_jaeger = _finish(load, stack, service, since)
    assert during > 20, f"only {during} requests while the collector was absent"
    _assert_every_request_is_a_trace(answers, in_jaeger, app)


def test_collector_killed_under_load_then_restarted(stack_binaries: Binaries, llm_url: str, tmp_path: Path) -> None:
    service, since = "outage-collector-bot", time.time()
    with own_stack(tmp_path / "stack", stack_binaries) as stack:
        with _chatbot(tmp_path, stack, llm_url, service) as app:
            load = Load(app.wait_url(), CONCURRENCY).start()
            try:
                time.sleep(5.0)
                stack.kill("otelcol")
                killed_at = len(load.answers())
                time.sleep(DOWN_S)
                during = len(load.answers()) - killed_at
                stack.start("otelcol")
                time.sleep(3.0)
            finally:
                answers, in_jaeger = _finish(load, stack, service, since)
    assert killed_at > 10 and during > 20, f"{killed_at} requests before the kill, {during} while it was down"
    _assert_every_request_is_a_trace(answers, in_jaeger, app)


def test_the_collector_killed_with_a_full_queue_loses_nothing_it_accepted(
    stack_binaries: Binaries, llm_url: str, tmp_path: Path
) -> None:
    """Jaeger down, so the collector's queue holds spans; the collector SIGKILLed, then both started again."""
    service, since = "outage-queue-bot", time.time()
    with own_stack(tmp_path / "stack", stack_binaries) as stack:
        with _chatbot(tmp_path, stack, llm_url, service) as app:
            load = Load(app.wait_url(), CONCURRENCY).start()
            try:
                time.sleep(3.0)
                stack.kill("jaeger")
                time.sleep(10.0)
            finally:
                answers = load.stop()
            # every span the app made is in the collector's hands (the SDK exports every 200 ms), none in Jaeger's
            time.sleep(3.0)
            queued = _disk_queue_bytes(stack)
            stack.kill("otelcol")
            stack.start("otelcol")
            stack.start("jaeger")
            wanted = {a.trace_id for a in answers if a.trace_id}
            in_jaeger = wait_for_traces(stack.running.jaeger_url, service, wanted, since, RECOVERY_TIMEOUT_S)
    assert queued > 100_000, f"the collector's queue held only {queued} bytes on disk"
    _assert_every_request_is_a_trace(answers, in_jaeger, app)


def _disk_queue_bytes(stack: OwnStack) -> int:
    return disk_bytes(stack.run_dir / "otelcol-queue")


def test_jaeger_killed_under_load_keeps_its_traces_and_receives_the_rest(
    stack_binaries: Binaries, llm_url: str, tmp_path: Path
) -> None:
    service, since = "outage-jaeger-bot", time.time()
    with own_stack(tmp_path / "stack", stack_binaries) as stack:
        jaeger = stack.running.jaeger_url
        with _chatbot(tmp_path, stack, llm_url, service) as app:
            load = Load(app.wait_url(), CONCURRENCY).start()
            try:
                time.sleep(5.0)
                early = {a.trace_id for a in load.answers() if a.trace_id}
                stored = wait_for_traces(jaeger, service, early, since, timeout=20)
                assert early <= stored, f"{len(early - stored)} of {len(early)} early traces never reached Jaeger"
                stack.kill("jaeger")
                killed_at = len(load.answers())
                time.sleep(DOWN_S)
                during = len(load.answers()) - killed_at
                stack.start("jaeger")
                # what Badger kept across the kill is there at once, before the collector's queue has resent anything
                kept = jaeger_trace_ids(jaeger, service, since)
                time.sleep(3.0)
            finally:
                answers, in_jaeger = _finish(load, stack, service, since)
    assert stored <= kept, f"{len(stored - kept)} of {len(stored)} stored traces lost with Jaeger's restart"
    assert during > 20, f"only {during} requests while Jaeger was down"
    _assert_every_request_is_a_trace(answers, in_jaeger, app)
