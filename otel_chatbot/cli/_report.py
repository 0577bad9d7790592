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
import json
import sys
from urllib.error import HTTPError, URLError

from otel_chatbot._durations import parse_duration
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.report import _sources
from otel_chatbot.report._recommendations import Thresholds, recommend
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
    parser.add_argument("--html", metavar="FILE", help="write the web view as one self-contained HTML file (offline)")


def _load(args: argparse.Namespace, since: float | None) -> StatsSnapshot:
    if args.file:
        return _sources.load_file(args.file)
    if args.url:
        return _sources.load_url(args.url)
    if args.jaeger:
        return _sources.load_jaeger(args.jaeger, service=args.service, since_s=since or 3600.0, limit=args.limit)
    return _sources.load_prometheus(args.prometheus, service=args.service, since_s=since)


def _check(args: argparse.Namespace) -> float | None:
    """The arguments' own mistakes (before anything is read); returns ``--since`` in seconds."""
    chosen = [name for name in ("file", "url", "jaeger", "prometheus") if getattr(args, name)]
    if len(chosen) != 1:
        raise ConfigurationError("give exactly one source: FILE, --url, --jaeger or --prometheus")
    if args.jaeger and not args.service:
        raise ConfigurationError("--jaeger needs --service NAME")
    for path in (args.file, args.baseline):
        if path and path.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"{path} is a URL, not a file: use --url {path} for a running app's statistics, or --prometheus / "
                "--jaeger URL for the stack"
            )
    return parse_duration(args.since) if args.since else None


def _source(args: argparse.Namespace) -> str:
    """What ``_load`` reads, in words, for error messages."""
    if args.file:
        return f"the file {args.file}"
    if args.url:
        return f"the app at {args.url}"
    if args.jaeger:
        return f"Jaeger at {args.jaeger}"
    return f"Prometheus at {args.prometheus}"


def _problem(what: str, exc: BaseException) -> str:
    """One line: ``what`` could not be read, why in plain words, and what to do."""
    if isinstance(exc, FileNotFoundError):
        return f"{what}: no such file (Telemetry.dump(path) writes one; ./scripts/demo keeps .run/demo/stats.json)"
    if isinstance(exc, HTTPError):
        return f"{what} answered HTTP {exc.code} {exc.reason}: check the URL (a base URL, or an app's /metrics/latency)"
    if isinstance(exc, URLError):
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
        return f"cannot reach {what} ({reason}): is it running, and is the URL right?"
    if isinstance(exc, json.JSONDecodeError):
        return (
            f"{what} is not JSON (line {exc.lineno}, column {exc.colno}): give a file written by Telemetry.dump() or "
            "report --format json"
        )
    if isinstance(exc, OSError):
        return f"cannot read {what}: {exc.strerror or exc}"
    if isinstance(exc, ValueError):  # our own readers' words (e.g. "not an otel-chatbot snapshot (format ...)")
        return f"{what}: {exc}: give a file written by Telemetry.dump() or report --format json"
    return (
        f"{what} holds no statistics otel-chatbot can read (a {type(exc).__name__} in its data): give a file written "
        "by Telemetry.dump() or report --format json, or the URL of an app, Jaeger or Prometheus"
    )


_UNREADABLE = (URLError, OSError, ValueError, KeyError, TypeError, AttributeError)


def run(args: argparse.Namespace) -> int:
    try:
        thresholds = Thresholds.from_mapping(dict(_split(t) for t in args.threshold))
        since = _check(args)
    except (ConfigurationError, ValueError) as exc:
        print(f"otel-chatbot report: {exc}", file=sys.stderr)
        return 2
    what = _source(args)
    try:
        snapshot = _load(args, since)
        what = f"the baseline file {args.baseline}"
        baseline = _sources.load_file(args.baseline) if args.baseline else None
    except ConfigurationError as exc:
        print(f"otel-chatbot report: {exc}", file=sys.stderr)
        return 2
    except _UNREADABLE as exc:
        print(f"otel-chatbot report: {_problem(what, exc)}", file=sys.stderr)
        return 1
    if args.html:  # the web view (otel_chatbot/ui) with its data, scripts and charting library inlined
        from otel_chatbot.ui._assets import write_standalone

        return write_standalone(args.html, snapshot, recommend(snapshot, thresholds, baseline=baseline))
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
