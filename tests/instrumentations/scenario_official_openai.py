"""The official OpenTelemetry GenAI instrumentation of openai (``opentelemetry-instrumentation-genai-openai``)."""

from __future__ import annotations

from tests.instrumentations import _scenario


def instrument() -> None:
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()


if __name__ == "__main__":
    _scenario.run(instrument, ["openai"])
