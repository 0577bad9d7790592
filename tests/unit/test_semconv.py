"""Pins every attribute and metric name: users type these into code, dashboards and alert rules."""

from __future__ import annotations

from otel_chatbot import semconv

PINNED = {
    "GEN_AI_OPERATION_NAME": "gen_ai.operation.name",
    "GEN_AI_PROVIDER_NAME": "gen_ai.provider.name",
    "GEN_AI_REQUEST_MODEL": "gen_ai.request.model",
    "GEN_AI_RESPONSE_MODEL": "gen_ai.response.model",
    "GEN_AI_RESPONSE_ID": "gen_ai.response.id",
    "GEN_AI_RESPONSE_FINISH_REASONS": "gen_ai.response.finish_reasons",
    "GEN_AI_REQUEST_MAX_TOKENS": "gen_ai.request.max_tokens",
    "GEN_AI_REQUEST_TEMPERATURE": "gen_ai.request.temperature",
    "GEN_AI_REQUEST_TOP_K": "gen_ai.request.top_k",
    "GEN_AI_RETRIEVAL_TOP_K": "gen_ai.retrieval.top_k",
    "GEN_AI_REQUEST_STREAM": "gen_ai.request.stream",
    "GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK": "gen_ai.response.time_to_first_chunk",
    "GEN_AI_USAGE_INPUT_TOKENS": "gen_ai.usage.input_tokens",
    "GEN_AI_USAGE_OUTPUT_TOKENS": "gen_ai.usage.output_tokens",
    "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS": "gen_ai.usage.cache_read.input_tokens",
    "GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS": "gen_ai.usage.cache_write.input_tokens",
    "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS": "gen_ai.usage.cache_creation.input_tokens",
    "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS": "gen_ai.usage.reasoning.output_tokens",
    "GEN_AI_USAGE_TEXT_INPUT_TOKENS": "gen_ai.usage.text.input_tokens",
    "GEN_AI_USAGE_IMAGE_INPUT_TOKENS": "gen_ai.usage.image.input_tokens",
    "GEN_AI_USAGE_AUDIO_INPUT_TOKENS": "gen_ai.usage.audio.input_tokens",
    "GEN_AI_USAGE_TEXT_OUTPUT_TOKENS": "gen_ai.usage.text.output_tokens",
    "GEN_AI_USAGE_IMAGE_OUTPUT_TOKENS": "gen_ai.usage.image.output_tokens",
    "GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS": "gen_ai.usage.audio.output_tokens",
    "GEN_AI_USAGE_TEXT_CACHE_READ_INPUT_TOKENS": "gen_ai.usage.text.cache_read.input_tokens",
    "GEN_AI_USAGE_IMAGE_CACHE_READ_INPUT_TOKENS": "gen_ai.usage.image.cache_read.input_tokens",
    "GEN_AI_USAGE_AUDIO_CACHE_READ_INPUT_TOKENS": "gen_ai.usage.audio.cache_read.input_tokens",
    "GEN_AI_CONVERSATION_ID": "gen_ai.conversation.id",
    "GEN_AI_DATA_SOURCE_ID": "gen_ai.data_source.id",
    "GEN_AI_TOOL_NAME": "gen_ai.tool.name",
    "GEN_AI_INPUT_MESSAGES": "gen_ai.input.messages",
    "GEN_AI_OUTPUT_MESSAGES": "gen_ai.output.messages",
    "GEN_AI_RETRIEVAL_QUERY_TEXT": "gen_ai.retrieval.query.text",
    "GEN_AI_RETRIEVAL_DOCUMENTS": "gen_ai.retrieval.documents",
    "GEN_AI_TOKEN_TYPE": "gen_ai.token.type",
    "GEN_AI_USAGE_COST_AMOUNT": "gen_ai.usage.cost.amount",
    "GEN_AI_USAGE_COST_CURRENCY": "gen_ai.usage.cost.currency",
    "GEN_AI_USAGE_COST_SOURCE": "gen_ai.usage.cost.source",
    "GEN_AI_USAGE_COST": "gen_ai.usage.cost",
    "SERVER_ADDRESS": "server.address",
    "SERVER_PORT": "server.port",
    "ERROR_TYPE": "error.type",
    "USER_ID": "user.id",
    "CODE_FUNCTION_NAME": "code.function.name",
    "CHATBOT_STAGE": "chatbot.stage",
    "CHATBOT_TENANT_ID": "chatbot.tenant.id",
    "CHATBOT_VARIANT": "chatbot.variant",
    "CHATBOT_COST_UNKNOWN_MODEL": "chatbot.cost.unknown_model",
    "CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN": "chatbot.response.time_to_first_token",
    "CHATBOT_COST_LOCAL_AMOUNT": "chatbot.cost.local_amount",
    "CHATBOT_COST_PRICE_VERSION": "chatbot.cost.price_version",
    "CHATBOT_USAGE_CACHE_WRITE_5M_INPUT_TOKENS": "chatbot.usage.cache_write_5m.input_tokens",
    "CHATBOT_USAGE_CACHE_WRITE_1H_INPUT_TOKENS": "chatbot.usage.cache_write_1h.input_tokens",
    "CHATBOT_USAGE_VIDEO_INPUT_TOKENS": "chatbot.usage.video.input_tokens",
    "CHATBOT_USAGE_VIDEO_OUTPUT_TOKENS": "chatbot.usage.video.output_tokens",
    "CHATBOT_USAGE_TOOL_USE_INPUT_TOKENS": "chatbot.usage.tool_use.input_tokens",
    "CHATBOT_USAGE_WEB_SEARCHES": "chatbot.usage.web_searches",
    "CHATBOT_USAGE_ESTIMATED": "chatbot.usage.estimated",
    "CHATBOT_CACHE_HIT": "chatbot.cache.hit",
    "CHATBOT_RETRIEVAL_DOCUMENTS": "chatbot.retrieval.documents",
    "CHATBOT_FEEDBACK_EVENT": "chatbot.feedback",
    "CHATBOT_FEEDBACK_SCORE": "chatbot.feedback.score",
    "CHATBOT_FEEDBACK_COMMENT": "chatbot.feedback.comment",
    "CHATBOT_BUDGET_EVENT": "chatbot.budget.exceeded",
    "CHATBOT_BUDGET_NAME": "chatbot.budget.name",
    "CHATBOT_BUDGET_KEY": "chatbot.budget.key",
    "CHATBOT_BUDGET_SPENT_USD": "chatbot.budget.spent_usd",
    "CHATBOT_BUDGET_LIMIT_USD": "chatbot.budget.limit_usd",
    "CHATBOT_BUDGET_WINDOW": "chatbot.budget.window",
    "CHATBOT_BUDGET_HARD": "chatbot.budget.hard",
    "METRIC_SPAN_DURATION": "traces_span_metrics_duration_milliseconds",
    "METRIC_SPAN_CALLS": "traces_span_metrics_calls_total",
    "METRIC_INFERENCE_DURATION": "gen_ai_client_inference_duration_seconds",
    "METRIC_INPUT_TOKENS": "gen_ai_client_inference_usage_input_tokens_total",
    "METRIC_OUTPUT_TOKENS": "gen_ai_client_inference_usage_output_tokens_total",
    "METRIC_CACHE_READ_TOKENS": "gen_ai_client_inference_usage_cache_read_input_tokens_total",
    "METRIC_CACHE_WRITE_TOKENS": "gen_ai_client_inference_usage_cache_write_input_tokens_total",
    "METRIC_REASONING_TOKENS": "gen_ai_client_inference_usage_reasoning_output_tokens_total",
    "METRIC_OPERATION_INPUT_TOKENS": "gen_ai_client_inference_operation_input_tokens",
    "METRIC_OPERATION_OUTPUT_TOKENS": "gen_ai_client_inference_operation_output_tokens",
    "METRIC_COST": "chatbot_cost_usd_total",
    "METRIC_TTFC": "gen_ai_client_inference_time_to_first_chunk_seconds",
    "METRIC_TPOC": "gen_ai_client_inference_time_per_output_chunk_seconds",
    "METRIC_TTFT": "chatbot_response_time_to_first_token_seconds",
    "METRIC_STAGE_DURATION": "chatbot_stage_duration_seconds",
    "INSTRUMENT_INFERENCE_DURATION": "gen_ai.client.inference.duration",
    "INSTRUMENT_USAGE_PREFIX": "gen_ai.client.inference.usage.",
    "INSTRUMENT_OPERATION_INPUT_TOKENS": "gen_ai.client.inference.operation.input_tokens",
    "INSTRUMENT_OPERATION_OUTPUT_TOKENS": "gen_ai.client.inference.operation.output_tokens",
    "INSTRUMENT_TTFC": "gen_ai.client.inference.time_to_first_chunk",
    "INSTRUMENT_TPOC": "gen_ai.client.inference.time_per_output_chunk",
    "INSTRUMENT_TTFT": "chatbot.response.time_to_first_token",
    "INSTRUMENT_COST": "chatbot.cost.usd",
    "INSTRUMENT_STAGE_DURATION": "chatbot.stage.duration",
    "GEN_AI_TOKEN_MODALITY": "gen_ai.token.modality",
    "GEN_AI_SYSTEM": "gen_ai.system",
    "CHATBOT_USAGE_DEFERRED": "chatbot.usage.deferred",
    "CHATBOT_USAGE_STAGE": "chatbot.usage.stage",
    "CHATBOT_RESPONSE_CHUNKS": "chatbot.response.chunks",
}


def test_every_name_is_pinned() -> None:
    names = {k: v for k, v in vars(semconv).items() if k.isupper() and isinstance(v, str)}
    assert names == PINNED


def test_buckets_follow_the_genai_conventions() -> None:
    assert semconv.DURATION_BUCKETS_S[0] == 0.01 and semconv.DURATION_BUCKETS_S[-1] == 81.92
    assert len(semconv.DURATION_BUCKETS_S) == 14
    assert semconv.TOKEN_BUCKETS == tuple(4**i for i in range(14))


def test_stage_and_operation_values() -> None:
    assert [s.value for s in semconv.Stage] == ["retrieval", "generation", "embeddings", "memory_update", "tool"]
    assert semconv.Operation.CHAT.value == "chat" and semconv.Operation.UPDATE_MEMORY.value == "update_memory"
    assert [t.value for t in semconv.TokenType] == ["input", "output"]
