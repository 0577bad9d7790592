"""``otel-chatbot ui``: the web view of latency, cost, traces and conversations, served on loopback.

Examples::

    otel-chatbot ui .run/demo/stats.json                         # a Telemetry.dump() file (read again on each load)
    otel-chatbot ui --url http://127.0.0.1:8000/otel-chatbot     # an app that called tel.mount_ui(app)
    otel-chatbot ui --url http://127.0.0.1:8000                  # its /otel-chatbot/api/view, else /metrics/latency
    otel-chatbot ui --jaeger http://127.0.0.1:16686 --prometheus http://127.0.0.1:9090 --service support-bot
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any
from urllib.error import HTTPError

from otel_chatbot._durations import parse_duration
from otel_chatbot.cli._report import _UNREADABLE, _problem
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.report import _sources
from otel_chatbot.stats._snapshot import StatsSnapshot
from otel_chatbot.ui._server import UIServer, ViewError
from otel_chatbot.ui._view import VIEW_FORMAT, view_document

_LOOPBACK = ("127.0.0.1", "localhost")  # the stdlib server listens on IPv4 only
_MOUNT = "/otel-chatbot"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="a file written by Telemetry.dump(path) (read again on each load)")
    parser.add_argument(
        "--url", help="a running app: where it mounted the view (tel.mount_ui), its base URL, or its /metrics/latency"
    )
    parser.add_argument("--jaeger", metavar="URL", help="Jaeger query base URL, e.g. http://127.0.0.1:16686")
    parser.add_argument("--prometheus", metavar="URL", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--service", help="service.name to show (required with --jaeger / --prometheus)")
    parser.add_argument("--since", default="1h", help="time range read from the stack (default 1h)")
    parser.add_argument("--limit", type=int, default=1000, help="most traces read from Jaeger (default 1000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765; 0 picks a free one)")


def _check(args: argparse.Namespace) -> float:
    """The arguments' own mistakes, before anything is read; returns ``--since`` in seconds."""
    stack = bool(args.jaeger or args.prometheus)
    chosen = [bool(args.file), bool(args.url), stack]
    if sum(chosen) != 1:
        raise ConfigurationError("give exactly one source: FILE, --url, or --jaeger/--prometheus with --service")
    if stack and not args.service:
        raise ConfigurationError("--jaeger / --prometheus need --service NAME")
    if args.file and args.file.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"{args.file} is a URL, not a file: use --url {args.file} for a running app, or --jaeger / --prometheus"
        )
    return parse_duration(args.since)


def _source(args: argparse.Namespace) -> str:
    if args.file:
        return f"the file {args.file}"
    if args.url:
        return f"the app at {args.url}"
    return " and ".join(
        f"{name} at {url}" for name, url in (("Jaeger", args.jaeger), ("Prometheus", args.prometheus)) if url
    )


def _file_view(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict) and data.get("format") == VIEW_FORMAT:
        return {**data, "source": f"{path} ({data.get('source', '')})"}  # a saved /api/view document, as it was
    return view_document(_sources.load_file(path), source=path)


def _url_view(url: str) -> dict[str, Any]:
    """The app's own view document when it mounted one (at the URL, or at /otel-chatbot), else its /metrics/latency."""
    path = urllib.parse.urlsplit(url).path.rstrip("/")
    if path.endswith("/metrics/latency"):
        return view_document(_sources.load_url(url), source=url)
    candidates = [url] if path.endswith("/api/view") else [url.rstrip("/") + "/api/view"]
    if not path.endswith(("/api/view", _MOUNT)):
        candidates.append(url.rstrip("/") + _MOUNT + "/api/view")
    for candidate in candidates:
        try:
            doc = _sources.fetch_json(candidate)
        except HTTPError as exc:
            if exc.code != 404:
                raise
            continue
        except ValueError:  # a page that is not JSON (the app's own route at that path): try the next candidate
            continue
        if isinstance(doc, dict) and isinstance(doc.get("snapshot"), dict):
            StatsSnapshot.from_dict(doc["snapshot"])  # raises ValueError on something else
            return {**doc, "source": f"{candidate} ({doc.get('source', '')})"}
    # No view mounted: the stage table of /metrics/latency (tel.mount(app)) is what the app offers.
    return view_document(_sources.load_url(url), source=url)


def _stack_view(args: argparse.Namespace, since_s: float) -> dict[str, Any]:
    if args.jaeger and args.prometheus:
        snapshot = _sources.load_stack(args.jaeger, args.prometheus, args.service, since_s, limit=args.limit)
    elif args.jaeger:  # traces, stages, conversations; no history (that needs Prometheus' range queries)
        snapshot = _sources.load_jaeger(args.jaeger, service=args.service, since_s=since_s, limit=args.limit)
    else:  # stages and usage only
        snapshot = _sources.load_prometheus(args.prometheus, service=args.service, since_s=since_s)
    return view_document(snapshot, source=_source(args))


def _loader(args: argparse.Namespace, since_s: float) -> Callable[[], dict[str, Any]]:
    if args.file:
        return lambda: _file_view(args.file)
    if args.url:
        return lambda: _url_view(args.url)
    return lambda: _stack_view(args, since_s)


def run(args: argparse.Namespace) -> int:
    try:
        since_s = _check(args)
    except (ConfigurationError, ValueError) as exc:
        print(f"otel-chatbot ui: {exc}", file=sys.stderr)
        return 2
    what, load = _source(args), _loader(args, since_s)
    try:
        load()  # read once before serving: a wrong path or URL is said now, not in the browser
    except _UNREADABLE as exc:
        print(f"otel-chatbot ui: {_problem(what, exc)}", file=sys.stderr)
        return 1

    def view() -> dict[str, Any]:
        try:
            return load()
        except _UNREADABLE as exc:
            raise ViewError(_problem(what, exc)) from None

    try:
        server = UIServer.start(args.host, args.port, view=view)
    except OSError as exc:
        print(
            f"otel-chatbot ui: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}): pass another --port "
            "(0 picks a free one)",
            file=sys.stderr,
        )
        return 1
    if args.host not in _LOOPBACK:
        print(f"otel-chatbot ui: listening on {args.host}: anyone who can reach it sees the data (no login)")
    print(f"otel-chatbot ui: {what} at {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
