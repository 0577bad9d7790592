"""A real OTLP receiver in the test process (gRPC with opentelemetry-proto's servicers, or HTTP/protobuf) that can
be down, refuse (UNAVAILABLE / 503) or come up late on the same port; it records every span and metrics request.

Example::

    with OtlpReceiver("grpc") as receiver:  # bound to a free port, not yet serving
        tel = oc.configure("bot", endpoint=receiver.endpoint)
        ...
        receiver.start()
        eventually(lambda: len(receiver.span_ids()) == n)
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests._servers import free_port


class OtlpReceiver:
    """One OTLP endpoint on a fixed loopback port; ``start()``/``stop()`` any number of times.

    Args:
        protocol: ``grpc`` or ``http/protobuf``.
    """

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.port = free_port()
        self.refuse = False  # answer UNAVAILABLE / 503 to everything
        self.reject_over: int | None = None  # refuse as too large (RESOURCE_EXHAUSTED / 413) requests over this size
        self.trace_requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metrics_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._grpc: Any = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """The URL to give ``configure(endpoint=...)``."""
        if self.protocol == "grpc":
            return f"http://127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}/v1/traces"

    # --- what arrived ----------------------------------------------------------------------------------------------

    def spans(self) -> list[Any]:
        """Every span received, in arrival order."""
        with self._lock:
            requests = list(self.trace_requests)
        return [span for r in requests for rs in r.resource_spans for ss in rs.scope_spans for span in ss.spans]

    def span_ids(self) -> list[bytes]:
        return [span.span_id for span in self.spans()]

    def span_names(self) -> list[str]:
        return [span.name for span in self.spans()]

    def sums(self, name: str) -> list[float]:
        """The values of the cumulative sum ``name`` in each metrics request, in arrival order (summed over points)."""
        with self._lock:
            requests = list(self.metrics_requests)
        out = []
        for request in requests:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        if metric.name == name:
                            out.append(sum(p.as_double or p.as_int for p in metric.sum.data_points))
        return out

    # --- receiving -------------------------------------------------------------------------------------------------

    def _take(self, signal: str, body: bytes) -> str:
        """'ok', 'refuse' or 'too_large' for one request (recorded when ok)."""
        if self.refuse:
            with self._lock:
                self.refused += 1
            return "refuse"
        if self.reject_over is not None and len(body) > self.reject_over:
            return "too_large"
        with self._lock:
            if signal == "traces":
                self.trace_requests.append(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
            else:
                self.metrics_requests.append(metrics_service_pb2.ExportMetricsServiceRequest.FromString(body))
        return "ok"

    def start(self) -> None:
        """Serve on the port (again)."""
        if self.protocol == "grpc":
            self._start_grpc()
        else:
            self._start_http()

    def stop(self) -> None:
        """Stop serving (connections are refused until ``start()``)."""
        if self._grpc is not None:
            server, executor = self._grpc
            server.stop(None).wait(5)
            executor.shutdown(wait=True)
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            assert self._http_thread is not None
            self._http_thread.join(5)
            self._http = None

    def __enter__(self) -> OtlpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_grpc(self) -> None:
        receiver = self

        def handle(signal: str, request: Any, context: Any, response: Any) -> Any:
            verdict = receiver._take(signal, request.SerializeToString())
            if verdict == "refuse":
                context.abort(grpc.StatusCode.UNAVAILABLE, "refusing (test)")
            if verdict == "too_large":
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (test)")
            return response

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                return handle("traces", request, context, trace_service_pb2.ExportTraceServiceResponse())

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                return handle("metrics", request, context, metrics_service_pb2.ExportMetricsServiceResponse())

        executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-otlp-receiver")
        server = grpc.server(executor)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)  # type: ignore[no-untyped-call]
        server.add_insecure_port(f"127.0.0.1:{self.port}")
        server.start()
        self._grpc = (server, executor)

    def _start_http(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                signal = "traces" if self.path.endswith("/v1/traces") else "metrics"
                verdict = receiver._take(signal, body)
                code = {"ok": 200, "refuse": 503, "too_large": 413}[verdict]
                self.send_response(code)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(target=self._http.serve_forever, name="test-otlp-http", daemon=True)
        self._http_thread.start()
