"""Environment variables otel_chatbot reads, and their typed parsers.

Each parser reads ``os.environ`` once, at setup time, and returns a typed value. With ``strict=True`` (what
``configure()`` uses) an invalid value raises :class:`~otel_chatbot.errors.ConfigurationError`; otherwise it logs one
warning listing the valid options and falls back to the safe default.

Every ``OTEL_CHATBOT_*`` variable of the project is a constant here (``tests/unit/test_env.py`` checks that no other
file names one that is missing), each documented with its allowed values and default:

* the library: ``OTEL_CHATBOT_PRICES_FILE``, ``OTEL_CHATBOT_MAX_CONTENT_LENGTH``, ``OTEL_CHATBOT_LEDGER``,
  ``OTEL_CHATBOT_SEMCONV_COMPAT``, ``OTEL_CHATBOT_SWALLOW_INTERNAL_ERRORS``;
* the OTLP export buffer: ``OTEL_CHATBOT_EXPORT_BUFFER``, ``OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB``;
* zero code (``opentelemetry-instrument``, read by our distro): ``OTEL_CHATBOT_BUDGETS``, ``OTEL_CHATBOT_METRICS_PORT``,
  ``OTEL_CHATBOT_METRICS_HOST``, ``OTEL_CHATBOT_REPORT_FILE``;
* ``otel-chatbot stack`` (where things live): ``OTEL_CHATBOT_CACHE``, ``OTEL_CHATBOT_STACK_RUN_DIR``,
  ``OTEL_CHATBOT_COLLECTOR_DIR``, ``OTEL_CHATBOT_PROMETHEUS_BINARY``, ``OTEL_CHATBOT_PROMETHEUS_SCRAPE_INTERVAL``,
  ``OTEL_CHATBOT_JAEGER_RELEASE_URL``;
* the stack's listening addresses (read by ``otel-chatbot stack`` and expanded by the configs in ``collector/``):
  ``OTEL_CHATBOT_COLLECTOR_OTLP_GRPC``, ``OTEL_CHATBOT_COLLECTOR_OTLP_HTTP``, ``OTEL_CHATBOT_COLLECTOR_PROMETHEUS``,
  ``OTEL_CHATBOT_COLLECTOR_HEALTH``, ``OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT``, ``OTEL_CHATBOT_JAEGER_OTLP_GRPC``,
  ``OTEL_CHATBOT_JAEGER_OTLP_HTTP``, ``OTEL_CHATBOT_JAEGER_QUERY_HTTP``, ``OTEL_CHATBOT_JAEGER_QUERY_GRPC``,
  ``OTEL_CHATBOT_PROMETHEUS_LISTEN``, ``OTEL_CHATBOT_PROMETHEUS_URL``, ``OTEL_CHATBOT_METRICS_FLUSH_INTERVAL``;
* read only by the collector and Jaeger configs: ``OTEL_CHATBOT_COLLECTOR_LOG_LEVEL``,
  ``OTEL_CHATBOT_COLLECTOR_MEMORY_LIMIT_MIB``, ``OTEL_CHATBOT_COLLECTOR_TELEMETRY_HOST``,
  ``OTEL_CHATBOT_COLLECTOR_STORAGE_DIR``, ``OTEL_CHATBOT_GATEWAYS``, ``OTEL_CHATBOT_JAEGER_LOG_LEVEL``,
  ``OTEL_CHATBOT_JAEGER_STORAGE``, ``OTEL_CHATBOT_JAEGER_MAX_TRACES``, ``OTEL_CHATBOT_JAEGER_TELEMETRY_LEVEL``,
  ``OTEL_CHATBOT_JAEGER_TELEMETRY_HOST``, ``OTEL_CHATBOT_JAEGER_TELEMETRY_PORT``, ``OTEL_CHATBOT_JAEGER_BADGER_DIR``,
  ``OTEL_CHATBOT_JAEGER_RETENTION``;
* the scripts: ``OTEL_CHATBOT_VENV``.
"""

