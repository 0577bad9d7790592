"""A 60 s Collector outage under load: what reaches Jaeger, what it costs the app (latency, memory, disk).

Run from the repository root: ``python -m benchmarks.outage [--concurrency 16] [--down 60]`` (BENCHMARKS.md, section
outage). ``--export-buffer off`` runs the same with the SDK's disk buffer off (what the app lost before issue 13).

Everything is a real process on loopback: a native stack of its own (free ports, a temporary run folder: otelcol-
chatbot with ``collector/otelcol.yaml``, Jaeger v2 with ``collector/jaeger.yaml``, Prometheus), the local LLM server,
the example chatbot (``python -m examples.rag_chatbot``, OTLP/gRPC to the collector, its export buffer in the run
folder), and ``--concurrency`` conversations driven from this process. Phases: ``--before`` s of load, the collector
SIGKILLed and kept down ``--down`` s, started again (same config, same queue folder), ``--after`` s more load. Then
the load stops and Jaeger is polled (the app still running: its buffer replays) until it holds every trace the app
answered with, or ``--recovery-timeout`` s pass.

Reported: requests, errors, traces made (one SERVER root per request: the trace ids the app answered with), traces in
Jaeger after recovery, the time from the collector's restart until Jaeger held them all, the client-side latency
p50/p99 of requests sent before vs during the outage, the app's peak RSS before vs during, the peak disk use of the
app's export buffer and of the collector's queue folder (sampled every 0.25 s), the app's
``chatbot_telemetry_dropped_total`` (its ``/metrics``) at the end, and what Jaeger's Badger folder takes on disk.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from examples.loadgen.load import percentile
from otel_chatbot import env
from otel_chatbot.stack import ensure_all
from tests.integration.outage._harness import (
    Answer,
    Load,
    chatbot,
    disk_bytes,
    jaeger_trace_ids,
    llm_server,
    own_stack,
    rss_bytes,
)

SERVICE = "outage-bench-bot"


@dataclass
class Samples:
    """Peaks per phase, sampled by a thread: the app's RSS, the buffer's and the queue's disk use."""

    rss: dict[str, int] = field(default_factory=dict)
    buffer: dict[str, int] = field(default_factory=dict)
    queue: dict[str, int] = field(default_factory=dict)

    def add(self, phase: str, rss: int, buffer: int, queue: int) -> None:
        for peaks, value in ((self.rss, rss), (self.buffer, buffer), (self.queue, queue)):
            peaks[phase] = max(peaks.get(phase, 0), value)


