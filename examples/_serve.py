"""Run an ASGI app under uvicorn on a loopback socket we bind ourselves, so ``--port 0`` works and a busy port is one
clear line instead of a traceback."""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def missing_extra(name: str) -> Iterator[None]:
    """Turn a missing optional dependency into one line naming the extra, and exit 2."""
    try:
        yield
    except ModuleNotFoundError as exc:
        print(f"{name}: {exc.name} is not installed: pip install 'otel-chatbot[example]'", file=sys.stderr)
        raise SystemExit(2) from None


class PortInUseError(OSError):
    """The requested port is taken."""


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket; raise :class:`PortInUseError` with one readable line when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                exc.errno, f"port {port} on {host} is already in use; stop that process or pass --port 0 for a free one"
            ) from None
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(app: Any, *, host: str, port: int, port_file: str | None, name: str, log_level: str = "warning") -> int:
    """Serve ``app`` until SIGINT/SIGTERM, writing the bound port to ``port_file`` once listening; an exit code."""
    import uvicorn

    try:
        sock = bind(host, port)
    except PortInUseError as exc:
        print(f"{name}: {exc.strerror}", file=sys.stderr)
        return 2
    bound_port = sock.getsockname()[1]

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown, killing the process before the caller's
            # cleanup (flushing telemetry) runs; we only ask for the shutdown and return normally.
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(app, log_level=log_level, access_log=False, timeout_graceful_shutdown=5)
    server = Server(config)
    if port_file:
        # Written before serving: the socket already accepts connections (the kernel queues them).
        tmp = Path(port_file + ".tmp")
        tmp.write_text(str(bound_port))
        tmp.replace(port_file)
    print(f"{name}: listening on http://{host}:{bound_port}", file=sys.stderr, flush=True)
    server.run(sockets=[sock])
    return 0
