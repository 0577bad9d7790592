"""An in-memory OTLP/gRPC receiver for tests: a real gRPC server in the test process that keeps what it is sent.

The SDK's own ``OTLPSpanExporter`` / ``OTLPMetricExporter`` export to it over loopback, so a test sees exactly what a
collector would have received (and a request the encoder or gRPC refuses never arrives). Like a collector, it refuses
a request over 4 MiB (gRPC's default receive limit).

Example::

    with OtlpReceiver() as receiver:
        exporter = OTLPSpanExporter(endpoint=receiver.endpoint, insecure=True)
        ...
        assert receiver.span_count() == 201
"""

from __future__ import annotations

import threading
from concurrent import futures
from types import TracebackType
from typing import Any

import grpc  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self.receiver.lock:
            self.receiver.trace_requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: Any
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        with self.receiver.lock:
            self.receiver.metric_requests.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class OtlpReceiver:
    """OTLP/gRPC trace and metrics services on ``127.0.0.1:<free port>``, keeping every request received."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.trace_requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self._pool = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="otlp-receiver")
        self._server = grpc.server(self._pool)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(self), self._server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self), self._server)  # type: ignore[no-untyped-call]
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OtlpReceiver:
        self._server.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop(None).wait()
        self._pool.shutdown(wait=True)

    def spans(self) -> list[Any]:
        """Every span received, in order."""
        with self.lock:
            return [
                span
                for request in self.trace_requests
                for resource in request.resource_spans
                for scope in resource.scope_spans
                for span in scope.spans
            ]

    def span_count(self) -> int:
        return len(self.spans())

    def data_points(self) -> list[Any]:
        """Every metric data point received (number and histogram), in order."""
        with self.lock:
            points: list[Any] = []
            for request in self.metric_requests:
                for resource in request.resource_metrics:
                    for scope in resource.scope_metrics:
                        for metric in scope.metrics:
                            kind = metric.WhichOneof("data")
                            if kind is not None:
                                points.extend(getattr(metric, kind).data_points)
            return points
