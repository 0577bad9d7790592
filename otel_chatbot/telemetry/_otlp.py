"""OTLP export for ``configure()``: the endpoint resolved from the arguments and the environment, and its exporter."""

from __future__ import annotations

import importlib
import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from otel_chatbot import env
from otel_chatbot._redact import display_url
from otel_chatbot.errors import ConfigurationError

__all__ = ["exporter", "metric_exporter", "parse_endpoint", "target"]


def parse_endpoint(endpoint: str, protocol: str | None, *, base: bool = False) -> tuple[str, str]:
    """Validate an OTLP endpoint; return (protocol, endpoint for the exporter).

    ``base=True`` for ``OTEL_EXPORTER_OTLP_ENDPOINT``, which the OTLP spec defines as a base URL: HTTP appends
    ``/v1/traces`` to its path (``http://h:4318/otlp`` → ``http://h:4318/otlp/v1/traces``).
    """
    parsed = urllib.parse.urlsplit(endpoint.strip())
    try:
        port = parsed.port
    except ValueError:
        port = -1
    if parsed.scheme not in ("http", "https", "grpc") or not parsed.hostname or port == -1:
        raise ConfigurationError(
            f"the OTLP endpoint {display_url(endpoint)!r} is not a valid URL; use e.g. http://127.0.0.1:4317 (gRPC) or "
            "http://127.0.0.1:4318 (HTTP)."
        )
    if protocol is None:
        protocol = "http/protobuf" if port == 4318 or parsed.path.strip("/") else "grpc"
    if protocol == "grpc":
        scheme = "https" if parsed.scheme == "https" else "http"
        return protocol, f"{scheme}://{parsed.netloc}"
    if base:
        path = parsed.path.rstrip("/") + "/v1/traces"
    else:
        path = parsed.path if parsed.path.strip("/") else "/v1/traces"
    return protocol, urllib.parse.urlunsplit(
        (parsed.scheme if parsed.scheme != "grpc" else "http", parsed.netloc, path, parsed.query, "")
    )


_PROTOCOLS = ("grpc", "http/protobuf")


def target(endpoint: str | None, protocol: str | None = None) -> tuple[str, str] | None:
    """(protocol, exporter URL) of the OTLP export asked for by ``endpoint`` or the environment; None: no OTLP.

    ``protocol`` (``configure(protocol=...)``) wins over ``OTEL_EXPORTER_OTLP_PROTOCOL``, which wins over the URL.

    Raises:
        ConfigurationError: ``protocol`` is neither ``grpc`` nor ``http/protobuf``, or the endpoint is no URL.
    """
    if protocol is not None:
        if protocol.strip().lower() not in _PROTOCOLS:
            raise ConfigurationError(f"protocol={protocol!r} is not an OTLP protocol; use 'grpc' or 'http/protobuf'.")
        protocol = protocol.strip().lower()
    if endpoint is None and env.otlp_traces_endpoint() is None:
        return None
    protocol = protocol or env.otlp_protocol(strict=True)
    url = endpoint or env.otlp_traces_endpoint()
    assert url is not None
    base = endpoint is None and not os.environ.get(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    try:
        return parse_endpoint(url, protocol, base=base)
    except ConfigurationError as exc:
        if endpoint is not None:
            raise
        name = env.OTEL_EXPORTER_OTLP_ENDPOINT if base else env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
        raise ConfigurationError(f"{name}: {exc}") from None  # name the variable at fault


def exporter(protocol: str, url: str, headers: Mapping[str, str] | None, timeout: float) -> SpanExporter:
    """The OTLP span exporter of ``url``."""
    exporter: SpanExporter = _build("trace_exporter", "OTLPSpanExporter", protocol, url, headers, timeout)
    return exporter


def metric_exporter(protocol: str, url: str, headers: Mapping[str, str] | None, timeout: float) -> MetricExporter:
    """The OTLP metric exporter next to the span exporter of ``url`` (HTTP: ``/v1/traces`` becomes ``/v1/metrics``).

    Cumulative temporality (the SDK's default): what the Collector's prometheus exporter and Prometheus expect.
    """
    if protocol != "grpc":
        parsed = urllib.parse.urlsplit(url)
        path = parsed.path[: -len("/v1/traces")] + "/v1/metrics" if parsed.path.endswith("/v1/traces") else parsed.path
        url = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, parsed.query, ""))
    exporter: MetricExporter = _build("metric_exporter", "OTLPMetricExporter", protocol, url, headers, timeout)
    return exporter


def _build(module: str, name: str, protocol: str, url: str, headers: Mapping[str, str] | None, timeout: float) -> Any:
    """``opentelemetry.exporter.otlp.proto.{grpc,http}.<module>.<name>`` for ``url``, from the ``otlp`` extra."""
    try:
        transport = "grpc" if protocol == "grpc" else "http"
        cls = getattr(importlib.import_module(f"opentelemetry.exporter.otlp.proto.{transport}.{module}"), name)
    except ImportError as exc:
        raise ConfigurationError(
            f"OTLP export needs the 'otlp' extra ({exc.name} is missing): pip install 'otel-chatbot[otlp]'."
        ) from None
    extra = {"insecure": url.startswith("http://")} if protocol == "grpc" else {}
    return cls(endpoint=url, headers=dict(headers) if headers else None, timeout=timeout, **extra)
