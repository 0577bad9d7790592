"""``otel-chatbot stack build | up | down | status``: the native Collector / Jaeger v2 / Prometheus stack.

Every expected failure is one line on stderr naming what failed and what to do (no Go, Prometheus missing, a port in
use, a failed build with its log, a release archive that does not match its pinned sha256, an unwritable folder);
never a traceback. ``up`` and ``status`` say which Jaeger runs: the release (with its UI), or a source build without
it, and then where to look instead (the web view, ``otel-chatbot ui``, or docker compose).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from otel_chatbot import env
from otel_chatbot.stack import _runner as runner
from otel_chatbot.stack import _versions as versions
from otel_chatbot.stack._build import ensure_all, prometheus_version
from otel_chatbot.stack._errors import StackError
from otel_chatbot.stack._jaeger import jaeger_install, serves_ui
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
    except OSError as exc:  # a folder we may not write, a full disk
        print(f"otel-chatbot stack {args.action}: {_os_problem(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"otel-chatbot stack {args.action}: interrupted; run it again to go on", file=sys.stderr)
        return 130


def _os_problem(exc: OSError) -> str:
    """One line for a file-system failure: which file, why, what to do."""
    where = f" {exc.filename}" if exc.filename else ""
    return (
        f"cannot use{where}: {exc.strerror or exc}; check that folder's permissions and free space, or move the "
        f"stack's files elsewhere (--run-dir, {env.OTEL_CHATBOT_STACK_RUN_DIR}, {env.OTEL_CHATBOT_CACHE})"
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _build() -> int:
    started = time.monotonic()
    binaries = ensure_all(_log, retry_release=True)
    print(f"otelcol-chatbot {versions.COLLECTOR_VERSION}: {binaries.collector}")
    print(f"{jaeger_install(binaries.jaeger).describe()}: {binaries.jaeger}")
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
        _print_jaeger(existing)
        return 0
    if records:  # a half-dead stack: clean it up first
        stop_stack(run_dir)
    started = time.monotonic()
    stack = start_stack(run_dir=run_dir, log=_log)  # checks the ports before building anything
    print(f"stack up in {time.monotonic() - started:.1f}s (logs and pids in {run_dir})")
    _print_urls(stack)
    print(f"  configs             {stack.config_dir}")
    _print_jaeger(stack)
    return 0


def _print_urls(stack: RunningStack) -> None:
    print(f"  app OTLP endpoint   {stack.collector_otlp_grpc_url} (gRPC), {stack.collector_otlp_http_url} (HTTP)")
    print(f"  Jaeger              {stack.jaeger_url}")
    print(f"  Prometheus          {stack.prometheus_url}")
    print(f"  collector metrics   {stack.collector_metrics_url}")
    print("  to send an app's telemetry here, run one of these in its shell:")
    grpc, http = stack.collector_otlp_grpc_url, stack.collector_otlp_http_url
    print(f"    export OTEL_EXPORTER_OTLP_ENDPOINT={grpc} OTEL_EXPORTER_OTLP_PROTOCOL=grpc")
    print(f"    export OTEL_EXPORTER_OTLP_ENDPOINT={http} OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")


def _print_jaeger(stack: RunningStack) -> None:
    """Which Jaeger runs (asked of the running process when it answers) and, without its UI, where to look instead."""
    install = jaeger_install(stack.binaries.jaeger)
    answer = serves_ui(stack.jaeger_url)
    has_ui = install.ui if answer is None else answer
    placeholder = "" if has_ui else f": {stack.jaeger_url} shows a placeholder page, its APIs are complete"
    print(f"  Jaeger binary       {install.describe()}{placeholder}")
    web_view = f"otel-chatbot ui --jaeger {stack.jaeger_url} --prometheus {stack.prometheus_url} --service NAME"
    if has_ui:
        print(f"  web view            {web_view}")
        return
    print("  traces (waterfalls) and the Monitor tab's figures (requests/s, errors, p50/p95/p99 per stage) are in")
    print(f"  the web view: {web_view}")
    release = versions.JAEGER_RELEASE
    print(f"  Jaeger's own UI: `otel-chatbot stack build` when online installs Jaeger's {release} release, which has")
    print("  it (then stack down, stack up); or, instead of this stack (the same ports):")
    print(f"    otel-chatbot stack down && docker compose -f {stack.config_dir / 'docker-compose.yaml'} up -d")


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
    stack = load_stack(run_dir)
    if stack is not None:
        _print_jaeger(stack)
    return 0 if ok else 1
