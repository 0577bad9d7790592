"""One OTLP request (serialized bytes) sent once: over gRPC on a channel of our own, or HTTP/protobuf POST.

The export buffer stores requests as bytes and sends the same bytes later, so the senders take bytes, never SDK
objects: gRPC calls the service's ``Export`` method with an identity serializer, HTTP posts the body as is.

What a failure means (:class:`Outcome`):

* ``RETRY``: the endpoint did not take it for a reason that may pass (refused connection, timeout, gRPC
  ``UNAVAILABLE``/``DEADLINE_EXCEEDED``/``RESOURCE_EXHAUSTED``..., HTTP 429/5xx, and also 401/403/404 and gRPC
  ``UNAUTHENTICATED``/``UNIMPLEMENTED``: a wrong key or path is fixed by a restart, after which the buffer replays);
* ``TOO_LARGE``: HTTP 413, or a gRPC ``RESOURCE_EXHAUSTED`` for a request over the receiver's 4 MiB default;
* ``INVALID``: HTTP 400 or gRPC ``INVALID_ARGUMENT``: the receiver will never take it.
"""

from __future__ import annotations

import enum
import gzip
import logging
import os
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["GrpcSender", "HttpSender", "Outcome", "Sender", "otlp_headers"]

logger = logging.getLogger("otel_chatbot")

_GRPC_MAX_MESSAGE = 4 * 1024 * 1024
_GRPC_METHODS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}


class Outcome(enum.Enum):
    """What became of one send."""

    OK = "ok"
    RETRY = "retry"
    TOO_LARGE = "too_large"
    INVALID = "invalid_value"


class Sender(Protocol):
    """Sends one serialized OTLP request, once, within its timeout; never raises (an unexpected exception is a
    ``RETRY``, logged once as a WARNING)."""

    def send(self, data: bytes) -> Outcome: ...

    def close(self) -> None: ...


def _signal_env(signal: str, name: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_<NAME>``, else ``OTEL_EXPORTER_OTLP_<NAME>`` (the SDK exporters' order)."""
    value = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}") or os.environ.get(
        f"OTEL_EXPORTER_OTLP_{name}"
    )
    return value.strip() if value and value.strip() else None


def _gzip(signal: str) -> bool:
    """Whether ``OTEL_EXPORTER_OTLP_(<SIGNAL>_)COMPRESSION`` asks for gzip (else none)."""
    return (_signal_env(signal, "COMPRESSION") or "").lower() == "gzip"


