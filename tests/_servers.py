"""Servers the tests start and stop: a uvicorn-served ASGI app and a canned-JSON server in threads, free ports, and
stopping a server process.

Every server started here is stopped when its ``with`` block ends (the suite fails a test that leaves one running).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, AnyStr
from urllib.parse import parse_qs, urlsplit

from tests._http import eventually


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (closed again: a server binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_asgi(app: Any, *, access_log: bool = True) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on a free loopback port; yields its base URL.

    A real server, so responses really stream (httpx's ASGITransport buffers whole bodies).
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=access_log))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-uvicorn", daemon=True)
    thread.start()
    try:
        started = eventually(lambda: True if server.started or not thread.is_alive() else None, 30, 0.01)
        if not (started and thread.is_alive()):
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


Handler = Callable[[str, dict[str, list[str]], bytes], tuple[int, Any]]


@contextmanager
def serve_json(handler: Handler) -> Iterator[str]:
    """Serve ``handler(path, query, body) -> (status, json_body)`` on a loopback port (GET and POST)."""

    class _Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, doc = handler(parts.path, parse_qs(parts.query), body)
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = False  # server_close() joins the request threads: none outlives the block
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="test-json-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def stop_process(process: subprocess.Popen[AnyStr], timeout: float = 15.0) -> AnyStr | None:
    """SIGTERM a server process (SIGKILL after ``timeout`` s) and reap it; returns its stderr when piped."""
    if process.poll() is None:
        process.terminate()
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err
