"""FastAPI server spans and httpx client spans, over the OpenTelemetry contrib instrumentors.

Example::

    import otel_chatbot as oc

    tel = oc.configure("support-bot")
    oc.instrument_fastapi(app, tracer_provider=tel.tracer_provider)  # server span = root of each request
    oc.instrument_httpx(client, tracer_provider=tel.tracer_provider)  # provider call nests under the generation span

Both functions are idempotent (a second call logs a warning and changes nothing) and reversible: they return an
:class:`Uninstrumenter`, which is also a context manager. Request and response headers and bodies are never
captured unless you opt in through the contrib instrumentors' own environment variables
(``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*``); even then ``Authorization``, cookies, API-key and token headers
are sanitized (:data:`SANITIZED_HEADERS` is added to any ``..._SANITIZE_FIELDS`` list of yours). The values of
secret query keys (``?api_key=``, ``?token=``, ``?sig=``: ``otel_chatbot._redact.is_secret_key``) are replaced by
``[REDACTED]`` in the URL attributes of server and client spans (``url.full``, ``url.query``, ``http.url``,
``http.target``). URL paths are kept as they are.
"""

from __future__ import annotations

import importlib
import logging
import os
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Final

from otel_chatbot import env
from otel_chatbot._internal_errors import log_internal_error
from otel_chatbot._redact import scrub_query, scrub_url
from otel_chatbot._sdk import instrumented_by_opentelemetry
from otel_chatbot.spans._content import scrub_secrets

if TYPE_CHECKING:
    import fastapi
    import httpx
    from opentelemetry.trace import TracerProvider

__all__ = ["DEFAULT_EXCLUDED_URLS", "SANITIZED_HEADERS", "Uninstrumenter", "instrument_fastapi", "instrument_httpx"]

logger = logging.getLogger(__name__)

DEFAULT_EXCLUDED_URLS: Final[tuple[str, ...]] = ("/health", "/healthz", "/ready", "/metrics", "/otel-chatbot(/|$|\\?)")
"""URL regexes (``re.search`` on the full URL) that get no server span: probes, scrapes and the web view
(``Telemetry.mount_ui``'s default path) are not chat traffic."""

SANITIZED_HEADERS: Final[tuple[str, ...]] = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "token",
    "secret",
    "password",
    "credential",
    "signature",
    "session",
)
"""Header-name regexes (``re.search``, case-insensitive) whose values are replaced by ``[REDACTED]`` should anyone
opt in to header capture; always added to ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS``."""

# Module -> the extra that installs it, for the one-line error a missing extra gives.
_EXTRAS: Final = {
    "opentelemetry.instrumentation.fastapi": "fastapi",
    "opentelemetry.instrumentation.httpx": "httpx",
}


class Uninstrumenter:
    """Undoes one instrumentation; calling it twice, or on a no-op instrumentation, does nothing.

    Example::

        with oc.instrument_fastapi(app):
            ...  # instrumented here
        # not instrumented any more
    """

    def __init__(self, undo: Callable[[], None] | None, description: str) -> None:
        self._undo = undo
        self._description = description

    @property
    def active(self) -> bool:
        """True while this handle still has something to undo."""
        return self._undo is not None

    def uninstrument(self) -> None:
        """Remove the instrumentation this handle installed (idempotent)."""
        undo, self._undo = self._undo, None
        if undo is not None:
            undo()

    def __enter__(self) -> Uninstrumenter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.uninstrument()

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"<Uninstrumenter {self._description} ({state})>"


