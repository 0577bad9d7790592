"""The bottleneck report: rendering, ranked recommendations and the sources a snapshot is read from.

Example::

    from otel_chatbot.report import load_file, render

    print(render(load_file("report.json"), "markdown"))

Sources: a dump file (``Telemetry.dump``), an app's ``/metrics/latency`` endpoint, Jaeger's query API and
Prometheus' HTTP API; ``otel-chatbot report`` is the command-line front end.
"""

from __future__ import annotations

from otel_chatbot.report._recommendations import Recommendation, Thresholds, recommend
from otel_chatbot.report._render import Format, render, report_dict
from otel_chatbot.report._sources import load_file, load_jaeger, load_prometheus, load_url

__all__ = [
    "Format",
    "Recommendation",
    "Thresholds",
    "load_file",
    "load_jaeger",
    "load_prometheus",
    "load_url",
    "recommend",
    "render",
    "report_dict",
]
