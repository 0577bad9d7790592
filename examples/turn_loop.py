"""A small scripted chatbot turn loop: every stage span's stage, duration, tokens and cost, printed as a table.

Run: python examples/turn_loop.py [--turns 5]
No server and no LLM: the "model" returns OpenAI-shaped responses (streamed for every other turn).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv

CORPUS = {"refunds": "Refunds take 5 business days.", "shipping": "Orders ship within 24 hours."}


@oc.traced_stage("retrieval", data_source="faq")
def retrieve(question: str) -> list[dict[str, Any]]:
    time.sleep(random.uniform(0.005, 0.02))
    return [{"id": key, "score": 1.0} for key in CORPUS if key in question] or [{"id": "refunds", "score": 0.1}]


@oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
def generate(messages: list[dict[str, str]]) -> dict[str, Any]:
    time.sleep(random.uniform(0.05, 0.12))
    prompt = sum(len(m["content"]) for m in messages) // 4 + 300
    return {
        "id": "chatcmpl-demo",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"message": {"role": "assistant", "content": "..."}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": random.randint(40, 160),
            "prompt_tokens_details": {"cached_tokens": 256 if random.random() < 0.5 else 0},
        },
    }


@oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
def generate_stream(messages: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    time.sleep(random.uniform(0.03, 0.08))  # time to first token
    yield {"object": "chat.completion.chunk", "choices": [{"delta": {"role": "assistant"}}]}
    for word in ("Refunds ", "take ", "five ", "days."):
        time.sleep(0.01)
        yield {"object": "chat.completion.chunk", "choices": [{"delta": {"content": word}}]}
    yield {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 420, "completion_tokens": 4}}


@oc.traced_stage("memory_update")
def remember(user: str, question: str, answer: str) -> None:
    time.sleep(random.uniform(0.002, 0.01))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args(argv)
    random.seed(7)
    exporter = InMemorySpanExporter()
    tel = oc.configure("demo-bot", span_processors=[SimpleSpanProcessor(exporter)])
    tracer = trace.get_tracer("demo")
    questions = ["how do refunds work?", "when does shipping happen?", "refunds for shipping damage?"]
    for turn in range(args.turns):
        question = questions[turn % len(questions)]
        with (
            oc.conversation(conversation_id=f"c-{turn % 2}", user_id=f"u-{turn % 3}", tenant_id="acme"),
            tracer.start_as_current_span("chat turn"),
        ):
            docs = retrieve(question)
            messages = [
                {"role": "system", "content": " ".join(CORPUS[d["id"]] for d in docs)},
                {"role": "user", "content": question},
            ]
            if turn % 2:
                answer = "".join(
                    c["choices"][0]["delta"].get("content", "") for c in generate_stream(messages) if c["choices"]
                )
            else:
                answer = generate(messages)["choices"][0]["message"]["content"]
            remember(f"u-{turn % 3}", question, answer)
    tel.shutdown()
    print(f"{'stage':<14} {'span':<22} {'ms':>7} {'in':>6} {'out':>5} {'USD':>11}  {'TTFT s':>7}")
    total = 0.0
    for span in exporter.get_finished_spans():
        attrs = span.attributes or {}
        stage = attrs.get(semconv.CHATBOT_STAGE)
        if stage is None:
            continue
        ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        cost = attrs.get(semconv.GEN_AI_USAGE_COST_AMOUNT)
        total += float(cost) if isinstance(cost, float) else 0.0
        ttft = attrs.get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
        print(
            f"{stage!s:<14} {span.name:<22} {ms:7.1f} {attrs.get(semconv.GEN_AI_USAGE_INPUT_TOKENS, ''):>6} "
            f"{attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, ''):>5} "
            f"{(f'{cost:.7f}' if isinstance(cost, float) else ''):>11}  "
            f"{(f'{ttft:.3f}' if isinstance(ttft, float) else ''):>7}"
        )
    print(f"total cost: ${total:.6f} over {args.turns} turns")


if __name__ == "__main__":
    main()
