"""Recording usage by hand: ``oc.record_usage(...)`` and the handle ``with traced_stage(...) as stage`` yields."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span

from otel_chatbot import _values, semconv
from otel_chatbot._internal_errors import handle_internal_errors
from otel_chatbot.spans._extraction import Extracted, count, extract
from otel_chatbot.spans._run import SpanRun, current_run, usage_attributes

__all__ = ["StageHandle", "record_usage"]


class StageHandle:
    """What ``with traced_stage(...) as stage`` yields: the span, and ways to add to it."""

    __slots__ = ("_run",)

    def __init__(self, run: SpanRun) -> None:
        self._run = run

    @property
    def span(self) -> Span:
        """The stage's OpenTelemetry span."""
        return self._run.span

    def set_attribute(self, key: str, value: Any) -> None:
        """Set an attribute on the stage span (values are sanitised and secrets scrubbed). Never raises."""
        with handle_internal_errors():
            self._run.set_attribute(key, value)

    def record_usage(self, input_tokens: int | None = None, output_tokens: int | None = None, **kwargs: Any) -> None:
        """Token usage of this stage by hand; same arguments as :func:`otel_chatbot.record_usage`."""
        _record_on_run(self._run, input_tokens, output_tokens, **kwargs)

    def record_response(self, response: Any) -> None:
        """Read usage, model, id and finish reasons from a provider response (as the decorator does)."""
        with handle_internal_errors():
            extracted = extract(response, self._run.provider)
            if extracted is not None:
                self._run.override().usage.merge(extracted)


_INT64_MAX = 2**63 - 1


def _count(name: str, value: Any) -> int | None:
    """``value`` as a token count, or None; an invalid one (not None) is logged and counted, never recorded."""
    number = count(value)
    if number is None and value is not None:
        _reject(name, value)
    return number


def _reject(name: str, value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        shown = _values.shown_number(value)
    else:
        try:
            shown = repr(value)[:40]
        except Exception:
            shown = f"<{type(value).__name__}>"
    _values.warn_removed(f"record_usage({name}={shown}): not a token count in 0..2^63-1")


def _record_on_run(
    run: SpanRun,
    input_tokens: Any,
    output_tokens: Any,
    *,
    model: str | None = None,
    provider: str | None = None,
    cache_read_tokens: Any = None,
    cache_write_tokens: Any = None,
    reasoning_tokens: Any = None,
    estimated: bool = False,
) -> None:
    override = run.override()
    current = override.usage
    # Several calls in one stage (a retry, a tool loop): record_usage adds up, it does not replace.
    for name, value in (
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
        ("cache_read_tokens", cache_read_tokens),
        ("cache_write_tokens", cache_write_tokens),
        ("reasoning_tokens", reasoning_tokens),
    ):
        number = _count(name, value)
        if number is not None:
            previous = getattr(current, name)
            total = number if previous is None else previous + number
            if total <= _INT64_MAX:
                setattr(current, name, total)
            else:
                _reject(name, total)
    override.model = model or override.model
    override.provider = provider or override.provider
    override.estimated = override.estimated or estimated


def record_usage(
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    *,
    model: str | None = None,
    provider: str | None = None,
    cache_read_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    estimated: bool = False,
) -> None:
    """Record token usage by hand on the current stage span (it wins over what the return value says).

    Example::

        oc.record_usage(input_tokens=812, output_tokens=95, model="gpt-4o-mini")

    Outside any stage it sets usage and cost on the current span, if one is recording. Invalid counts (negative,
    NaN, infinite, non-integral, a bool, beyond 2^63-1, non-numeric) are not recorded: a warning says so, and the call
    never raises.

    Args:
        input_tokens: All input tokens, cached ones included (semconv).
        output_tokens: All output tokens, reasoning ones included.
        model: Model to price the call with (default: the stage's model).
        provider: Provider to price the call with.
        cache_read_tokens: Input tokens read from the provider's prompt cache.
        cache_write_tokens: Input tokens written to the provider's prompt cache.
        reasoning_tokens: Reasoning tokens (part of the output).
        estimated: Mark the counts as estimated (``chatbot.usage.estimated``).
    """
    with handle_internal_errors():
        run = current_run()
        if run is not None:
            _record_on_run(
                run,
                input_tokens,
                output_tokens,
                model=model,
                provider=provider,
                cache_read_tokens=cache_read_tokens,
                cache_write_tokens=cache_write_tokens,
                reasoning_tokens=reasoning_tokens,
                estimated=estimated,
            )
            return
        span = trace.get_current_span()
        if not span.is_recording():
            return
        usage = Extracted(
            input_tokens=_count("input_tokens", input_tokens),
            output_tokens=_count("output_tokens", output_tokens),
            cache_read_tokens=_count("cache_read_tokens", cache_read_tokens),
            cache_write_tokens=_count("cache_write_tokens", cache_write_tokens),
            reasoning_tokens=_count("reasoning_tokens", reasoning_tokens),
        )
        attributes = usage_attributes(usage, model, provider, estimated=estimated)
        if model:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = model
        if provider:
            attributes[semconv.GEN_AI_PROVIDER_NAME] = provider
        span.set_attributes(attributes)
