"""The load generator: N concurrent conversations against the chatbot, a progress bar, client-side statistics."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx

FIRST_QUESTIONS = (
    "How do I reset my password?",
    "How do I turn on two-factor authentication?",
    "Can I get a refund on my annual plan?",
    "What does the Pro plan cost?",
    "Which payment methods do you accept?",
    "My notes are not syncing, what can I do?",
    "How do I export all my notes?",
    "Can I import my notes from Evernote?",
    "How do I share a folder with a colleague?",
    "Do guests need a paid seat?",
    "Do you support SSO with Okta?",
    "Is my data encrypted?",
    "How long is version history kept?",
    "How do I restore a deleted note?",
    "What is the maximum attachment size?",
    "How do I connect Slack?",
    "What is the API rate limit?",
    "How do I change the email address of my account?",
    "How do I delete my account?",
    "Does the AI assistant train on my notes?",
    "How fast does support answer on the Business plan?",
    "Where can I see if the service is down?",
    "Can I use Nimbus Notes offline on my phone?",
    "How do I add seats to my workspace?",
)
# A few questions everybody asks: the response cache answers their repeats.
POPULAR = FIRST_QUESTIONS[:4]
FOLLOW_UPS = (
    "Can you explain that in more detail?",
    "Does that also apply to the Business plan?",
    "How long does that take?",
    "And what if that does not work?",
    "Is there a limit on that?",
    "Can an administrator do that for me?",
)


@dataclass
class Result:
    """One chat turn as the client saw it."""

    ok: bool
    status: str
    latency_s: float
    ttft_s: float | None = None
    cached: bool = False
    usage: dict[str, Any] | None = None
    trace_id: str | None = None


@dataclass
class Stats:
    """Everything the summary needs."""

    results: list[Result] = field(default_factory=list)
    feedback: int = 0
    trace_ids: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in [0, 100]); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Progress:
    """A progress bar on a terminal; a line every 10% otherwise (CI logs)."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = total
        self.out = out
        self.tty = out.isatty()
        self._last_decile = -1

    def update(self, done: int, errors: int) -> None:
        if self.tty:
            width = 30
            filled = int(width * done / max(1, self.total))
            bar = "#" * filled + "-" * (width - filled)
            self.out.write(f"\r  [{bar}] {done}/{self.total} turns, {errors} errors")
            if done >= self.total:
                self.out.write("\n")
            self.out.flush()
            return
        decile = 10 * done // max(1, self.total)
        if decile != self._last_decile:
            self._last_decile = decile
            print(f"  {done}/{self.total} turns, {errors} errors", file=self.out, flush=True)


def plan_conversations(turns: int, seed: int, users: int) -> list[tuple[str, list[str]]]:
    """(user id, messages) per conversation, ``turns`` messages in total, deterministic for a seed."""
    rng = random.Random(seed)
    conversations: list[tuple[str, list[str]]] = []
    left = turns
    while left > 0:
        length = min(left, rng.randint(1, 4))
        first = rng.choice(POPULAR) if rng.random() < 0.35 else rng.choice(FIRST_QUESTIONS)
        messages = [first] + [rng.choice(FOLLOW_UPS) for _ in range(length - 1)]
        conversations.append((f"user-{rng.randrange(users):03d}", messages))
        left -= length
    return conversations


