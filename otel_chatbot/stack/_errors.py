"""The one exception of the stack commands: a single line that names the fix."""

from __future__ import annotations

from otel_chatbot.errors import OtelChatbotError


class StackError(OtelChatbotError):
    """The native stack cannot be built, started or stopped; the message is one line naming the fix."""
