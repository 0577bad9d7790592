"""Which GenAI spans are open and what finished inside them: the state behind the count-once rule.

The accounting span processor (``telemetry/_accounting.py``) opens a ``Scope`` when a span starts inside a stage or
another GenAI span (or is one) and closes it when the span ends. A scope learns from its descendants whether one of
them counted usage (``inner_usage``) or was an inference call (``inner_inference``); a stage span reads that at its
end (``spans/_run.py``) to defer to the innermost inference span, so one call is counted once.

It lives in its own module, with no imports from the rest of the package, because both the span code and the
telemetry set-up read it.
"""

from __future__ import annotations

__all__ = ["MAX_OPEN", "OPEN", "Scope", "inner_usage"]

MAX_OPEN = 100_000
"""Open scopes kept at most: spans that never end (leaked by their owner) must not grow memory without bound."""


class Scope:
    """One open span inside (or being) a GenAI scope."""

    __slots__ = ("implied", "inner_inference", "inner_stream", "inner_usage", "parent", "stage")

    def __init__(self, parent: Scope | None, stage: str | None, implied: bool = False) -> None:
        self.parent = parent
        self.stage = stage  # the enclosing stage (this span's own, for a stage span)
        self.implied = implied  # the stage is implied by another instrumentation's operation, not a traced_stage
        self.inner_usage = False  # a descendant inference span counted usage
        self.inner_inference = False  # a descendant inference span ended (with or without usage)
        self.inner_stream = False  # a descendant span's stream timings (time to first chunk...) were recorded

    def mark_ancestors(self, *, usage: bool, stream: bool = False) -> None:
        """Tell every enclosing scope that an inference call ended below it (one that counted usage if ``usage``,
        whose stream timings were recorded if ``stream``)."""
        scope = self.parent
        while scope is not None:
            if scope.inner_inference and (scope.inner_usage or not usage) and (scope.inner_stream or not stream):
                return  # already marked, and so are its ancestors
            scope.inner_inference = True
            if usage:
                scope.inner_usage = True
            if stream:
                scope.inner_stream = True
            scope = scope.parent


OPEN: dict[int, Scope] = {}
"""Open scopes by span id (a dict: its single-key operations are atomic under the GIL, no lock needed)."""


def inner_usage(span_id: int) -> bool:
    """True when a span inside the open span ``span_id`` already counted usage (the span must then defer)."""
    scope = OPEN.get(span_id)
    return scope is not None and scope.inner_usage
