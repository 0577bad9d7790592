"""Zero cyclic garbage per decorated call, in every form: what a call leaves is freed by reference counting.

A reference cycle (the run's context holding the run) kept each call's span, its locks and the call's arguments alive
until a garbage collection walked the heap, which an LLM stack makes large (issue 12). Here, with the collector off,
N calls of each form must leave nothing for ``gc.collect()`` to find.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

import pytest

import otel_chatbot as oc
from otel_chatbot.spans import _returned

MODEL = "gpt-4o-mini"
COMPLETION = {
    "id": "c",
    "model": MODEL,
    "choices": [{"finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 5},
}
CHUNKS = [{"id": "c", "model": MODEL, "choices": [{"index": 0, "delta": {"content": "hi "}}]}] * 3 + [
    {"id": "c", "model": MODEL, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 3}}
]


@oc.traced_stage("generation", model=MODEL, provider="openai")
def generate() -> dict[str, Any]:
    return COMPLETION


@oc.traced_stage("generation", model=MODEL, provider="openai")
async def agenerate() -> dict[str, Any]:
    return COMPLETION


@oc.traced_stage("generation", model=MODEL, provider="openai")
def stream() -> Iterator[dict[str, Any]]:
    yield from CHUNKS


@oc.traced_stage("generation", model=MODEL, provider="openai")
async def astream() -> AsyncGenerator[dict[str, Any], None]:
    for chunk in CHUNKS:
        yield chunk


class SdkStream:
    """An iterator whose class looks like an SDK's (measured through the returned-stream proxy)."""

    __module__ = "openai._streaming"

    def __init__(self) -> None:
        self._chunks = iter(CHUNKS)

    def __iter__(self) -> SdkStream:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._chunks)


@oc.traced_stage("generation", model=MODEL, provider="openai")
def returns_stream() -> SdkStream:
    return SdkStream()


@oc.traced_stage("retrieval")
def fails() -> None:
    raise TimeoutError("index down")


@oc.traced_stage("generation", model=MODEL, provider="openai")
def fails_mid_stream() -> Iterator[dict[str, Any]]:
    yield CHUNKS[0]
    raise ConnectionError("stream cut")


def _context_manager() -> None:
    with oc.traced_stage("generation", model=MODEL, provider="openai") as stage:
        stage.record_usage(input_tokens=10, output_tokens=5)


async def _context_manager_in_a_coroutine() -> None:
    with oc.traced_stage("retrieval"):
        await asyncio.sleep(0)


def _raises(fn: Callable[[], Any], exc: type[BaseException]) -> Callable[[], None]:
    def call() -> None:
        try:
            fn()
        except exc:
            pass

    return call


def _early_break() -> None:
    for _ in stream():
        break


def _consume_stream_error() -> None:
    try:
        list(fails_mid_stream())
    except ConnectionError:
        pass


async def _all_async() -> None:
    await agenerate()
    async for _ in astream():
        pass
    gen = astream()
    async for _ in gen:
        break
    await gen.aclose()
    await _context_manager_in_a_coroutine()


FORMS: dict[str, Callable[[], Any]] = {
    "sync": generate,
    "async (a coroutine, an async generator, early aclose, a with block)": lambda: asyncio.run(_all_async()),
    "generator": lambda: list(stream()),
    "generator, early break": _early_break,
    "generator, error mid-stream": _consume_stream_error,
    "returned SDK stream": lambda: list(returns_stream()),
    "context manager with record_usage": _context_manager,
    "error": _raises(fails, TimeoutError),
}


@pytest.fixture(params=[True, False], ids=["embedded", "export-only"])
def telemetry(request: pytest.FixtureRequest) -> Iterator[oc.Telemetry]:
    tel = oc.configure("cycles", embedded=request.param)
    yield tel
    tel.shutdown(timeout=5)


def _asyncio_baseline() -> int:
    """What ``asyncio.run`` alone leaves for the collector (its loop's own cycles, not ours)."""
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            asyncio.run(asyncio.sleep(0))
        return gc.collect()
    finally:
        gc.enable()


@pytest.mark.parametrize("form", list(FORMS))
def test_a_decorated_call_leaves_no_cyclic_garbage(telemetry: oc.Telemetry, form: str) -> None:
    assert _returned.kind_of(SdkStream()) == _returned.SYNC  # the proxy path is the one measured
    call = FORMS[form]
    for _ in range(20):  # warm-up: caches, lazily built tables
        call()
    baseline = _asyncio_baseline() if form.startswith("async") else 0
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(50):
            call()
        found = gc.collect()
        kinds = sorted({f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage})
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()
    ours = [kind for kind in kinds if kind.startswith(("otel_chatbot", "opentelemetry"))]
    assert ours == [], f"{form}: {found} objects in cycles, {kinds}"
    assert found <= baseline, f"{form}: {found} objects in cycles (asyncio alone leaves {baseline}): {kinds}"
