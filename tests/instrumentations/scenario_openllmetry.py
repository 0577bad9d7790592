"""OpenLLMetry's openai instrumentation (``opentelemetry-instrumentation-openai``, traceloop)."""

from __future__ import annotations

from tests.instrumentations import _scenario


def instrument() -> None:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()


if __name__ == "__main__":
    _scenario.run(instrument, ["openai"])
