"""The whole request path: server CPU per chat request of the example app, instrumented vs not, over real sockets.

Run: python -m benchmarks.bench_request_path [--rounds 9] [--requests 300] [--concurrency 8] [--no-export-mode]
     python -m benchmarks.bench_request_path --profile OUT.prof [--requests 2000]  (cProfile of server A)
     python -m benchmarks.bench_request_path --export-cost  (OTLP encode + send CPU per span, in process)

Processes, all on loopback: the local OpenAI-compatible LLM server (``examples.llm_server``) at zero latency; the
real native stack (otelcol-chatbot exporting to Jaeger, Prometheus; ``otel_chatbot.stack.start_stack``); and one
uvicorn server process per mode, each kept running for the whole run:

- A: the app as a user runs it under uvicorn (``examples.rag_chatbot.asgi``): ``oc.configure()`` from the
  environment (embedded statistics, OTLP/gRPC export to the collector), FastAPI and httpx instrumentation, stage spans.
- A0 (``--no-export-mode``): A without ``OTEL_EXPORTER_OTLP_ENDPOINT`` (no OTLP export), to separate export cost.
- B: ``create_app(instrument=False)`` and no ``configure()``: no SDK at all, every ``traced_stage`` a plain call.

Each round, a separate load process (this module with ``--load``: an async httpx client, ``--concurrency`` requests in
flight) sends ``--requests`` ``POST /chat`` requests, alternating the JSON and the streamed (SSE) answer, every one a
response-cache miss with retrieval, history and memory update. Rounds interleave the modes (A, B[, A0], A, B, ...),
after one uncounted warm-up round each. Server CPU per request is the delta of utime+stime in /proc/<pid>/stat of the
server process (all its threads: the event loop, ``to_thread`` workers, the span export thread; it has no children)
from the start of one round to the start of the same server's next round (the spans a round leaves in the export
queue count in it; the last round ends 6 s after its load), divided by the requests. Requests/s and p99 latency come
from the load process. Figures are medians over rounds, the A/B ratio the median of per-round ratios. Spans per
request: the collector's ``otelcol_receiver_accepted_spans`` over the requests of A's warm-up round, sent alone.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ZERO_LATENCY = [
    "--ttft-ms",
    "0",
    "--ttft-sigma",
    "0",
    "--prefill-ms-per-token",
    "0",
    "--tokens-per-s",
    "1e9",
    "--tokens-per-s-sd",
    "0",
    "--outlier-rate",
    "0",
    "--output-tokens-median",
    "40",
]
API_KEY = "demo-acme"
CLK_TCK = os.sysconf("SC_CLK_TCK")
LABELS = {
    "a": "A  instrumented",
    "a0": "A0 no OTLP export",
    "b": "B  uninstrumented",
    "a-fastapi": "A without FastAPI instrumentation",
    "a-httpx": "A without httpx instrumentation",
    "a-fastapi+httpx": "A, stage spans only",
    "a-other": "A from --compare-tree",
}
# Server A from another checkout (its own examples/ and otel_chatbot/), for before/after in one run.
OTHER_TREE_SERVER = (
    "import sys; from examples._serve import serve; from examples.rag_chatbot.asgi import app; "
    "sys.exit(serve(app, host='127.0.0.1', port=0, port_file=sys.argv[2], name='bench-a-other'))"
)


# --- the server process ------------------------------------------------------------------------------------------


def _serve(mode: str, port_file: str, profile: str | None) -> int:
    from examples._serve import serve

    if mode.startswith("a-") and mode != "a-other":  # an ablation: what one piece of A costs
        import otel_chatbot

        for piece in mode[2:].split("+"):
            setattr(otel_chatbot, f"instrument_{piece}", lambda *args, **kwargs: None)
    if mode == "b":
        from examples.rag_chatbot.app import create_app
        from examples.rag_chatbot.settings import Settings

        app = create_app(Settings.from_env(), instrument=False)
    else:
        from examples.rag_chatbot.asgi import app
    if profile is None:
        return serve(app, host="127.0.0.1", port=0, port_file=port_file, name=f"bench-{mode}")
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return serve(app, host="127.0.0.1", port=0, port_file=port_file, name=f"bench-{mode}")
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


# --- the load process --------------------------------------------------------------------------------------------


async def _load(url: str, requests: int, concurrency: int, offset: int) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index, errors
        while next_index < requests:
            i = next_index
            next_index += 1
            body = {
                "message": f"How do I export my notes? ({offset + i})",
                "user_id": f"u{i % 7}",
                "stream": i % 2 == 1,
            }
            start = time.perf_counter()
            async with client.stream("POST", "/chat", json=body) as response:
                await response.aread()
                if response.status_code != 200 or b'"error"' in response.content[-200:]:
                    errors += 1
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60.0) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return {"wall_s": wall, "rps": requests / wall, "p99_ms": p99 * 1e3, "errors": errors}


# --- the orchestrator --------------------------------------------------------------------------------------------


@dataclass
class Server:
    mode: str
    process: subprocess.Popen[bytes]
    url: str
    cpu_ms: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)


def _cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads) and its waited-for children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / CLK_TCK  # utime stime cutime cstime


def _wait_port(path: Path, process: subprocess.Popen[bytes], what: str, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            return int(path.read_text())
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def _process(
    argv: list[str], env: dict[str, str], tmp: Path, name: str, cwd: str | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port_file = tmp / f"{name}.port"
    log = (tmp / f"{name}.log").open("wb")
    process = subprocess.Popen([*argv, "--port-file", str(port_file)], env=env, cwd=cwd, stdout=log, stderr=log)
    try:
        yield process, _wait_port(port_file, process, name)
    finally:
        _stop(process)
        log.close()


def _run_load(url: str, requests: int, concurrency: int, offset: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_request_path", "--load", url, "--requests", str(requests)]
        + ["--concurrency", str(concurrency), "--offset", str(offset)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    if result["errors"]:
        raise RuntimeError(f"{int(result['errors'])} failed requests against {url}")
    return result


def _accepted_spans(telemetry_port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{telemetry_port}/metrics", timeout=5).read().decode()
    pattern = r'(?m)^otelcol_receiver_accepted_spans(?:_total)?\{[^}]*receiver="otlp"[^}]*\} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text))


def _settled(read: Callable[[], float], quiet_s: float = 7.0, timeout: float = 40.0) -> float:
    """The value once it stopped changing for ``quiet_s`` (the span batches have arrived)."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return value


