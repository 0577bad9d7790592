"""otel_chatbot: OpenTelemetry performance monitoring for Python LLM chatbots.

Quick start::

    import otel_chatbot as oc

    tel = oc.configure("support-bot")


    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    async def generate(messages): ...

Environment variables:

- ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``: ``true`` records prompts and responses (default off).
- ``OTEL_CHATBOT_PRICES_FILE``: TOML or JSON file of price overrides (USD per 1M tokens).
- ``OTEL_CHATBOT_MAX_CONTENT_LENGTH``: maximum characters of one captured content attribute (default 8192).
- ``OTEL_CHATBOT_LEDGER``: usage ledger, a SQLite path or a ``postgresql://`` URL.
- ``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_ENDPOINT``,
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_PROTOCOL``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``:
  the standard OpenTelemetry variables.
"""

from otel_chatbot._version import __version__
from otel_chatbot.errors import BudgetExceededError, ConfigurationError, OtelChatbotError
from otel_chatbot.semconv import Stage
from otel_chatbot.spans import StageHandle, TracedStage, conversation, record_feedback, record_usage, traced_stage
from otel_chatbot.spend import Budget, check_budget
from otel_chatbot.stats import StatsSnapshot
from otel_chatbot.telemetry import Telemetry, configure, instrument_fastapi, instrument_httpx

__all__ = [
    "Budget",
    "BudgetExceededError",
    "ConfigurationError",
    "OtelChatbotError",
    "Stage",
    "StageHandle",
    "StatsSnapshot",
    "Telemetry",
    "TracedStage",
    "__version__",
    "check_budget",
    "configure",
    "conversation",
    "instrument_fastapi",
    "instrument_httpx",
    "record_feedback",
    "record_usage",
    "traced_stage",
]
