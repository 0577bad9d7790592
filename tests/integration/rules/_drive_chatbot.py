"""Run the example RAG chatbot with the local LLM server and drive chat traffic through it, in its own process.

    python -m tests.integration.rules._drive_chatbot --service svc --endpoint http://127.0.0.1:4317 [--ttft-ms 3500]
    python -m tests.integration.rules._drive_chatbot --service svc --embedded --port-file F  (serves /metrics)

The app runs under uvicorn on a free loopback port with the LLM server behind an in-process ASGI transport; requests
go over real HTTP in waves (so the counters grow across several scrapes and rates are non-zero): JSON and streaming
answers, repeated questions (response-cache hits), and some provider 500s (errors).

``--waves N`` sends N waves; ``--waves 0`` keeps sending waves until stdin is closed, so a test can poll Prometheus
while traffic flows and stop it as soon as it has what it waits for (no fixed durations).

With ``--endpoint``, spans go to the Collector and the process exits after flushing. With ``--embedded``, telemetry is
the embedded default and ``tel.mount(app)`` serves ``/metrics``: the process writes the port to ``--port-file``,
waits for a ``go`` line on stdin before sending traffic (so that a Prometheus scrapes before and after), and keeps
serving until stdin is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx

import otel_chatbot as oc
from examples.llm_server import ServerConfig
from examples.llm_server import create_app as create_llm_app
from examples.rag_chatbot.app import create_app
from examples.rag_chatbot.settings import Settings
from tests._servers import serve_asgi

APP_KEY = "demo-acme"
QUESTIONS = (
    "How do I reset my password?",
    "How can I change the email on my account?",
    "Where do I download my invoices?",
)


async def _turn(client: httpx.AsyncClient, i: int) -> int:
    # Every fourth turn repeats a first question (a response-cache hit once it was answered); the others are new
    # questions, so every wave reaches the LLM and the LLM-side series grow from wave to wave.
    question = QUESTIONS[i % len(QUESTIONS)]
    message = question if i % 4 == 0 else f"{question} (case {i})"
    body = {"message": message, "user_id": f"user-{i % 5}", "stream": bool(i % 2)}
    response = await client.post("/chat", json=body)
    await response.aread()
    return response.status_code


async def _traffic(base_url: str, *, waves: int, per_wave: int, gap_s: float, stop: threading.Event) -> list[int]:
    statuses: list[int] = []
    headers = {"authorization": f"Bearer {APP_KEY}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60.0) as client:
        for wave in itertools.count():
            if (waves and wave >= waves) or (not waves and stop.is_set()):
                break
            if wave:
                await asyncio.sleep(gap_s)
            turns = (_turn(client, wave * per_wave + i) for i in range(per_wave))
            statuses += await asyncio.gather(*turns)
    return statuses


def _watch_stdin(go: threading.Event, stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "go":
            go.set()
    go.set()
    stop.set()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--endpoint", help="OTLP endpoint of the Collector")
    mode.add_argument("--embedded", action="store_true", help="embedded telemetry, /metrics served")
    parser.add_argument("--port-file", help="--embedded: write the app's port here")
    parser.add_argument("--waves", type=int, default=4, help="0: until stdin is closed")
    parser.add_argument("--per-wave", type=int, default=6)
    parser.add_argument("--gap-s", type=float, default=1.5)
    parser.add_argument("--ttft-ms", type=float, default=40.0, help="median time to first token of the LLM server")
    parser.add_argument("--error-rate", type=float, default=0.1, help="share of provider 500s")
    args = parser.parse_args(argv)

    if args.embedded:
        tel = oc.configure(args.service)
    else:
        tel = oc.configure(args.service, endpoint=args.endpoint, embedded=False)
    llm = ServerConfig(
        ttft_ms=args.ttft_ms,
        ttft_sigma=0.05,
        tokens_per_s=2000.0,
        tokens_per_s_sd=0.0,
        output_tokens_median=20,
        outlier_rate=0.0,
        error_500_rate=args.error_rate,
    )
    settings = Settings(openai_base_url="http://llm.test/v1", openai_api_key="sk-local")
    app = create_app(
        settings,
        tracer_provider=tel.tracer_provider,
        transport=httpx.ASGITransport(app=create_llm_app(llm)),
        telemetry=tel,
    )
    go, stop = threading.Event(), threading.Event()
    if args.embedded or not args.waves:
        threading.Thread(target=_watch_stdin, args=(go, stop), daemon=True).start()
    try:
        with serve_asgi(app, access_log=False) as url:
            if args.embedded:
                Path(args.port_file).write_text(url.rsplit(":", 1)[1])
                go.wait()
            statuses = asyncio.run(_traffic(url, waves=args.waves, per_wave=args.per_wave, gap_s=args.gap_s, stop=stop))
            print(f"done {len(statuses)} requests, statuses {sorted(set(statuses))}", flush=True)
            if args.embedded:
                stop.wait()  # serve /metrics until the test closes stdin
    finally:
        tel.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