async def _turn(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> tuple[Result, str | None, str | None]:
    """One chat turn; returns the result, the conversation id and the trace id."""
    start = time.perf_counter()
    try:
        if not body["stream"]:
            response = await client.post("/chat", json=body, headers=headers)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                return Result(False, str(response.status_code), elapsed), None, None
            data = response.json()
            return (
                Result(True, "200", elapsed, cached=bool(data.get("cached")), usage=data.get("usage")),
                data.get("conversation_id"),
                data.get("trace_id"),
            )
        ttft: float | None = None
        async with client.stream("POST", "/chat", json=body, headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                return Result(False, str(response.status_code), time.perf_counter() - start), None, None
            final: dict[str, Any] = {}
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if "delta" in event and ttft is None:
                    ttft = time.perf_counter() - start
                if "error" in event:
                    return Result(False, "stream-error", time.perf_counter() - start, ttft), None, None
                if event.get("done"):
                    final = event
        elapsed = time.perf_counter() - start
        return (
            Result(True, "200", elapsed, ttft, bool(final.get("cached")), final.get("usage")),
            final.get("conversation_id"),
            final.get("trace_id"),
        )
    except httpx.HTTPError as exc:
        return Result(False, type(exc).__name__, time.perf_counter() - start), None, None


async def run(args: argparse.Namespace, out: TextIO = sys.stderr) -> Stats:
    """Drive the load and return the raw results."""
    rng = random.Random(args.seed + 1)
    conversations = plan_conversations(args.turns, args.seed, args.users)
    queue: asyncio.Queue[tuple[str, list[str]]] = asyncio.Queue()
    for conversation in conversations:
        queue.put_nowait(conversation)
    stats = Stats()
    progress = Progress(args.turns, out)
    keys = args.api_keys.split(",")

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            user, messages = queue.get_nowait()
            headers = {"authorization": f"Bearer {keys[int(user.rsplit('-', 1)[1]) % len(keys)]}"}
            conversation_id: str | None = None
            for message in messages:
                body: dict[str, Any] = {"message": message, "user_id": user, "stream": rng.random() < args.stream_share}
                if conversation_id:
                    body["conversation_id"] = conversation_id
                result, cid, trace_id = await _turn(client, body, headers)
                result.trace_id = trace_id
                stats.results.append(result)
                conversation_id = conversation_id or cid
                if trace_id:
                    stats.trace_ids.append(trace_id)
                progress.update(len(stats.results), sum(not r.ok for r in stats.results))
                if result.ok and trace_id and rng.random() < args.feedback_share:
                    score = 1.0 if rng.random() < 0.8 else -1.0
                    try:
                        await client.post(
                            "/feedback",
                            headers=headers,
                            json={"score": score, "trace_id": trace_id, "conversation_id": conversation_id},
                        )
                        stats.feedback += 1
                    except httpx.HTTPError:
                        pass

    timeout = httpx.Timeout(args.timeout, connect=5.0)
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=args.url, timeout=timeout, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(args.concurrency)))
    stats.wall_s = time.perf_counter() - started
    return stats


def slowest_trace(stats: Stats) -> str | None:
    """The trace id of the slowest answered, uncached turn: the most instructive one to open in Jaeger."""
    answered = [r for r in stats.results if r.ok and not r.cached and r.trace_id]
    return max(answered, key=lambda r: r.latency_s).trace_id if answered else None


def summary(stats: Stats) -> str:
    """The client-side summary: requests, errors, cache hits, latency and time-to-first-token percentiles."""
    results = stats.results
    ok = [r for r in results if r.ok]
    errors = Counter(r.status for r in results if not r.ok)
    latencies = [r.latency_s * 1000 for r in ok]
    ttfts = [r.ttft_s * 1000 for r in ok if r.ttft_s is not None and not r.cached]
    tokens_in = sum(int((r.usage or {}).get("prompt_tokens", 0)) for r in ok)
    tokens_out = sum(int((r.usage or {}).get("completion_tokens", 0)) for r in ok)
    lines = [
        "load summary (client side)",
        f"  requests   {len(results)} chat turns in {stats.wall_s:.1f} s "
        f"({len(results) / max(stats.wall_s, 1e-9):.1f}/s), {stats.feedback} feedback posts",
        f"  errors     {sum(errors.values())}"
        + (f"  ({', '.join(f'{k}: {v}' for k, v in sorted(errors.items()))})" if errors else ""),
        f"  cache hits {sum(r.cached for r in ok)} of {len(ok)} answers",
        "  latency    p50 {:.0f} ms   p95 {:.0f} ms   p99 {:.0f} ms".format(
            *(percentile(latencies, q) for q in (50, 95, 99))
        ),
    ]
    if ttfts:
        lines.append(
            "  first byte p50 {:.0f} ms   p95 {:.0f} ms   p99 {:.0f} ms   (streamed, uncached)".format(
                *(percentile(ttfts, q) for q in (50, 95, 99))
            )
        )
    lines.append(f"  tokens     {tokens_in} in, {tokens_out} out")
    return "\n".join(lines)
