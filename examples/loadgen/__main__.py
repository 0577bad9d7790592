"""``python -m examples.loadgen --url http://127.0.0.1:8080 --turns 200 --concurrency 8``: N concurrent conversations
against the chatbot, a progress bar, and a summary (requests, errors, client-side p50/p95/p99)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from examples._serve import missing_extra

with missing_extra("loadgen"):
    from examples.loadgen.load import percentile, run, slowest_trace, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.loadgen", description=__doc__)
    parser.add_argument("--url", required=True, help="the chatbot, e.g. http://127.0.0.1:8080")
    parser.add_argument("--turns", type=int, default=200, help="chat turns in total (default 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="conversations in flight (default 8)")
    parser.add_argument("--users", type=int, default=12, help="distinct user ids (default 12)")
    parser.add_argument("--api-keys", default="demo-acme,demo-globex,demo-initech", help="comma-separated app keys")
    parser.add_argument("--stream-share", type=float, default=0.6, help="share of streamed turns (default 0.6)")
    parser.add_argument("--feedback-share", type=float, default=0.2, help="share of answers rated (default 0.2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the summary numbers and trace ids to this file")
    args = parser.parse_args(argv)
    if args.turns < 1 or args.concurrency < 1:
        parser.error("--turns and --concurrency must be at least 1")

    try:
        stats = asyncio.run(run(args))
    except KeyboardInterrupt:
        print("\nloadgen: interrupted", file=sys.stderr)
        return 130
    print(summary(stats))
    if args.json:
        ok = [r.latency_s * 1000 for r in stats.results if r.ok]
        Path(args.json).write_text(
            json.dumps(
                {
                    "requests": len(stats.results),
                    "errors": sum(not r.ok for r in stats.results),
                    "p50_ms": percentile(ok, 50),
                    "p95_ms": percentile(ok, 95),
                    "p99_ms": percentile(ok, 99),
                    "trace_ids": stats.trace_ids,
                    "slowest_trace_id": slowest_trace(stats),
                }
            )
        )
    # Exit 1 when nothing worked at all: a broken setup, not load-induced errors.
    return 0 if any(r.ok for r in stats.results) else 1


if __name__ == "__main__":
    sys.exit(main())
