"""Environment variables otel_chatbot reads, and their typed parsers.

Each parser reads ``os.environ`` once, at setup time, and returns a typed value. With ``strict=True`` (what
``configure()`` uses) an invalid value raises :class:`~otel_chatbot.errors.ConfigurationError`; otherwise it logs one
warning listing the valid options and falls back to the safe default.
"""

from __future__ import annotations

import logging
import os
from typing import Final

from otel_chatbot.errors import ConfigurationError

logger = logging.getLogger(__name__)

OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""Capture prompt/response text: ``true``/``span_only``/``span_and_event`` = on; ``false``/``no_content`` = off
(default: off)."""
OTEL_CHATBOT_PRICES_FILE: Final = "OTEL_CHATBOT_PRICES_FILE"
"""Path of a TOML or JSON file of price overrides (USD per 1M tokens), layered over genai-prices (default: none)."""
OTEL_CHATBOT_MAX_CONTENT_LENGTH: Final = "OTEL_CHATBOT_MAX_CONTENT_LENGTH"
"""Maximum characters of one captured content attribute (default: 8192)."""
OTEL_CHATBOT_LEDGER: Final = "OTEL_CHATBOT_LEDGER"
"""Usage ledger: a SQLite file path or a ``postgresql://`` URL (default: none)."""
OTEL_SDK_DISABLED: Final = "OTEL_SDK_DISABLED"
"""Standard OTel: ``true`` disables the SDK; ``configure()`` then installs nothing (default: false)."""
OTEL_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
"""Standard OTel: the service name, used when ``configure()`` gets none."""
OTEL_EXPORTER_OTLP_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
"""Standard OTel: OTLP endpoint; setting it turns on OTLP export."""
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
"""Standard OTel: OTLP traces endpoint (wins over ``OTEL_EXPORTER_OTLP_ENDPOINT``)."""
OTEL_EXPORTER_OTLP_PROTOCOL: Final = "OTEL_EXPORTER_OTLP_PROTOCOL"
"""Standard OTel: ``grpc`` or ``http/protobuf``; default chosen from the endpoint's port (4318 → HTTP)."""

DEFAULT_MAX_CONTENT_LENGTH: Final = 8192

_TRUE = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event", "event_only"})
_FALSE = frozenset({"false", "0", "no", "off", "no_content", ""})


def _invalid(name: str, value: str, valid: str, default: object, *, strict: bool) -> None:
    message = f"{name}={value!r} is not valid; use one of {valid}"
    if strict:
        raise ConfigurationError(message + ".")
    logger.warning("%s; using the default %r", message, default)


def parse_bool(name: str, *, default: bool = False, strict: bool = False) -> bool:
    """Read a boolean variable (``true``/``false`` and the GenAI capture-mode words)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    _invalid(name, raw, "true, false, span_only, span_and_event, no_content", default, strict=strict)
    return default


def capture_content(*, strict: bool = False) -> bool:
    """Whether content capture is switched on by ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``."""
    return parse_bool(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, default=False, strict=strict)


def sdk_disabled(*, strict: bool = False) -> bool:
    """Whether ``OTEL_SDK_DISABLED`` is true."""
    return parse_bool(OTEL_SDK_DISABLED, default=False, strict=strict)


def max_content_length(*, strict: bool = False) -> int:
    """The maximum length of one captured content attribute."""
    raw = os.environ.get(OTEL_CHATBOT_MAX_CONTENT_LENGTH)
    if raw is None:
        return DEFAULT_MAX_CONTENT_LENGTH
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value <= 0:
        _invalid(OTEL_CHATBOT_MAX_CONTENT_LENGTH, raw, "a positive integer", DEFAULT_MAX_CONTENT_LENGTH, strict=strict)
        return DEFAULT_MAX_CONTENT_LENGTH
    return value


def prices_file() -> str | None:
    """The price-override file named by ``OTEL_CHATBOT_PRICES_FILE``, if any."""
    return os.environ.get(OTEL_CHATBOT_PRICES_FILE) or None


def otlp_traces_endpoint() -> str | None:
    """The OTLP traces endpoint from the standard variables, if any."""
    return os.environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or os.environ.get(OTEL_EXPORTER_OTLP_ENDPOINT) or None


def otlp_protocol(*, strict: bool = False) -> str | None:
    """``grpc``, ``http/protobuf`` or None (choose from the URL)."""
    raw = os.environ.get(OTEL_EXPORTER_OTLP_PROTOCOL)
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    if value in ("grpc", "http/protobuf"):
        return value
    _invalid(OTEL_EXPORTER_OTLP_PROTOCOL, raw, "grpc, http/protobuf", None, strict=strict)
    return None


def ledger_url() -> str | None:
    """The usage ledger named by ``OTEL_CHATBOT_LEDGER``, if any."""
    return os.environ.get(OTEL_CHATBOT_LEDGER) or None
