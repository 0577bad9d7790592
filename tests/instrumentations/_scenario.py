"""The scenario every ``scenario_*.py`` runs in a child process, with one third-party GenAI instrumentation on.

``python -m tests.instrumentations.scenario_<name> --url URL --ledger PATH --out PATH``: ``configure()`` with a
SQLite ledger and an in-memory span exporter, the instrumentation patched in (after ``configure()``: OpenLIT
reuses the global provider only when one is set), then real SDK calls to the local LLM server, each both ALONE and
under ``@oc.traced_stage("generation", ...)`` (returning the SDK response, iterating a stream inside the stage,
returning the stream). ``--out`` receives one JSON document:

- ``calls``: per call, the usage the SERVER reported (the SDK's parsed response, or the stream's final usage);
- ``report``: ``tel.report()``'s usage, stages, counters and histograms;
- ``ledger``: ``Ledger.usage("model")`` rows;
- ``spans``: every finished span (name, scope, ids, attributes without message content);
- ``versions``: the packages that matter (OpenLIT runs in its own virtualenv).

It imports nothing from pytest or the test oracles: it runs in ``.venv-openlit`` too (OpenTelemetry SDK 1.45.1,
openai 2.x, anthropic 0.x), where only ``otel_chatbot`` and its runtime dependencies are installed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.metadata
import json
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot.spend import Ledger

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
QUESTION: list[Any] = [{"role": "user", "content": "How do I reset my password?"}]
MAX_TOKENS = 200
_CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")
_VERSIONED = (
    "opentelemetry-sdk",
    "openai",
    "anthropic",
    "genai-prices",
    "openlit",
    "opentelemetry-instrumentation-openai",
    "opentelemetry-instrumentation-genai-openai",
    "opentelemetry-instrumentation-genai-anthropic",
)


@dataclasses.dataclass
class Call:
    """One SDK call and the usage the server reported for it (semconv meaning: input includes cached input)."""

    label: str
    in_stage: bool
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def streamed(self) -> bool:
        """Every streamed call's label says ``stream``."""
        return "stream" in self.label


def _openai_usage(call: Call, usage: Any) -> None:
    """The server's OpenAI usage (a ``CompletionUsage``): ``prompt_tokens`` already include cached ones."""
    call.input_tokens += usage.prompt_tokens
    call.output_tokens += usage.completion_tokens
    details = usage.prompt_tokens_details
    call.cache_read_tokens += (details.cached_tokens or 0) if details is not None else 0


def _anthropic_usage(call: Call, usage: Any) -> None:
    """The server's Anthropic usage: ``input_tokens`` EXCLUDES cache reads/writes, which we add (semconv)."""
    cache_read = getattr(usage, "cache_read_input_tokens", None) or 0
    cache_write = getattr(usage, "cache_creation_input_tokens", None) or 0
    call.input_tokens += (getattr(usage, "input_tokens", None) or 0) + cache_read + cache_write
    call.output_tokens += getattr(usage, "output_tokens", None) or 0
    call.cache_read_tokens += cache_read
    call.cache_write_tokens += cache_write


def _anthropic_event(call: Call, event: Any) -> None:
    """Usage from a raw ``messages.create(stream=True)`` event: input at ``message_start``, output at the end."""
    if event.type == "message_start":
        _anthropic_usage(call, event.message.usage)
    elif event.type == "message_delta":
        call.output_tokens = event.usage.output_tokens  # cumulative: the last one is the total


def _stage(model: str, provider: str) -> oc.TracedStage:
    return oc.traced_stage("generation", model=model, provider=provider)