from __future__ import annotations

import logging
import os
from typing import Final

from otel_chatbot._redact import display_url
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
OTEL_CHATBOT_SEMCONV_COMPAT: Final = "OTEL_CHATBOT_SEMCONV_COMPAT"
"""Attribute names of older releases, for dashboards not yet moved: ``legacy/dup`` also writes
``gen_ai.usage.cache_creation.input_tokens`` and the float ``gen_ai.usage.cost`` next to their current names
(kept for one release); ``latest`` writes only the current names (default: ``latest``). Modelled on the ``/dup``
values of OpenTelemetry's ``OTEL_SEMCONV_STABILITY_OPT_IN``."""
OTEL_SDK_DISABLED: Final = "OTEL_SDK_DISABLED"
"""Standard OTel: ``true`` disables the SDK; ``configure()`` then installs nothing (default: false)."""
OTEL_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
"""Standard OTel: the service name, used when ``configure()`` gets none (default: the SDK's ``unknown_service``)."""
OTEL_EXPORTER_OTLP_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
"""Standard OTel: OTLP endpoint URL; setting it turns on OTLP export (default: none, no export)."""
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
"""Standard OTel: OTLP traces endpoint URL, wins over ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default: none)."""
OTEL_EXPORTER_OTLP_PROTOCOL: Final = "OTEL_EXPORTER_OTLP_PROTOCOL"
"""Standard OTel: ``grpc`` or ``http/protobuf``; default chosen from the endpoint's port (4318 → HTTP)."""

OTEL_CHATBOT_SWALLOW_INTERNAL_ERRORS: Final = "OTEL_CHATBOT_SWALLOW_INTERNAL_ERRORS"
"""Any non-empty value: log internal errors even under pytest, where they are re-raised by default (default: unset;
only tests that check the logging path set it)."""
OTEL_CHATBOT_EXPORT_BUFFER: Final = "OTEL_CHATBOT_EXPORT_BUFFER"
"""Folder of the disk buffer that keeps OTLP exports the endpoint did not take, replayed when it answers again and
by the next process of the service; ``off`` turns it off (default:
``$XDG_STATE_HOME/otel-chatbot/export-buffer/<service.name>``, i.e. ``~/.local/state/...``)."""
OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB: Final = "OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB"
"""Maximum megabytes (MiB) of that buffer per process; when full, the oldest exports are dropped and counted
(default: 256)."""

# --- zero code: what our opentelemetry-instrument distro reads (docs/zero-code.md) -----------------------------------
OTEL_CHATBOT_BUDGETS: Final = "OTEL_CHATBOT_BUDGETS"
"""Spend budgets, comma-separated, each ``LIMIT_USD/WINDOW[/tenant|/user][/hard]``, e.g. ``50/1d,5/1d/tenant/hard``
(soft $50 a day overall, hard $5 a day per tenant); an invalid value is a ``ConfigurationError`` naming the variable
(default: none)."""
OTEL_CHATBOT_METRICS_PORT: Final = "OTEL_CHATBOT_METRICS_PORT"
"""Serve the embedded ``/metrics`` and ``/metrics/latency`` on this port, a number from 1 to 65535
(default: unset, no side port)."""
OTEL_CHATBOT_METRICS_HOST: Final = "OTEL_CHATBOT_METRICS_HOST"
"""Address the side port of :data:`OTEL_CHATBOT_METRICS_PORT` listens on (default: ``127.0.0.1``, loopback only)."""
OTEL_CHATBOT_REPORT_FILE: Final = "OTEL_CHATBOT_REPORT_FILE"
"""Write the embedded statistics as JSON to this path when the process exits (``otel-chatbot report PATH`` reads it);
``{pid}`` in the path is replaced by the process id (default: unset, no file)."""
OTEL_PYTHON_FASTAPI_EXCLUDED_URLS: Final = "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS"
"""Contrib FastAPI instrumentation: URL regexes that get no server span; our distro defaults it to health checks and
``/metrics`` (default: the contrib's own, none)."""
OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS: Final = (
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"
)
"""Contrib HTTP instrumentations: header names masked should header capture be switched on; our distro defaults it to
the authorization, cookie and API-key headers (default: the contrib's own, none)."""
OTEL_PYTHON_DISTRO: Final = "OTEL_PYTHON_DISTRO"
"""opentelemetry-instrument: the one distro entry point to run; ``otel-chatbot instrument`` defaults it to
``otel_chatbot`` (default: the first installed one)."""
OTEL_PYTHON_CONFIGURATOR: Final = "OTEL_PYTHON_CONFIGURATOR"
"""opentelemetry-instrument: the one configurator entry point to run; our distro defaults it to ``otel_chatbot``
(default: the first installed one)."""

