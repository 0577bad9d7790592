"""A traced sync generator's body runs in its own context: the stage's span is current there and only there.

The wrapper runs each step of the body in one copy of the consumer's context (``Context.run``) instead of setting and
resetting the runtime context around every chunk. What that must keep: spans the body creates are the stage's
children, the consumer never sees the stage's context nor a context variable the body sets, and the body keeps what
it set from one chunk to the next, tokens included, even when the consumer iterates each chunk in another context.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc

pytestmark = pytest.mark.usefixtures("tracer_provider")

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_stream_context_var", default="unset")


@oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
def body_sets_a_variable() -> Iterator[str]:
    token = VAR.set("body")
    yield f"first {VAR.get()}"
    yield f"second {VAR.get()}"
    VAR.reset(token)  # a token from the first step, reset in a later one
    yield f"third {VAR.get()}"


def test_a_variable_the_body_sets_stays_in_the_body() -> None:
    seen = []
    for item in body_sets_a_variable():
        seen.append((item, VAR.get()))
    assert seen == [("first body", "unset"), ("second body", "unset"), ("third unset", "unset")]


def test_each_chunk_in_another_context_keeps_the_body_state() -> None:
    """Starlette's ``iterate_in_threadpool`` runs every ``next()`` in a fresh copy of the task's context."""
    stream = body_sets_a_variable()
    items = []
    while True:
        try:
            items.append(contextvars.copy_context().run(next, stream))
        except StopIteration:
            break
    assert items == ["first body", "second body", "third unset"]


@oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
def body_makes_child_spans() -> Iterator[str]:
    tracer = trace.get_tracer("test")
    for word in ("a", "b"):
        with tracer.start_as_current_span(f"child {word}"):
            yield word
    token = otel_context.attach(otel_context.set_value("k", "v"))  # attached in one step, detached in another
    yield "c"
    otel_context.detach(token)
    yield "d"


def test_children_and_no_leak_to_the_consumer(span_exporter: InMemorySpanExporter) -> None:
    outside = trace.get_current_span()
    for _ in body_makes_child_spans():
        assert trace.get_current_span() is outside
        assert otel_context.get_value("k") is None
    spans = {span.name: span for span in span_exporter.get_finished_spans()}
    stage = spans["chat gpt-4o-mini"]
    for name in ("child a", "child b"):
        parent = spans[name].parent
        assert parent is not None
        assert stage.context is not None
        assert parent.span_id == stage.context.span_id
    assert stage.parent is None
