"""oc.record_feedback: span event on the current trace or the given one; satisfaction per variant."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.spans._feedback import record_feedback


@oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
def answer() -> str:
    return "hi"


def test_feedback_on_current_and_given_trace_feeds_variants() -> None:
    exporter = InMemorySpanExporter()
    tel = oc.configure("fb", span_processors=[SimpleSpanProcessor(exporter)])
    tracer = trace.get_tracer("test")
    with oc.conversation(conversation_id="c-1", variant="A"), tracer.start_as_current_span("request") as req:
        answer()
        oc.record_feedback(1.0, comment="great")  # comment dropped: content capture is off
        rated = req.get_span_context().trace_id
    with oc.conversation(conversation_id="c-2", variant="B"), tracer.start_as_current_span("request"):
        answer()
    # later, outside any request: rate c-2's trace by id, and c-1's by conversation id
    with tracer.start_as_current_span("request") as other:
        record_feedback(0.0, conversation_id="c-2", trace_id=f"{rated:032x}")
    record_feedback(0.5, conversation_id="c-1")
    spans = exporter.get_finished_spans()
    (first,) = [s for s in spans if s.context.trace_id == rated and s.name == "request"]
    (event,) = first.events
    assert event.name == semconv.CHATBOT_FEEDBACK_EVENT
    assert dict(event.attributes or {}) == {
        semconv.CHATBOT_FEEDBACK_SCORE: 1.0,
        semconv.GEN_AI_CONVERSATION_ID: "c-1",
        semconv.CHATBOT_VARIANT: "A",
    }
    fb_spans = [s for s in spans if s.name == semconv.CHATBOT_FEEDBACK_EVENT]
    assert len(fb_spans) == 2
    in_rated = [s for s in fb_spans if s.context.trace_id == rated]
    assert len(in_rated) == 1 and in_rated[0].parent is not None and in_rated[0].parent.is_remote
    assert other.get_span_context().trace_id != rated
    snap = tel.report()
    by_variant = {f.variant: f for f in snap.feedback}
    # c-2's feedback is attributed through its conversation id (variant B); c-1's twice to A
    assert by_variant["A"].count == 2 and by_variant["A"].mean == pytest.approx(0.75)
    assert by_variant["B"].count == 1 and by_variant["B"].mean == 0.0
    tel.shutdown()


def test_comment_only_with_content_capture() -> None:
    exporter = InMemorySpanExporter()
    oc.configure("fb", capture_content=True, span_processors=[SimpleSpanProcessor(exporter)])
    record_feedback(4, comment="key sk-abcdefghijklmnopqrstuvwxyz123456 leaked")
    (span,) = exporter.get_finished_spans()
    comment = str((span.events[0].attributes or {})[semconv.CHATBOT_FEEDBACK_COMMENT])
    assert comment.startswith("key ") and "abcdefghijklmnopqrstuvwxyz123456" not in comment


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "5", True])
def test_bad_scores_raise(bad: object) -> None:
    with pytest.raises(ValueError):
        record_feedback(bad)  # type: ignore[arg-type]


def test_bad_trace_id_raises() -> None:
    with pytest.raises(ValueError):
        record_feedback(1, trace_id="zz")
    with pytest.raises(ValueError):
        record_feedback(1, trace_id=0)
