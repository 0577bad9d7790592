"""``oc.conversation(...)``: ids that land on every stage span inside the block.

The ids live in a ``contextvars.ContextVar``, so they follow ``asyncio`` tasks (which copy the context when
created) and executors that run work in a copied context (``contextvars.copy_context().run``, ``asyncio.to_thread``,
``loop.run_in_executor`` with a copied context).

Example::

    with oc.conversation(conversation_id="c-42", user_id="u-7", tenant_id="acme", variant="B"):
        await answer(question)
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

from otel_chatbot import _values, semconv

__all__ = ["conversation", "current_attributes"]

_EMPTY: MappingProxyType[str, Any] = MappingProxyType({})
_ATTRIBUTES: contextvars.ContextVar[MappingProxyType[str, Any]] = contextvars.ContextVar(
    "otel_chatbot_conversation", default=_EMPTY
)


def current_attributes() -> MappingProxyType[str, Any]:
    """The conversation attributes in force here (read-only; empty outside ``conversation``)."""
    return _ATTRIBUTES.get()


@contextlib.contextmanager
def conversation(
    conversation_id: str | None = None,
    user_id: str | None = None,
    tenant_id: str | None = None,
    variant: str | None = None,
) -> Iterator[None]:
    """Attach conversation, user, tenant and A/B variant ids to every stage span started inside the block.

    Nested blocks inherit the outer ids and override the ones they give.

    Example::

        with oc.conversation(conversation_id="c-42", user_id="u-7", tenant_id="acme"):
            retrieve(q)  # its span carries gen_ai.conversation.id, user.id, chatbot.tenant.id

    Args:
        conversation_id: Sets ``gen_ai.conversation.id``.
        user_id: Sets ``user.id``.
        tenant_id: Sets ``chatbot.tenant.id``.
        variant: Sets ``chatbot.variant`` (A/B prompt or model variant).
    """
    merged = dict(_ATTRIBUTES.get())
    for key, value in (
        (semconv.GEN_AI_CONVERSATION_ID, conversation_id),
        (semconv.USER_ID, user_id),
        (semconv.CHATBOT_TENANT_ID, tenant_id),
        (semconv.CHATBOT_VARIANT, variant),
    ):
        if value is not None:
            try:
                text = str(value)
            except Exception:  # an id object whose __str__ fails: left out, never raised into the caller
                continue
            # Ids come from requests: valid UTF-8 and bounded before they reach every span, label and ledger row.
            merged[key] = _values.clean_text(text, _values.max_attribute_length())
    token = _ATTRIBUTES.set(MappingProxyType(merged))
    try:
        yield
    finally:
        _ATTRIBUTES.reset(token)
