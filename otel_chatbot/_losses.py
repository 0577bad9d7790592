"""Telemetry that could not be delivered, counted (issue 13, item 1): never dropped silently.

Stub fixed by the lead so every part can count its losses; the export-buffer work replaces the body (the
``chatbot.telemetry.dropped`` counter, exported and on ``/metrics``, and one summary log line per minute), never
the signature.
"""

from __future__ import annotations

__all__ = ["record_dropped"]


def record_dropped(signal: str, reason: str, count: int = 1) -> None:
    """Count ``count`` items of ``signal`` (``spans``, ``metrics``, ``attributes``, ``ledger_rows``...) lost for
    ``reason`` (``buffer_full``, ``queue_full``, ``invalid_value``, ``export_failed``, ``shutdown``...). Cheap, thread
    safe, never raises."""
