"""Conversation ids land on every stage span inside the block, across asyncio tasks and executors."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv

pytestmark = pytest.mark.usefixtures("tracer_provider")


@oc.traced_stage("retrieval")
def retrieve(i: int) -> int:
    return i


@oc.traced_stage("generation", model="gpt-4o-mini")
async def generate(i: int) -> int:
    await asyncio.sleep(0)
    return i


def _ids(exporter: InMemorySpanExporter) -> list[tuple[str | None, ...]]:
    keys = (semconv.GEN_AI_CONVERSATION_ID, semconv.USER_ID, semconv.CHATBOT_TENANT_ID, semconv.CHATBOT_VARIANT)
    return [tuple((s.attributes or {}).get(k) for k in keys) for s in exporter.get_finished_spans()]  # type: ignore[misc]


def test_ids_on_every_stage_span_and_only_inside(span_exporter: InMemorySpanExporter) -> None:
    with oc.conversation(conversation_id="c-42", user_id="u-7", tenant_id="acme", variant="B"):
        retrieve(1)
        asyncio.run(generate(2))
    retrieve(3)
    assert _ids(span_exporter) == [("c-42", "u-7", "acme", "B"), ("c-42", "u-7", "acme", "B"), (None, None, None, None)]


def test_nested_blocks_inherit_and_override(span_exporter: InMemorySpanExporter) -> None:
    with oc.conversation(conversation_id="c-1", tenant_id="acme"), oc.conversation(user_id="u-2"):
        retrieve(1)
    assert _ids(span_exporter) == [("c-1", "u-2", "acme", None)]


def test_across_asyncio_gather_each_task_keeps_its_own(span_exporter: InMemorySpanExporter) -> None:
    async def turn(i: int) -> None:
        with oc.conversation(conversation_id=f"c-{i}", user_id=f"u-{i}"):
            await generate(i)
            await asyncio.gather(generate(i), asyncio.create_task(generate(i)))

    async def main() -> None:
        await asyncio.gather(*(turn(i) for i in range(10)))

    asyncio.run(main())
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 30
    for span in spans:
        attrs = span.attributes or {}
        conv = attrs[semconv.GEN_AI_CONVERSATION_ID]
        assert isinstance(conv, str)
        assert attrs[semconv.USER_ID] == conv.replace("c-", "u-")


def test_thread_pool_with_copied_context(span_exporter: InMemorySpanExporter) -> None:
    with oc.conversation(conversation_id="c-pool", user_id="u-pool"), ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(contextvars.copy_context().run, retrieve, i) for i in range(8)]
        assert [f.result() for f in futures] == list(range(8))
    assert set(_ids(span_exporter)) == {("c-pool", "u-pool", None, None)}


def test_asyncio_to_thread_copies_context(span_exporter: InMemorySpanExporter) -> None:
    async def main() -> None:
        with oc.conversation(tenant_id="t-thread"):
            await asyncio.to_thread(retrieve, 1)

    asyncio.run(main())
    assert _ids(span_exporter) == [(None, None, "t-thread", None)]
