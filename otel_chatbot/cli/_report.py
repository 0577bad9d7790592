"""``otel-chatbot report``: the bottleneck report from a running app, a dump file, Jaeger or Prometheus.

Examples::

    otel-chatbot report --url http://127.0.0.1:8000              # the app's /metrics/latency
    otel-chatbot report stats.json                               # a Telemetry.dump() file
    otel-chatbot report --jaeger http://127.0.0.1:16686 --service support-bot --since 1h
    otel-chatbot report --prometheus http://127.0.0.1:9090 --service support-bot
    otel-chatbot report stats.json --baseline old.json --format markdown --threshold ttft_p95_ms=500
"""

from __future__ import annotations

import argparse
import sys
from urllib.error import URLError

from otel_chatbot._durations import parse_duration
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.report import _sources
from otel_chatbot.report._recommendations import Thresholds
from otel_chatbot.report._render import render
from otel_chatbot.stats._snapshot import StatsSnapshot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="a file written by Telemetry.dump(path) (or report --format json)")
    parser.add_argument("--url", help="a running app: its base URL or its /metrics/latency URL")
    parser.add_argument("--jaeger", metavar="URL", help="Jaeger query base URL, e.g. http://127.0.0.1:16686")
    parser.add_argument("--prometheus", metavar="URL", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--service", help="service.name to report on (required with --jaeger)")
    parser.add_argument(
        "--since",
        help="time range: for --jaeger (default 1h); for --prometheus, increase() over it (default: the counters' "
        "totals since the Collector started, exact where increase() extrapolates)",
    )
    parser.add_argument("--limit", type=int, default=1000, help="most traces read from Jaeger (default 1000)")
    parser.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    parser.add_argument("--baseline", metavar="FILE", help="an earlier dump or JSON report to compare with")
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a recommendation threshold (repeatable), e.g. ttft_p95_ms=500",
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")


def _load(args: argparse.Namespace) -> StatsSnapshot:
    chosen = [name for name in ("file", "url", "jaeger", "prometheus") if getattr(args, name)]
    if len(chosen) != 1:
        raise ConfigurationError("give exactly one source: FILE, --url, --jaeger or --prometheus")
    if args.file:
        return _sources.load_file(args.file)
    if args.url:
        return _sources.load_url(args.url)
    since = parse_duration(args.since) if args.since else None
    if args.jaeger:
        if not args.service:
            raise ConfigurationError("--jaeger needs --service NAME")
        return _sources.load_jaeger(args.jaeger, service=args.service, since_s=since or 3600.0, limit=args.limit)
    return _sources.load_prometheus(args.prometheus, service=args.service, since_s=since)


def run(args: argparse.Namespace) -> int:
    try:
        thresholds = Thresholds.from_mapping(dict(_split(t) for t in args.threshold))
        snapshot = _load(args)
        baseline = _sources.load_file(args.baseline) if args.baseline else None
    except (ConfigurationError, ValueError) as exc:
        print(f"otel-chatbot report: {exc}", file=sys.stderr)
        return 2
    except (URLError, OSError) as exc:
        print(f"otel-chatbot report: cannot read the source: {exc}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, AttributeError) as exc:
        print(f"otel-chatbot report: the source's data has an unexpected shape ({exc!r})", file=sys.stderr)
        return 1
    text = render(snapshot, args.format, thresholds=thresholds, baseline=baseline)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _split(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep:
        raise ConfigurationError(f"--threshold needs NAME=VALUE, not {item!r}")
    return name.strip(), value.strip()
