"""``oc.record_feedback(score, ...)``: user feedback as a span event, feeding a satisfaction distribution per variant.

Example::

    @app.post("/feedback")
    def feedback(body: Feedback) -> None:
        oc.record_feedback(body.score, comment=body.comment, trace_id=body.trace_id)

The event ``chatbot.feedback`` (``chatbot.feedback.score``; the comment only when content capture is on) lands on
the current span, or, when ``trace_id`` names another trace, on a short ``chatbot.feedback`` span inside that
trace, so Jaeger shows it next to the answer it rates. The embedded statistics read the event when its span ends.
"""

from __future__ import annotations

import math
import secrets

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from otel_chatbot import semconv
from otel_chatbot._internal_errors import handle_internal_errors
from otel_chatbot._state import STATE
from otel_chatbot.spans._content import scrub_secrets, should_capture_content
from otel_chatbot.spans._conversation import current_attributes

__all__ = ["record_feedback"]

_TRACER_NAME = "otel_chatbot.feedback"  # the instrumentation scope users see: public, not the module path


def _trace_id(value: str | int) -> int:
    tid = value if isinstance(value, int) else int(str(value).removeprefix("0x"), 16)
    if not 0 < tid < 2**128:
        raise ValueError(f"not a trace id: {value!r}")
    return tid


def record_feedback(
    score: float,
    *,
    comment: str | None = None,
    trace_id: str | int | None = None,
    conversation_id: str | None = None,
) -> None:
    """Record a user's rating of an answer.

    Example::

        oc.record_feedback(1.0, conversation_id="c-42")  # thumbs up on the conversation's last answer
        oc.record_feedback(0.0, trace_id="4bf92f3577b34da6a3ce929d0e0e4736", comment="wrong product")

    Args:
        score: The rating, any scale you choose (e.g. 0/1 thumbs, 1–5 stars); averaged per variant.
        comment: Free text; recorded only when content capture is on (it may hold personal data), redacted and
            truncated like other content.
        trace_id: The trace of the rated answer (32 hex digits or an int); default: the current trace.
        conversation_id: The rated conversation; default: the one of the enclosing ``oc.conversation``.

    Raises:
        ValueError: ``score`` is not a finite number or ``trace_id`` is not a trace id.
    """
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise ValueError(f"feedback score must be a finite number, not {score!r}")
    tid = None if trace_id is None else _trace_id(trace_id)
    with handle_internal_errors():
        scope = current_attributes()
        attributes: dict[str, AttributeValue] = {semconv.CHATBOT_FEEDBACK_SCORE: float(score)}
        conversation = conversation_id or scope.get(semconv.GEN_AI_CONVERSATION_ID)
        if conversation:
            attributes[semconv.GEN_AI_CONVERSATION_ID] = str(conversation)
        if variant := scope.get(semconv.CHATBOT_VARIANT):
            attributes[semconv.CHATBOT_VARIANT] = str(variant)
        if comment and should_capture_content():
            settings = STATE.content
            attributes[semconv.CHATBOT_FEEDBACK_COMMENT] = settings.redact(scrub_secrets(comment))[
                : settings.max_content_length
            ]
        _add_feedback_event(attributes, tid)


def _add_feedback_event(attributes: dict[str, AttributeValue], tid: int | None) -> None:
    """The event on the current span when it belongs to the rated trace, else on a feedback span inside it."""
    current = trace.get_current_span()
    if current.is_recording() and (tid is None or current.get_span_context().trace_id == tid):
        current.add_event(semconv.CHATBOT_FEEDBACK_EVENT, attributes)
        return
    context = None
    if tid is not None:
        # A remote-parent context puts the feedback span into the rated trace, next to the answer.
        parent = trace.SpanContext(
            trace_id=tid,
            span_id=secrets.randbits(64) or 1,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    tracer = trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(semconv.CHATBOT_FEEDBACK_EVENT, context=context) as span:
        span.add_event(semconv.CHATBOT_FEEDBACK_EVENT, attributes)
