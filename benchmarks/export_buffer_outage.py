"""The export buffer against the real Collector: absent at app start, then killed under load, then restarted.

Run: ``PYTHONPATH=$PWD python benchmarks/export_buffer_outage.py [buffer|off] [--graceful]`` (BENCHMARKS.md, section
export-buffer). Starts the native stack on free ports in a temporary folder (binaries from the cache), then, in this
process: the Collector stopped; 20 s of load (a trace of 3 spans every ~10 ms); the Collector started; 10 s; the
Collector killed (SIGKILL, or SIGTERM with ``--graceful``); 20 s; started again; 10 s; then counts the traces made and
the traces in Jaeger, and what ``chatbot.telemetry.dropped`` counted. About 90 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from opentelemetry import trace

import otel_chatbot as oc
from otel_chatbot import _losses, env
from otel_chatbot.stack import StackPorts, _native, _runner, ensure_all, start_stack, stop_stack


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["buffer", "off"], nargs="?", default="buffer")
    parser.add_argument("--graceful", action="store_true", help="stop the Collector with SIGTERM, not SIGKILL")
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp()) / "stack"
    binaries = ensure_all(print)
    extra = {env.OTEL_CHATBOT_METRICS_FLUSH_INTERVAL: "1s", env.OTEL_CHATBOT_PROMETHEUS_SCRAPE_INTERVAL: "1s"}
    stack = start_stack(run_dir=run_dir, ports=StackPorts.free(), binaries=binaries, extra_env=extra)
    specs = _native._specs(binaries, stack.config_dir, run_dir, stack.ports, {**stack.ports.environ(), **extra})
    (collector,) = [spec for spec in specs if spec.name == "otelcol"]

    def collector_down(sig: int) -> None:
        for record in _runner.read_records(run_dir):
            if record.name == "otelcol" and record.alive():
                os.kill(record.pid, sig)
                _runner._reap(record.pid)
        _runner._write_records(run_dir, [r for r in _runner.read_records(run_dir) if r.name != "otelcol"])

    def collector_up() -> None:
        _runner.wait_healthy([_runner.start(collector, run_dir)], timeout=60)

    made = 0
    try:
        service = f"outage-{args.mode}-{uuid.uuid4().hex[:6]}"
        os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "500"
        os.environ[env.OTEL_CHATBOT_EXPORT_BUFFER] = tempfile.mkdtemp() if args.mode == "buffer" else "off"
        collector_down(signal.SIGKILL)
        tel = oc.configure(service, endpoint=stack.collector_otlp_grpc_url, export_timeout=5)
        tracer = trace.get_tracer("outage")

        def load(seconds: float) -> None:
            nonlocal made
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                with tracer.start_as_current_span("request", kind=trace.SpanKind.SERVER):
                    with tracer.start_as_current_span("retrieval"):
                        pass
                    with tracer.start_as_current_span("generation"):
                        pass
                made += 1
                time.sleep(0.01)

        load(20)
        print(f"collector absent at start: {made} traces made", flush=True)
        collector_up()
        load(10)
        collector_down(signal.SIGTERM if args.graceful else signal.SIGKILL)
        load(20)
        collector_up()
        load(10)
        tel.force_flush()

        def in_jaeger() -> int:
            url = f"{stack.jaeger_url}/api/traces?service={service}&limit=100000&lookback=1h"
            with urllib.request.urlopen(url, timeout=30) as response:
                return len({t["traceID"] for t in json.load(response)["data"]})

        found = 0
        for _ in range(30):
            found = in_jaeger()
            if found >= made:
                break
            time.sleep(2)
        print(
            f"mode={args.mode} kill={'SIGTERM' if args.graceful else 'SIGKILL'}: traces made {made}, in Jaeger {found} "
            f"({found / made * 100:.1f}%); counted dropped: {_losses.totals()}",
            flush=True,
        )
        tel.shutdown(5)
    finally:
        stop_stack(run_dir)


if __name__ == "__main__":
    main()
