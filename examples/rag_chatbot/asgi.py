"""The chatbot as an importable ASGI app, for process managers that run several workers behind one port::

    uvicorn --workers 2 examples.rag_chatbot.asgi:app
    gunicorn -k uvicorn.workers.UvicornWorker -w 2 examples.rag_chatbot.asgi:app

Importing this module calls ``oc.configure()`` once in each worker process (uvicorn spawns its workers, gunicorn
forks them before importing the app), so every worker has its own provider, its own ``service.instance.id`` and its
own OTLP stream: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, the Collector's Prometheus sums the workers' series
over ``instance``. The embedded ``/metrics`` answers for the worker that serves the scrape only
(docs/sampling-and-workers.md). With ``gunicorn --preload`` the master configures before forking: each worker still
gets its own instance id and metric counts and the SDK restarts its export threads, but a usage ledger's writer
thread does not survive the fork, so with a ledger call ``oc.configure()`` in a ``post_fork`` hook instead.

Configuration is the environment: ``OTEL_SERVICE_NAME`` (default ``rag-chatbot``), the ``OTEL_*`` variables
``oc.configure()`` reads (endpoint, sampler, ``OTEL_METRIC_EXPORT_INTERVAL``), and the app's own (``OPENAI_BASE_URL``,
``OPENAI_API_KEY``, ``CHATBOT_*``: examples/rag_chatbot/settings.py). There is no provider pre-flight check here
(``python -m examples.rag_chatbot`` has one): a worker must start even when the provider is briefly unreachable.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator

from fastapi import FastAPI

import otel_chatbot as oc
from examples.rag_chatbot.app import create_app
from examples.rag_chatbot.settings import Settings, SettingsError

SERVICE_NAME = "rag-chatbot"


def build_app() -> FastAPI:
    """Configure telemetry for this process and build the instrumented chatbot, ``/metrics`` mounted.

    A configuration mistake stops the process with one line naming the variable (``SystemExit``), not a traceback.
    """
    try:
        settings = Settings.from_env()
        tel = oc.configure(os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME)
    except (SettingsError, oc.ConfigurationError) as exc:
        print(f"rag_chatbot: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    app = create_app(settings, tracer_provider=tel.tracer_provider, telemetry=tel)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        async with inner(application):
            yield
        # A worker being stopped (SIGTERM, --max-requests, a reload) exports its last spans and metrics now rather
        # than losing up to one export interval; the SDK's exit hook shuts the providers down afterwards.
        tel.force_flush(timeout=5.0)

    app.router.lifespan_context = lifespan
    return app


app = build_app()