def _run(args: argparse.Namespace) -> int:
    from otel_chatbot.stack import StackPorts, start_stack, stop_stack

    modes = ["a", "b", "a0"] if args.no_export_mode else ["a", "b"]
    modes += [m for m in args.ablate.split(",") if m]
    if args.compare_tree:
        modes.append("a-other")
    if args.profile:
        modes = ["a"]
    # The folder outlives the ExitStack: stop_stack() reads the stack's pid records from it.
    with tempfile.TemporaryDirectory(prefix="bench-request-path-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        llm, llm_port = stack.enter_context(
            _process([sys.executable, "-m", "examples.llm_server", "--port", "0", *ZERO_LATENCY], base_env, tmp, "llm")
        )
        running = start_stack(run_dir=tmp / "stack", ports=StackPorts.free(), log=lambda m: print(m, file=sys.stderr))
        stack.callback(stop_stack, tmp / "stack")
        app_env = {
            **base_env,
            "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
            "OPENAI_API_KEY": "local-key",
            "OTEL_SERVICE_NAME": "bench-request-path",
        }
        servers: dict[str, Server] = {}
        for mode in modes:
            env = dict(app_env)
            if mode == "a" or mode.startswith("a-"):
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = running.collector_otlp_grpc_url
            argv = [sys.executable, "-m", "benchmarks.bench_request_path", "--serve", mode]
            tree = None
            if mode == "a-other":
                tree = str(Path(args.compare_tree).resolve())
                argv = [sys.executable, "-c", OTHER_TREE_SERVER]
                env["PYTHONPATH"] = tree
            if args.profile:
                argv += ["--profile-out", str(Path(args.profile).resolve())]
            process, port = stack.enter_context(_process(argv, env, tmp, f"server-{mode}", cwd=tree))
            servers[mode] = Server(mode, process, f"http://127.0.0.1:{port}")
        if args.profile:
            server = servers["a"]
            _run_load(server.url, 200, args.concurrency, 0)  # warm-up, inside the profile too: it is small
            before = _cpu_s(server.process.pid)
            result = _run_load(server.url, args.requests, args.concurrency, 1_000_000)
            cpu = (_cpu_s(server.process.pid) - before) / args.requests * 1e3
            _stop(server.process)
            print(f"profiled server A: {cpu:.3f} ms CPU per request (under cProfile), {result['rps']:.0f} req/s")
            _print_profile(args.profile, args.requests + 200, args.top)
            return 0
        print(
            f"{args.rounds} rounds x {args.requests} requests, concurrency {args.concurrency}, modes "
            f"{'/'.join(m.upper() for m in modes)} interleaved (+1 warm-up round each)",
            flush=True,
        )
        read_spans = functools.partial(_accepted_spans, running.ports.collector_telemetry_port)
        spans_per_request = 0.0
        # A round's CPU is the server's from the start of its load to the start of its next round's: what it spends
        # between rounds (exporting its last batch while the others are loaded) is part of it.
        starts: dict[str, float] = {}
        for r in range(args.rounds + 1):
            for mode in modes:
                server = servers[mode]
                now = _cpu_s(server.process.pid)
                if r > 1:
                    server.cpu_ms.append((now - starts[mode]) / args.requests * 1e3)
                starts[mode] = now
                spans_before = read_spans() if (r, mode) == (0, "a") else 0.0
                result = _run_load(server.url, args.requests, args.concurrency, 10_000_000 * (r + 1) + len(mode))
                if (r, mode) == (0, "a"):  # A's warm-up round alone: its spans, once they all arrived
                    spans_per_request = (_settled(read_spans) - spans_before) / args.requests
                if r:
                    server.rps.append(result["rps"])
                    server.p99.append(result["p99_ms"])
            if r > 1:
                line = "  ".join(f"{m.upper()} {servers[m].cpu_ms[-1]:.3f} ms" for m in modes)
                print(f"  round {r - 1}: {line}", flush=True)
        time.sleep(6.0)  # the last batches leave (the span processor's 5 s schedule)
        for mode in modes:
            servers[mode].cpu_ms.append((_cpu_s(servers[mode].process.pid) - starts[mode]) / args.requests * 1e3)
        line = "  ".join(f"{m.upper()} {servers[m].cpu_ms[-1]:.3f} ms" for m in modes)
        print(f"  round {args.rounds}: {line}", flush=True)
        _report(servers, modes, spans_per_request)
    return 0