# --- otel-chatbot stack: where things live --------------------------------------------------------------------------
OTEL_CHATBOT_CACHE: Final = "OTEL_CHATBOT_CACHE"
"""Folder of the built stack binaries and their Go builds, shared by every checkout and virtualenv on the machine
(default: ``${XDG_CACHE_HOME:-~/.cache}/otel-chatbot``)."""
OTEL_CHATBOT_STACK_RUN_DIR: Final = "OTEL_CHATBOT_STACK_RUN_DIR"
"""Run folder of ``otel-chatbot stack``: pids, logs, the rendered ``prometheus.yml``, Prometheus' data; ``--run-dir``
wins over it (default: ``${XDG_STATE_HOME:-~/.local/state}/otel-chatbot/stack``)."""
OTEL_CHATBOT_COLLECTOR_DIR: Final = "OTEL_CHATBOT_COLLECTOR_DIR"
"""Folder with the stack's configs (``manifest.yaml``, ``otelcol.yaml``, ``jaeger.yaml``, ``prometheus.yml``,
``prometheus/rules/``), to run edited copies (default: the copy shipped in the package, or ``collector/`` of the
checkout in an editable install)."""
OTEL_CHATBOT_PROMETHEUS_BINARY: Final = "OTEL_CHATBOT_PROMETHEUS_BINARY"
"""Path of the ``prometheus`` executable; ``promtool`` is taken from the same folder, else from ``PATH`` (default:
``prometheus`` on ``PATH``, e.g. Debian's package)."""
OTEL_CHATBOT_PROMETHEUS_SCRAPE_INTERVAL: Final = "OTEL_CHATBOT_PROMETHEUS_SCRAPE_INTERVAL"
"""Scrape and rule-evaluation interval of the native stack's Prometheus, a Prometheus duration (default: ``5s``; the
tests use ``1s``)."""
OTEL_CHATBOT_JAEGER_RELEASE_URL: Final = "OTEL_CHATBOT_JAEGER_RELEASE_URL"
"""Where ``otel-chatbot stack build`` downloads Jaeger's release archive from (its binary has the UI): a base URL under
which ``v<version>/jaeger-<version>-<os>-<arch>.tar.gz`` is fetched and checked against the pinned sha256, or ``off``
to always build Jaeger from source (default: ``https://github.com/jaegertracing/jaeger/releases/download``)."""

