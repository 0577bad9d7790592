"""OTLP export for ``configure()``: the endpoint resolved from the arguments and the environment, and its exporter."""

from __future__ import annotations

import importlib
import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from otel_chatbot import env
from otel_chatbot.errors import ConfigurationError

__all__ = ["BufferSettings", "buffer_settings", "exporter", "exporters", "metric_exporter", "parse_endpoint", "target"]


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
            f"the OTLP endpoint {endpoint!r} is not a valid URL; use e.g. http://127.0.0.1:4317 (gRPC) or "
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
    return parse_endpoint(url, protocol, base=base)


def exporter(protocol: str, url: str, headers: Mapping[str, str] | None, timeout: float) -> SpanExporter:
    """The OTLP span exporter of ``url``."""
    exporter: SpanExporter = _build("trace_exporter", "OTLPSpanExporter", protocol, url, headers, timeout)
    return exporter


def metric_exporter(protocol: str, url: str, headers: Mapping[str, str] | None, timeout: float) -> MetricExporter:
    """The OTLP metric exporter next to the span exporter of ``url`` (HTTP: ``/v1/traces`` becomes ``/v1/metrics``).

    Cumulative temporality (the SDK's default): what the Collector's prometheus exporter and Prometheus expect.
    """
    exporter: MetricExporter = _build(
        "metric_exporter", "OTLPMetricExporter", protocol, _metrics_url(protocol, url), headers, timeout
    )
    return exporter


def _metrics_url(protocol: str, url: str) -> str:
    if protocol == "grpc":
        return url
    parsed = urllib.parse.urlsplit(url)
    path = parsed.path[: -len("/v1/traces")] + "/v1/metrics" if parsed.path.endswith("/v1/traces") else parsed.path
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, parsed.query, ""))


@dataclass(frozen=True)
class BufferSettings:
    """Where the export buffer lives and how big it may grow (``None`` in its place: the buffer is off)."""

    folder: Path
    max_bytes: int


def buffer_settings(
    export_buffer: str | os.PathLike[str] | None, size_mb: float | None, service_name: str
) -> BufferSettings | None:
    """The export buffer asked for by the arguments (they win) and the environment; None when it is ``off``.

    Nothing is created here: the folder (or its nearest existing parent) must be a writable folder.

    Raises:
        ConfigurationError: A size that is not a positive number; a folder that is a file or not writable.
    """
    raw = os.fspath(export_buffer) if export_buffer is not None else env.export_buffer()
    if raw is not None and raw.strip().lower() == "off":
        return None
    if size_mb is None:
        size_mb = env.export_buffer_size_mb(strict=True)
    elif isinstance(size_mb, bool) or not isinstance(size_mb, int | float) or not (0 < size_mb < math.inf):
        raise ConfigurationError(
            f"export_buffer_size_mb={size_mb!r} is not valid; use a positive number of MB "
            f"(or export_buffer='off' / {env.OTEL_CHATBOT_EXPORT_BUFFER}=off for no buffer)."
        )
    setting = "export_buffer" if export_buffer is not None else env.OTEL_CHATBOT_EXPORT_BUFFER
    if raw is None:
        state = os.environ.get("XDG_STATE_HOME", "")
        base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
        folder = base / "otel-chatbot" / "export-buffer" / _folder_name(service_name)
    else:
        folder = Path(raw).expanduser()
    _check_writable(folder, setting)
    return BufferSettings(folder, max(1, int(size_mb * 2**20)))


def _folder_name(service_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", service_name)[:100]
    return name if name.strip(".") else "_"


def _check_writable(folder: Path, setting: str) -> None:
    """``folder``, or the nearest parent that exists, is a folder this process can write into."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        what = "is a file" if probe == folder else f"cannot be created ({probe} is a file)"
        raise ConfigurationError(f"{setting}: the export buffer folder {str(folder)!r} {what}; give a folder or 'off'.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"{setting}: the export buffer folder {str(folder)!r} is not writable ({probe}); "
            "give a writable folder or 'off'."
        )


def exporters(
    protocol: str, url: str, headers: Mapping[str, str] | None, timeout: float, buffer: BufferSettings | None
) -> tuple[SpanExporter, MetricExporter]:
    """The span and metric exporters of ``url``: buffered on disk (``_buffered_exporter``), or, with the buffer
    off, the SDK's own behind a counter of what they fail to send.

    Raises:
        ConfigurationError: The ``otlp`` extra is missing, or the buffer folder cannot be set up.
    """
    from otel_chatbot.telemetry import _buffered_exporter as buffered

    if buffer is None:
        return (
            buffered.CountingSpanExporter(exporter(protocol, url, headers, timeout)),
            buffered.CountingMetricExporter(metric_exporter(protocol, url, headers, timeout)),
        )
    from otel_chatbot.telemetry import _senders
    from otel_chatbot.telemetry._buffer import DiskBuffer

    try:
        importlib.import_module("opentelemetry.exporter.otlp.proto.common.trace_encoder")
        traces: _senders.Sender
        metrics: _senders.Sender
        if protocol == "grpc":
            traces = _senders.GrpcSender(url, "traces", _senders.otlp_headers("traces", headers), timeout)
            metrics = _senders.GrpcSender(url, "metrics", _senders.otlp_headers("metrics", headers), timeout)
        else:
            traces = _senders.HttpSender(url, _senders.otlp_headers("traces", headers), timeout, "traces")
            metrics = _senders.HttpSender(
                _metrics_url(protocol, url), _senders.otlp_headers("metrics", headers), timeout, "metrics"
            )
    except ImportError as exc:
        raise ConfigurationError(
            f"OTLP export needs the 'otlp' extra ({exc.name} is missing): pip install 'otel-chatbot[otlp]'."
        ) from None
    try:
        disk = DiskBuffer(buffer.folder, buffer.max_bytes)
    except OSError as exc:
        traces.close()
        metrics.close()
        raise ConfigurationError(
            f"{env.OTEL_CHATBOT_EXPORT_BUFFER}: cannot use the export buffer folder {str(buffer.folder)!r} ({exc}); "
            "give a writable folder or 'off'."
        ) from None
    spool = buffered.Spool(traces, metrics, disk)
    return buffered.BufferedSpanExporter(spool, timeout), buffered.BufferedMetricExporter(spool, timeout)


def check_extra(protocol: str) -> None:
    """Raise now if the ``otlp`` extra (the exporter package of ``protocol``) is not installed.

    Raises:
        ConfigurationError: It is missing.
    """
    transport = "grpc" if protocol == "grpc" else "http"
    try:
        importlib.import_module(f"opentelemetry.exporter.otlp.proto.{transport}")
        importlib.import_module("opentelemetry.exporter.otlp.proto.common.trace_encoder")
    except ImportError as exc:
        raise ConfigurationError(
            f"OTLP export needs the 'otlp' extra ({exc.name} is missing): pip install 'otel-chatbot[otlp]'."
        ) from None


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