def _report(servers: dict[str, Server], modes: Sequence[str], spans_per_request: float) -> None:
    b = servers["b"]
    print()
    width = max(len(LABELS[m]) for m in modes)
    print("| mode | server CPU ms/request (median) | min..max | requests/s | p99 ms |")
    print("|---|---|---|---|---|")
    for mode in modes:
        s = servers[mode]
        print(
            f"| {LABELS[mode]:{width}} | {statistics.median(s.cpu_ms):.3f} | "
            f"{min(s.cpu_ms):.3f}..{max(s.cpu_ms):.3f} | {statistics.median(s.rps):.0f} | "
            f"{statistics.median(s.p99):.1f} |"
        )
    for mode in modes:
        if mode == "b":
            continue
        s = servers[mode]
        ratios = sorted(x / y for x, y in zip(s.cpu_ms, b.cpu_ms, strict=True))
        rps = statistics.median(x / y for x, y in zip(s.rps, b.rps, strict=True))
        added = statistics.median(s.cpu_ms) - statistics.median(b.cpu_ms)
        print(
            f"{mode.upper()}/B CPU per request: median per-round ratio {statistics.median(ratios):.2f}x "
            f"(min {ratios[0]:.2f}x, max {ratios[-1]:.2f}x), +{added:.3f} ms; requests/s ratio {rps:.2f}x"
        )
    if "a-other" in servers:
        a, other = servers["a"], servers["a-other"]
        ratios = sorted(x / y for x, y in zip(a.cpu_ms, other.cpu_ms, strict=True))
        print(
            f"A/A-OTHER CPU per request: median per-round ratio {statistics.median(ratios):.2f}x "
            f"(min {ratios[0]:.2f}x, max {ratios[-1]:.2f}x)"
        )
    print(f"spans per request (A, accepted by the collector): {spans_per_request:.2f}")


# --- what OTLP export costs per span -----------------------------------------------------------------------------


def _example_spans(requests: int = 50) -> list[Any]:
    """The spans the example app makes for ``requests`` chat requests (in process, the provider mocked)."""
    import httpx
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import otel_chatbot as oc
    from benchmarks.bench_example import _provider_reply
    from examples.rag_chatbot.app import create_app
    from examples.rag_chatbot.settings import Settings

    memory = InMemorySpanExporter()
    tel = oc.configure("bench-request-path", span_processors=[SimpleSpanProcessor(memory)])
    settings = Settings(openai_base_url="http://llm.bench/v1")
    app = create_app(settings, tracer_provider=tel.tracer_provider, transport=httpx.MockTransport(_provider_reply))

    async def drive() -> None:
        transport = httpx.ASGITransport(app=app)
        headers = {"authorization": f"Bearer {API_KEY}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://app", headers=headers) as client,
        ):
            for i in range(requests):
                body = {"message": f"q {i}", "user_id": "u", "stream": i % 2 == 1}
                assert (await client.post("/chat", json=body)).status_code == 200

    asyncio.run(drive())
    tel.shutdown()
    return list(memory.get_finished_spans())