# --- otel-chatbot stack: listening addresses (loopback only; also expanded by the configs in collector/) -------------
OTEL_CHATBOT_COLLECTOR_OTLP_GRPC: Final = "OTEL_CHATBOT_COLLECTOR_OTLP_GRPC"
"""Collector OTLP/gRPC receiver, ``host:port`` (default: ``127.0.0.1:4317``; the gateway config: ``127.0.0.1:4417``)."""
OTEL_CHATBOT_COLLECTOR_OTLP_HTTP: Final = "OTEL_CHATBOT_COLLECTOR_OTLP_HTTP"
"""Collector OTLP/HTTP receiver, ``host:port`` (default: ``127.0.0.1:4318``; gateway: ``127.0.0.1:4418``)."""
OTEL_CHATBOT_COLLECTOR_PROMETHEUS: Final = "OTEL_CHATBOT_COLLECTOR_PROMETHEUS"
"""Collector prometheus exporter (span, token, cost, TTFT metrics), ``host:port`` (default: ``127.0.0.1:8889``;
gateway: ``127.0.0.1:8890``)."""
OTEL_CHATBOT_COLLECTOR_HEALTH: Final = "OTEL_CHATBOT_COLLECTOR_HEALTH"
"""Collector health_check extension, ``host:port`` (default: ``127.0.0.1:13133``; gateway: ``127.0.0.1:13134``)."""
OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT: Final = "OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT"
"""Collector self-metrics port, a number (default: ``18888``; gateway: ``18889``; Jaeger's default would take
8888)."""
OTEL_CHATBOT_JAEGER_OTLP_GRPC: Final = "OTEL_CHATBOT_JAEGER_OTLP_GRPC"
"""Jaeger OTLP/gRPC receiver, where the collector sends traces, ``host:port`` (default: ``127.0.0.1:14317``)."""
OTEL_CHATBOT_JAEGER_OTLP_HTTP: Final = "OTEL_CHATBOT_JAEGER_OTLP_HTTP"
"""Jaeger OTLP/HTTP receiver, ``host:port`` (default: ``127.0.0.1:14318``)."""
OTEL_CHATBOT_JAEGER_QUERY_HTTP: Final = "OTEL_CHATBOT_JAEGER_QUERY_HTTP"
"""Jaeger query API and UI, ``host:port`` (default: ``127.0.0.1:16686``)."""
OTEL_CHATBOT_JAEGER_QUERY_GRPC: Final = "OTEL_CHATBOT_JAEGER_QUERY_GRPC"
"""Jaeger query gRPC API, ``host:port`` (default: ``127.0.0.1:16685``)."""
OTEL_CHATBOT_PROMETHEUS_LISTEN: Final = "OTEL_CHATBOT_PROMETHEUS_LISTEN"
"""Prometheus web/API listen address, ``host:port`` (default: ``127.0.0.1:9090``)."""
OTEL_CHATBOT_PROMETHEUS_URL: Final = "OTEL_CHATBOT_PROMETHEUS_URL"
"""Prometheus URL Jaeger's Monitor tab queries; ``otel-chatbot stack`` derives it from
:data:`OTEL_CHATBOT_PROMETHEUS_LISTEN` (default: ``http://127.0.0.1:9090``)."""
OTEL_CHATBOT_METRICS_FLUSH_INTERVAL: Final = "OTEL_CHATBOT_METRICS_FLUSH_INTERVAL"
"""How often the collector's span_metrics connector emits, a Go duration (default: ``15s``; the tests use ``1s``)."""

