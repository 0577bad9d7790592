"""The body of ``POST /chat``, shared by the decorated chatbot and the plain one (examples/plain_chatbot)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ChatRequest(BaseModel):
    """Body of ``POST /chat``."""

    message: str = Field(min_length=1, max_length=4000)
    user_id: str = Field(min_length=1, max_length=200)
    conversation_id: str | None = Field(default=None, max_length=200)
    stream: bool = False
    variant: str | None = None
