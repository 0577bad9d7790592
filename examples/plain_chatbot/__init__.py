"""The example chatbot with plain SDK calls and no telemetry code: ``opentelemetry-instrument uvicorn
examples.plain_chatbot.app:app`` (docs/zero-code.md)."""
