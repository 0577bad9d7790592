"""Real processes for the outage tests and ``benchmarks/outage.py``.

- :class:`OwnStack`: a native stack of its own (free loopback ports, its own run folder) whose collector or Jaeger can
  be SIGKILLed and started again with the same spec, ports, config and data folders;
- :class:`ServerProcess`: ``python -m examples.llm_server`` or ``python -m examples.rag_chatbot`` as a real process,
  its output in files (a pipe nobody reads would block a process that logs a lot while the collector is down);
- :class:`Load`: concurrent conversations against the chatbot for as long as they are wanted, every answer kept
  (status, latency, the trace id the app reports);
- :func:`jaeger_trace_ids`: the distinct trace ids Jaeger holds for a service in a time window.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from examples.loadgen.load import FIRST_QUESTIONS, FOLLOW_UPS, _turn
from otel_chatbot import env
from otel_chatbot.stack import Binaries, RunningStack, StackPorts, start_stack, stop_stack
from otel_chatbot.stack import _native as native
from otel_chatbot.stack import _runner as runner
from tests._http import eventually, get_json

ROOT = Path(__file__).resolve().parents[3]
APP_KEY = "demo-acme"
PROVIDER_KEY = "sk-provider-outage-test"
# Fast but not instant: 60 ms to the first token, ~20 tokens at 400 tokens/s.
LLM_ARGS = (
    "--ttft-ms=60",
    "--ttft-sigma=0.1",
    "--tokens-per-s=400",
    "--tokens-per-s-sd=0",
    "--outlier-rate=0",
    "--output-tokens-median=20",
    "--seed=3",
)


@dataclass
class OwnStack:
    """A started native stack that belongs to one test (or one benchmark run); parts can die and come back."""

    running: RunningStack
    extra_env: Mapping[str, str]

    @property
    def run_dir(self) -> Path:
        return self.running.run_dir

    def pid(self, name: str) -> int:
        """The pid of the recorded, running process ``name`` (``otelcol``, ``jaeger``, ``prometheus``)."""
        (record,) = [r for r in runner.read_records(self.run_dir) if r.name == name and r.alive()]
        return record.pid

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` (no chance to flush anything), wait until it is gone, forget its record."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        gone = eventually(lambda: True if not any(r.alive() for r in self._records(name)) else None, 10, 0.02)
        assert gone, f"{name} (pid {pid}) survived SIGKILL"
        runner.stop(self.run_dir, [name])  # reaps it and drops the record

    def stop(self, name: str) -> None:
        """Stop ``name`` the polite way (SIGTERM, then SIGKILL after 15 s)."""
        runner.stop(self.run_dir, [name])

    def start(self, name: str, timeout: float = 60.0) -> None:
        """Start ``name`` again with exactly the spec ``start_stack`` used (same argv, ports, env, data folders)."""
        assert not self._records(name), f"{name} still runs"
        stack = self.running
        process_env = native._process_env(stack.run_dir, stack.ports, self.extra_env)
        specs = native._specs(stack.binaries, stack.config_dir, stack.run_dir, stack.ports, process_env)
        (spec,) = [s for s in specs if s.name == name]
        record = runner.start(spec, stack.run_dir)
        runner.wait_healthy([record], timeout=timeout)

    def _records(self, name: str) -> list[runner.ProcessRecord]:
        return [r for r in runner.read_records(self.run_dir) if r.name == name]


@contextlib.contextmanager
def own_stack(run_dir: Path, binaries: Binaries, extra_env: Mapping[str, str] | None = None) -> Iterator[OwnStack]:
    """A native stack on free loopback ports in ``run_dir``, stopped (every recorded process) when the block ends."""
    env = {"OTEL_CHATBOT_METRICS_FLUSH_INTERVAL": "1s", "OTEL_CHATBOT_PROMETHEUS_SCRAPE_INTERVAL": "1s"}
    env.update(extra_env or {})
    try:
        running = start_stack(run_dir=run_dir, ports=StackPorts.free(), binaries=binaries, extra_env=env)
        yield OwnStack(running, env)
    finally:
        stop_stack(run_dir)


class ServerProcess:
    """``python -m <module> --port 0 --port-file F ...`` from the repository root, stdout/stderr in files."""

    def __init__(self, module: str, args: Sequence[str], folder: Path, env: Mapping[str, str] | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.name = module.rsplit(".", 1)[-1]
        self.port_file = folder / f"{self.name}.port"
        self.stderr_path = folder / f"{self.name}.stderr"
        with (folder / f"{self.name}.stdout").open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, "--port", "0", "--port-file", str(self.port_file), *args],
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_url(self, timeout: float = 60.0) -> str:
        """``http://127.0.0.1:<port>`` once the process listens (it fails with its stderr if it exits first)."""

        def port() -> int | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {self.stderr()}")
            return int(self.port_file.read_text()) if self.port_file.exists() else None

        found = eventually(port, timeout=timeout, interval=0.05)
        assert found is not None, f"{self.name}: no port file after {timeout:.0f} s: {self.stderr()}"
        return f"http://127.0.0.1:{found}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (SIGKILL after ``timeout`` s), reap; the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def llm_server(folder: Path) -> ServerProcess:
    """The local OpenAI-compatible LLM server (no telemetry of its own)."""
    return ServerProcess("examples.llm_server", LLM_ARGS, folder)


