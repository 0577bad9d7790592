"""What the export buffer costs: CPU per exported span against the SDK's own OTLP exporter, and disk per buffered span.

Run: ``PYTHONPATH=$PWD python benchmarks/bench_export_buffer.py`` (BENCHMARKS.md, section export-buffer).

The spans are those of one chat request of the example app (a SERVER root, ``retrieval``, a priced ``generation``
with its gen_ai attributes, ``memory_update``), made once by an SDK TracerProvider and exported again and again.

- CPU per span, endpoint up: ``exporter.export(batch)`` timed with ``time.thread_time()`` (the exporting thread only:
  encoding, the sanitizer, the send; not the receiver's threads) against a loopback receiver that answers at once
  (gRPC and HTTP/protobuf), for the SDK's ``OTLPSpanExporter`` and our ``BufferedSpanExporter``, interleaved rounds,
  median of the per-round figures; batches of 512 (the BatchSpanProcessor's default) and of 12 (a quiet app).
- Endpoint down: CPU per span of buffering (encode + write a file), and the bytes per span on disk.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_chatbot import semconv
from otel_chatbot.telemetry import _otlp
from otel_chatbot.telemetry._buffer import DiskBuffer
from otel_chatbot.telemetry._buffered_exporter import BufferedSpanExporter, Spool
from otel_chatbot.telemetry._senders import GrpcSender, HttpSender
from tests._servers import free_port

_OK = b""  # an empty Export*ServiceResponse


def request_spans(requests: int) -> list[ReadableSpan]:
    """The spans of ``requests`` chat requests (4 spans each)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench", "service.instance.id": "x" * 36}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("otel_chatbot", "0.1.0")
    for i in range(requests):
        with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as root:
            root.set_attributes({"http.request.method": "POST", "url.path": "/chat", "http.response.status_code": 200})
            with tracer.start_as_current_span("retrieval", attributes={semconv.CHATBOT_STAGE: "retrieval"}):
                pass
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as gen:
                gen.set_attributes(
                    {
                        semconv.CHATBOT_STAGE: "generation",
                        semconv.GEN_AI_OPERATION_NAME: "chat",
                        semconv.GEN_AI_PROVIDER_NAME: "openai",
                        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
                        semconv.GEN_AI_RESPONSE_ID: f"chatcmpl-{i:024d}",
                        semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
                        semconv.GEN_AI_USAGE_INPUT_TOKENS: 812,
                        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 95,
                        semconv.GEN_AI_USAGE_COST_AMOUNT: 0.000179,
                        semconv.GEN_AI_CONVERSATION_ID: f"conv-{i % 50}",
                    }
                )
            with tracer.start_as_current_span("memory_update", attributes={semconv.CHATBOT_STAGE: "memory_update"}):
                pass
    provider.shutdown()
    return list(memory.get_finished_spans())


