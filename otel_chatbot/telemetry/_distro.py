"""The ``opentelemetry-instrument`` entry points: our distro and our configurator (pyproject.toml registers both).

``opentelemetry-instrument uvicorn app:app`` runs, in the app's process before its code (the contrib's
``sitecustomize``, opentelemetry-instrumentation 0.66b2):

1. the distro: ``OTEL_PYTHON_DISTRO`` names it, else the first ``opentelemetry_distro`` entry point installed. Ours
   (:class:`OtelChatbotDistro`) sets the instrumentations' defaults with ``os.environ.setdefault`` (health checks and
   ``/metrics`` excluded, secret headers masked, ``OTEL_PYTHON_CONFIGURATOR=otel_chatbot``);
2. ONE configurator: ``OTEL_PYTHON_CONFIGURATOR`` names it, else the first ``opentelemetry_configurator`` entry point;
   the others are skipped with a warning. Ours (:class:`OtelChatbotConfigurator`) runs ``configure()`` from the
   environment (``_zero_code.start``). If it raises (an invalid variable), opentelemetry-instrument logs the error
   and the app runs with no instrumentation;
3. every ``opentelemetry_instrumentor`` entry point not in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``, through the
   distro's ``load_instrumentor``: ours passes the FastAPI and httpx instrumentors the arguments
   ``instrument_fastapi()``/``instrument_httpx()`` give them (no per-message ASGI spans, secret query values
   scrubbed from server and client spans).

With opentelemetry-distro installed as well, which distro comes first is up to the installation order: set
``OTEL_PYTHON_DISTRO=otel_chatbot`` (``otel-chatbot instrument`` does). Its configurator is skipped once ours is
named by ``OTEL_PYTHON_CONFIGURATOR``, which our distro sets by default.

This module imports opentelemetry-instrumentation, which only ``opentelemetry-instrument`` (the same package) loads.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]  # file-wide type: ignore
from opentelemetry.sdk._configuration import _BaseConfigurator
from opentelemetry.util._importlib_metadata import EntryPoint

from otel_chatbot.telemetry import _zero_code

__all__ = ["OtelChatbotConfigurator", "OtelChatbotDistro"]


class OtelChatbotDistro(BaseDistro):  # type: ignore[misc]  # distro.py opts out of type checking
    """Sets the instrumentations' defaults, then instruments as ``instrument_fastapi``/``instrument_httpx`` do."""

    def _configure(self, **kwargs: Any) -> None:
        _zero_code.instrumentation_defaults()

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        kwargs = {**_instrumentor_arguments(entry_point.name), **kwargs}
        super().load_instrumentor(entry_point, **kwargs)


class OtelChatbotConfigurator(_BaseConfigurator):
    """Runs ``configure()`` from the environment: provider, statistics, ledger, budgets, OTLP, side port."""

    def _configure(self, **kwargs: Any) -> None:
        _zero_code.instrumentation_defaults()  # also when another distro was chosen
        _zero_code.start()


def _instrumentor_arguments(name: str) -> dict[str, Any]:
    """The arguments our own helpers give the contrib instrumentor of entry point ``name`` (none for the others)."""
    if name == "fastapi":
        from otel_chatbot.telemetry._instrumentation import sanitize_fields, scrub_server_span

        return {
            "exclude_spans": ["receive", "send"],  # not one span per streamed chunk
            "server_request_hook": scrub_server_span,  # secret query values out of the server span
            "http_capture_headers_sanitize_fields": sanitize_fields(),
        }
    if name == "httpx":
        from otel_chatbot.telemetry._instrumentation import _async_scrub_url, _scrub_url

        return {"request_hook": _scrub_url, "async_request_hook": _async_scrub_url}
    return {}
