"""The real provider SDKs against the local LLM server (``examples/llm_server``) on loopback.

Each test drives a real client (openai, anthropic, google-genai, langchain) through a ``traced_stage`` and checks the
span against the SDK's own parsed objects and against genai-prices (``tests/sdk/_oracle.py``), never against
numbers written by hand.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from examples.llm_server.server import ServerConfig, create_app
from otel_chatbot import _state
from otel_chatbot.testing import reset_trace_globals
from tests._servers import serve_asgi

TTFT_MS = 120.0
"""The server's median time to first token in these tests (no jitter: sigma 0, no outliers)."""


def server_config(**overrides: object) -> ServerConfig:
    """A deterministic server: fixed time to first token, no outliers, no failures."""
    settings: dict[str, object] = {
        "seed": 11,
        "ttft_ms": TTFT_MS,
        "ttft_sigma": 0.0,
        "prefill_ms_per_token": 0.0,
        "tokens_per_s": 400.0,
        "tokens_per_s_sd": 0.0,
        "outlier_rate": 0.0,
        "output_tokens_median": 24,
    }
    settings.update(overrides)
    return ServerConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    """Base URL of a local LLM server (OpenAI at ``/v1``; other providers' paths as the server documents)."""
    with serve_asgi(create_app(server_config()), access_log=False) as url:
        yield url


@pytest.fixture(autouse=True)
def _no_collection_pauses() -> Iterator[None]:
    """During a test, the objects alive when it started are frozen out of the garbage collector.

    With every SDK imported the heap is so large that a full collection pauses the process for 100-170 ms here (a
    young-generation one, over the warm-ups' leftovers, for ~12 ms); triggered by allocation counts, one lands inside
    a measured stream span now and then (a CI run saw a first chunk 0.3 s late). Frozen (``gc.freeze``, O(1)), those
    objects are not scanned while the test runs, so a collection scans only what the test made; ``gc.unfreeze`` at
    its end gives them back to the collector.
    """
    gc.freeze()
    yield
    gc.unfreeze()


@contextmanager
def traced_warm_up() -> Iterator[None]:
    """A global tracer provider (recording nowhere) while a module's warm-up calls run, then none again.

    The anthropic SDK records its own spans once a provider is set, and our stages record only then: their
    first-use costs (tracers, lazy imports, the first event through a stage) are paid here, not in a measured span.
    """
    reset_trace_globals()
    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    try:
        yield
    finally:
        provider.shutdown()
        reset_trace_globals()
        _state.reset()


@pytest.fixture(autouse=True)
def _no_native_sdk_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The anthropic SDK traces its own calls (``anthropic.messages.create`` spans with ``gen_ai.usage.*``) whenever
    a TracerProvider is installed; under the count-once rule a stage then defers its usage to that inner span. These
    tests check what the stage reads from the SDK's objects, so the SDK's own tracing is off here (clients read the
    variable when they are made); test_native_tracing.py covers the stage deferring to it."""
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
