"""Values as telemetry can hold them (issue 13, item 2): valid UTF-8, bounded strings, finite numbers in range.

The helpers every sink uses before a value is written (span attributes, metric labels, ``/metrics``, JSON documents,
ledger rows), the attribute length limit in force (``configure(max_attribute_length=...)``), and the one warning a
minute for what is rejected. ``otel_chatbot._sanitize`` applies them to whole export batches.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from otel_chatbot import _losses, env

__all__ = [
    "DEFAULT_MAX_ATTRIBUTE_LENGTH",
    "INT64_MAX",
    "INT64_MIN",
    "clean_text",
    "json_safe",
    "max_attribute_length",
    "nano_usd",
    "quiet_truncation_warnings",
    "reset_warnings",
    "seconds",
    "set_max_attribute_length",
    "shown_number",
    "token_count",
    "warn_removed",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTRIBUTE_LENGTH = env.DEFAULT_MAX_ATTRIBUTE_LENGTH
"""Characters of one attribute value (and status description, span name) when nothing else is configured."""
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_limit = DEFAULT_MAX_ATTRIBUTE_LENGTH


def set_max_attribute_length(limit: int) -> None:
    """The maximum length applied at export (``configure()`` sets it with the SDK's ``SpanLimits``)."""
    global _limit
    _limit = limit


def max_attribute_length() -> int:
    """The maximum length of one exported string value, in characters."""
    return _limit


def clean_text(value: str, limit: int | None = None) -> str:
    """``value`` as valid UTF-8 (lone surrogates → U+FFFD, pairs joined), cut to ``limit`` characters if given."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if limit is not None and len(value) > limit:
        value = value[:limit]
    return value


def json_safe(value: Any) -> Any:
    """``value`` (JSON-ready: dicts, lists, strings, numbers) with every string and key valid UTF-8 and every
    non-finite float ``None``: what strict JSON (and a UTF-8 response body) can hold."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if value - value == 0 else None  # NaN and infinities are not JSON
    if isinstance(value, dict):
        return {json_safe(k) if isinstance(k, str) else k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    if isinstance(value, tuple):
        return tuple(json_safe(item) for item in value)
    return value


def shown_number(value: int | float) -> str:
    """``value`` shortly, for a warning (``9.22e+18``; ``~2^1100`` for an int too big for a float). Never raises:
    ``f"{value:.3g}"`` raises ``OverflowError`` for an int above ~2^1024."""
    try:
        if type(value) is float or -(10**300) < value < 10**300:
            return f"{value:.3g}"
        return f"~{'-' if value < 0 else ''}2^{math.log2(abs(value)):.0f}"
    except Exception:
        return f"<{type(value).__name__}>"


# Numbers from span attributes (another instrumentation's, or a provider's) are checked before they reach a sum: a
# NaN, an infinity or an integer beyond int64 would stay in cumulative statistics for the life of the process.


def seconds(value: Any) -> float | None:
    """A time attribute as finite non-negative seconds, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e12:
        return float(value)
    return None


def token_count(value: Any) -> int:
    """A token count attribute as an int in 0..2^63-1 (0 when absent or invalid)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if 0 <= value <= INT64_MAX and (type(value) is int or float(value).is_integer()):
        return int(value)
    return 0


def nano_usd(cost: Any) -> int | None:
    """A cost attribute in nano-USD, or None (absent, negative, NaN, infinite, or over 9e9 USD: beyond int64)."""
    if isinstance(cost, int | float) and not isinstance(cost, bool) and 0 <= cost < 9e9:
        return round(float(cost) * 1_000_000_000)
    return None


# --- warnings, at most one a minute ------------------------------------------------------------------------------

_warn_lock = threading.Lock()
_warned_at = float("-inf")
_unwarned = 0


def warn_removed(what: str, signal: str = "attributes", count: int = 1) -> None:
    """``count`` values (or spans, data points, ledger rows: ``signal``) were rejected because ``what``: counted with
    ``record_dropped(signal, "invalid_value")``, and a warning at most once a minute (a bad value on every request
    must not flood the log)."""
    global _warned_at, _unwarned
    _losses.record_dropped(signal, "invalid_value", count)
    with _warn_lock:
        now = time.monotonic()
        if now - _warned_at < 60.0:
            _unwarned += count
            return
        _warned_at, skipped, _unwarned = now, _unwarned, 0
    more = f" ({skipped} more rejected in the last minute without a warning)" if skipped else ""
    logger.warning("otel_chatbot: %s; not recorded, the rest is kept%s", what, more)


def reset_warnings() -> None:
    """The next rejection warns at once (tests; ``otel_chatbot._state.reset``)."""
    global _warned_at, _unwarned
    with _warn_lock:
        _warned_at, _unwarned = float("-inf"), 0


class _OncePerMinute(logging.Filter):
    """Lets the SDK's "String attribute value exceeds max length" warning through once a minute (it comes on every
    value cut: a flood under load), saying how many it held back."""

    def __init__(self) -> None:
        super().__init__()
        self._at = float("-inf")
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "exceeds max length" not in str(record.msg):
            return True
        now = time.monotonic()
        if now - self._at < 60.0:
            self._held += 1
            return False
        self._at, held, self._held = now, self._held, 0
        if held:
            record.msg = f"{record.msg} ({held} more values cut in the last minute)"
        return True


_TRUNCATION_FILTER = _OncePerMinute()


def quiet_truncation_warnings() -> None:
    """Install the once-a-minute filter on the SDK's attribute logger (idempotent)."""
    attribute_logger = logging.getLogger("opentelemetry.attributes")
    if _TRUNCATION_FILTER not in attribute_logger.filters:
        attribute_logger.addFilter(_TRUNCATION_FILTER)
