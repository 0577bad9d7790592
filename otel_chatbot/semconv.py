"""Every span and metric attribute name otel_chatbot writes, as ``Final`` constants, plus the stage enums.

Call sites use ``semconv.GEN_AI_REQUEST_MODEL``, never string literals; ``tests/unit/test_semconv.py`` pins every
string.
The GenAI names follow the OpenTelemetry GenAI semantic conventions (core v1.41.1 and the
``semantic-conventions-genai`` repository). We deliberately do not import
``opentelemetry.semconv._incubating``: it is private and its ``GEN_AI_*`` constants have moved.
"""

from __future__ import annotations

import enum
from typing import Final

# --- GenAI semantic conventions (spec) -------------------------------------------------------------------------------

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
"""Spec: the operation (``chat``, ``retrieval``, ``embeddings``, ``execute_tool``, ``update_memory``...)."""
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
"""Spec: the provider (``openai``, ``anthropic``, ``gcp.gemini``...)."""
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
"""Spec: the model asked for."""
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
"""Spec: the model that answered."""
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
"""Spec: the provider's id of the response."""
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
"""Spec: string array of finish reasons."""
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
"""Spec: max tokens requested."""
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
"""Spec: sampling temperature."""
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
"""Spec: top-k (retrieval: number of documents asked for)."""
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
"""Spec: true iff the request streams."""
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
"""Spec: seconds from request to the first chunk that carries content."""
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
"""Spec: input tokens, INCLUDING cached (read and written) tokens."""
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
"""Spec: output tokens, including reasoning tokens."""
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
"""Spec: input tokens served from the provider's prompt cache."""
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
"""Spec: input tokens written to the provider's prompt cache."""
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
"""Spec: reasoning tokens (part of the output tokens)."""
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
"""Spec: the conversation (session) id."""
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
"""Spec: the retrieval data source."""
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
"""Spec: the tool executed."""
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
"""Spec (opt-in content): JSON array of ChatMessage."""
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
"""Spec (opt-in content): JSON array of OutputMessage."""
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
"""Spec (opt-in content): the retrieval query."""
GEN_AI_RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"
"""Spec (opt-in content): JSON array of ``{id, score}``."""
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
"""Spec (metric attribute): ``input`` or ``output``."""
GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"
"""De-facto (OpenLIT, Langfuse ingest): total USD cost of this call; absent when the price is unknown."""

SERVER_ADDRESS: Final = "server.address"
"""Spec (stable): the server host."""
SERVER_PORT: Final = "server.port"
"""Spec (stable): the server port."""
ERROR_TYPE: Final = "error.type"
"""Spec (stable): the error class on failure."""
USER_ID: Final = "user.id"
"""Spec: the end user."""
CODE_FUNCTION_NAME: Final = "code.function.name"
"""Spec: the fully qualified function a stage decorates."""

# --- otel_chatbot extensions (project) ------------------------------------------------------------------------------

CHATBOT_STAGE: Final = "chatbot.stage"
"""Project extension: the stage string (low cardinality; the main metric label)."""
CHATBOT_TENANT_ID: Final = "chatbot.tenant.id"
"""Project extension: the tenant (from ``oc.conversation``)."""
CHATBOT_VARIANT: Final = "chatbot.variant"
"""Project extension: the A/B variant (from ``oc.conversation``)."""
CHATBOT_COST_UNKNOWN_MODEL: Final = "chatbot.cost.unknown_model"
"""Project extension: true when tokens are known but no price is."""
CHATBOT_USAGE_ESTIMATED: Final = "chatbot.usage.estimated"
"""Project extension: true when token counts were estimated, not reported by the provider."""
CHATBOT_CACHE_HIT: Final = "chatbot.cache.hit"
"""Project extension: boolean, for response-cache lookup stages."""
CHATBOT_RETRIEVAL_DOCUMENTS: Final = "chatbot.retrieval.documents"
"""Project extension: number of documents a retrieval returned."""
CHATBOT_FEEDBACK_EVENT: Final = "chatbot.feedback"
"""Project extension: name of the span event ``oc.record_feedback`` adds."""
CHATBOT_FEEDBACK_SCORE: Final = "chatbot.feedback.score"
"""Project extension: the feedback score on that event."""
CHATBOT_FEEDBACK_COMMENT: Final = "chatbot.feedback.comment"
"""Project extension: the feedback comment on that event (content: only when capture is on)."""
CHATBOT_BUDGET_EVENT: Final = "chatbot.budget.exceeded"
"""Project extension: name of the span event a soft budget limit adds."""
CHATBOT_BUDGET_NAME: Final = "chatbot.budget.name"
"""Project extension (budget event): the budget's name."""
CHATBOT_BUDGET_KEY: Final = "chatbot.budget.key"
"""Project extension (budget event): ``*`` for a global budget, else the tenant or user id."""
CHATBOT_BUDGET_SPENT_USD: Final = "chatbot.budget.spent_usd"
"""Project extension (budget event): spend in the current window."""
CHATBOT_BUDGET_LIMIT_USD: Final = "chatbot.budget.limit_usd"
"""Project extension (budget event): the budget's limit."""
CHATBOT_BUDGET_WINDOW: Final = "chatbot.budget.window"
"""Project extension (budget event): the window, e.g. ``1d``."""
CHATBOT_BUDGET_HARD: Final = "chatbot.budget.hard"
"""Project extension (budget event): whether the budget is a hard cap."""

# --- Prometheus metric names (docs/metrics.md) -----------------------------------------------------------------------

METRIC_SPAN_DURATION: Final = "traces_span_metrics_duration_milliseconds"
"""Histogram of span durations (ms), as the Collector's span_metrics connector names it."""
METRIC_SPAN_CALLS: Final = "traces_span_metrics_calls_total"
"""Counter of spans, as the Collector's span_metrics connector names it."""
METRIC_TOKEN_USAGE: Final = "gen_ai_client_token_usage"
"""Histogram of tokens per call, by ``gen_ai_token_type``."""
METRIC_COST: Final = "chatbot_cost_usd_total"
"""Counter of USD."""
METRIC_TTFC: Final = "gen_ai_client_operation_time_to_first_chunk_seconds"
"""Histogram of time to first chunk (s) for streams."""

# GenAI advisory buckets (semconv gen-ai-metrics.md).
DURATION_BUCKETS_S: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
"""GenAI duration buckets in seconds (10 ms ... 81.92 s)."""
TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
"""GenAI token-usage buckets."""


class Stage(enum.StrEnum):
    """The stages with a span contract of their own (docs/spans.md); any other string is a custom INTERNAL stage."""

    RETRIEVAL = "retrieval"
    GENERATION = "generation"
    EMBEDDINGS = "embeddings"
    MEMORY_UPDATE = "memory_update"
    TOOL = "tool"


class Operation(enum.StrEnum):
    """Well-known ``gen_ai.operation.name`` values we emit."""

    CHAT = "chat"
    TEXT_COMPLETION = "text_completion"
    GENERATE_CONTENT = "generate_content"
    RETRIEVAL = "retrieval"
    EMBEDDINGS = "embeddings"
    EXECUTE_TOOL = "execute_tool"
    UPDATE_MEMORY = "update_memory"
    CREATE_MEMORY = "create_memory"
    SEARCH_MEMORY = "search_memory"


class TokenType(enum.StrEnum):
    """``gen_ai.token.type`` values."""

    INPUT = "input"
    OUTPUT = "output"
