"""The ports contract (docs/architecture.md): nothing of the native stack listens on a non-loopback address."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otel_chatbot.stack import RunningStack
from otel_chatbot.stack import _runner as runner

pytestmark = pytest.mark.stack

_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def _listening_sockets() -> dict[str, str]:
    """inode -> local address of every listening TCP socket (IPv4 and IPv6) of this network namespace."""
    found: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == _LISTEN:
                found[fields[9]] = fields[1]
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _is_loopback(hex_address: str) -> bool:
    host, _, _ = hex_address.partition(":")
    if len(host) == 8:  # IPv4, little-endian: 0100007F = 127.0.0.1
        return host.endswith("7F")
    return host == "00000000000000000000000001000000"  # ::1


def test_every_listener_of_the_stack_is_on_loopback(stack: RunningStack) -> None:
    listening = _listening_sockets()
    records = runner.read_records(stack.run_dir)
    assert [r.name for r in records] == ["jaeger", "prometheus", "otelcol"]
    for record in records:
        addresses = [listening[i] for i in _socket_inodes(record.pid) if i in listening]
        assert addresses, record.name
        assert all(_is_loopback(a) for a in addresses), (record.name, addresses)
    # the collector listens exactly where the ports say (OTLP x2, exporter, health, self-metrics)
    collector = next(r for r in records if r.name == "otelcol")
    ports = sorted(int(listening[i].rpartition(":")[2], 16) for i in _socket_inodes(collector.pid) if i in listening)
    expected = [
        int(a.rpartition(":")[2])
        for a in (
            stack.ports.collector_otlp_grpc,
            stack.ports.collector_otlp_http,
            stack.ports.collector_prometheus,
            stack.ports.collector_health,
        )
    ]
    assert ports == sorted([*expected, stack.ports.collector_telemetry_port])
