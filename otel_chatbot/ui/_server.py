"""``otel-chatbot ui``: the web view on a stdlib HTTP server (no web framework), loopback by default.

Routes: ``/`` the page, ``/static/<asset>`` its files, ``/api/view`` the view document (built per request by the
``view`` callable, so a dump file or the stack is read again on each load). Everything else is 404.

Example::

    server = UIServer.start("127.0.0.1", 8765, view=lambda: view_document(load_file("stats.json")))
    ...
    server.close()
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from otel_chatbot._values import json_safe
from otel_chatbot.ui._assets import ASSETS, asset, content_type, render_index

__all__ = ["UIServer", "ViewError"]

logger = logging.getLogger(__name__)


class ViewError(Exception):
    """The source of the view cannot be read; its message (plain words, naming the file or URL) is sent as a 502."""


class UIServer:
    """A running web-view server; ``port`` is the bound port, ``url`` its address, ``close()`` stops it."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    @classmethod
    def start(cls, host: str, port: int, *, view: Callable[[], dict[str, Any]]) -> UIServer:
        """Bind ``host:port`` and serve the web view in a daemon thread.

        Raises:
            OSError: The address cannot be bound (e.g. the port is in use).
        """
        server = ThreadingHTTPServer((host, port), _handler(view, loopback=host in _LOOPBACK_NAMES))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, args=(0.25,), name="otel-chatbot-ui", daemon=True)
        thread.start()
        return cls(server, thread)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in the CLI)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _handler(view: Callable[[], dict[str, Any]], *, loopback: bool = True) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if loopback and not self._local_host():
                # DNS rebinding: a web page whose name now resolves to 127.0.0.1 must not read the view's data.
                self._send(
                    403, "text/plain; charset=utf-8", b"forbidden: open the web view as 127.0.0.1 or localhost\n"
                )
                return
            path = self.path.split("?", 1)[0].split("#", 1)[0]
            if path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", render_index("").encode("utf-8"))
            elif path == "/api/view":
                self._view()
            elif path.startswith("/static/") and path[len("/static/") :] in ASSETS:
                name = path[len("/static/") :]
                self._send(200, content_type(name), asset(name))
            else:
                self._send(
                    404, "text/plain; charset=utf-8", b"not found: the web view is at /, its data at /api/view\n"
                )

        def _local_host(self) -> bool:
            host = (self.headers.get("Host") or "").strip().lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            return name in _LOOPBACK_NAMES

        def _view(self) -> None:
            try:
                body = json.dumps(json_safe(view()), allow_nan=False).encode("utf-8")
            except ViewError as exc:
                self._send(502, "application/json", json.dumps({"error": str(exc)}).encode("utf-8"))
                return
            except Exception:
                logger.exception("internal error in otel_chatbot ui")
                self._send(500, "application/json", b'{"error": "internal error in otel-chatbot ui (see its log)"}')
                return
            self._send(200, "application/json", body)

        def _send(self, status: int, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("ui: %s", format % args)

    return _Handler
