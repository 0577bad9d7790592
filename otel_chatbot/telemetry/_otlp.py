"""OTLP export for ``configure()``: the endpoint resolved from the arguments and the environment, and its exporter."""

from __future__ import annotations

import importlib
import logging
import math
import os
import re
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from otel_chatbot import env
from otel_chatbot._redact import display_url
from otel_chatbot.errors import ConfigurationError

if TYPE_CHECKING:
    from otel_chatbot.telemetry._buffer import DiskBuffer

logger = logging.getLogger("otel_chatbot")

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
    """Where the export buffer lives and how big it may grow (``None`` in its place: the buffer is off).

    ``default``: the folder is the default one (no argument, no variable): when it cannot be used, the buffer falls
    back to a per-user temporary folder, else is off, with a warning; a folder the user gave raises instead.
    """

    folder: Path
    max_bytes: int
    default: bool = False


def buffer_settings(
    export_buffer: str | os.PathLike[str] | None, size_mb: float | None, service_name: str
) -> BufferSettings | None:
    """The export buffer asked for by the arguments (they win) and the environment; None when it is ``off``.

    Nothing is created here: a folder the user gave (or its nearest existing parent) must be a writable folder; the
    default one is checked when the buffer is made (``exporters()``: it falls back, it never raises).

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
    max_bytes = max(1, int(size_mb * 2**20))
    if raw is None:  # the default: checked when the buffer is made (exporters()), never an error
        return BufferSettings(_default_folder(service_name), max_bytes, default=True)
    folder = Path(raw).expanduser()
    _check_writable(folder, setting)
    return BufferSettings(folder, max_bytes)


def _default_folder(service_name: str) -> Path:
    """``$XDG_STATE_HOME/otel-chatbot/export-buffer/<service>`` (``~/.local/state/...``); the per-user temporary
    folder when the home folder cannot be found."""
    state = os.environ.get("XDG_STATE_HOME", "")
    try:
        base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    except RuntimeError:  # no HOME, no passwd entry
        return _temp_folder(service_name)
    return base / "otel-chatbot" / "export-buffer" / _folder_name(service_name)


def _temp_folder(service_name: str) -> Path:
    """The fallback of the default folder: ``<tmp>/otel-chatbot-<uid>/export-buffer/<service>``."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"otel-chatbot-{uid}" / "export-buffer" / _folder_name(service_name)


def _own_private_folder(fallback: Path) -> bool:
    """Whether the top of the temporary ``fallback`` (``<tmp>/otel-chatbot-<uid>``) is a real folder of this user,
    not a symlink or another user's (a shared /tmp): made 0700 if missing."""
    folder = fallback.parent.parent
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return False
    import stat

    owner = os.getuid() if hasattr(os, "getuid") else info.st_uid
    return stat.S_ISDIR(info.st_mode) and info.st_uid == owner and not info.st_mode & 0o022


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
    disk = _disk_buffer(buffer)
    if disk is None:  # the default folder and its fallback unusable: as with the buffer off (counted, buffer_off)
        traces.close()
        metrics.close()
        return (
            buffered.CountingSpanExporter(exporter(protocol, url, headers, timeout)),
            buffered.CountingMetricExporter(metric_exporter(protocol, url, headers, timeout)),
        )
    spool = buffered.Spool(traces, metrics, disk)
    return buffered.BufferedSpanExporter(spool, timeout), buffered.BufferedMetricExporter(spool, timeout)


def _disk_buffer(buffer: BufferSettings) -> DiskBuffer | None:
    """The disk buffer of ``buffer``. The default folder falls back to a per-user temporary folder, then to no
    buffer (None), with one warning; a folder the user gave raises.

    Raises:
        ConfigurationError: The folder the user gave cannot be used.
    """
    from otel_chatbot.telemetry._buffer import DiskBuffer

    fallback = _temp_folder(buffer.folder.name)
    error: object = None
    for folder in dict.fromkeys((buffer.folder, fallback) if buffer.default else (buffer.folder,)):
        if folder == fallback and not _own_private_folder(folder):
            error = error or f"{fallback.parent.parent} is not a private folder of this user"
            continue
        try:
            disk = DiskBuffer(folder, buffer.max_bytes)
        except OSError as exc:
            if not buffer.default:
                raise ConfigurationError(
                    f"{env.OTEL_CHATBOT_EXPORT_BUFFER}: cannot use the export buffer folder {str(folder)!r} "
                    f"({exc}); give a writable folder or 'off'."
                ) from None
            error = error or exc
            continue
        if folder != buffer.folder:
            logger.warning(
                "otel_chatbot: the default export buffer folder %s cannot be used (%s); buffering in %s instead "
                "(set %s to a writable folder, or 'off')",
                buffer.folder,
                error,
                folder,
                env.OTEL_CHATBOT_EXPORT_BUFFER,
            )
        return disk
    logger.warning(
        "otel_chatbot: the default export buffer folder %s cannot be used (%s), nor a temporary one: the export "
        "buffer is off, what the endpoint does not take is dropped and counted (buffer_off); set %s to a writable "
        "folder",
        buffer.folder,
        error,
        env.OTEL_CHATBOT_EXPORT_BUFFER,
    )
    return None


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
