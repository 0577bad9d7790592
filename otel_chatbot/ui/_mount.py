"""``Telemetry.mount_ui(app)``: the web view inside a FastAPI app, behind the app's own dependencies.

FastAPI is imported lazily (the ``fastapi`` extra). Every route is a plain ``def`` handler, so FastAPI runs it in its
thread pool and a snapshot never blocks the event loop; each route carries the user's ``dependencies`` (e.g. an auth
check that raises ``HTTPException(401)``), so nothing of the view is reachable without passing them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from otel_chatbot._values import json_safe
from otel_chatbot.ui._assets import ASSETS, asset, content_type, render_index

__all__ = ["mount_ui"]


def mount_ui(
    app: Any,
    view: Callable[[], dict[str, Any]],
    *,
    path: str = "/otel-chatbot",
    dependencies: Sequence[Any] | None = None,
) -> None:
    """Add ``GET {path}/``, ``{path}/api/view`` and ``{path}/static/<asset>`` to ``app``.

    Args:
        app: A ``fastapi.FastAPI`` (or ``APIRouter``).
        view: Builds the view document (called per ``/api/view`` request).
        path: Where to mount (default ``/otel-chatbot``).
        dependencies: FastAPI dependencies (``fastapi.Depends(...)``) applied to every route.
    """
    try:
        from fastapi import HTTPException
        from fastapi.responses import HTMLResponse, JSONResponse, Response
    except ImportError as exc:  # pragma: no cover - the fastapi extra is part of dev
        raise ImportError("mount_ui() needs FastAPI: pip install 'otel-chatbot[fastapi]'") from exc

    base = "/" + path.strip("/") if path.strip("/") else ""
    deps = list(dependencies or ())

    def index() -> HTMLResponse:
        return HTMLResponse(render_index(base), headers={"Cache-Control": "no-store"})

    def api_view() -> JSONResponse:
        # strict JSON in UTF-8: a span value from another instrumentation may hold a lone surrogate or a NaN
        return JSONResponse(json_safe(view()), headers={"Cache-Control": "no-store"})

    def static(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(status_code=404, detail="not found")
        return Response(asset(name), media_type=content_type(name))

    add = app.add_api_route
    add(f"{base}/", index, methods=["GET"], include_in_schema=False, dependencies=deps)
    if base:
        add(base, index, methods=["GET"], include_in_schema=False, dependencies=deps)
    add(f"{base}/api/view", api_view, methods=["GET"], include_in_schema=False, dependencies=deps)
    add(f"{base}/static/{{name:path}}", static, methods=["GET"], include_in_schema=False, dependencies=deps)