# --- read only by the collector and Jaeger configs in collector/ ----------------------------------------------------
OTEL_CHATBOT_COLLECTOR_LOG_LEVEL: Final = "OTEL_CHATBOT_COLLECTOR_LOG_LEVEL"
"""Collector log level: ``debug``, ``info``, ``warn`` or ``error`` (default: ``info``)."""
OTEL_CHATBOT_COLLECTOR_MEMORY_LIMIT_MIB: Final = "OTEL_CHATBOT_COLLECTOR_MEMORY_LIMIT_MIB"
"""memory_limiter's hard limit in MiB, a positive integer (default: ``1024``; the agent config: ``512``)."""
OTEL_CHATBOT_COLLECTOR_TELEMETRY_HOST: Final = "OTEL_CHATBOT_COLLECTOR_TELEMETRY_HOST"
"""Host the collector's self-metrics listen on (default: ``127.0.0.1``)."""
OTEL_CHATBOT_COLLECTOR_STORAGE_DIR: Final = "OTEL_CHATBOT_COLLECTOR_STORAGE_DIR"
"""Folder of the collector's persistent sending queue (file_storage): ``otel-chatbot stack`` sets it to
``<run dir>/otelcol-queue``; the configs' own defaults are ``/tmp/otelcol-chatbot-queue`` (single node),
``/tmp/otelcol-chatbot-agent`` and ``/tmp/otelcol-chatbot-gateway``."""
OTEL_CHATBOT_GATEWAYS: Final = "OTEL_CHATBOT_GATEWAYS"
"""The agent's gateways, a YAML list of ``host:port`` (default: ``[127.0.0.1:4417, 127.0.0.1:4427]``)."""
OTEL_CHATBOT_JAEGER_LOG_LEVEL: Final = "OTEL_CHATBOT_JAEGER_LOG_LEVEL"
"""Jaeger log level: ``debug``, ``info``, ``warn`` or ``error`` (default: ``info``)."""
OTEL_CHATBOT_JAEGER_STORAGE: Final = "OTEL_CHATBOT_JAEGER_STORAGE"
"""Jaeger's trace storage: ``badger`` (on disk, survives a restart, :data:`OTEL_CHATBOT_JAEGER_RETENTION`) or
``memory`` (faster at tens of thousands of spans/s, lost on restart) (default: ``badger``)."""
OTEL_CHATBOT_JAEGER_MAX_TRACES: Final = "OTEL_CHATBOT_JAEGER_MAX_TRACES"
"""Traces the ``memory`` storage keeps (:data:`OTEL_CHATBOT_JAEGER_STORAGE`; default: 100000)."""
OTEL_CHATBOT_JAEGER_BADGER_DIR: Final = "OTEL_CHATBOT_JAEGER_BADGER_DIR"
"""Folder of Jaeger's trace storage (Badger; ``keys/`` and ``values/`` inside): ``otel-chatbot stack`` sets it to
``<run dir>/jaeger-badger``; the config's own default is ``/tmp/jaeger-chatbot-badger``."""
OTEL_CHATBOT_JAEGER_RETENTION: Final = "OTEL_CHATBOT_JAEGER_RETENTION"
"""How long Jaeger keeps a trace, a Go duration such as ``72h`` or ``30m`` (Badger's span TTL; default: ``72h``)."""
OTEL_CHATBOT_JAEGER_TELEMETRY_LEVEL: Final = "OTEL_CHATBOT_JAEGER_TELEMETRY_LEVEL"
"""Jaeger's self-metrics: ``none`` (off), ``basic``, ``normal`` or ``detailed`` (default: ``none``)."""
OTEL_CHATBOT_JAEGER_TELEMETRY_HOST: Final = "OTEL_CHATBOT_JAEGER_TELEMETRY_HOST"
"""Host Jaeger's self-metrics listen on (default: ``127.0.0.1``)."""
OTEL_CHATBOT_JAEGER_TELEMETRY_PORT: Final = "OTEL_CHATBOT_JAEGER_TELEMETRY_PORT"
"""Port of Jaeger's self-metrics, a number (default: ``14269``)."""

# --- scripts/ -------------------------------------------------------------------------------------------------------
OTEL_CHATBOT_VENV: Final = "OTEL_CHATBOT_VENV"
"""Virtualenv folder ``scripts/test`` and ``scripts/demo`` create and use (default: ``.venv`` in the checkout)."""

DEFAULT_MAX_CONTENT_LENGTH: Final = 8192

_TRUE = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event", "event_only"})
_FALSE = frozenset({"false", "0", "no", "off", "no_content", ""})


def _invalid(name: str, value: str, valid: str, default: object, *, strict: bool) -> None:
    message = f"{name}={display_url(value)!r} is not valid; use one of {valid}"
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
    return _positive(OTEL_CHATBOT_MAX_CONTENT_LENGTH, DEFAULT_MAX_CONTENT_LENGTH, strict=strict)