def _export_cost(rounds: int = 20) -> int:
    """CPU per span of encoding and sending 512-span batches of the example's spans to the native collector."""
    from grpc import Compression  # type: ignore[import-untyped]
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    from otel_chatbot.stack import StackPorts, start_stack, stop_stack

    spans = _example_spans()
    batch = (spans * (512 // len(spans) + 1))[:512]
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        running = start_stack(run_dir=Path(tmp), ports=StackPorts.free())
        try:
            grpc_url = running.collector_otlp_grpc_url
            ways: dict[str, Callable[[Any], object]] = {
                "encode only (no I/O)": lambda b: encode_spans(b).SerializeToString(),
                "OTLP/gRPC": GrpcExporter(endpoint=grpc_url, insecure=True).export,
                "OTLP/gRPC + gzip": GrpcExporter(endpoint=grpc_url, insecure=True, compression=Compression.Gzip).export,
                "OTLP/HTTP protobuf": HttpExporter(endpoint=running.collector_otlp_http_url + "/v1/traces").export,
            }
            print(f"{len(spans) / 50:.0f} spans per request; CPU per span, 512-span batches, median of 3 x {rounds}")
            for name, export in ways.items():
                export(batch)
                per_span = []
                for _ in range(3):
                    start = time.process_time()
                    for _ in range(rounds):
                        export(batch)
                    per_span.append((time.process_time() - start) / rounds / len(batch) * 1e6)
                print(f"  {name:22s} {statistics.median(per_span):6.1f} µs")
        finally:
            stop_stack(Path(tmp))
    return 0


# --- the profile summary -----------------------------------------------------------------------------------------

GROUPS = (
    ("fastapi/asgi instrumentation", ("opentelemetry/instrumentation/fastapi", "opentelemetry/instrumentation/asgi")),
    ("httpx instrumentation", ("opentelemetry/instrumentation/httpx",)),
    ("otel exporter", ("opentelemetry/exporter", "opentelemetry/proto", "grpc/", "google/protobuf")),
    ("otel sdk", ("opentelemetry/sdk",)),
    ("otel api/util", ("opentelemetry/",)),
    ("otel_chatbot", ("otel_chatbot/",)),
    ("example app", ("examples/",)),
    ("starlette/fastapi", ("starlette/", "fastapi/")),
    ("uvicorn/h11", ("uvicorn/", "h11/")),
    ("httpx/httpcore", ("httpx/", "httpcore/")),
    ("asyncio", ("asyncio/",)),
)


def _group(filename: str) -> str:
    for name, needles in GROUPS:
        if any(n in filename for n in needles):
            return name
    return "other"


def _print_profile(path: str, requests: int, top: int) -> None:
    """Self time per package, then the top functions by self and cumulative time, in µs per request."""
    stats: Any = pstats.Stats(path)
    rows = stats.stats  # (file, line, name) -> (primitive calls, calls, tottime, cumtime, callers)
    per_group: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in rows.items():
        g = _group(filename)
        per_group[g] = per_group.get(g, 0.0) + tottime
    total = sum(per_group.values())
    print(
        f"\nself time by package, µs per request (main thread; {requests} requests; total {total / requests * 1e6:.0f})"
    )
    for g, t in sorted(per_group.items(), key=lambda kv: -kv[1]):
        print(f"  {g:32s} {t / requests * 1e6:8.1f}")

    def label(key: tuple[str, int, str]) -> str:
        filename, line, name = key
        short = re.sub(r".*/(site-packages|wt-[^/]+|lib/python3\.\d+)/", "", filename)
        return f"{short}:{line}({name})"

    ours = ("fastapi/asgi instrumentation", "httpx instrumentation", "otel sdk", "otel_chatbot", "otel exporter")
    for title, index in (("self", 2), ("cumulative", 3)):
        print(f"\ntop {top} telemetry functions by {title} time, µs per request (calls per request)")
        chosen = [(k, v) for k, v in rows.items() if _group(k[0]) in ours]
        for key, value in sorted(chosen, key=lambda kv: -kv[1][index])[:top]:
            print(
                f"  {value[index] / requests * 1e6:8.1f}  {value[1] / requests:6.2f}  [{_group(key[0])}] {label(key)}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-export-mode", action="store_true", help="also run A0: A without OTLP export")
    parser.add_argument(
        "--ablate",
        default="",
        help="also run A without pieces, comma-separated: a-fastapi, a-httpx, a-fastapi+httpx (OTLP export on)",
    )
    parser.add_argument(
        "--compare-tree",
        metavar="DIR",
        help="also run A from another checkout (e.g. `git worktree add DIR main`): before/after in one run",
    )
    parser.add_argument("--export-cost", action="store_true", help="only measure OTLP export CPU per span")
    parser.add_argument("--profile", metavar="OUT", help="profile server A under load (cProfile) into OUT instead")
    parser.add_argument("--top", type=int, default=30, help="functions listed per profile table")
    parser.add_argument("--serve", choices=tuple(LABELS), help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return _serve(args.serve, args.port_file, args.profile_out)
    if args.load:
        print(json.dumps(asyncio.run(_load(args.load, args.requests, args.concurrency, args.offset))))
        return 0
    if args.export_cost:
        return _export_cost()
    return _run(args)


if __name__ == "__main__":
    raise SystemExit(main())
