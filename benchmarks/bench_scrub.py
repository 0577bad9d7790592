"""Cost of scrubbing secret query values from a FastAPI server span (the ASGI ``server_request_hook``).

Run: python -m benchmarks.bench_scrub [--rounds 9] [--calls 20000]

A recording SDK span holding the attributes the ASGI middleware sets on a request (old semantic conventions, plus
``url.query`` as with ``OTEL_SEMCONV_STABILITY_OPT_IN=http/dup``) goes through ``scrub_server_span``: with no query
(the common case: ``POST /chat``), with an ordinary query (nothing to change) and with ``?api_key=...`` (the
attributes rewritten). The figure is the median over rounds of the per-call time; it is paid once per request, on
the request path.
"""

from __future__ import annotations

import argparse
import statistics
import time

from opentelemetry.sdk.trace import TracerProvider

from otel_chatbot.telemetry._instrumentation import scrub_server_span

_BASE: dict[str, str | int] = {
    "http.scheme": "http",
    "http.host": "127.0.0.1:8080",
    "net.host.port": 8080,
    "http.flavor": "1.1",
    "http.target": "/chat",
    "http.method": "POST",
    "http.server_name": "127.0.0.1:8080",
    "http.user_agent": "python-httpx/0.28.1",
    "net.peer.ip": "127.0.0.1",
    "net.peer.port": 51234,
}


def _per_call_us(query: str, calls: int, provider: TracerProvider) -> float:
    tracer = provider.get_tracer("bench")
    attributes: dict[str, str | int] = {**_BASE, "http.url": f"http://127.0.0.1:8080/chat?{query}", "url.query": query}
    if not query:
        attributes = {**_BASE, "http.url": "http://127.0.0.1:8080/chat"}
    spans = [tracer.start_span("POST /chat", attributes=attributes) for _ in range(calls)]
    started = time.perf_counter()
    for span in spans:
        scrub_server_span(span, None)
    elapsed = time.perf_counter() - started
    for span in spans:
        span.end()
    return elapsed / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    provider = TracerProvider()
    cases = {
        "no query": "",
        "ordinary query": "q=hello&lang=en&page=2",
        "secret query": "q=hello&api_key=sk-live-0123456789&page=2",
    }
    for name, query in cases.items():
        figures = [_per_call_us(query, args.calls, provider) for _ in range(args.rounds)]
        print(f"{name:<15} {statistics.median(figures):6.2f} us per request (median of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
