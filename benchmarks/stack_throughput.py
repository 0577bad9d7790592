"""Native stack throughput and freshness: spans/s otelcol-chatbot accepts AND delivers to Jaeger with zero loss.

Starts its own stack (free loopback ports, a temporary run folder), then for ``--duration`` seconds:

* a SEPARATE sender process pushes OTLP/gRPC at ``--rate`` spans/s: traces of ``--spans-per-trace`` chatbot stage
  spans (GenAI attributes, tokens, cost), ``--batch`` spans per request, deterministic trace ids;
* this process measures freshness: every 0.5 s it sends one probe span and polls Jaeger's ``/api/traces/{id}`` until
  the span is visible (span end -> visible through the query API).

Zero loss is checked on real counters, after the pipeline drained: every request the sender made was answered OK;
the collector accepted = sent, refused = 0, exported to Jaeger = accepted, failed = 0; Jaeger's receiver accepted =
sent + probes; and a sample of 300 traces fetched by id from Jaeger's API is complete. Everything is loopback only and
every loop is bounded in count and time.

    python benchmarks/stack_throughput.py --rate 20000 --duration 60
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

STAGES = [
    ("retrieval faq-index", "retrieval", "retrieval", trace_pb2.Span.SPAN_KIND_CLIENT),
    ("chat gpt-4o-mini", "generation", "chat", trace_pb2.Span.SPAN_KIND_CLIENT),
    ("update_memory", "memory_update", "update_memory", trace_pb2.Span.SPAN_KIND_INTERNAL),
]


def _attr(key: str, value: str | int | float) -> common_pb2.KeyValue:
    if isinstance(value, str):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))
    if isinstance(value, int):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(int_value=value))
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(double_value=value))


def trace_id(seed: int, number: int) -> bytes:
    return seed.to_bytes(8, "big") + number.to_bytes(8, "big")


def build_request(
    service: str, seed: int, first_trace: int, traces: int, spans_per_trace: int, now_ns: int
) -> trace_service_pb2.ExportTraceServiceRequest:
    """``traces`` traces, each a SERVER root and ``spans_per_trace - 1`` stage spans (retrieval/generation/memory)."""
    scope = trace_pb2.ScopeSpans(scope=common_pb2.InstrumentationScope(name="otel_chatbot.bench"))
    for t in range(first_trace, first_trace + traces):
        tid = trace_id(seed, t)
        root_id = (t * 64 + 1).to_bytes(8, "big")
        root = scope.spans.add(
            trace_id=tid,
            span_id=root_id,
            name="POST /chat",
            kind=trace_pb2.Span.SPAN_KIND_SERVER,
            start_time_unix_nano=now_ns - 50_000_000,
            end_time_unix_nano=now_ns,
        )
        root.attributes.append(_attr("http.route", "/chat"))
        for s in range(1, spans_per_trace):
            name, stage, operation, kind = STAGES[(s - 1) % len(STAGES)]
            span = scope.spans.add(
                trace_id=tid,
                span_id=(t * 64 + 1 + s).to_bytes(8, "big"),
                parent_span_id=root_id,
                name=name,
                kind=kind,
                start_time_unix_nano=now_ns - 40_000_000 + s * 1_000_000,
                end_time_unix_nano=now_ns - 39_000_000 + s * 2_000_000,
            )
            span.attributes.extend([_attr("chatbot.stage", stage), _attr("gen_ai.operation.name", operation)])
            if stage == "generation":
                span.attributes.extend(
                    [
                        _attr("gen_ai.request.model", "gpt-4o-mini"),
                        _attr("gen_ai.provider.name", "openai"),
                        _attr("gen_ai.usage.input_tokens", 812),
                        _attr("gen_ai.usage.output_tokens", 95),
                        _attr("gen_ai.usage.cost.amount", 0.0001788),
                    ]
                )
    resource = resource_pb2.Resource(attributes=[_attr("service.name", service)])
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=resource, scope_spans=[scope])]
    )


def send_main(args: argparse.Namespace) -> int:
    """The sender process: paced OTLP/gRPC export requests for ``duration`` seconds; prints a JSON report."""
    channel = grpc.insecure_channel(args.endpoint)
    stub: Any = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
    traces_per_request = max(1, args.batch // args.spans_per_trace)
    spans_per_request = traces_per_request * args.spans_per_trace
    interval = spans_per_request / args.rate
    max_requests = int(args.duration * args.rate / spans_per_request)
    started = time.monotonic()
    ok = failed = 0
    next_trace = 0
    futures: list[Any] = []
    for i in range(max_requests):  # bounded: duration x rate spans, no more
        target = started + i * interval
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        request = build_request(
            args.service, args.seed, next_trace, traces_per_request, args.spans_per_trace, time.time_ns()
        )
        next_trace += traces_per_request
        futures.append(stub.Export.future(request, timeout=30))
        while len(futures) > 16:  # at most 16 requests in flight
            try:
                futures.pop(0).result()
                ok += 1
            except grpc.RpcError:
                failed += 1
    for future in futures:
        try:
            future.result()
            ok += 1
        except grpc.RpcError:
            failed += 1
    elapsed = time.monotonic() - started
    channel.close()
    json.dump(
        {
            "requests_ok": ok,
            "requests_failed": failed,
            "traces": next_trace,
            "spans": next_trace * args.spans_per_trace,
            "elapsed_s": elapsed,
            "achieved_spans_per_s": next_trace * args.spans_per_trace / elapsed,
        },
        sys.stdout,
    )
    return 0


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _sum(text: str, metric: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(metric + "{") and not line.startswith(metric + " "):
            continue
        name_and_labels, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in name_and_labels for k, v in labels.items()):
            total += float(value)
    return total


def _visible(jaeger_url: str, tid: bytes) -> bool:
    try:
        with urllib.request.urlopen(f"{jaeger_url}/api/traces/{tid.hex()}", timeout=5) as response:
            data = json.loads(response.read())
    except urllib.error.HTTPError:
        return False
    return bool(data.get("data"))


def probe_freshness(stub: Any, jaeger_url: str, seed: int, count: int, pause: float) -> list[float]:
    """Send ``count`` one-span probe traces; for each, seconds from span end until Jaeger's API returns it (``inf``
    when it is not there within 30 s: still delivered, counted by the zero-loss check, but later than measured)."""
    latencies: list[float] = []
    for n in range(count):
        tid = trace_id(seed, n)
        end_ns = time.time_ns()
        request = build_request("stack-bench-probe", seed, n, 1, 1, end_ns)
        stub.Export(request, timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bounded: 30 s per probe
            if _visible(jaeger_url, tid):
                latencies.append((time.time_ns() - end_ns) / 1e9)
                break
            time.sleep(0.02)
        else:
            latencies.append(float("inf"))
        time.sleep(pause)
    return latencies


def bench_main(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from otel_chatbot.stack import StackPorts, start_stack, stop_stack
    from otel_chatbot.stack._ports import free_ports

    run_dir = Path(tempfile.mkdtemp(prefix="stack-bench-"))
    ports = StackPorts.free()
    # Two separate picks of free ports may return the same port: take Jaeger's self-metrics port outside the stack's.
    taken = {int(value.rpartition(":")[2]) for value in ports.environ().values()}
    jaeger_telemetry = next(port for port in free_ports(len(taken) + 1) if port not in taken)
    expected_traces = int(args.duration * args.rate / args.spans_per_trace) + 10_000
    stack = start_stack(
        run_dir=run_dir,
        ports=ports,
        extra_env={
            "OTEL_CHATBOT_JAEGER_TELEMETRY_LEVEL": "normal",
            "OTEL_CHATBOT_JAEGER_TELEMETRY_PORT": str(jaeger_telemetry),
            "OTEL_CHATBOT_JAEGER_STORAGE": args.jaeger_storage,
            "OTEL_CHATBOT_JAEGER_MAX_TRACES": str(expected_traces),  # read by the memory store only
            "OTEL_CHATBOT_COLLECTOR_MEMORY_LIMIT_MIB": "2048",
        },
    )
    try:
        collector_metrics = stack.collector_telemetry_url
        jaeger_metrics = f"http://127.0.0.1:{jaeger_telemetry}/metrics"
        seed = random.getrandbits(63)
        sender = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--send",
                f"--endpoint={stack.ports.collector_otlp_grpc}",
                f"--rate={args.rate}",
                f"--duration={args.duration}",
                f"--spans-per-trace={args.spans_per_trace}",
                f"--batch={args.batch}",
                f"--seed={seed}",
                "--service=stack-bench",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        channel = grpc.insecure_channel(stack.ports.collector_otlp_grpc)
        stub: Any = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        probe_seed = random.getrandbits(63)
        probes = int(args.duration / 0.75)
        freshness = probe_freshness(stub, stack.jaeger_url, probe_seed, probes, pause=0.5)
        out, _ = sender.communicate(timeout=args.duration + 300)
        sent = json.loads(out)
        sent_spans = sent["spans"] + len(freshness)
        # drain: wait (bounded) until Jaeger's receiver has everything the sender and the probes sent
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if _sum(_metrics(jaeger_metrics), "otelcol_receiver_accepted_spans", receiver="otlp") >= sent_spans:
                break
            time.sleep(1)
        time.sleep(2)
        collector = _metrics(collector_metrics)
        jaeger = _metrics(jaeger_metrics)
        accepted = _sum(collector, "otelcol_receiver_accepted_spans", receiver="otlp")
        refused = _sum(collector, "otelcol_receiver_refused_spans", receiver="otlp")
        exported = _sum(collector, "otelcol_exporter_sent_spans", exporter="otlp_grpc/jaeger")
        export_failed = _sum(collector, "otelcol_exporter_send_failed_spans", exporter="otlp_grpc/jaeger")
        jaeger_accepted = _sum(jaeger, "otelcol_receiver_accepted_spans", receiver="otlp")
        sample = random.sample(range(sent["traces"]), min(300, sent["traces"]))
        complete = 0
        for number in sample:  # bounded: 300 lookups
            with urllib.request.urlopen(
                f"{stack.jaeger_url}/api/traces/{trace_id(seed, number).hex()}", timeout=10
            ) as r:
                data = json.loads(r.read())["data"]
            complete += bool(data) and len(data[0]["spans"]) == args.spans_per_trace
        zero_loss = (
            sent["requests_failed"] == 0
            and accepted == sent_spans
            and refused == 0
            and exported == accepted
            and export_failed == 0
            and jaeger_accepted == sent_spans
            and complete == len(sample)
        )
        late = sum(1 for seconds in freshness if seconds == float("inf"))
        freshness.sort()
        p95 = freshness[max(0, int(len(freshness) * 0.95) - 1)] if freshness else float("nan")
        result = {
            "target_spans_per_s": args.rate,
            "duration_s": args.duration,
            "sender": sent,
            "collector_accepted": accepted,
            "collector_refused": refused,
            "collector_exported_to_jaeger": exported,
            "collector_export_failed": export_failed,
            "jaeger_accepted": jaeger_accepted,
            "sampled_traces_complete": f"{complete}/{len(sample)}",
            "zero_loss": zero_loss,
            "freshness_probes": len(freshness),
            "freshness_probes_over_30s": late,
            "freshness_p50_s": statistics.median(freshness) if freshness else float("nan"),
            "freshness_p95_s": p95,
            "freshness_max_s": freshness[-1] if freshness else float("nan"),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result, indent=2))
        return 0 if zero_loss else 1
    finally:
        stop_stack(run_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=20_000, help="spans per second to send")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to send for")
    parser.add_argument("--spans-per-trace", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000, help="spans per OTLP export request")
    parser.add_argument(
        "--jaeger-storage",
        choices=("badger", "memory"),
        default="badger",
        help="Jaeger's trace storage (default badger)",
    )
    parser.add_argument("--send", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--service", default="stack-bench", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return send_main(args) if args.send else bench_main(args)


if __name__ == "__main__":
    sys.exit(main())
