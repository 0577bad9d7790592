"""The embedded ``/metrics`` and ``/metrics/latency`` on a side port, for apps nobody can call ``tel.mount(app)`` in.

The zero-code path (``opentelemetry-instrument``) starts one when ``OTEL_CHATBOT_METRICS_PORT`` is set: a stdlib
``ThreadingHTTPServer`` in a daemon thread, so it needs no web framework and never holds the process open.

Example::

    server = MetricsServer.start("127.0.0.1", 9464, latency=tel.report().latency_json, prometheus=render)
    ...
    server.close()
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from otel_chatbot._values import json_safe
from otel_chatbot.stats._exposition import CONTENT_TYPE

__all__ = ["MetricsServer"]

logger = logging.getLogger(__name__)


class MetricsServer:
    """A running side-port server; ``port`` is the bound port, ``close()`` stops it."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @classmethod
    def start(
        cls,
        host: str,
        port: int,
        *,
        latency: Callable[[], Mapping[str, Any]],
        prometheus: Callable[[], str],
        path: str = "/metrics",
    ) -> MetricsServer:
        """Bind ``host:port`` and serve ``GET {path}`` (Prometheus text) and ``GET {path}/latency`` (JSON).

        Raises:
            OSError: The address cannot be bound (e.g. the port is in use).
        """
        path = "/" + path.strip("/")
        routes: dict[str, tuple[str, Callable[[], bytes]]] = {
            path: (CONTENT_TYPE, lambda: prometheus().encode()),
            f"{path}/latency": ("application/json", lambda: json.dumps(json_safe(latency()), allow_nan=False).encode()),
        }
        server = ThreadingHTTPServer((host, port), _handler(routes))
        server.daemon_threads = True  # a scrape in progress never holds the process open at exit
        thread = threading.Thread(target=server.serve_forever, args=(0.25,), name="otel-chatbot-metrics", daemon=True)
        thread.start()
        return cls(server, thread)

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler(routes: Mapping[str, tuple[str, Callable[[], bytes]]]) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0].rstrip("/") or "/")
            if route is None:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /metrics/latency\n")
                return
            content_type, render = route
            try:
                body = render()
            except Exception:
                # Never let a rendering bug kill the thread; the scrape fails, the app goes on.
                logger.exception("internal error in otel_chatbot; your code is unaffected")
                self._send(500, "text/plain; charset=utf-8", b"internal error\n")
                return
            self._send(200, content_type, body)

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes are not worth a log line each

    return _Handler