def _openai_calls(url: str, calls: list[Call]) -> None:
    """Chat completions: create and streams with ``include_usage`` (sync and async), alone and in stages."""
    import openai

    stream_options: Any = {"include_usage": True}
    kwargs: dict[str, Any] = {"model": OPENAI_MODEL, "messages": QUESTION}

    def new(label: str, in_stage: bool) -> Call:
        call = Call(label, in_stage, "openai", OPENAI_MODEL)
        calls.append(call)
        return call

    def drain(call: Call, chunks: Any) -> None:
        for chunk in chunks:
            if chunk.usage is not None:
                _openai_usage(call, chunk.usage)

    with openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0) as client:
        _openai_usage(new("create", False), client.chat.completions.create(**kwargs).usage)
        chunks = client.chat.completions.create(stream=True, stream_options=stream_options, **kwargs)
        drain(new("stream", False), chunks)

        @_stage(OPENAI_MODEL, "openai")
        def returns_response() -> Any:
            return client.chat.completions.create(**kwargs)

        @_stage(OPENAI_MODEL, "openai")
        def iterates_stream(call: Call) -> str:
            drain(call, client.chat.completions.create(stream=True, stream_options=stream_options, **kwargs))
            return "done"

        @_stage(OPENAI_MODEL, "openai")
        def returns_stream() -> Any:
            return client.chat.completions.create(stream=True, stream_options=stream_options, **kwargs)

        _openai_usage(new("stage-returns-response", True), returns_response().usage)
        iterates_stream(new("stage-iterates-stream", True))
        drain(new("stage-returns-stream", True), returns_stream())

    async def run_async() -> None:
        async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0) as client:

            async def adrain(call: Call, chunks: Any) -> None:
                async for chunk in chunks:
                    if chunk.usage is not None:
                        _openai_usage(call, chunk.usage)

            _openai_usage(new("async-create", False), (await client.chat.completions.create(**kwargs)).usage)
            stream = await client.chat.completions.create(stream=True, stream_options=stream_options, **kwargs)
            await adrain(new("async-stream", False), stream)

            @_stage(OPENAI_MODEL, "openai")
            async def returns_response() -> Any:
                return await client.chat.completions.create(**kwargs)

            @_stage(OPENAI_MODEL, "openai")
            async def iterates_stream(call: Call) -> str:
                chunks = await client.chat.completions.create(stream=True, stream_options=stream_options, **kwargs)
                await adrain(call, chunks)
                return "done"

            _openai_usage(new("async-stage-returns-response", True), (await returns_response()).usage)
            await iterates_stream(new("async-stage-iterates-stream", True))

    asyncio.run(run_async())


def _anthropic_calls(url: str, calls: list[Call]) -> None:
    """Messages: create, create(stream=True) and messages.stream() (sync and async), alone and in stages."""
    import anthropic

    kwargs: dict[str, Any] = {"model": ANTHROPIC_MODEL, "max_tokens": MAX_TOKENS, "messages": QUESTION}

    def new(label: str, in_stage: bool) -> Call:
        call = Call(label, in_stage, "anthropic", ANTHROPIC_MODEL)
        calls.append(call)
        return call

    def drain(call: Call, events: Any) -> None:
        for event in events:
            _anthropic_event(call, event)

    with anthropic.Anthropic(base_url=url, api_key="test-key", max_retries=0) as client:
        _anthropic_usage(new("create", False), client.messages.create(**kwargs).usage)
        drain(new("stream", False), client.messages.create(stream=True, **kwargs))
        with client.messages.stream(**kwargs) as stream:
            for _ in stream:
                pass
            _anthropic_usage(new("messages.stream", False), stream.get_final_message().usage)

        @_stage(ANTHROPIC_MODEL, "anthropic")
        def returns_response() -> Any:
            return client.messages.create(**kwargs)

        @_stage(ANTHROPIC_MODEL, "anthropic")
        def iterates_stream(call: Call) -> str:
            with client.messages.stream(**kwargs) as stream:
                for _ in stream:
                    pass
                _anthropic_usage(call, stream.get_final_message().usage)
            return "done"

        @_stage(ANTHROPIC_MODEL, "anthropic")
        def returns_stream() -> Any:
            return client.messages.create(stream=True, **kwargs)

        _anthropic_usage(new("stage-returns-response", True), returns_response().usage)
        iterates_stream(new("stage-iterates-stream", True))
        drain(new("stage-returns-stream", True), returns_stream())

    async def run_async() -> None:
        async with anthropic.AsyncAnthropic(base_url=url, api_key="test-key", max_retries=0) as client:
            _anthropic_usage(new("async-create", False), (await client.messages.create(**kwargs)).usage)
            call = new("async-stream", False)
            async for event in await client.messages.create(stream=True, **kwargs):
                _anthropic_event(call, event)

            @_stage(ANTHROPIC_MODEL, "anthropic")
            async def returns_response() -> Any:
                return await client.messages.create(**kwargs)

            @_stage(ANTHROPIC_MODEL, "anthropic")
            async def iterates_stream(call: Call) -> str:
                async for event in await client.messages.create(stream=True, **kwargs):
                    _anthropic_event(call, event)
                return "done"

            _anthropic_usage(new("async-stage-returns-response", True), (await returns_response()).usage)
            await iterates_stream(new("async-stage-iterates-stream", True))

    asyncio.run(run_async())