class Sampler:
    def __init__(self, app_pid: int, buffer_dir: Path, queue_dir: Path) -> None:
        self.phase = "before"
        self.samples = Samples()
        self._stop = threading.Event()
        self._args = (app_pid, buffer_dir, queue_dir)
        self._thread = threading.Thread(target=self._run, name="outage-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pid, buffer_dir, queue_dir = self._args
        while not self._stop.wait(0.25):
            self.samples.add(self.phase, rss_bytes(pid), disk_bytes(buffer_dir), disk_bytes(queue_dir))

    def stop(self) -> Samples:
        self._stop.set()
        self._thread.join(5)
        return self.samples


def _latencies(answers: list[Answer], start: float, end: float) -> list[float]:
    return [a.latency_s * 1000 for a in answers if a.ok and start <= a.started < end]


def _dropped(app_url: str) -> dict[str, float]:
    """``chatbot_telemetry_dropped_total`` of the app's embedded ``/metrics``, by signal/reason."""
    try:
        with urllib.request.urlopen(f"{app_url}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError as exc:
        return {"unreadable": float("nan"), f"error: {exc}": 0.0}
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"chatbot_telemetry_dropped_total\{([^}]*)\}\s+(\S+)", line)
        if match:
            found[match[1]] = float(match[2])
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    binaries = ensure_all(lambda message: print(message, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="outage-bench-") as tmp:
        folder = Path(tmp)
        llm = llm_server(folder / "llm")
        try:
            llm_url = llm.wait_url()
            with own_stack(folder / "stack", binaries) as stack:
                extra = {env.OTEL_CHATBOT_EXPORT_BUFFER: "off"} if args.export_buffer == "off" else {}
                app = chatbot(
                    folder / "app",
                    llm_url=llm_url,
                    otlp_endpoint=stack.running.collector_otlp_grpc_url,
                    service=SERVICE,
                    extra_env=extra,
                )
                try:
                    return _measure(args, stack, app, folder)
                finally:
                    app.stop()
                    if "Traceback" in app.stderr():
                        print("the app printed a traceback:\n" + app.stderr()[-3000:], file=sys.stderr)
        finally:
            llm.stop()


def _measure(args: argparse.Namespace, stack: Any, app: Any, folder: Path) -> dict[str, Any]:
    since = time.time()
    app_url = app.wait_url()
    sampler = Sampler(app.pid, folder / "app" / "export-buffer", stack.run_dir / "otelcol-queue")
    load = Load(app_url, args.concurrency).start()
    try:
        t_start = time.monotonic()
        time.sleep(args.before)
        t_kill = time.monotonic()
        stack.kill("otelcol")
        sampler.phase = "during"
        time.sleep(args.down)
        stack.start("otelcol")
        t_restart = time.monotonic()
        sampler.phase = "after"
        time.sleep(args.after)
    finally:
        answers = load.stop()
    t_end = time.monotonic()
    made = {a.trace_id for a in answers if a.trace_id}
    in_jaeger: set[str] = set()
    deadline = time.monotonic() + args.recovery_timeout
    while time.monotonic() < deadline:
        in_jaeger = jaeger_trace_ids(stack.running.jaeger_url, SERVICE, since)
        if made <= in_jaeger:
            break
        time.sleep(1.0)
    recovered_s = time.monotonic() - t_restart if made <= in_jaeger else None
    dropped = _dropped(app_url)
    badger = disk_bytes(stack.run_dir / "jaeger-badger")
    samples = sampler.stop()
    before, during = _latencies(answers, t_start, t_kill), _latencies(answers, t_kill, t_restart)
    return {
        "concurrency": args.concurrency,
        "export_buffer": args.export_buffer,
        "down_s": round(t_restart - t_kill, 1),
        "load_s": round(t_end - t_start, 1),
        "requests": len(answers),
        "errors": sum(not a.ok for a in answers),
        "requests_during_outage": sum(t_kill <= a.started < t_restart for a in answers),
        "traces_made": len(made),
        "traces_in_jaeger": len(in_jaeger & made),
        "traces_missing": len(made - in_jaeger),
        "all_in_jaeger_s_after_restart": None if recovered_s is None else round(recovered_s, 1),
        "p50_ms": {"before": round(percentile(before, 50), 1), "during": round(percentile(during, 50), 1)},
        "p99_ms": {"before": round(percentile(before, 99), 1), "during": round(percentile(during, 99), 1)},
        "app_rss_peak_mib": {k: round(v / 2**20, 1) for k, v in samples.rss.items()},
        "export_buffer_disk_peak_mib": {k: round(v / 2**20, 2) for k, v in samples.buffer.items()},
        "collector_queue_disk_peak_mib": {k: round(v / 2**20, 2) for k, v in samples.queue.items()},
        "app_dropped_total": dropped,
        "jaeger_badger_disk_mib": round(badger / 2**20, 1),
        "jaeger_badger_bytes_per_trace": round(badger / max(1, len(in_jaeger))),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16, help="conversations in flight (default 16)")
    parser.add_argument("--before", type=float, default=20.0, help="seconds of load before the kill (default 20)")
    parser.add_argument("--down", type=float, default=60.0, help="seconds the collector stays down (default 60)")
    parser.add_argument("--after", type=float, default=15.0, help="seconds of load after the restart (default 15)")
    parser.add_argument("--recovery-timeout", type=float, default=180.0, help="how long to wait for Jaeger")
    parser.add_argument("--export-buffer", choices=["on", "off"], default="on", help="the app's disk buffer")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    figures = run(args)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0 if figures["traces_missing"] == 0 and figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
