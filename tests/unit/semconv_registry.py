"""The OpenTelemetry registry's names and types for every ``gen_ai.*`` and core attribute otel_chatbot writes.

A data module for ``test_semconv_conformance.py``: the registry is the authority, this is a copy of the lines we
depend on, so that a renamed or mistyped attribute in ``otel_chatbot`` fails a test instead of a dashboard.

Where it came from (checked 2026, issue 9):

* GenAI names: ``open-telemetry/semantic-conventions-genai``, ``model/gen-ai/registry.yaml`` at commit
  ``e9de14bafd9725937c6b0c219897260074a2896c`` (the merge of PR #571, ``handle_conversation_turn``). It is the
  newest version of that file found: its changelog fragment (#571) is listed in the repository's first standalone
  release, ``v0.1.0`` ("Depends on semantic-conventions v1.45.0"), on ``main``'s CHANGELOG.md; it already has
  #440 (``cache_creation`` renamed ``cache_write``) and #217 (``gen_ai.request.top_k`` ``double`` -> ``int``,
  ``gen_ai.retrieval.top_k`` added for retrievers). Later changelog fragments (#574, #579, #584) do not touch
  ``registry.yaml``. The usage attributes (per modality, cache read/write) are in that same file; there is no split
  usage registry. The commit date is not shown by the index; the cost proposal below (2026-08-09) is older than it.
* Cost: ``gen_ai.usage.cost.{amount,currency,source}`` are NOT in the registry yet: they come from the open PR #443
  ("Add per-operation cost conventions"), ``registry.yaml`` at its branch commit
  ``972e9e2a2a58baea4b1f68257d922265e7b1ce27`` (``changelog.d/443.enhancement.md``).
* Core names: ``open-telemetry/semantic-conventions`` (``model/server``, ``model/error``, ``model/exception``,
  ``model/user``, ``model/code``), as shipped in ``opentelemetry-semantic-conventions`` 0.66b2 (schema 1.44.0):
  names under ``opentelemetry.semconv.attributes`` are stable, ``user.id`` is only under ``_incubating``.

How to refresh: read ``model/gen-ai/registry.yaml`` on the newest ``main`` of semantic-conventions-genai (and
CHANGELOG.md / ``changelog.d/`` for renames: a rename goes to :data:`LEGACY` with the old name), update the types
and sources below and the commit above; check whether PR #443 was merged (then its source becomes
``development``). Then run ``tests/unit/test_semconv_conformance.py``.

Types are the registry's: ``string``, ``int``, ``double``, ``boolean``, ``string[]``; ``any`` (structured content:
on spans it MAY be a JSON string, which is what we write). Enum-typed attributes are ``string``.
"""

from __future__ import annotations

from typing import Final, Literal

AttrType = Literal["string", "int", "double", "boolean", "string[]", "any"]

GENAI_REGISTRY_COMMIT: Final = "e9de14bafd9725937c6b0c219897260074a2896c"
"""semantic-conventions-genai commit of ``model/gen-ai/registry.yaml`` the GenAI rows were copied from."""
GENAI_REGISTRY_RELEASE: Final = "v0.1.0"
"""The first standalone release of semantic-conventions-genai, which that commit's change (#571) is part of."""
COST_PROPOSAL_COMMIT: Final = "972e9e2a2a58baea4b1f68257d922265e7b1ce27"
"""semantic-conventions-genai PR #443 (open) branch commit the cost rows were copied from."""
CORE_SEMCONV_PACKAGE: Final = "opentelemetry-semantic-conventions==0.66b2"
"""The core registry as packaged for Python (schema 1.44.0)."""

_GENAI: Final = "development (semantic-conventions-genai)"
_PROPOSAL: Final = "proposal (PR #443)"
_STABLE: Final = "stable (semantic-conventions)"
_CORE_DEV: Final = "development (semantic-conventions)"