_PROVIDERS: dict[str, Callable[[str, list[Call]], None]] = {"openai": _openai_calls, "anthropic": _anthropic_calls}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _span(span: ReadableSpan) -> dict[str, Any]:
    attributes = {k: _jsonable(v) for k, v in (span.attributes or {}).items() if k not in _CONTENT_KEYS}
    return {
        "name": span.name,
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else "",
        "span_id": format(span.context.span_id, "016x") if span.context else "",
        "parent_id": format(span.parent.span_id, "016x") if span.parent else "",
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "attributes": attributes,
    }


def _versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in _VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def _report(tel: oc.Telemetry) -> dict[str, Any]:
    snapshot = tel.report()
    usage = snapshot.usage
    return {
        "by_model": [dataclasses.asdict(u) for u in usage.by_model],
        "by_provider": [dataclasses.asdict(u) for u in usage.by_provider],
        "by_stage": [dataclasses.asdict(u) for u in usage.by_stage],
        "by_conversation": [dataclasses.asdict(u) for u in usage.by_conversation],
        "stages": [
            {
                "stage": s.stage,
                "count": s.latency.count,
                "mean_ms": s.latency.mean_ms,
                "share": s.share,
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "cost_usd": s.cost_usd,
            }
            for s in snapshot.stages
        ],
        "counters": [{"name": c.name, "labels": dict(c.labels), "value": c.value} for c in snapshot.counters],
        "histograms": [
            {"name": h.name, "labels": dict(h.labels), "sum": h.sum, "count": h.count} for h in snapshot.histograms
        ],
    }


def run(instrument: Callable[[], None], providers: Sequence[str], argv: Sequence[str] | None = None) -> None:
    """Configure, ``instrument()``, make every call of ``providers``, and write the JSON document to ``--out``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="the local LLM server's base URL")
    parser.add_argument("--ledger", required=True, help="a SQLite file for the usage ledger")
    parser.add_argument("--out", required=True, help="where the JSON document goes")
    args = parser.parse_args(argv)

    exporter = InMemorySpanExporter()
    tel = oc.configure("scenario", ledger=args.ledger, span_processors=[SimpleSpanProcessor(exporter)])
    instrument()
    calls: list[Call] = []
    for provider in providers:
        # Every call inside a conversation: its ids must reach the instrumentation's spans too (issue 10, item 3).
        with oc.conversation(conversation_id=f"conversation-{provider}", user_id="user-1", tenant_id="acme"):
            _PROVIDERS[provider](args.url, calls)
    tel.force_flush()
    report = _report(tel)
    spans = [_span(s) for s in exporter.get_finished_spans()]
    tel.shutdown()
    ledger = Ledger.open(args.ledger)
    try:
        rows = [dataclasses.asdict(r) for r in ledger.usage("model", since=0.0)]
    finally:
        ledger.close()
    document = {
        "calls": [{**dataclasses.asdict(c), "streamed": c.streamed} for c in calls],
        "report": report,
        "ledger": rows,
        "spans": spans,
        "versions": _versions(),
    }
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=1)