def otlp_headers(signal: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    """``configure(headers=...)``, else ``OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS`` / ``OTEL_EXPORTER_OTLP_HEADERS``."""
    if headers:
        return dict(headers)
    from opentelemetry.util.re import parse_env_headers

    raw = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS") or os.environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    return dict(parse_env_headers(raw, liberal=True)) if raw else {}


class HttpSender:
    """HTTP/protobuf: POST the request to ``url`` (``.../v1/traces`` or ``.../v1/metrics``).

    ``OTEL_EXPORTER_OTLP_(<SIGNAL>_)COMPRESSION=gzip`` and ``..._CERTIFICATE`` (a CA bundle) are honoured as by the
    SDK's exporter. A forked child makes a connection pool of its own (the parent's sockets are the parent's).

    Args:
        url: The signal's full URL.
        headers: Extra request headers.
        timeout: Seconds one POST may take.
        signal: ``traces`` or ``metrics`` (which variables apply).
    """

    def __init__(self, url: str, headers: Mapping[str, str], timeout: float, signal: str = "traces") -> None:
        import requests

        self._requests = requests
        self.url = url
        self._timeout = timeout
        self._gzip = _gzip(signal)
        self._headers = {**headers, "Content-Type": "application/x-protobuf"}
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._verify: str | bool = _signal_env(signal, "CERTIFICATE") or True
        self._pid = -1
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()
        self._session = requests.Session()

    def _current(self) -> Any:
        if self._pid != os.getpid():
            if self._lock_pid != os.getpid():  # a forked child: the parent's lock may have been held at the fork
                self._lock, self._lock_pid = threading.Lock(), os.getpid()
            with self._lock:
                if self._pid != os.getpid():
                    session = self._requests.Session()
                    session.headers.update(self._headers)
                    session.verify = self._verify
                    self._session = session
                    self._pid = os.getpid()
        return self._session

    def send(self, data: bytes) -> Outcome:
        """POST ``data`` once."""
        try:
            body = gzip.compress(data) if self._gzip else data
            response = self._current().post(self.url, data=body, timeout=self._timeout)
        except self._requests.RequestException as exc:
            logger.debug("otel_chatbot: OTLP export to %s failed: %s", self.url, exc)
            return Outcome.RETRY
        except Exception as exc:  # e.g. a header value outside latin-1: never raise, say it once
            _warn_once(self, f"OTLP export to {self.url} cannot be sent ({exc!r}); kept in the export buffer")
            return Outcome.RETRY
        code = response.status_code
        if 200 <= code < 300:
            return Outcome.OK
        if code == 413:
            return Outcome.TOO_LARGE
        if code == 400:
            logger.warning("otel_chatbot: %s refused an OTLP request: HTTP 400 %s", self.url, response.text[:200])
            return Outcome.INVALID
        logger.debug("otel_chatbot: OTLP export to %s: HTTP %d", self.url, code)
        return Outcome.RETRY

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()


class GrpcSender:
    """gRPC: the OTLP service's ``Export`` on a channel of our own (TLS for ``https://``, else plaintext).

    The channel's reconnect backoff is kept short (0.5-5 s instead of gRPC's 1-120 s): a channel still waiting out a
    long backoff fails every call with UNAVAILABLE well after the Collector is back.
    ``OTEL_EXPORTER_OTLP_(<SIGNAL>_)COMPRESSION=gzip`` and ``..._CERTIFICATE`` (root certificates for ``https://``)
    are honoured as by the SDK's exporter. A forked child opens a channel of its own.

    Args:
        url: ``http(s)://host:port``.
        signal: ``traces`` or ``metrics``.
        headers: Metadata sent with each call.
        timeout: Seconds one call may take.
    """

    max_request_bytes = _GRPC_MAX_MESSAGE
    """Trace requests are cut under the receivers' default limit before they are sent (a bigger one is refused)."""

    def __init__(self, url: str, signal: str, headers: Mapping[str, str], timeout: float) -> None:
        import grpc  # type: ignore[import-untyped]

        self._grpc = grpc
        self.url = url
        self._signal = signal
        self._compression = grpc.Compression.Gzip if _gzip(signal) else None
        self._metadata = tuple((key.lower(), value) for key, value in headers.items())
        self._timeout = timeout
        self._pid = -1
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()
        self._channel: Any = None
        self._call: Any = None

    def _current(self) -> Any:
        """The call of this process's channel (made on first use, again in a forked child)."""
        if self._pid == os.getpid():
            return self._call
        if self._lock_pid != os.getpid():  # a forked child: the parent's lock may have been held at the fork
            self._lock, self._lock_pid = threading.Lock(), os.getpid()
        with self._lock:  # two first calls (the exporter's and the buffer's thread): one channel
            if self._pid == os.getpid():
                return self._call
            return self._open()

    def _open(self) -> Any:
        grpc = self._grpc
        parsed = urllib.parse.urlsplit(self.url)
        options = [
            ("grpc.initial_reconnect_backoff_ms", 500),
            ("grpc.min_reconnect_backoff_ms", 500),
            ("grpc.max_reconnect_backoff_ms", 5000),
        ]
        if parsed.scheme == "https":
            roots = None
            if certificate := _signal_env(self._signal, "CERTIFICATE"):
                with open(certificate, "rb") as file:
                    roots = file.read()
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(parsed.netloc, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(parsed.netloc, options=options)
        self._call = self._channel.unary_unary(_GRPC_METHODS[self._signal])  # bytes in, bytes out
        self._pid = os.getpid()
        return self._call

    def send(self, data: bytes) -> Outcome:
        """Call ``Export`` once with ``data``."""
        grpc = self._grpc
        try:
            self._current()(data, timeout=self._timeout, metadata=self._metadata or None, compression=self._compression)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                logger.warning("otel_chatbot: %s refused an OTLP request: %s", self.url, _details(exc))
                return Outcome.INVALID
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED and (
                len(data) > _GRPC_MAX_MESSAGE or "larger than max" in _details(exc)
            ):
                return Outcome.TOO_LARGE
            logger.debug("otel_chatbot: OTLP export to %s failed: %s", self.url, code)
            return Outcome.RETRY
        except Exception as exc:  # a closed channel, an interpreter shutting down, a bad certificate file...
            logger.debug("otel_chatbot: OTLP export to %s failed: %r", self.url, exc)
            if not isinstance(exc, RuntimeError | ValueError):  # (a closed channel raises one of these)
                _warn_once(self, f"OTLP export to {self.url} cannot be sent ({exc!r}); kept in the export buffer")
            return Outcome.RETRY
        return Outcome.OK

    def close(self) -> None:
        """Close the channel."""
        if self._channel is not None and self._pid == os.getpid():
            self._channel.close()


def _warn_once(sender: object, text: str) -> None:
    """One WARNING per sender for a failure that is not an outage (a configuration mistake), then debug lines."""
    if getattr(sender, "_warned", False):
        logger.debug("otel_chatbot: %s", text)
        return
    sender._warned = True  # type: ignore[attr-defined]
    logger.warning("otel_chatbot: %s", text)


def _details(exc: Any) -> str:
    try:
        return str(exc.details() or "")
    except Exception:
        return ""
