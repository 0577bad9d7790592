"""Setting up telemetry: ``configure()`` and its ``Telemetry`` handle, FastAPI and httpx instrumentation.

Example::

    tel = configure("support-bot")  # embedded statistics; OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set
    instrument_fastapi(app)
    instrument_httpx()
    ...
    tel.shutdown(timeout=5)

Everything here is also importable from ``otel_chatbot`` itself.
"""

from __future__ import annotations

from otel_chatbot.telemetry._configure import Telemetry, configure
from otel_chatbot.telemetry._instrumentation import (
    DEFAULT_EXCLUDED_URLS,
    SANITIZED_HEADERS,
    Uninstrumenter,
    instrument_fastapi,
    instrument_httpx,
)

__all__ = [
    "DEFAULT_EXCLUDED_URLS",
    "SANITIZED_HEADERS",
    "Telemetry",
    "Uninstrumenter",
    "configure",
    "instrument_fastapi",
    "instrument_httpx",
]
