"""System CPU and memory metrics (OpenTelemetry's system-metrics instrumentation), readable in process and, when an
OTLP endpoint is configured, exported to the Collector."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

_CONFIG: dict[str, list[str] | None] = {
    "system.cpu.utilization": ["idle", "user", "system"],
    "system.memory.usage": ["used", "free", "cached"],
    "system.memory.utilization": ["used"],
    "process.cpu.utilization": None,
    "process.memory.usage": None,
}


class SystemMetrics:
    """Installs the instrumentation on its own MeterProvider; ``snapshot()`` reads the latest values."""

    def __init__(self, service_name: str, otlp_endpoint: str | None = None) -> None:
        from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

        self._reader = InMemoryMetricReader()
        readers: list[MetricReader] = [self._reader]
        if otlp_endpoint:
            readers.append(PeriodicExportingMetricReader(_otlp_metric_exporter(otlp_endpoint), 10_000))
        self.meter_provider = MeterProvider(
            metric_readers=readers, resource=Resource.create({"service.name": service_name})
        )
        self._instrumentor = SystemMetricsInstrumentor(config=_CONFIG)
        self._instrumentor.instrument(meter_provider=self.meter_provider)

    def snapshot(self) -> dict[str, float]:
        """Latest values: ``system.cpu.utilization`` (busy share, averaged over CPUs), ``system.memory.usage`` and
        ``system.memory.utilization`` (used), ``process.cpu.utilization``, ``process.memory.usage`` (bytes)."""
        data = self._reader.get_metrics_data()
        busy: dict[Any, float] = {}
        out: dict[str, float] = {}
        for resource_metrics in data.resource_metrics if data else ():
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        attributes: Any = point.attributes or {}
                        state = attributes.get("state")
                        value = float(getattr(point, "value", 0.0))
                        if metric.name == "system.cpu.utilization":
                            if state != "idle":
                                cpu = attributes.get("cpu")
                                busy[cpu] = busy.get(cpu, 0.0) + value
                        elif state in (None, "used"):
                            out[metric.name] = out.get(metric.name, 0.0) + value
        if busy:
            out["system.cpu.utilization"] = sum(busy.values()) / len(busy)
        return out

    def shutdown(self) -> None:
        """Stop collecting and flush the exporter."""
        self._instrumentor.uninstrument()
        self.meter_provider.shutdown(timeout_millis=5_000)


def _otlp_metric_exporter(endpoint: str) -> Any:
    """gRPC or HTTP as ``oc.configure`` chooses: ``OTEL_EXPORTER_OTLP_PROTOCOL``, else HTTP for port 4318 or a path."""
    url = urlsplit(endpoint)
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    http = protocol.startswith("http") if protocol else (url.port == 4318 or url.path.strip("/") != "")
    if not http:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

    base = endpoint.rstrip("/")
    return HttpExporter(endpoint=base if base.endswith("/v1/metrics") else base + "/v1/metrics")