REGISTRY: Final[dict[str, tuple[AttrType, str]]] = {
    # --- GenAI registry (model/gen-ai/registry.yaml) ---------------------------------------------------------------
    "gen_ai.operation.name": ("string", _GENAI),  # enum (open)
    "gen_ai.provider.name": ("string", _GENAI),  # enum (open)
    "gen_ai.request.model": ("string", _GENAI),
    "gen_ai.request.max_tokens": ("int", _GENAI),
    "gen_ai.request.temperature": ("double", _GENAI),
    "gen_ai.request.top_k": ("int", _GENAI),  # was double until #217; the sampling top-K only
    "gen_ai.request.stream": ("boolean", _GENAI),
    "gen_ai.retrieval.top_k": ("int", _GENAI),  # #217: documents a retriever is asked for
    "gen_ai.response.id": ("string", _GENAI),
    "gen_ai.response.model": ("string", _GENAI),
    "gen_ai.response.finish_reasons": ("string[]", _GENAI),
    "gen_ai.response.time_to_first_chunk": ("double", _GENAI),  # seconds
    "gen_ai.usage.input_tokens": ("int", _GENAI),
    "gen_ai.usage.output_tokens": ("int", _GENAI),
    "gen_ai.usage.cache_read.input_tokens": ("int", _GENAI),
    "gen_ai.usage.cache_write.input_tokens": ("int", _GENAI),  # #440 (was cache_creation)
    "gen_ai.usage.reasoning.output_tokens": ("int", _GENAI),
    "gen_ai.usage.text.input_tokens": ("int", _GENAI),
    "gen_ai.usage.image.input_tokens": ("int", _GENAI),
    "gen_ai.usage.audio.input_tokens": ("int", _GENAI),
    "gen_ai.usage.text.output_tokens": ("int", _GENAI),
    "gen_ai.usage.image.output_tokens": ("int", _GENAI),
    "gen_ai.usage.audio.output_tokens": ("int", _GENAI),
    "gen_ai.usage.text.cache_read.input_tokens": ("int", _GENAI),
    "gen_ai.usage.image.cache_read.input_tokens": ("int", _GENAI),
    "gen_ai.usage.audio.cache_read.input_tokens": ("int", _GENAI),
    "gen_ai.token.type": ("string", _GENAI),  # enum input|output (a metric attribute)
    "gen_ai.conversation.id": ("string", _GENAI),
    "gen_ai.token.modality": ("string", _GENAI),  # metric attribute of the usage counters (enum, open)
    "gen_ai.system": ("string", _GENAI),  # deprecated for gen_ai.provider.name: read from others' spans, never written
    "gen_ai.data_source.id": ("string", _GENAI),
    "gen_ai.tool.name": ("string", _GENAI),
    "gen_ai.input.messages": ("any", _GENAI),
    "gen_ai.output.messages": ("any", _GENAI),
    "gen_ai.retrieval.query.text": ("string", _GENAI),
    "gen_ai.retrieval.documents": ("any", _GENAI),
    # --- cost (open proposal, PR #443) -----------------------------------------------------------------------------
    "gen_ai.usage.cost.amount": ("double", _PROPOSAL),
    "gen_ai.usage.cost.currency": ("string", _PROPOSAL),  # ISO 4217
    "gen_ai.usage.cost.source": ("string", _PROPOSAL),  # enum provider|local (closed: ENUMS)
    # --- core registry ---------------------------------------------------------------------------------------------
    "server.address": ("string", _STABLE),
    "server.port": ("int", _STABLE),
    "error.type": ("string", _STABLE),
    "exception.type": ("string", _STABLE),  # on the "exception" span event
    "exception.message": ("string", _STABLE),
    "exception.stacktrace": ("string", _STABLE),
    "code.function.name": ("string", _STABLE),
    "user.id": ("string", _CORE_DEV),
}
"""Registry name -> (OTel attribute type, stability / where it comes from)."""

ENUMS: Final[dict[str, frozenset[str]]] = {
    "gen_ai.usage.cost.source": frozenset({"provider", "local"}),
}
"""Closed enums: the only values the registry (or proposal) allows."""

LEGACY: Final[dict[str, str]] = {
    "gen_ai.usage.cache_creation.input_tokens": "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cost": "gen_ai.usage.cost.amount",
}
"""Old name -> current name: written only under ``OTEL_CHATBOT_SEMCONV_COMPAT=legacy/dup``, with the same value.

``cache_creation`` was renamed in semantic-conventions-genai #440; ``gen_ai.usage.cost`` was OpenLIT's de-facto
name (our 0.1 name), replaced by the proposal's ``gen_ai.usage.cost.amount``.
"""

EXTENSIONS: Final[dict[str, AttrType]] = {
    "chatbot.stage": "string",
    "chatbot.tenant.id": "string",
    "chatbot.variant": "string",
    "chatbot.cost.unknown_model": "boolean",
    "chatbot.response.time_to_first_token": "double",
    "chatbot.cost.local_amount": "double",
    "chatbot.cost.price_version": "string",
    "chatbot.usage.cache_write_5m.input_tokens": "int",
    "chatbot.usage.cache_write_1h.input_tokens": "int",
    "chatbot.usage.video.input_tokens": "int",
    "chatbot.usage.video.output_tokens": "int",
    "chatbot.usage.tool_use.input_tokens": "int",
    "chatbot.usage.web_searches": "int",
    "chatbot.usage.estimated": "boolean",
    "chatbot.usage.deferred": "boolean",
    "chatbot.usage.stage": "string",
    "chatbot.response.chunks": "int",
    "chatbot.cache.hit": "boolean",
    "chatbot.retrieval.documents": "int",
    "chatbot.feedback.score": "double",
    "chatbot.feedback.comment": "string",
    "chatbot.budget.name": "string",
    "chatbot.budget.key": "string",
    "chatbot.budget.spent_usd": "double",
    "chatbot.budget.limit_usd": "double",
    "chatbot.budget.window": "string",
    "chatbot.budget.hard": "boolean",
}
"""Our own ``chatbot.*`` attributes (not the registry's) and the type we promise for each (docs/spans.md)."""

EVENT_NAMES: Final = frozenset({"chatbot.feedback", "chatbot.budget.exceeded"})
"""``chatbot.*`` constants that name span events, not attributes."""
