"""Per call cost of a traced LLM call: ours against OpenLIT, OpenLLMetry and Langfuse, side by side (issue 12).

Run (the peers live in .venv-bench, made by scripts/_bench_venv.sh; ``./scripts/bench`` does both):

    .venv-bench/bin/python -m benchmarks.bench_peers [--rounds 15] [--calls 10000] [--streams 1000] [--json]

The parent starts one child process per config (GC on/off x peers imported or not; ``--configs`` picks) and prints
one table. In every child, each row is a function called ``--calls`` times per round (``--streams`` times for the
50-chunk stream rows), every row once per round in an order rotated each round; ``gc.collect()`` runs (untimed)
before every row's timed loop in both GC configs, and "GC off" is ``gc.disable()`` for the whole measurement. Per row:
min and median us/call over the rounds, and the median over rounds of (row / its base row in the same round).

Every contender's spans go through a ``BatchSpanProcessor`` (queue of 65536, ``OTEL_BSP_MAX_QUEUE_SIZE``) to an
exporter that drops them: ``ref``, ours and OpenLIT (which reuses the global SDK provider) share one provider;
OpenLLMetry and Langfuse each get a provider of their own holding only their processor (each wraps every span of its
provider: sharing would charge the other rows their hooks), fed the same dropping exporter. Nothing leaves the process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.testing import reset_trace_globals

MODEL = "gpt-4o-mini"
CHUNKS = 50
QUEUE = 1 << 16
CONFIGS = ("gc-on-peers", "gc-off-peers", "gc-on-nopeers", "gc-off-nopeers")
QUICK_CONFIGS = ("gc-on-peers", "gc-off-nopeers")

RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Refunds take 5 days."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 812, "completion_tokens": 95, "total_tokens": 907},
}
COST = 0.0001788


def _chunk_list() -> list[dict[str, Any]]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": MODEL}
    first = {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    middle = [
        {**head, "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]}
        for _ in range(CHUNKS - 2)
    ]
    last = {**head, "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 48, "total_tokens": 148}}
    return [first, *middle, last]


CHUNK_LIST = _chunk_list()


class DropExporter(SpanExporter):
    """Accepts every batch and keeps nothing but a count (shared by every instance: the check that all rows traced)."""

    exported = 0
    _lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with DropExporter._lock:
            DropExporter.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _processor(exporter: SpanExporter, batch: bool) -> SpanProcessor:
    return BatchSpanProcessor(exporter, max_queue_size=QUEUE) if batch else SimpleSpanProcessor(exporter)


def eight_attributes(result: dict[str, Any]) -> dict[str, Any]:
    """The 8 GenAI attributes ``ref`` (and the OpenLIT/OpenLLMetry rows) set by hand."""
    return {
        semconv.CHATBOT_STAGE: "generation",
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: MODEL,
        semconv.GEN_AI_RESPONSE_MODEL: result["model"],
        semconv.GEN_AI_USAGE_INPUT_TOKENS: result["usage"]["prompt_tokens"],
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: result["usage"]["completion_tokens"],
        semconv.GEN_AI_USAGE_COST_AMOUNT: COST,
    }


@dataclass
class Row:
    """One measured function: ``sync`` (called), ``async`` (awaited in one coroutine) or ``stream`` (iterated)."""

    name: str
    label: str
    fn: Callable[[], Any]
    kind: str = "sync"
    base: str = "ref"


@dataclass
class Bench:
    """Providers, rows and what to shut down; built by :func:`setup`."""

    provider: TracerProvider
    rows: dict[str, Row]
    closers: list[Callable[[], Any]] = field(default_factory=list)
    batch: bool = True
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def processor(self, exporter: SpanExporter) -> SpanProcessor:
        return _processor(exporter, self.batch)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.loop.close()


# Rows in table order; the peers' rows exist only when the peers are imported.
OURS = (
    "ref",
    "ours",
    "ours_pydantic",
    "ours_embedded",
    "ours_cm",
    "ref_async",
    "ours_async",
    "ref_stream",
    "ours_stream",
)
PEERS = ("openlit", "openllmetry", "langfuse")
ORDER = ("ref", "openlit", "openllmetry", "langfuse", *OURS[1:])


def _ours_rows(tracer: trace.Tracer, embedded_provider: TracerProvider | None, names: Sequence[str]) -> dict[str, Row]:
    rows: dict[str, Row] = {}

    def ref() -> dict[str, Any]:
        with tracer.start_as_current_span(f"chat {MODEL}", kind=trace.SpanKind.CLIENT) as span:
            result = RESPONSE
            span.set_attributes(eight_attributes(result))
            return result

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def ours() -> dict[str, Any]:
        return RESPONSE

    rows["ref"] = Row("ref", "ref: raw OTel span + 8 attributes", ref, base="ref")
    rows["ours"] = Row("ours", '`traced_stage("generation")`, dict with usage + cost', ours)
    if "ours_pydantic" in names:
        from openai.types.chat import ChatCompletion

        completion = ChatCompletion.model_validate(RESPONSE)

        @oc.traced_stage("generation", model=MODEL, provider="openai")
        def ours_pydantic() -> Any:
            return completion

        rows["ours_pydantic"] = Row("ours_pydantic", "same, an `openai` pydantic `ChatCompletion`", ours_pydantic)
    if embedded_provider is not None:

        @oc.traced_stage("generation", model=MODEL, provider="openai", tracer_provider=embedded_provider)
        def ours_embedded() -> dict[str, Any]:
            return RESPONSE

        rows["ours_embedded"] = Row("ours_embedded", "same under `configure(embedded=True)`", ours_embedded)

    def ours_cm() -> None:
        with oc.traced_stage("generation", model=MODEL, provider="openai") as stage:
            stage.record_usage(input_tokens=812, output_tokens=95)

    rows["ours_cm"] = Row("ours_cm", "`with traced_stage(...) as stage: stage.record_usage(...)`", ours_cm)

    async def ref_async() -> dict[str, Any]:
        with tracer.start_as_current_span(f"chat {MODEL}", kind=trace.SpanKind.CLIENT) as span:
            result = RESPONSE
            span.set_attributes(eight_attributes(result))
            return result

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    async def ours_async() -> dict[str, Any]:
        return RESPONSE

    rows["ref_async"] = Row("ref_async", "async ref (awaited in one coroutine)", ref_async, "async", base="ref")
    rows["ours_async"] = Row("ours_async", "async `traced_stage`, dict with usage", ours_async, "async", "ref_async")

    def ref_stream() -> Iterator[dict[str, Any]]:
        with tracer.start_as_current_span(f"chat {MODEL}", kind=trace.SpanKind.CLIENT):
            yield from CHUNK_LIST

    @oc.traced_stage("generation", model=MODEL, provider="openai")
    def ours_stream() -> Iterator[dict[str, Any]]:
        yield from CHUNK_LIST

    rows["ref_stream"] = Row("ref_stream", "bare OTel span over a 50-chunk stream", ref_stream, "stream", "ref_stream")
    rows["ours_stream"] = Row("ours_stream", "`traced_stage` generator, 50 chunks", ours_stream, "stream", "ref_stream")
    return {name: row for name, row in rows.items() if name in names}


def _openlit_row() -> Row:
    import openlit  # type: ignore[import-not-found, unused-ignore]

    @openlit.trace  # type: ignore[untyped-decorator, misc, unused-ignore]
    def generate() -> str:
        result = RESPONSE
        trace.get_current_span().set_attributes(eight_attributes(result))
        # OpenLIT's trace records the return value as gen_ai.output.messages: it takes a string (a dict is refused
        # by the SDK with a warning per call), so the row returns the reply text.
        return str(result["choices"][0]["message"]["content"])

    return Row("openlit", "OpenLIT `trace` + 8 attributes", generate)


def _openllmetry_row() -> Row:
    from traceloop.sdk.decorators import task  # type: ignore[import-not-found, unused-ignore]

    @task(name="generate")  # type: ignore[untyped-decorator, misc, unused-ignore]
    def generate() -> dict[str, Any]:
        result = RESPONSE
        trace.get_current_span().set_attributes(eight_attributes(result))
        return result

    return Row("openllmetry", "OpenLLMetry `@task` + 8 attributes", generate)


def _langfuse_row(client: Any) -> Row:
    def generate() -> dict[str, Any]:
        with client.start_as_current_observation(as_type="generation", name=f"chat {MODEL}", model=MODEL) as gen:
            result = RESPONSE
            usage = result["usage"]
            gen.update(usage_details={"input": usage["prompt_tokens"], "output": usage["completion_tokens"]})
            return result

    return Row("langfuse", "Langfuse generation + usage", generate)


def _init_peers(bench: Bench, exporter: Callable[[], SpanExporter]) -> Any:
    """Import and initialise OpenLIT, OpenLLMetry and Langfuse; each exports only to ``exporter()``.

    OpenLIT reuses the global provider (``bench.provider``, already set) and adds nothing to it. OpenLLMetry adds its
    processor to the global provider it finds, so it is initialised while its own provider is the global one, which is
    then reset. Langfuse takes a provider and an exporter (it builds its BatchSpanProcessor around it) as arguments.
    Returns the Langfuse client.
    """
    import langfuse  # type: ignore[import-not-found, unused-ignore]
    import openlit  # type: ignore[import-not-found, unused-ignore]
    from traceloop.sdk import Traceloop  # type: ignore[import-not-found, unused-ignore]

    prices = Path(tempfile.mkdtemp(prefix="bench-openlit-")) / "pricing.json"
    prices.write_text("{}", encoding="utf-8")  # else OpenLIT downloads its price list
    openlit.init(service_name="bench", disable_events=True, disable_metrics=True, pricing_json=str(prices))
    traceloop_provider = TracerProvider()
    reset_trace_globals()
    trace.set_tracer_provider(traceloop_provider)
    Traceloop.init(app_name="bench", processor=bench.processor(exporter()), telemetry_enabled=False)
    reset_trace_globals()
    trace.set_tracer_provider(bench.provider)
    bench.closers.append(traceloop_provider.shutdown)
    langfuse_provider = TracerProvider()
    client = langfuse.Langfuse(
        public_key="pk-lf-bench",
        secret_key="sk-lf-bench",
        base_url="http://127.0.0.1:9",  # never contacted (its exporter is ours); a closed port if it ever were
        tracer_provider=langfuse_provider,
        span_exporter=exporter(),
    )
    bench.closers.append(langfuse_provider.shutdown)
    bench.closers.append(client.shutdown)
    return client


def setup(
    names: Sequence[str],
    *,
    peers: bool,
    exporter: Callable[[], SpanExporter] = DropExporter,
    batch: bool = True,
) -> Bench:
    """The providers and the rows in ``names`` (peers' rows need ``peers``); the caller must ``close()`` it.

    Every provider exports to ``exporter()`` through a ``BatchSpanProcessor``, or a ``SimpleSpanProcessor`` when not
    ``batch`` (tests: the spans are there when the call returns).

    ``configure(embedded=True)`` installs its pipeline on a provider it makes global: the embedded row passes that
    provider to ``traced_stage`` explicitly, and the global one is then reset to the shared provider of the others.
    """
    os.environ.setdefault("OTEL_BSP_MAX_QUEUE_SIZE", str(QUEUE))
    embedded_provider = None
    closers: list[Callable[[], Any]] = []
    if "ours_embedded" in names:
        reset_trace_globals()
        telemetry = oc.configure("bench-peers", embedded=True, span_processors=[_processor(exporter(), batch)])
        embedded_provider = telemetry.tracer_provider
        assert isinstance(embedded_provider, TracerProvider)
        closers.append(lambda: telemetry.shutdown(timeout=5))
    reset_trace_globals()
    provider = TracerProvider()
    provider.add_span_processor(_processor(exporter(), batch))
    trace.set_tracer_provider(provider)
    bench = Bench(provider, {}, closers, batch=batch)
    bench.closers.append(provider.shutdown)
    langfuse_client = None
    if peers:
        langfuse_client = _init_peers(bench, exporter)
    rows = _ours_rows(provider.get_tracer("bench"), embedded_provider, names)
    if peers and "openlit" in names:
        rows["openlit"] = _openlit_row()
    if peers and "openllmetry" in names:
        rows["openllmetry"] = _openllmetry_row()
    if langfuse_client is not None and "langfuse" in names:
        rows["langfuse"] = _langfuse_row(langfuse_client)
    bench.rows = {name: rows[name] for name in ORDER if name in rows}
    return bench


def _time_sync(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - start) / calls / 1000


def _time_stream(fn: Callable[[], Iterator[Any]], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        for _ in fn():
            pass
    return (time.perf_counter_ns() - start) / calls / 1000


async def _await_n(fn: Callable[[], Awaitable[Any]], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        await fn()
    return (time.perf_counter_ns() - start) / calls / 1000


def run_row(bench: Bench, row: Row, calls: int) -> float:
    """Call ``row`` ``calls`` times; us per call (per stream for stream rows)."""
    if row.kind == "async":
        return bench.loop.run_until_complete(_await_n(row.fn, calls))
    if row.kind == "stream":
        return _time_stream(row.fn, calls)
    return _time_sync(row.fn, calls)


def measure(bench: Bench, *, rounds: int, calls: int, streams: int, gc_on: bool) -> dict[str, dict[str, Any]]:
    """Interleaved rounds; per row: min/median us per call and the median per-round ratio to its base row."""
    rows = list(bench.rows.values())
    warm = max(1, min(calls, streams) // 10)
    for row in rows:  # warm-up: price lookups, caches, first-call paths
        run_row(bench, row, warm)
    samples: dict[str, list[float]] = {row.name: [] for row in rows}
    if not gc_on:
        gc.disable()
    try:
        for index in range(rounds):
            shift = index % len(rows)
            for row in rows[shift:] + rows[:shift]:
                gc.collect()
                samples[row.name].append(run_row(bench, row, streams if row.kind == "stream" else calls))
    finally:
        gc.enable()
    result: dict[str, dict[str, Any]] = {}
    for row in rows:
        own = samples[row.name]
        base = samples.get(row.base, own)
        ratios = [mine / theirs for mine, theirs in zip(own, base, strict=True)]
        result[row.name] = {
            "label": row.label,
            "kind": row.kind,
            "base": row.base,
            "min_us": min(own),
            "median_us": statistics.median(own),
            "ratio": statistics.median(ratios),
            "added_us_per_chunk": (
                statistics.median(m - t for m, t in zip(own, base, strict=True)) / CHUNKS
                if row.kind == "stream"
                else None
            ),
        }
    return result


def versions() -> dict[str, str]:
    found = {}
    for dist in ("opentelemetry-sdk", "openlit", "traceloop-sdk", "langfuse", "openai", "otel-chatbot"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "-"
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=10"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        sha = "-"
    found["otel_chatbot git"] = sha
    found["python"] = sys.version.split()[0]
    return found


def _child(config: str, args: argparse.Namespace) -> dict[str, Any]:
    gc_on = config.startswith("gc-on")
    peers = config.endswith("-peers")
    names = [name for name in ORDER if name in args.only and (peers or name not in PEERS)]
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        os.environ.pop(name, None)
    os.environ["TRACELOOP_TELEMETRY"] = "false"
    bench = setup(names, peers=peers)
    try:
        rows = measure(bench, rounds=args.rounds, calls=args.calls, streams=args.streams, gc_on=gc_on)
        objects = len(gc.get_objects())
    finally:
        bench.close()  # flushes every processor
    warm = max(1, min(args.calls, args.streams) // 10)
    expected = sum(
        warm + args.rounds * (args.streams if row["kind"] == "stream" else args.calls) for row in rows.values()
    )
    # One span per call in every row: fewer means a row traced nothing (or a queue dropped spans, which is cheaper).
    spans = {"expected": expected, "exported": DropExporter.exported}
    return {"config": config, "gc": gc_on, "peers": peers, "rows": rows, "objects": objects, "spans": spans}


def _table_rows(results: list[dict[str, Any]], cell: Callable[[dict[str, Any]], str]) -> list[str]:
    """One markdown row per benchmark row (in ORDER) present in any config: ``cell`` of each config, ``-`` if absent."""
    lines = []
    for name in ORDER:
        cells = []
        label = base = None
        for result in results:
            row = result["rows"].get(name)
            if row is None:
                cells.append(" - |")
                continue
            label, base = row["label"], row["base"]
            cells.append(f" {cell(row)} |")
        if label is not None:
            lines.append(f"| {label} | {base} |" + "".join(cells))
    return lines


def _format(results: list[dict[str, Any]], args: argparse.Namespace, info: dict[str, str]) -> str:
    lines = [
        f"bench_peers: {args.rounds} interleaved rounds of {args.calls} calls ({args.streams} streams of {CHUNKS} "
        f"chunks), BatchSpanProcessor -> dropping exporter; ratio = median over rounds of row / base (same round)",
        "versions: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
    ]
    header = "| row | base |" + "".join(f" {r['config']} |" for r in results)

    def ratio(row: dict[str, Any]) -> str:
        extra = f", +{row['added_us_per_chunk']:.2f} us/chunk" if row["added_us_per_chunk"] is not None else ""
        return f"{row['ratio']:.2f}x{extra}"

    lines += ["ratio to base (median of per-round ratios)", "", header, "|---|---|" + "---|" * len(results)]
    lines += _table_rows(results, ratio)
    lines += ["", "us per call (per stream for stream rows): min / median", "", header]
    lines.append("|---|---|" + "---|" * len(results))
    lines += _table_rows(results, lambda row: f"{row['min_us']:.2f} / {row['median_us']:.2f}")
    lines += [
        "",
        "objects tracked by the GC in each child: " + ", ".join(f"{r['config']} {r['objects']}" for r in results),
        "spans exported / calls made: "
        + ", ".join(f"{r['config']} {r['spans']['exported']}/{r['spans']['expected']}" for r in results),
    ]
    for result in results:
        spans = result["spans"]
        if spans["expected"] != spans["exported"]:
            lines.append(
                f"WARNING {result['config']}: {spans['exported']} spans exported for {spans['expected']} calls"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--streams", type=int, default=1_000, help="streams per round for the stream rows")
    parser.add_argument(
        "--only", default=",".join(ORDER), help=f"comma-separated rows (default all: {','.join(ORDER)})"
    )
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, from {','.join(CONFIGS)}")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    parser.add_argument("--config", help=argparse.SUPPRESS)  # a child: measure one config, print JSON
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(ORDER)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    for name in args.only:  # a row's base is measured with it
        base = {"ours_async": "ref_async", "ours_stream": "ref_stream"}.get(name, "ref")
        if base not in args.only:
            args.only.append(base)
    if args.config:
        print(json.dumps(_child(args.config, args)))
        return 0
    configs = [name.strip() for name in args.configs.split(",") if name.strip()]
    if set(configs) - set(CONFIGS):
        parser.error(f"unknown configs: {', '.join(sorted(set(configs) - set(CONFIGS)))}")
    results = []
    for config in configs:
        command = [sys.executable, "-m", "benchmarks.bench_peers", "--config", config]
        command += ["--rounds", str(args.rounds), "--calls", str(args.calls), "--streams", str(args.streams)]
        command += ["--only", ",".join(args.only)]
        print(f"== {config}", file=sys.stderr, flush=True)
        started = time.monotonic()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        print(f"   {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    info = versions()
    if args.json:
        print(json.dumps({"versions": info, "args": vars(args), "results": results}, indent=2))
    else:
        print(_format(results, args, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
