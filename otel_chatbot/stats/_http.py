"""``Telemetry.mount(app)``: ``GET /metrics/latency`` (JSON) and ``GET /metrics`` (Prometheus text) on a FastAPI app.

FastAPI is imported lazily: it lives in the ``fastapi`` extra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_chatbot.stats._exposition import CONTENT_TYPE, render_prometheus
from otel_chatbot.stats._snapshot import StatsSnapshot

__all__ = ["mount"]


def mount(app: Any, snapshot: Callable[[], StatsSnapshot], *, path: str = "/metrics") -> None:
    """Add the embedded endpoints to ``app``.

    ``GET {path}/latency`` answers ``{stage: {count, mean_ms, p50_ms, p95_ms, p99_ms, share}}``; ``GET {path}``
    answers the Prometheus text exposition with the metric names of docs/metrics.md. Both are plain ``def`` handlers, so
    FastAPI runs them in its thread pool and a snapshot never blocks the event loop.

    Args:
        app: A ``fastapi.FastAPI`` (or ``APIRouter``).
        snapshot: Returns the current statistics (``Telemetry.report``).
        path: Where to mount (default ``/metrics``).
    """
    try:
        from fastapi.responses import JSONResponse, Response
    except ImportError as exc:  # pragma: no cover - the fastapi extra is part of dev
        raise ImportError("mount() needs FastAPI: pip install 'otel-chatbot[fastapi]'") from exc

    path = "/" + path.strip("/")

    def latency() -> JSONResponse:
        return JSONResponse(snapshot().latency_json())

    def metrics() -> Response:
        return Response(render_prometheus(snapshot()), media_type=CONTENT_TYPE)

    app.add_api_route(f"{path}/latency", latency, methods=["GET"], include_in_schema=False)
    app.add_api_route(path, metrics, methods=["GET"], include_in_schema=False)