def semconv_legacy_dup(*, strict: bool = False) -> bool:
    """Whether ``OTEL_CHATBOT_SEMCONV_COMPAT=legacy/dup`` asks for the old attribute names next to the new ones."""
    raw = os.environ.get(OTEL_CHATBOT_SEMCONV_COMPAT)
    if raw is None or not raw.strip():
        return False
    value = raw.strip().lower()
    if value in ("latest", "legacy/dup"):
        return value == "legacy/dup"
    _invalid(OTEL_CHATBOT_SEMCONV_COMPAT, raw, "latest, legacy/dup", "latest", strict=strict)
    return False


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


def metrics_port(*, strict: bool = False) -> int | None:
    """The side port of the embedded ``/metrics`` named by ``OTEL_CHATBOT_METRICS_PORT`` (None: no side port)."""
    raw = os.environ.get(OTEL_CHATBOT_METRICS_PORT)
    if raw is None or not raw.strip():
        return None
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        _invalid(OTEL_CHATBOT_METRICS_PORT, raw, "a port number from 1 to 65535", None, strict=strict)
        return None
    return port


def metrics_host() -> str:
    """The address of the side port (``OTEL_CHATBOT_METRICS_HOST``, default loopback)."""
    return (os.environ.get(OTEL_CHATBOT_METRICS_HOST) or "").strip() or "127.0.0.1"


def report_file() -> str | None:
    """Where ``OTEL_CHATBOT_REPORT_FILE`` asks the statistics to be written at exit, ``{pid}`` replaced, if anywhere."""
    raw = os.environ.get(OTEL_CHATBOT_REPORT_FILE)
    if raw is None or not raw.strip():
        return None
    return raw.strip().replace("{pid}", str(os.getpid()))


def budgets_spec() -> str | None:
    """The raw ``OTEL_CHATBOT_BUDGETS`` value, if set (parsed by ``otel_chatbot.telemetry._zero_code``)."""
    raw = os.environ.get(OTEL_CHATBOT_BUDGETS)
    return raw if raw is not None and raw.strip() else None


# --- attribute value length (issue 13: poison values) ---------------------------------------------------------------
OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: Final = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
"""Standard OTel: maximum characters of one attribute value (span, event and link attributes); ``configure()``'s
default for ``max_attribute_length`` (default: 16384)."""
OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: Final = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"
"""Standard OTel: maximum characters of one span attribute value (default: ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``)."""
DEFAULT_MAX_ATTRIBUTE_LENGTH: Final = 16384


def attribute_length_limits(*, strict: bool = False) -> tuple[int, int]:
    """(general, span) maximum attribute value lengths from the two standard variables (default 16384 each)."""
    general = _positive(OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, DEFAULT_MAX_ATTRIBUTE_LENGTH, strict=strict)
    return general, _positive(OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, general, strict=strict)


def _positive(name: str, default: int, *, strict: bool) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value <= 0:
        _invalid(name, raw, "a positive integer", default, strict=strict)
        return default
    return value


DEFAULT_EXPORT_BUFFER_SIZE_MB = 256.0


def export_buffer() -> str | None:
    """``OTEL_CHATBOT_EXPORT_BUFFER`` as set (a folder or ``off``), None when unset or empty."""
    raw = os.environ.get(OTEL_CHATBOT_EXPORT_BUFFER, "").strip()
    return raw or None


def export_buffer_size_mb(*, strict: bool = False) -> float:
    """``OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB``: a positive number of MiB (default 256)."""
    raw = os.environ.get(OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB)
    if raw is None or not raw.strip():
        return DEFAULT_EXPORT_BUFFER_SIZE_MB
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        _invalid(
            OTEL_CHATBOT_EXPORT_BUFFER_SIZE_MB,
            raw,
            "a positive number of MB",
            DEFAULT_EXPORT_BUFFER_SIZE_MB,
            strict=strict,
        )
        return DEFAULT_EXPORT_BUFFER_SIZE_MB
    return value
