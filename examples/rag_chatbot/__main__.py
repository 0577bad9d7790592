"""``python -m examples.rag_chatbot [--port 0 --port-file F]``: the chatbot under uvicorn, with telemetry.

The provider is ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` (checked once at start-up: an unreachable provider or a
rejected key is one line and exit code 3; a configuration mistake is one line naming the variable and exit code 2).
Spans go to the embedded statistics and, when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, to the Collector.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from examples._serve import missing_extra

with missing_extra("rag_chatbot"):
    from fastapi.responses import JSONResponse

    import otel_chatbot as oc
    from examples._serve import serve
    from examples.rag_chatbot.app import create_app
    from examples.rag_chatbot.llm import LLMClient, ProviderError
    from examples.rag_chatbot.settings import Settings, SettingsError
    from examples.rag_chatbot.system import SystemMetrics

SERVICE_NAME = "rag-chatbot"


async def _preflight(settings: Settings) -> None:
    client = LLMClient(settings.openai_base_url, settings.openai_api_key, settings.model, timeout_s=10.0)
    try:
        await client.check()
    finally:
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.rag_chatbot", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port (see --port-file)")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--no-preflight", action="store_true", help="do not check the provider at start-up")
    parser.add_argument(
        "--dump", metavar="FILE", help="at shutdown, write the statistics here (otel-chatbot report FILE)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="rag_chatbot: %(message)s")

    # A configuration mistake is one line naming the setting and exit code 2, never a traceback.
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"rag_chatbot: {exc}", file=sys.stderr)
        return 2
    service = os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME  # as in asgi.py
    try:
        tel = oc.configure(service)  # OTEL_* variables, OTEL_CHATBOT_LEDGER: ConfigurationError names them
    except oc.ConfigurationError as exc:
        print(f"rag_chatbot: {exc}", file=sys.stderr)
        return 2
    if not args.no_preflight:
        try:
            asyncio.run(_preflight(settings))
        except ProviderError as exc:
            print(f"rag_chatbot: {exc}", file=sys.stderr)
            tel.shutdown(timeout=5.0)
            return 3
    with missing_extra("rag_chatbot"):  # bm25s and the system-metrics instrumentation load here
        system = SystemMetrics(service, os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
        app = create_app(settings, tracer_provider=tel.tracer_provider, telemetry=tel)

    @app.get("/system")
    async def system_metrics() -> JSONResponse:
        return JSONResponse(system.snapshot())

    try:
        return serve(app, host=args.host, port=args.port, port_file=args.port_file, name="rag_chatbot")
    finally:
        system.shutdown()
        tel.force_flush(timeout=5.0)
        if args.dump:
            tel.dump(args.dump)
        tel.shutdown(timeout=5.0)


if __name__ == "__main__":
    sys.exit(main())
