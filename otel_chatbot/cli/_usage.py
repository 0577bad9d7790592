"""``otel-chatbot usage``: tokens and USD per user, tenant or model from the usage ledger.

USD is the provider's reported cost where it gave one (marked ``*``, with a footnote), else ours.

Examples::

    otel-chatbot usage --by tenant --since 7d                 # the ledger named by OTEL_CHATBOT_LEDGER
    otel-chatbot usage --ledger usage.db --by user --since 24h --format json
    otel-chatbot usage --ledger postgresql://bot@127.0.0.1/usage --by model --prune 90d
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from otel_chatbot import env
from otel_chatbot._durations import parse_duration
from otel_chatbot._redact import display_text, url_password
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.spend._ledger import Ledger, display_target
from otel_chatbot.spend._money import format_usd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", help=f"SQLite path or postgresql:// URL (default: ${env.OTEL_CHATBOT_LEDGER})")
    parser.add_argument(
        "--by", choices=["user", "tenant", "model", "provider", "stage", "conversation", "variant"], default="model"
    )
    parser.add_argument("--since", default="7d", help="period, e.g. 24h, 7d, 30d (default 7d)")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--prune", metavar="AGE", help="first delete rows older than AGE (retention), e.g. 90d")


def run(args: argparse.Namespace) -> int:
    target = args.ledger or env.ledger_url()
    if not target:
        print(f"otel-chatbot usage: no ledger: pass --ledger or set {env.OTEL_CHATBOT_LEDGER}", file=sys.stderr)
        return 2
    try:
        since = time.time() - parse_duration(args.since)
        prune_before = time.time() - parse_duration(args.prune) if args.prune else None
    except ValueError as exc:
        print(f"otel-chatbot usage: {exc}", file=sys.stderr)
        return 2
    if "://" not in target and target != ":memory:" and not Path(target).expanduser().exists():
        # Reading must not create an empty ledger at a mistyped path and then report zero spend.
        print(
            f"otel-chatbot usage: no usage ledger at {display_target(target)}: an app writes one with "
            "configure(ledger=...) or "
            f"{env.OTEL_CHATBOT_LEDGER} (./scripts/demo keeps .run/demo/usage.db)",
            file=sys.stderr,
        )
        return 1
    try:
        ledger = Ledger.open(target)
    except ConfigurationError as exc:
        print(f"otel-chatbot usage: {exc}", file=sys.stderr)
        return 1
    try:
        if prune_before is not None:
            print(f"pruned {ledger.prune(older_than=prune_before)} rows older than {args.prune}", file=sys.stderr)
        rows = ledger.usage(args.by, since=since)
    except Exception as exc:  # a file that is SQLite but not a ledger, a dropped connection...
        reason = " ".join(display_text(str(exc), *url_password(target)).split())
        print(f"otel-chatbot usage: cannot read the usage ledger {display_target(target)}: {reason}", file=sys.stderr)
        return 1
    finally:
        ledger.close()
    if args.format == "json":
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    header = (args.by, "calls", "input tokens", "output tokens", "USD")
    table = [
        (
            r.key or "(none)",
            f"{r.calls:,}",
            f"{r.input_tokens:,}",
            f"{r.output_tokens:,}",
            format_usd(r.cost_usd) + ("*" if r.provider_cost_calls else ""),
        )
        for r in rows
    ]
    total = (
        "total",
        f"{sum(r.calls for r in rows):,}",
        f"{sum(r.input_tokens for r in rows):,}",
        f"{sum(r.output_tokens for r in rows):,}",
        format_usd(sum(r.cost_usd for r in rows)),
    )
    widths = [max(len(row[i]) for row in (header, *table, total)) for i in range(len(header))]
    print(f"usage by {args.by} over the last {args.since}")
    for row in (header, *table, total):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    provider_calls = sum(r.provider_cost_calls for r in rows)
    if provider_calls:
        print(f"* includes {provider_calls:,} calls with provider-reported cost; the rest are priced locally")
    return 0
