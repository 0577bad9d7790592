"""Stage spans: the decorator and context manager, hand-recorded usage, conversation ids and feedback.

Example::

    from otel_chatbot.spans import conversation, traced_stage


    @traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def generate(messages): ...


    with conversation(conversation_id="c-42", user_id="u-7"):
        generate([...])

Everything here is also importable from ``otel_chatbot`` itself.
"""

from __future__ import annotations

from otel_chatbot.spans._conversation import conversation, current_attributes
from otel_chatbot.spans._decorator import TracedStage, traced_stage
from otel_chatbot.spans._feedback import record_feedback
from otel_chatbot.spans._recording import StageHandle, record_usage

__all__ = [
    "StageHandle",
    "TracedStage",
    "conversation",
    "current_attributes",
    "record_feedback",
    "record_usage",
    "traced_stage",
]
