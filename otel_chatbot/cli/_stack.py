"""``otel-chatbot stack build | up | down | status``: the native Collector / Jaeger v2 / Prometheus stack."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from otel_chatbot.stack import _runner as runner
from otel_chatbot.stack import _versions as versions
from otel_chatbot.stack._build import ensure_all, jaeger_version, prometheus_version
from otel_chatbot.stack._errors import StackError
from otel_chatbot.stack._native import RunningStack, load_stack, start_stack, stop_stack
from otel_chatbot.stack._paths import cache_dir, collector_dir, default_run_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``stack`` subcommand's arguments."""
    parser.add_argument("action", choices=["build", "up", "down", "status"], help="what to do")
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="pids, logs and Prometheus data (default: $OTEL_CHATBOT_STACK_RUN_DIR, else "
        "${XDG_STATE_HOME:-~/.local/state}/otel-chatbot/stack)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``otel-chatbot stack ACTION``; errors are one line on stderr naming the fix."""
    try:
        if args.action == "build":
            return _build()
        run_dir: Path = args.run_dir or default_run_dir()
        if args.action == "up":
            return _up(run_dir)
        if args.action == "down":
            return _down(run_dir)
        return _status(run_dir)
    except StackError as exc:
        print(f"otel-chatbot stack {args.action}: {exc}", file=sys.stderr)
        return 1


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _build() -> int:
    started = time.monotonic()
    binaries = ensure_all(_log)
    print(f"otelcol-chatbot {versions.COLLECTOR_VERSION}: {binaries.collector}")
    print(f"jaeger {jaeger_version(binaries.jaeger)}: {binaries.jaeger}")
    print(f"prometheus {prometheus_version(binaries.prometheus)}: {binaries.prometheus}")
    print(f"configs {collector_dir()}")
    print(f"cache {cache_dir()}; ready in {time.monotonic() - started:.1f}s")
    return 0


def _up(run_dir: Path) -> int:
    existing = load_stack(run_dir)
    records = runner.read_records(run_dir)
    if existing is not None and records and all(r.alive() and runner.healthy(r) for r in records):
        print(f"already running from {run_dir}")
        _print_urls(existing)
        return 0
    if records:  # a half-dead stack: clean it up first
        stop_stack(run_dir)
    started = time.monotonic()
    stack = start_stack(run_dir=run_dir, log=_log)  # checks the ports before building anything
    print(f"stack up in {time.monotonic() - started:.1f}s (logs and pids in {run_dir})")
    _print_urls(stack)
    print(f"  configs             {stack.config_dir}")
    return 0


def _print_urls(stack: RunningStack) -> None:
    print(f"  app OTLP endpoint   {stack.collector_otlp_grpc_url} (gRPC), {stack.collector_otlp_http_url} (HTTP)")
    print(f"  Jaeger UI / API     {stack.jaeger_url}")
    print(f"  Prometheus          {stack.prometheus_url}")
    print(f"  collector metrics   {stack.collector_metrics_url}")
    print("  to send an app's telemetry here, run one of these in its shell:")
    grpc, http = stack.collector_otlp_grpc_url, stack.collector_otlp_http_url
    print(f"    export OTEL_EXPORTER_OTLP_ENDPOINT={grpc} OTEL_EXPORTER_OTLP_PROTOCOL=grpc")
    print(f"    export OTEL_EXPORTER_OTLP_ENDPOINT={http} OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")


def _down(run_dir: Path) -> int:
    stopped = stop_stack(run_dir)
    print(f"stopped {', '.join(stopped)}" if stopped else f"nothing recorded in {run_dir}; nothing to stop")
    return 0


def _status(run_dir: Path) -> int:
    records = runner.read_records(run_dir)
    if not records:
        print(f"not running (nothing recorded in {run_dir})")
        return 3
    ok = True
    for record in records:
        alive = record.alive()
        answer = runner.healthy(record) if alive else False
        ok = ok and answer
        state = "healthy" if answer else ("running, not answering" if alive else "exited")
        print(f"{record.name:<11} pid {record.pid:<8} {state:<24} {record.health_url}")
    return 0 if ok else 1
