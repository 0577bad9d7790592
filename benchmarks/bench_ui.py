"""The web view's data: how long ``/api/view`` takes to build and how big it and ``report --html`` get.

Run: python benchmarks/bench_ui.py [--requests N]

The statistics processor is fed N four-span requests (bench_embedded's request: server root, retrieval, priced
generation, memory update; every request its own conversation), so the in-process history, trace store and
conversation store are as full as that traffic makes them; then the view document is built and rendered.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from opentelemetry.sdk.trace import TracerProvider

from benchmarks.bench_embedded import request_fn
from otel_chatbot.stats import StatsSpanProcessor
from otel_chatbot.ui import render_standalone, view_document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    provider = TracerProvider()
    processor = StatsSpanProcessor(service_name="bench")
    provider.add_span_processor(processor)
    run = request_fn(provider)
    for i in range(args.requests):
        run(i)
    processor.force_flush()
    snap = processor.snapshot()
    build, dump = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        doc = view_document(processor.snapshot())
        t1 = time.perf_counter()
        body = json.dumps(doc)
        dump.append(time.perf_counter() - t1)
        build.append(t1 - t0)
    page = render_standalone(doc)
    print(
        f"{args.requests:,} requests: {len(snap.history)} history points, {len(snap.traces)} traces "
        f"({sum(len(t.spans) for t in snap.traces):,} spans), {len(snap.conversations)} conversations"
    )
    print(
        f"/api/view: snapshot + document {statistics.median(build) * 1000:.1f} ms, JSON "
        f"{statistics.median(dump) * 1000:.1f} ms (medians of {args.rounds}), {len(body) / 1024:,.0f} KiB"
    )
    print(f"report --html: {len(page) / 1024:,.0f} KiB in one file (uPlot and the page's JS/CSS: ~85 KiB of it)")
    provider.shutdown()


if __name__ == "__main__":
    main()
