"""Jaeger's Badger store keeps traces for ``OTEL_CHATBOT_JAEGER_RETENTION`` and no longer (about 35 s)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from otel_chatbot import env
from otel_chatbot.stack import Binaries
from tests._http import eventually, get_json
from tests.integration.outage._harness import jaeger_trace_ids, own_stack
from tests.integration.stack._helpers import run_app

pytestmark = pytest.mark.stack

SERVICE = "outage-retention-bot"


def test_traces_expire_after_the_retention(stack_binaries: Binaries, tmp_path: Path) -> None:
    since = time.time()
    with own_stack(tmp_path / "stack", stack_binaries, {env.OTEL_CHATBOT_JAEGER_RETENTION: "20s"}) as stack:
        jaeger = stack.running.jaeger_url
        sent_at = time.monotonic()
        run_app(stack.running.collector_otlp_grpc_url, SERVICE, 5)
        stored = eventually(lambda: len(ids) if len(ids := jaeger_trace_ids(jaeger, SERVICE, since)) == 5 else None, 20)
        assert stored == 5
        assert SERVICE in (get_json(f"{jaeger}/api/services")["data"] or [])
        assert (stack.run_dir / "jaeger-badger" / "keys").is_dir()
        assert time.monotonic() - sent_at < 20, "too slow to see the traces before they expire"
        gone = eventually(lambda: True if not jaeger_trace_ids(jaeger, SERVICE, since) else None, 40)
        assert gone, "the traces outlived their retention"
        assert time.monotonic() - sent_at >= 19.5
