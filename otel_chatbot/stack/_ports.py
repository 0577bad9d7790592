"""Where the native stack listens: loopback defaults, each overridable by one environment variable.

The ports table is part of the contract in docs/architecture.md.

The same variables are expanded by the collector and Jaeger configs (``${env:VAR:-default}``), so the files in
``collector/`` and the processes this package starts always agree.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from typing import Final

from otel_chatbot import env
from otel_chatbot.stack._errors import StackError

_DEFAULTS: Final[dict[str, str]] = {
    env.OTEL_CHATBOT_COLLECTOR_OTLP_GRPC: "127.0.0.1:4317",
    env.OTEL_CHATBOT_COLLECTOR_OTLP_HTTP: "127.0.0.1:4318",
    env.OTEL_CHATBOT_COLLECTOR_PROMETHEUS: "127.0.0.1:8889",
    env.OTEL_CHATBOT_COLLECTOR_HEALTH: "127.0.0.1:13133",
    env.OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT: "18888",
    env.OTEL_CHATBOT_JAEGER_OTLP_GRPC: "127.0.0.1:14317",
    env.OTEL_CHATBOT_JAEGER_OTLP_HTTP: "127.0.0.1:14318",
    env.OTEL_CHATBOT_JAEGER_QUERY_HTTP: "127.0.0.1:16686",
    env.OTEL_CHATBOT_JAEGER_QUERY_GRPC: "127.0.0.1:16685",
    env.OTEL_CHATBOT_PROMETHEUS_LISTEN: "127.0.0.1:9090",
}


@dataclasses.dataclass(frozen=True)
class StackPorts:
    """The loopback addresses of one native stack (``host:port`` strings, except the telemetry port).

    Example::

        ports = StackPorts.from_env()  # the loopback defaults unless OTEL_CHATBOT_* variables say otherwise
        ports.collector_otlp_grpc  # '127.0.0.1:4317'
    """

    collector_otlp_grpc: str
    collector_otlp_http: str
    collector_prometheus: str
    collector_health: str
    collector_telemetry_port: int
    jaeger_otlp_grpc: str
    jaeger_otlp_http: str
    jaeger_query_http: str
    jaeger_query_grpc: str
    prometheus_listen: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackPorts:
        """Read the addresses from ``environ`` (default ``os.environ``), falling back to the loopback defaults."""
        source = os.environ if environ is None else environ
        values = {name: source.get(name) or default for name, default in _DEFAULTS.items()}
        for name, value in values.items():
            _check_loopback(name, value)
        return cls(
            collector_otlp_grpc=values[env.OTEL_CHATBOT_COLLECTOR_OTLP_GRPC],
            collector_otlp_http=values[env.OTEL_CHATBOT_COLLECTOR_OTLP_HTTP],
            collector_prometheus=values[env.OTEL_CHATBOT_COLLECTOR_PROMETHEUS],
            collector_health=values[env.OTEL_CHATBOT_COLLECTOR_HEALTH],
            collector_telemetry_port=int(values[env.OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT]),
            jaeger_otlp_grpc=values[env.OTEL_CHATBOT_JAEGER_OTLP_GRPC],
            jaeger_otlp_http=values[env.OTEL_CHATBOT_JAEGER_OTLP_HTTP],
            jaeger_query_http=values[env.OTEL_CHATBOT_JAEGER_QUERY_HTTP],
            jaeger_query_grpc=values[env.OTEL_CHATBOT_JAEGER_QUERY_GRPC],
            prometheus_listen=values[env.OTEL_CHATBOT_PROMETHEUS_LISTEN],
        )

    @classmethod
    def free(cls) -> StackPorts:
        """Pick free loopback ports for every address (what the tests use)."""
        ports = free_ports(len(_DEFAULTS))
        addresses = [f"127.0.0.1:{port}" for port in ports]
        return cls(
            collector_otlp_grpc=addresses[0],
            collector_otlp_http=addresses[1],
            collector_prometheus=addresses[2],
            collector_health=addresses[3],
            collector_telemetry_port=ports[4],
            jaeger_otlp_grpc=addresses[5],
            jaeger_otlp_http=addresses[6],
            jaeger_query_http=addresses[7],
            jaeger_query_grpc=addresses[8],
            prometheus_listen=addresses[9],
        )

    def environ(self) -> dict[str, str]:
        """The ``OTEL_CHATBOT_*`` variables that make the configs in ``collector/`` listen on these addresses."""
        return {
            env.OTEL_CHATBOT_COLLECTOR_OTLP_GRPC: self.collector_otlp_grpc,
            env.OTEL_CHATBOT_COLLECTOR_OTLP_HTTP: self.collector_otlp_http,
            env.OTEL_CHATBOT_COLLECTOR_PROMETHEUS: self.collector_prometheus,
            env.OTEL_CHATBOT_COLLECTOR_HEALTH: self.collector_health,
            env.OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT: str(self.collector_telemetry_port),
            env.OTEL_CHATBOT_JAEGER_OTLP_GRPC: self.jaeger_otlp_grpc,
            env.OTEL_CHATBOT_JAEGER_OTLP_HTTP: self.jaeger_otlp_http,
            env.OTEL_CHATBOT_JAEGER_QUERY_HTTP: self.jaeger_query_http,
            env.OTEL_CHATBOT_JAEGER_QUERY_GRPC: self.jaeger_query_grpc,
            env.OTEL_CHATBOT_PROMETHEUS_LISTEN: self.prometheus_listen,
            env.OTEL_CHATBOT_PROMETHEUS_URL: f"http://{self.prometheus_listen}",
        }

    def by_variable(self) -> dict[str, str]:
        """Each listening address keyed by the variable that moves it (for "port in use" messages)."""
        addresses = self.environ()
        addresses[env.OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT] = f"127.0.0.1:{self.collector_telemetry_port}"
        addresses.pop(env.OTEL_CHATBOT_PROMETHEUS_URL)
        return addresses


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports that are free on 127.0.0.1 right now."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def split_address(address: str) -> tuple[str, int]:
    """``'127.0.0.1:4317'`` -> ``('127.0.0.1', 4317)``."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def check_free(addresses: Mapping[str, str]) -> None:
    """Raise a one-line :class:`StackError` naming the variable to change when an address is already taken."""
    for variable, address in addresses.items():
        host, port = split_address(address)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As the stack's Go binaries do when they listen: connections of an earlier run still in TIME-WAIT do not
            # make the port busy; a socket that listens there does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
                sock.listen(1)
            except OSError:
                raise StackError(
                    f"port {port} ({address}) is already in use: stop what listens there "
                    f"(`otel-chatbot stack down` if it is an earlier stack) or set {variable}=127.0.0.1:<free port>"
                ) from None


def _check_loopback(variable: str, value: str) -> None:
    if variable == env.OTEL_CHATBOT_COLLECTOR_TELEMETRY_PORT:
        if not value.isdigit():
            raise StackError(f"{variable}={value!r} must be a port number, e.g. 18888")
        return
    try:
        host, _ = split_address(value)
    except ValueError:
        raise StackError(f"{variable}={value!r} must be host:port, e.g. 127.0.0.1:4317") from None
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise StackError(f"{variable}={value!r}: the native stack listens on loopback only; use 127.0.0.1:<port>")
