"""A chatbot app for the stack tests, run as its own process (service.name is fixed once per process).

It calls ``otel_chatbot.configure(service_name, endpoint=..., embedded=False)`` and makes N requests, each a SERVER
root span around retrieval -> generation -> memory_update. Every other generation streams (so TTFT is recorded).
It prints one JSON object: the trace ids it sent and the token, cost and TTFT totals its spans carried.

    python tests/integration/stack/_chatbot_app.py --service svc --endpoint http://127.0.0.1:4317 --requests 20
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import otel_chatbot as oc

MODEL = "gpt-4o-mini"


@oc.traced_stage("retrieval", data_source="faq-index")
def retrieve(question: str) -> list[str]:
    return [f"doc about {question}", "another doc"]


@oc.traced_stage("generation", model=MODEL, provider="openai")
def generate(i: int, docs: list[str]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{i}",
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "answer"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100 + i, "completion_tokens": 10 + i % 7, "total_tokens": 110 + i + i % 7},
    }


@oc.traced_stage("generation", model=MODEL, provider="openai")
def generate_stream(i: int, docs: list[str]) -> Iterator[dict[str, Any]]:
    head = {"id": f"chatcmpl-{i}", "object": "chat.completion.chunk", "model": MODEL}
    for word in ("Hello", " there", "!"):
        yield {**head, "choices": [{"index": 0, "delta": {"content": word}}]}
    usage = {"prompt_tokens": 200 + i, "completion_tokens": 3, "total_tokens": 203 + i}
    yield {**head, "choices": [], "usage": usage}


@oc.traced_stage("memory_update")
def remember(question: str, answer: str) -> None:
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--requests", type=int, required=True)
    args = parser.parse_args()

    sent = InMemorySpanExporter()
    tel = oc.configure(
        args.service, endpoint=args.endpoint, embedded=False, span_processors=[SimpleSpanProcessor(sent)]
    )
    tracer = trace.get_tracer("stack-test-app")
    trace_ids: list[str] = []
    for i in range(args.requests):
        with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as root:
            trace_ids.append(format(root.get_span_context().trace_id, "032x"))
            question = f"question {i}"
            docs = retrieve(question)
            if i % 2:
                answer = "".join(
                    str(c["choices"][0]["delta"]["content"]) for c in generate_stream(i, docs) if c["choices"]
                )
            else:
                answer = str(generate(i, docs)["choices"][0]["message"]["content"])
            remember(question, answer)
    flushed = tel.force_flush(timeout=10)
    ok = tel.shutdown(timeout=10)

    spans = sent.get_finished_spans()
    totals = {"input": 0, "output": 0}
    cost = 0.0
    ttft = 0
    stages: dict[str, int] = {}
    for span in spans:
        attrs = span.attributes or {}
        stage = attrs.get("chatbot.stage")
        if isinstance(stage, str):
            stages[stage] = stages.get(stage, 0) + 1
        totals["input"] += int(str(attrs.get("gen_ai.usage.input_tokens", 0)))
        totals["output"] += int(str(attrs.get("gen_ai.usage.output_tokens", 0)))
        cost += float(str(attrs.get("gen_ai.usage.cost.amount", 0.0)))
        ttft += "gen_ai.response.time_to_first_chunk" in attrs
    json.dump(
        {
            "flushed": flushed and ok,
            "trace_ids": trace_ids,
            "spans": len(spans),
            "stages": stages,
            "input_tokens": totals["input"],
            "output_tokens": totals["output"],
            "cost_usd": cost,
            "ttft_spans": ttft,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