def chatbot(
    folder: Path, *, llm_url: str, otlp_endpoint: str, service: str, extra_env: Mapping[str, str] | None = None
) -> ServerProcess:
    """The example chatbot exporting OTLP/gRPC to ``otlp_endpoint``, its export buffer in ``folder/export-buffer``."""
    return ServerProcess(
        "examples.rag_chatbot",
        [],
        folder,
        {
            "OPENAI_BASE_URL": f"{llm_url}/v1",
            "OPENAI_API_KEY": PROVIDER_KEY,
            "OTEL_SERVICE_NAME": service,
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "5000",
            env.OTEL_CHATBOT_EXPORT_BUFFER: str(folder / "export-buffer"),
            **(extra_env or {}),
        },
    )


@dataclass(frozen=True)
class Answer:
    """One chat turn as the load generator saw it."""

    started: float
    """``time.monotonic()`` when the request was sent."""
    latency_s: float
    ok: bool
    status: str
    trace_id: str | None


class Load:
    """``concurrency`` conversations against the chatbot, in a thread, from :meth:`start` until :meth:`stop`."""

    def __init__(self, url: str, concurrency: int = 8, stream_share: float = 0.5, seed: int = 1) -> None:
        self.url = url
        self.concurrency = concurrency
        self.stream_share = stream_share
        self.seed = seed
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="outage-load", daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def answers(self) -> list[Answer]:
        """A snapshot of every answer so far."""
        with self._lock:
            return list(self._answers)

    def stop(self, timeout: float = 60.0) -> list[Answer]:
        """Let every conversation finish its current turn, then return every answer."""
        self._stopping.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the load did not stop"
        return self.answers()

    async def _main(self) -> None:
        timeout = httpx.Timeout(60.0, connect=5.0)
        limits = httpx.Limits(max_connections=self.concurrency * 2)
        async with httpx.AsyncClient(base_url=self.url, timeout=timeout, limits=limits) as client:
            await asyncio.gather(*(self._conversations(client, i) for i in range(self.concurrency)))

    async def _conversations(self, client: httpx.AsyncClient, worker: int) -> None:
        rng = random.Random(self.seed * 1000 + worker)
        headers = {"authorization": f"Bearer {APP_KEY}"}
        while not self._stopping.is_set():
            user = f"user-{worker:03d}"
            messages = [rng.choice(FIRST_QUESTIONS)] + [rng.choice(FOLLOW_UPS) for _ in range(rng.randint(0, 3))]
            conversation_id: str | None = None
            for message in messages:
                if self._stopping.is_set():
                    return
                body: dict[str, object] = {"message": message, "user_id": user}
                body["stream"] = rng.random() < self.stream_share
                if conversation_id:
                    body["conversation_id"] = conversation_id
                started = time.monotonic()
                result, cid, trace_id = await _turn(client, body, headers)
                answer = Answer(started, result.latency_s, result.ok, result.status, trace_id)
                with self._lock:
                    self._answers.append(answer)
                conversation_id = conversation_id or cid


def jaeger_trace_ids(jaeger_url: str, service: str, start_s: float, end_s: float | None = None) -> set[str]:
    """Distinct trace ids (32 hex digits) Jaeger returns for ``service`` between two wall-clock times."""
    end = (end_s or time.time() + 60) * 1_000_000
    # the limit stays below Jaeger's memory store's max_traces (it answers 500 otherwise), in case a config uses it
    params = {"service": service, "limit": "50000", "start": str(int(start_s * 1_000_000)), "end": str(int(end))}
    try:
        answer = get_json(f"{jaeger_url}/api/traces", params, timeout=60)
    except urllib.error.HTTPError:
        raise
    except OSError:  # Jaeger is down or restarting: nothing listens
        return set()
    return {trace["traceID"].zfill(32) for trace in answer.get("data") or []}


def wait_for_traces(jaeger_url: str, service: str, wanted: set[str], start_s: float, timeout: float) -> set[str]:
    """Poll Jaeger until it holds every trace id in ``wanted`` (or ``timeout`` s pass); what it holds then."""
    seen: set[str] = set()

    def complete() -> bool | None:
        nonlocal seen
        seen = jaeger_trace_ids(jaeger_url, service, start_s)
        return True if wanted <= seen else None

    eventually(complete, timeout=timeout, interval=1.0)
    return seen


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (VmRSS), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def disk_bytes(folder: Path) -> int:
    """Bytes the files under ``folder`` take on disk (allocated blocks: sparse files count what they use)."""
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file():
                total += path.stat().st_blocks * 512
    return total