class _Receiver:
    """A loopback OTLP endpoint that answers every request at once (gRPC or HTTP)."""

    def __init__(self, protocol: str) -> None:
        self.port = free_port()
        self.protocol = protocol
        if protocol == "grpc":

            def ok(request: bytes, context: Any) -> bytes:
                return _OK

            handler = grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService",
                {"Export": grpc.unary_unary_rpc_method_handler(ok)},
            )
            self._executor = ThreadPoolExecutor(4)
            self._grpc = grpc.server(self._executor)
            self._grpc.add_generic_rpc_handlers((handler,))
            self._grpc.add_insecure_port(f"127.0.0.1:{self.port}")
            self._grpc.start()
            self.url = f"http://127.0.0.1:{self.port}"
        else:

            class Handler(BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"

                def do_POST(self) -> None:
                    self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

                def log_message(self, format: str, *args: Any) -> None:
                    pass

            self._http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
            self._thread.start()
            self.url = f"http://127.0.0.1:{self.port}/v1/traces"

    def stop(self) -> None:
        if self.protocol == "grpc":
            self._grpc.stop(None)
            self._executor.shutdown()
        else:
            self._http.shutdown()
            self._http.server_close()


def _buffered(protocol: str, url: str, folder: Path) -> BufferedSpanExporter:
    if protocol == "grpc":
        traces: Any = GrpcSender(url, "traces", {}, 10)
        metrics: Any = GrpcSender(url, "metrics", {}, 10)
    else:
        traces, metrics = HttpSender(url, {}, 10), HttpSender(url.replace("traces", "metrics"), {}, 10)
    return BufferedSpanExporter(Spool(traces, metrics, DiskBuffer(folder, 256 * 2**20), users=1), 10)


def _us_per_span(exporter: SpanExporter, batch: list[ReadableSpan], exports: int) -> float:
    start = time.thread_time()
    for _ in range(exports):
        exporter.export(batch)
    return (time.thread_time() - start) / (exports * len(batch)) * 1e6


def endpoint_up(protocol: str, batch_size: int, rounds: int, spans: int) -> tuple[float, float]:
    """(SDK µs/span, ours µs/span), median of interleaved rounds."""
    receiver = _Receiver(protocol)
    batch = request_spans(batch_size // 4 + 1)[:batch_size]
    with tempfile.TemporaryDirectory() as tmp:
        sdk = _otlp.exporter(protocol, receiver.url, None, 10)
        ours = _buffered(protocol, receiver.url, Path(tmp))
        exports = max(1, spans // batch_size)
        sdk_us, our_us = [], []
        _us_per_span(sdk, batch, 3)
        _us_per_span(ours, batch, 3)
        for _ in range(rounds):
            sdk_us.append(_us_per_span(sdk, batch, exports))
            our_us.append(_us_per_span(ours, batch, exports))
        assert not ours._spool.buffer.has_traces(), "the receiver refused: not the endpoint-up case"
        sdk.shutdown()
        ours.shutdown()
    receiver.stop()
    return statistics.median(sdk_us), statistics.median(our_us)


def endpoint_down(batch_size: int, spans: int) -> tuple[float, float]:
    """(µs/span to buffer, bytes/span on disk) with nothing listening."""
    batch = request_spans(batch_size // 4 + 1)[:batch_size]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"http://127.0.0.1:{free_port()}"
        ours = _buffered("grpc", url, Path(tmp))
        ours.export(batch)  # the first failure: buffered from now on
        exports = max(1, spans // batch_size)
        us = _us_per_span(ours, batch, exports)
        files = list(Path(tmp).glob("*/t-*.otlp"))
        per_span = sum(f.stat().st_size for f in files) / (len(files) * batch_size)
        ours._spool._closing = True  # no drain attempt at shutdown: measure, then throw away
        ours.shutdown(timeout_millis=0)
    return us, per_span


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--spans", type=int, default=20_000, help="spans exported per round")
    args = parser.parse_args()
    print("CPU per exported span, endpoint up (exporting thread, median of interleaved rounds)")
    for protocol in ("grpc", "http/protobuf"):
        for size in (512, 12):
            sdk, ours = endpoint_up(protocol, size, args.rounds, args.spans if size > 12 else args.spans // 4)
            print(
                f"  {protocol:14} batch {size:4}: SDK exporter {sdk:6.2f} us/span, buffered exporter {ours:6.2f} "
                f"us/span ({(ours / sdk - 1) * 100:+.0f}%)"
            )
    print("Endpoint down (buffering to disk)")
    for size in (512, 12):
        us, per_span = endpoint_down(size, args.spans if size > 12 else args.spans // 4)
        print(f"  batch {size:4}: {us:6.2f} us/span to buffer, {per_span:6.0f} bytes/span on disk")
        if size == 12:
            rate = 100 * 10  # spans/s: 100 requests/s of 10 spans
            print(f"  256 MB at {rate} spans/s ({per_span:.0f} B/span): {256 * 2**20 / (per_span * rate) / 60:.1f} min")


if __name__ == "__main__":
    main()