def _import(module: str) -> ModuleType:
    """Import an optional dependency, or raise one clear line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRAS[module]
        raise ImportError(f"{module} is not installed: pip install 'otel-chatbot[{extra}]'") from exc


def _excluded(excluded_urls: Sequence[str] | str | None) -> str:
    if excluded_urls is None:
        return ""
    if isinstance(excluded_urls, str):
        return excluded_urls
    return ",".join(excluded_urls)


def instrument_fastapi(
    app: fastapi.FastAPI,
    *,
    tracer_provider: TracerProvider | None = None,
    excluded_urls: Sequence[str] | str | None = DEFAULT_EXCLUDED_URLS,
    capture_asgi_events: bool = False,
) -> Uninstrumenter:
    """Give every request to ``app`` an OpenTelemetry SERVER span (the root of the request's trace).

    Example::

        app = FastAPI()
        oc.instrument_fastapi(app, excluded_urls=["/health", "/metrics"])

    Args:
        app: The FastAPI application. It may already have served requests.
        tracer_provider: Provider for the server spans; the global one when None.
        excluded_urls: URL regexes that get no span (health checks, metric scrapes); a sequence or a
            comma-separated string; None traces everything.
        capture_asgi_events: Also emit the contrib's per-message ``http send``/``http receive`` INTERNAL spans.
            Off by default: a streamed answer would otherwise add one span per chunk.

    Returns:
        A handle whose ``uninstrument()`` (or the end of its ``with`` block) removes the instrumentation. When
        ``app`` is already instrumented, a warning is logged and the handle does nothing.

    Raises:
        ImportError: ``opentelemetry-instrumentation-fastapi`` is missing (one line naming the extra).
    """
    contrib: Any = _import("opentelemetry.instrumentation.fastapi")
    if instrumented_by_opentelemetry(app):
        logger.warning("FastAPI app %r is already instrumented; instrument_fastapi() changed nothing", app.title)
        return Uninstrumenter(None, "fastapi (already instrumented)")
    instrumentor = contrib.FastAPIInstrumentor
    instrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls=_excluded(excluded_urls),
        # Header capture stays governed by the contrib's opt-in env variables; if enabled, secrets are masked.
        http_capture_headers_sanitize_fields=sanitize_fields(),
        exclude_spans=None if capture_asgi_events else ["receive", "send"],
        server_request_hook=scrub_server_span,
    )
    # Starlette builds its middleware stack on the first request: rebuild it if the app is already serving.
    if getattr(app, "middleware_stack", None) is not None:
        app.middleware_stack = app.build_middleware_stack()

    def undo() -> None:
        instrumentor.uninstrument_app(app)

    return Uninstrumenter(undo, f"fastapi app {app.title!r}")


def instrument_httpx(
    client: httpx.Client | httpx.AsyncClient | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
) -> Uninstrumenter:
    """Give outbound httpx requests CLIENT spans, children of the current span (e.g. the generation stage).

    Example::

        client = httpx.AsyncClient(base_url="https://api.openai.com/v1")
        oc.instrument_httpx(client)  # just this client; oc.instrument_httpx() instruments every client

    Args:
        client: One client to instrument; None instruments every httpx client in the process.
        tracer_provider: Provider for the client spans; the global one when None.

    Returns:
        A handle whose ``uninstrument()`` (or the end of its ``with`` block) removes the instrumentation. When
        already instrumented, a warning is logged and the handle does nothing.

    Raises:
        ImportError: ``opentelemetry-instrumentation-httpx`` is missing (one line naming the extra).
    """
    contrib: Any = _import("opentelemetry.instrumentation.httpx")
    instrumentor_cls = contrib.HTTPXClientInstrumentor
    # httpx reads its sanitize list from the environment only: make sure ours is in it should header capture be on.
    os.environ[env.OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS] = ",".join(sanitize_fields())
    if client is not None:
        if instrumentor_cls().is_instrumented_by_opentelemetry:
            # Every client is already traced: instrumenting this one too would give each request two spans.
            logger.warning("httpx is already instrumented globally; instrument_httpx(client) changed nothing")
            return Uninstrumenter(None, "httpx client (already instrumented globally)")
        if instrumented_by_opentelemetry(client):
            logger.warning("httpx client %r is already instrumented; instrument_httpx() changed nothing", client)
            return Uninstrumenter(None, "httpx client (already instrumented)")
        hook = _async_scrub_url if type(client).__name__ == "AsyncClient" else _scrub_url
        instrumentor_cls.instrument_client(client, tracer_provider=tracer_provider, request_hook=hook)

        def undo_client() -> None:
            instrumentor_cls.uninstrument_client(client)

        return Uninstrumenter(undo_client, "httpx client")

    instrumentor = instrumentor_cls()  # a singleton (BaseInstrumentor.__new__)
    if instrumentor.is_instrumented_by_opentelemetry:
        logger.warning("httpx is already instrumented globally; instrument_httpx() changed nothing")
        return Uninstrumenter(None, "httpx (already instrumented)")
    instrumentor.instrument(
        tracer_provider=tracer_provider, request_hook=_scrub_url, async_request_hook=_async_scrub_url
    )
    return Uninstrumenter(instrumentor.uninstrument, "httpx (all clients)")


_URL_ATTRIBUTES = ("url.full", "http.url", "http.target", "url.query")


def sanitize_fields() -> list[str]:
    """:data:`SANITIZED_HEADERS` plus the user's ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS``.

    The contrib instrumentors take the argument *instead of* the variable: without this union a user's list would
    drop ours, or ours theirs.
    """
    raw = os.environ.get(env.OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS, "")
    fields = list(SANITIZED_HEADERS)
    fields += [f.strip() for f in raw.split(",") if f.strip() and f.strip() not in fields]
    return fields


# Substrings (lower case) that any match of ``scrub_secrets`` contains: a cheap test before its costly regex.
_SHAPE_MARKERS = ("bearer", "sk-", "aiza", "akia", "asia", "gh", "xox", "key", "token", "secret", "password", "sig")


def _scrubbed(key: str, value: str) -> str:
    if key == "url.query":
        clean = scrub_query(value)
    elif "?" in value or "@" in value:  # a query, or credentials before the host
        clean = scrub_url(value)
    else:
        return value  # a bare path: not scrubbed (docs/security.md)
    lowered = clean.lower()
    return scrub_secrets(clean) if any(m in lowered for m in _SHAPE_MARKERS) else clean


def _scrub_attributes(span: Any, raw_query: str | None = None) -> None:
    """Scrub the span's URL attributes. With ``raw_query`` (the request's query as it came, still percent-encoded),
    the query part of ``http.url`` / ``url.full`` / ``http.target`` is rebuilt from it, scrubbed: the ASGI
    instrumentation percent-decodes the query into ``http.url``, so ``api_key=abc%26def`` read there as
    ``api_key=abc&def`` and only ``abc`` would be found as the secret."""
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if not isinstance(value, str) or not value:
            continue
        source = value
        if raw_query and key != "url.query" and "?" in value:
            # scrubbed raw first (the true pairs), then decoded as the instrumentation shows it, then scrubbed again
            source = f"{value.partition('?')[0]}?{urllib.parse.unquote(scrub_query(raw_query))}"
        if (clean := _scrubbed(key, source)) != value:
            span.set_attribute(key, clean)


def _raw_query(span: Any, scope: Any) -> str | None:
    """The request's query string as received: the ASGI scope's ``query_string``, else the span's ``url.query``."""
    raw = scope.get("query_string") if isinstance(scope, Mapping) else None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str) and raw:
        return raw
    query = (getattr(span, "attributes", None) or {}).get("url.query")
    return query if isinstance(query, str) and query else None


def scrub_server_span(span: Any, scope: Any) -> None:
    """The ASGI ``server_request_hook``: it runs once the server span holds the request's URL attributes (the
    middleware sets them at start, then calls the hook), so secret query values never leave the process."""
    try:
        _scrub_attributes(span, _raw_query(span, scope))
    except Exception:
        log_internal_error()


def _scrub_url(span: Any, request: Any) -> None:
    """Keys in query strings (Gemini's ``?key=``, signed URLs) never reach a span: scrub the URL attributes."""
    try:
        _scrub_attributes(span)
    except Exception:
        log_internal_error()


async def _async_scrub_url(span: Any, request: Any) -> None:
    _scrub_url(span, request)
