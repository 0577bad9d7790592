"""Memory of the in-process history, trace store and conversation store (issue 11): flat whatever the span count.

Run: python benchmarks/bench_history_memory.py [--requests 100000] [--spans-per-request 10] [--orphan-every 10]
     python benchmarks/bench_history_memory.py --cost [--rounds 15]   # the stores' added CPU per span, A/B

A real ``StatsSpanProcessor`` on a real ``TracerProvider`` gets ``requests`` requests of ``spans-per-request`` spans
(a server root, stages, a priced generation with a new conversation every 3 requests, tool calls, a 4 KB string
attribute that the trace store truncates). Requests start 50 ms apart in simulated time (the spans carry explicit
timestamps), so 100,000 requests cover 83 minutes and the 1-hour history ring wraps. Every 10th trace's root never
ends (``--orphan-every``; 0 = all end), so the open-trace bound is exercised too.

After 10k, 100k and 1M spans it prints: the deep size of the stores (every object reachable from the history and the
trace store, attribute mappings of kept spans included), the memory tracemalloc traces for the whole process since
the start of the run, the process RSS, and the size of the snapshot's history/traces/conversations as JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
import types
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_chatbot import semconv
from otel_chatbot.stats import StatsSpanProcessor

T0_NS = 1_700_000_000_000_000_000
MS = 1_000_000
STEP_MS = 50  # simulated time between request starts
CHECKPOINTS = (10_000, 100_000, 1_000_000)
LONG = "x" * 4096  # a prompt-sized attribute: kept spans hold it, the snapshot truncates it to 1024 characters


def deep_size(*roots: object) -> int:
    """Bytes of every object reachable from ``roots`` (each counted once; modules, types and functions skipped)."""
    seen: set[int] = set()
    stack: list[Any] = list(roots)
    total = 0
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run(requests: int, per_request: int, orphan_every: int) -> None:
    processor = StatsSpanProcessor(service_name="bench", clock=lambda: (T0_NS + requests * STEP_MS * MS) / 1e9)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    store, history = processor._traces, processor._history
    checkpoints = [c for c in CHECKPOINTS if c <= requests * per_request]
    gc.collect()
    tracemalloc.start()
    spans = 0
    started = time.perf_counter()
    print(f"{'spans':>10} {'stores deep size':>17} {'tracemalloc (process)':>22} {'RSS':>9} {'snapshot JSON':>14}")
    for i in range(requests):
        start = T0_NS + i * STEP_MS * MS
        root = tracer.start_span("POST /chat", kind=SpanKind.SERVER, start_time=start)
        ctx = trace.set_span_in_context(root)
        t = start
        for j in range(per_request - 1):
            attrs: dict[str, Any] = {
                semconv.CHATBOT_STAGE: ("retrieval", "generation", "tools", "memory_update")[j % 4]
            }
            if j == 1:
                attrs.update(
                    {
                        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                        semconv.GEN_AI_USAGE_INPUT_TOKENS: 812,
                        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 95,
                        semconv.GEN_AI_USAGE_COST_AMOUNT: 0.0001788,
                        semconv.GEN_AI_CONVERSATION_ID: f"conv-{i // 3}",
                        semconv.USER_ID: f"user-{i % 5000}",
                        semconv.CHATBOT_RESPONSE_TIME_TO_FIRST_TOKEN: 0.2,
                        "gen_ai.prompt.preview": LONG + str(i),  # a new string per request, as in real use
                    }
                )
            duration = (1 + (i * 7 + j) % 40) * MS
            tracer.start_span(f"stage {j}", context=ctx, attributes=attrs, start_time=t).end(end_time=t + duration)
            t += duration
        if not orphan_every or i % orphan_every != orphan_every - 1:  # every Nth root never ends here
            root.end(end_time=t + MS)
        spans += per_request
        if checkpoints and spans >= checkpoints[0]:
            checkpoints.pop(0)
            snap = processor.snapshot()
            gc.collect()
            size = deep_size(store, history) / 2**20
            traced = tracemalloc.get_traced_memory()[0] / 2**20
            full = snap.to_dict()
            doc = {k: full[k] for k in ("history", "traces", "conversations")}
            json_kib = len(json.dumps(doc)) / 1024
            print(f"{spans:>10,} {size:>13.2f} MiB {traced:>18.2f} MiB {rss_mib():>5.0f} MiB {json_kib:>10.0f} KiB")
    tracemalloc.stop()
    snap = processor.snapshot()
    print(
        f"after {spans:,} spans in {time.perf_counter() - started:.0f} s: {len(snap.history)} history points, "
        f"{len(snap.traces)} traces, {len(snap.conversations)} conversations, "
        f"{store.dropped_traces:,} pending traces dropped, {history.late_spans:,} late spans"
    )


def cost(requests: int, rounds: int) -> None:
    """CPU per span of ``StatsSpanProcessor.on_end`` + aggregation over the same finished spans (bench_embedded's
    4-span requests, a new conversation each), with the stores (as shipped) and without them (the drain calling only
    the aggregator, as before issue 11); interleaved rounds in one process, best of each."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the repo root, for benchmarks.*
    from benchmarks.bench_embedded import request_fn

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    make_request = request_fn(provider)
    for i in range(requests):
        make_request(i)
    finished = exporter.get_finished_spans()

    def once(stores: bool) -> float:
        processor = StatsSpanProcessor(service_name="bench")
        if not stores:
            processor._record = processor._aggregator.record_item
        on_end = processor.on_end
        gc.collect()
        start = time.thread_time()
        for span in finished:
            on_end(span)
        processor.force_flush()
        return (time.thread_time() - start) / len(finished) * 1e6

    once(False), once(True)
    without, with_stores = [], []
    for _ in range(rounds):
        without.append(once(False))
        with_stores.append(once(True))
    a, b = min(without), min(with_stores)
    print(
        f"on_end + aggregation per span, {len(finished):,} spans, best of {rounds}: without the stores {a:.2f} us, "
        f"with them {b:.2f} us: the stores add {b - a:.2f} us per span"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--spans-per-request", type=int, default=10)
    parser.add_argument("--orphan-every", type=int, default=10)
    parser.add_argument("--cost", action="store_true", help="measure the added CPU per span instead")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    if args.cost:
        cost(5000, args.rounds)
    else:
        run(args.requests, args.spans_per_request, args.orphan_every)


if __name__ == "__main__":
    main()
