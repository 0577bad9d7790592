"""traced_stage over sync / async / generator / async generator x success / error / early break / cancellation."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import otel_chatbot as oc
from otel_chatbot import semconv

pytestmark = pytest.mark.usefixtures("tracer_provider")


class Boom(Exception):
    pass


def _openai(prompt: int = 1000, completion: int = 500) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def _chunks() -> list[dict[str, Any]]:
    return [
        {"object": "chat.completion.chunk", "model": "gpt-4o-mini", "choices": [{"delta": {"role": "assistant"}}]},
        {"object": "chat.completion.chunk", "model": "gpt-4o-mini", "choices": [{"delta": {"content": "Hel"}}]},
        {"object": "chat.completion.chunk", "model": "gpt-4o-mini", "choices": [{"delta": {"content": "lo"}}]},
        {
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini",
            "choices": [{"delta": {}, "finish_reason": "stop"}],
        },
        {"object": "chat.completion.chunk", "model": "gpt-4o-mini", "choices": [], "usage": _openai()["usage"]},
    ]


GEN = oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")


@GEN
def sync_call(fail: bool = False) -> dict[str, Any]:
    if fail:
        raise Boom("sync failed")
    assert trace.get_current_span().is_recording()
    return _openai()


@GEN
async def async_call(fail: bool = False) -> dict[str, Any]:
    if fail:
        raise Boom("async failed")
    await asyncio.sleep(0)
    return _openai()


@GEN
def sync_stream(fail: bool = False) -> Iterator[dict[str, Any]]:
    for i, chunk in enumerate(_chunks()):
        if fail and i == 2:
            raise Boom("stream failed")
        yield chunk


@GEN
async def async_stream(fail: bool = False) -> AsyncIterator[dict[str, Any]]:
    for i, chunk in enumerate(_chunks()):
        if fail and i == 2:
            raise Boom("stream failed")
        await asyncio.sleep(0)
        yield chunk


def _run(kind: str, fail: bool = False) -> Any:
    if kind == "sync":
        return sync_call(fail)
    if kind == "async":
        return asyncio.run(async_call(fail))
    if kind == "gen":
        return list(sync_stream(fail))

    async def consume() -> list[Any]:
        return [c async for c in async_stream(fail)]

    return asyncio.run(consume())


def _only(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


KINDS = ["sync", "async", "gen", "agen"]


@pytest.mark.parametrize("kind", KINDS)
def test_success_sets_contract_usage_and_cost(kind: str, span_exporter: InMemorySpanExporter) -> None:
    _run(kind)
    span = _only(span_exporter)
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = span.attributes or {}
    assert attrs[semconv.CHATBOT_STAGE] == "generation"
    assert attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 500
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(0.00045, rel=1e-12)
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert semconv.CHATBOT_USAGE_ESTIMATED not in attrs
    if kind in ("gen", "agen"):
        assert attrs[semconv.GEN_AI_REQUEST_STREAM] is True
        ttfc = attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
        assert isinstance(ttfc, float) and ttfc >= 0
    else:
        assert semconv.GEN_AI_REQUEST_STREAM not in attrs
        assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
        assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize("kind", KINDS)
def test_error_is_recorded_and_the_same_exception_propagates(kind: str, span_exporter: InMemorySpanExporter) -> None:
    with pytest.raises(Boom) as info:
        _run(kind, fail=True)
    assert type(info.value) is Boom
    span = _only(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None and span.status.description.startswith("Boom: ")
    attrs = span.attributes or {}
    assert attrs[semconv.ERROR_TYPE] == "Boom"
    (event,) = [e for e in span.events if e.name == "exception"]
    assert (event.attributes or {})["exception.type"] == "Boom"
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_error_object_identity_is_preserved(span_exporter: InMemorySpanExporter) -> None:
    original = Boom("x")

    @oc.traced_stage("retrieval")
    def f() -> None:
        raise original

    with pytest.raises(Boom) as info:
        f()
    assert info.value is original


def test_early_break_sync_generator_ends_span_without_error(span_exporter: InMemorySpanExporter) -> None:
    outer = trace.get_current_span()
    for chunk in sync_stream():
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            # While the consumer runs, the stage span is NOT current: its context is attached only inside the stream.
            assert trace.get_current_span() is outer
            break
    gc.collect()
    span = _only(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    attrs = span.attributes or {}
    assert semconv.ERROR_TYPE not in attrs
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs
    # No usage chunk arrived: the counts are estimated, and flagged.
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
    assert trace.get_current_span() is outer


def test_early_break_async_generator_with_aclose(span_exporter: InMemorySpanExporter) -> None:
    async def consume() -> None:
        stream = async_stream()
        async for chunk in stream:
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                break
        assert trace.get_current_span() is trace.INVALID_SPAN
        await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(consume())
    span = _only(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert semconv.ERROR_TYPE not in (span.attributes or {})


def test_explicit_close_of_sync_generator(span_exporter: InMemorySpanExporter) -> None:
    stream = sync_stream()
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    span = _only(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    # A role-only chunk is not content: no TTFT yet.
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in (span.attributes or {})


def _cancel_when(ready: asyncio.Event, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``work()`` as a task, cancel it once ``ready`` is set, and check the cancellation reaches the caller."""

    async def main() -> None:
        task = asyncio.create_task(work())
        await ready.wait()
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_cancelled_coroutine_ends_span_without_application_error(span_exporter: InMemorySpanExporter) -> None:
    started = asyncio.Event()

    @oc.traced_stage("generation", model="gpt-4o-mini")
    async def slow() -> None:
        started.set()
        await asyncio.sleep(10)

    _cancel_when(started, slow)
    span = _only(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert semconv.ERROR_TYPE not in (span.attributes or {})


def test_cancelled_async_generator(span_exporter: InMemorySpanExporter) -> None:
    got_one = asyncio.Event()

    @oc.traced_stage("generation", model="gpt-4o-mini")
    async def stream() -> AsyncIterator[str]:
        yield "a"
        await asyncio.sleep(10)
        yield "b"

    async def consume() -> None:
        async for _ in stream():
            got_one.set()

    _cancel_when(got_one, consume)
    span = _only(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    ttfc = (span.attributes or {})[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert isinstance(ttfc, float) and ttfc >= 0


def test_context_is_balanced_after_many_early_breaks(span_exporter: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request") as root:
        for _ in range(5):
            for _chunk in sync_stream():
                break
        assert trace.get_current_span() is root
    gc.collect()
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 6
    root_span = next(s for s in spans if s.name == "request")
    for span in spans:
        if span is not root_span:
            assert span.parent is not None and span.parent.span_id == root_span.context.span_id


def test_generator_send_and_throw_are_forwarded(span_exporter: InMemorySpanExporter) -> None:
    @oc.traced_stage("tool")
    def echo() -> Iterator[str]:
        received = yield "ready"
        try:
            yield f"got {received}"
        except KeyError:
            yield "handled"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("x") == "got x"  # type: ignore[attr-defined]
    assert gen.throw(KeyError("k")) == "handled"  # type: ignore[attr-defined]
    gen.close()  # type: ignore[attr-defined]
    span = _only(span_exporter)
    assert span.name == "execute_tool echo"
    assert span.status.status_code is StatusCode.UNSET


def test_generator_return_value_is_kept() -> None:
    @oc.traced_stage("tool")
    def producer() -> Generator[int, None, int]:
        yield 1
        return 42

    def consumer() -> Iterator[int]:
        result = yield from producer()
        yield result

    assert list(consumer()) == [1, 42]


def test_streaming_span_parent_is_the_caller_not_the_iterator(span_exporter: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("endpoint") as endpoint, oc.conversation(user_id="u-1"):
        stream = sync_stream()
    with tracer.start_as_current_span("elsewhere"):
        list(stream)
    chat = next(s for s in span_exporter.get_finished_spans() if s.name.startswith("chat"))
    assert chat.parent is not None and chat.parent.span_id == endpoint.get_span_context().span_id
    assert (chat.attributes or {})[semconv.USER_ID] == "u-1"


@pytest.mark.parametrize(
    ("stage", "options", "name", "kind", "operation"),
    [
        ("retrieval", {"data_source": "faq-index"}, "retrieval faq-index", SpanKind.CLIENT, "retrieval"),
        ("retrieval", {}, "retrieval", SpanKind.CLIENT, "retrieval"),
        ("generation", {"model": "gpt-4o"}, "chat gpt-4o", SpanKind.CLIENT, "chat"),
        (
            "generation",
            {"model": "gpt-4o", "operation": "text_completion"},
            "text_completion gpt-4o",
            SpanKind.CLIENT,
            "text_completion",
        ),
        (
            "embeddings",
            {"model": "text-embedding-3-small"},
            "embeddings text-embedding-3-small",
            SpanKind.CLIENT,
            "embeddings",
        ),
        ("memory_update", {}, "update_memory", SpanKind.INTERNAL, "update_memory"),
        ("memory_update", {"operation": "create_memory"}, "create_memory", SpanKind.INTERNAL, "create_memory"),
        ("tool", {"tool_name": "weather"}, "execute_tool weather", SpanKind.INTERNAL, "execute_tool"),
        ("rerank", {}, "rerank", SpanKind.INTERNAL, None),
        (semconv.Stage.RETRIEVAL, {}, "retrieval", SpanKind.CLIENT, "retrieval"),
    ],
)
def test_span_contract(
    stage: Any,
    options: dict[str, Any],
    name: str,
    kind: SpanKind,
    operation: str | None,
    span_exporter: InMemorySpanExporter,
) -> None:
    with oc.traced_stage(stage, **options):
        pass
    span = _only(span_exporter)
    attrs = span.attributes or {}
    assert (span.name, span.kind) == (name, kind)
    assert attrs.get(semconv.GEN_AI_OPERATION_NAME) == operation
    assert attrs[semconv.CHATBOT_STAGE] == (stage.value if isinstance(stage, semconv.Stage) else stage)


def test_sampling_attributes_are_present_at_span_start(tracer_provider: TracerProvider) -> None:
    seen: dict[str, Any] = {}

    class Recorder(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            seen.update(span.attributes)

    tracer_provider.add_span_processor(Recorder())

    @oc.traced_stage(
        "generation", model="gpt-4o-mini", provider="openai", server_address="api.openai.com", server_port=443
    )
    def call() -> None:
        return None

    call()
    assert seen[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert seen[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert seen[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert seen[semconv.SERVER_ADDRESS] == "api.openai.com"
    assert seen[semconv.SERVER_PORT] == 443


def test_bare_decorator_and_methods_keep_signature(span_exporter: InMemorySpanExporter) -> None:
    @oc.traced_stage
    def rerank(docs: list[str], top: int = 2) -> list[str]:
        """Rerank documents."""
        return docs[:top]

    class Bot:
        @oc.traced_stage("memory_update")
        def remember(self, text: str) -> str:
            return text.upper()

        @oc.traced_stage("generation", model="gpt-4o-mini")
        async def answer(self, q: str) -> str:
            return q

    assert rerank(["a", "b", "c"]) == ["a", "b"]
    assert rerank.__name__ == "rerank" and rerank.__doc__ == "Rerank documents."
    assert Bot().remember("x") == "X"
    assert asyncio.run(Bot().answer("q")) == "q"
    names = [s.name for s in span_exporter.get_finished_spans()]
    assert names == ["rerank", "update_memory", "chat gpt-4o-mini"]
    import inspect

    assert list(inspect.signature(rerank).parameters) == ["docs", "top"]
    assert inspect.iscoroutinefunction(Bot.answer)


def test_context_manager_handle(span_exporter: InMemorySpanExporter) -> None:
    with oc.traced_stage("retrieval", data_source="faq") as stage:
        stage.set_attribute(semconv.CHATBOT_RETRIEVAL_DOCUMENTS, 3)
        stage.record_usage(input_tokens=12, model="text-embedding-3-small", provider="openai")
        assert stage.span is trace.get_current_span()
    span = _only(span_exporter)
    attrs = span.attributes or {}
    assert attrs[semconv.CHATBOT_RETRIEVAL_DOCUMENTS] == 3
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(12 * 0.02 / 1e6)


def test_context_manager_error_and_reuse(span_exporter: InMemorySpanExporter) -> None:
    stage = oc.traced_stage("retrieval")
    with pytest.raises(Boom), stage:
        raise Boom("no index")
    with stage, stage:
        pass
    spans = span_exporter.get_finished_spans()
    assert [s.status.status_code for s in spans] == [StatusCode.ERROR, StatusCode.UNSET, StatusCode.UNSET]
    assert spans[1].parent is not None and spans[1].parent.span_id == spans[2].context.span_id


def test_context_manager_builds_its_spec_and_tracer_once(
    span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_chatbot.spans import _decorator, _spec

    built: list[object] = []
    tracers: list[str] = []

    class CountingSpec(_spec.Spec):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(self)
            super().__init__(*args, **kwargs)

    provider = trace.get_tracer_provider()
    real_get_tracer = provider.get_tracer

    def get_tracer(name: str, *args: Any, **kwargs: Any) -> trace.Tracer:
        tracers.append(name)
        return real_get_tracer(name, *args, **kwargs)

    monkeypatch.setattr(_decorator, "Spec", CountingSpec)
    monkeypatch.setattr(_decorator, "_SPECS", {})  # (other tests' stages are cached there)
    monkeypatch.setattr(provider, "get_tracer", get_tracer)
    stage = oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    for tokens in (10, 20, 30):
        with stage as handle:
            handle.record_usage(input_tokens=tokens, output_tokens=1)
    assert len(built) == 1 and tracers == ["otel_chatbot"]  # per use: nothing that could be built once
    for _ in range(3):  # the inline form, a new TracedStage per use, shares one spec per (stage, options)
        with oc.traced_stage("retrieval", data_source="faq", attributes={"k": "v"}):
            pass
    assert len(built) == 2 and tracers == ["otel_chatbot"] * 2
    spans = span_exporter.get_finished_spans()
    assert [(s.attributes or {}).get(semconv.GEN_AI_USAGE_INPUT_TOKENS) for s in spans[:3]] == [10, 20, 30]
    assert [(s.name, (s.attributes or {})["k"]) for s in spans[3:]] == [("retrieval faq", "v")] * 3


def test_record_usage_inside_stage_wins_over_return_value(span_exporter: InMemorySpanExporter) -> None:
    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def call() -> dict[str, Any]:
        oc.record_usage(input_tokens=2000, output_tokens=100)
        return _openai()

    call()
    attrs = _only(span_exporter).attributes or {}
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 2000
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 100
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx((2000 * 0.15 + 100 * 0.6) / 1e6)


def test_record_usage_in_child_span_lands_on_the_stage(span_exporter: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def call() -> None:
        with tracer.start_as_current_span("http POST"):
            oc.record_usage(input_tokens=10, output_tokens=5)

    call()
    chat = next(s for s in span_exporter.get_finished_spans() if s.name.startswith("chat"))
    assert (chat.attributes or {})[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_record_usage_outside_a_stage(span_exporter: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("manual"):
        oc.record_usage(input_tokens=812, output_tokens=95, model="gpt-4o-mini", provider="openai")
    oc.record_usage(input_tokens=1)  # no span at all: nothing happens, nothing raises
    attrs = _only(span_exporter).attributes or {}
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 812
    assert attrs[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx((812 * 0.15 + 95 * 0.6) / 1e6)


def test_stream_without_usage_is_estimated(span_exporter: InMemorySpanExporter) -> None:
    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def stream(messages: list[dict[str, str]]) -> Iterator[str]:
        yield ""  # an empty chunk is not the first token
        yield "Hello there, "
        yield "how are you?"

    list(stream(messages=[{"role": "user", "content": "x" * 400}]))
    attrs = _only(span_exporter).attributes or {}
    assert attrs[semconv.CHATBOT_USAGE_ESTIMATED] is True
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7  # 25 characters / 4, rounded up
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 100
    cost = attrs[semconv.GEN_AI_USAGE_COST_AMOUNT]
    assert isinstance(cost, float) and cost > 0


def test_ttft_is_measured_at_first_content_chunk(span_exporter: InMemorySpanExporter) -> None:
    import time

    @oc.traced_stage("generation", model="gpt-4o-mini")
    def stream() -> Iterator[dict[str, Any]]:
        yield {"object": "chat.completion.chunk", "choices": [{"delta": {"role": "assistant", "content": ""}}]}
        time.sleep(0.05)
        yield {"object": "chat.completion.chunk", "choices": [{"delta": {"content": "A"}}]}

    list(stream())
    ttfc = (_only(span_exporter).attributes or {})[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert isinstance(ttfc, float) and ttfc >= 0.05


def test_enforce_budget_guard_runs_before_the_call(span_exporter: InMemorySpanExporter) -> None:
    import time

    from otel_chatbot._state import STATE
    from otel_chatbot.spend._budgets import Budget, BudgetGuard
    from otel_chatbot.spend._ledger import Ledger, LedgerEntry

    calls: list[str] = []
    ledger = Ledger.open(":memory:")
    ledger.append(LedgerEntry(ts=time.time(), tenant="acme", cost_usd=2.0))
    STATE.budget_guard = BudgetGuard([Budget(limit_usd=1, per="tenant", hard=True)], ledger, alerts=[])
    try:

        @oc.traced_stage("generation", model="gpt-4o-mini", enforce_budget=True)
        def call() -> None:
            calls.append("called")

        with oc.conversation(tenant_id="acme"), pytest.raises(oc.BudgetExceededError) as info:
            call()
    finally:
        ledger.close()
    assert calls == []
    assert info.value.key == "acme"
    span = _only(span_exporter)
    assert (span.attributes or {})[semconv.ERROR_TYPE] == "BudgetExceededError"


def test_non_recording_spans_skip_all_work(span_exporter: InMemorySpanExporter) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    provider = TracerProvider(sampler=ALWAYS_OFF)

    @oc.traced_stage("generation", model="gpt-4o-mini", tracer_provider=provider)
    def call() -> dict[str, Any]:
        return _openai()

    assert call()["id"] == "chatcmpl-1"
    assert span_exporter.get_finished_spans() == ()
