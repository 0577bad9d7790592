"""The stack's port check: a listener makes a port busy; TIME-WAIT connections of an earlier run do not."""

from __future__ import annotations

import socket

import pytest

from otel_chatbot.stack import StackError
from otel_chatbot.stack._ports import check_free, free_ports


def _time_wait_on(port: int) -> None:
    """Leave a TIME-WAIT connection on 127.0.0.1:``port``: the listening side closes first, then stops listening."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the side that closes first keeps the TIME-WAIT entry (on the server's port)
        client.recv(1)
        client.close()


def _states(port: int) -> set[str]:
    """TCP states on ``port`` from /proc/net/tcp (hex state codes: 06 TIME-WAIT, 0A LISTEN)."""
    states = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                states.add({"06": "TIME-WAIT", "0A": "LISTEN"}.get(fields[3], fields[3]))
    return states


def test_time_wait_connections_do_not_make_a_port_busy() -> None:
    (port,) = free_ports(1)
    _time_wait_on(port)
    assert "TIME-WAIT" in _states(port) and "LISTEN" not in _states(port)  # the case under test is real
    check_free({"OTEL_CHATBOT_COLLECTOR_OTLP_GRPC": f"127.0.0.1:{port}"})


def test_a_listener_makes_a_port_busy() -> None:
    (port,) = free_ports(1)
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        with pytest.raises(StackError, match=f"port {port} .* OTEL_CHATBOT_COLLECTOR_OTLP_GRPC=127.0.0.1:<free port>"):
            check_free({"OTEL_CHATBOT_COLLECTOR_OTLP_GRPC": f"127.0.0.1:{port}"})
