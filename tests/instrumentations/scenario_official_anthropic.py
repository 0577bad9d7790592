"""The official OpenTelemetry GenAI instrumentation of anthropic (``opentelemetry-instrumentation-genai-anthropic``).

The anthropic SDK (2.x) also records a span of its own, ``anthropic.messages.create``, inside the instrumentation's
``chat`` span: both carry the call's usage.
"""

from __future__ import annotations

from tests.instrumentations import _scenario


def instrument() -> None:
    from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor

    AnthropicInstrumentor().instrument()


if __name__ == "__main__":
    _scenario.run(instrument, ["anthropic"])
