"""The local OpenAI-compatible server: wire format, usage (with cached tokens), seeded latency and failures."""

from __future__ import annotations

import base64
import json
import statistics
import struct
from typing import Any

import pytest
from starlette.testclient import TestClient

from examples.llm_server import LLMServer, ServerConfig, count_tokens, create_app

FAST = ServerConfig(ttft_ms=1.0, tokens_per_s=5000.0, tokens_per_s_sd=0.0, outlier_rate=0.0)
LONG_SYSTEM = " ".join(f"rule{i} applies to every answer." for i in range(300))  # > 1024 tokens


def _client(config: ServerConfig = FAST) -> TestClient:
    return TestClient(create_app(config))


def _body(content: str = "How do I reset my password?", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}


def _events(text: str) -> list[Any]:
    events = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_models() -> None:
    with _client() as client:
        data = client.get("/v1/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["gpt-4o-mini"]


def test_completion_shape_and_usage() -> None:
    with _client() as client:
        data = client.post("/v1/chat/completions", json=_body(max_tokens=12)).json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    (choice,) = data["choices"]
    assert choice["finish_reason"] == "length"  # the answer (median 60 tokens) was cut by max_tokens, as OpenAI says
    assert choice["message"]["role"] == "assistant"
    usage = data["usage"]
    assert usage["completion_tokens"] == count_tokens(choice["message"]["content"]) == 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


def test_stream_with_include_usage() -> None:
    with _client() as client:
        response = client.post("/v1/chat/completions", json=_body(stream=True, stream_options={"include_usage": True}))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    first, *content, finish, usage_chunk = events
    # OpenAI's first chunk: the role and an empty content (a chunk, not a token).
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert content and all(c["choices"][0]["delta"]["content"] for c in content)
    assert all(e["object"] == "chat.completion.chunk" and e["usage"] is None for e in [first, *content, finish])
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    text = "".join(c["choices"][0]["delta"]["content"] for c in content)
    assert usage_chunk["usage"]["completion_tokens"] == count_tokens(text) == len(content)


def test_stream_without_include_usage_has_no_usage() -> None:
    with _client() as client:
        events = _events(client.post("/v1/chat/completions", json=_body(stream=True)).text)
    assert all("usage" not in e for e in events)
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_prompt_cache_reports_cached_tokens_like_openai() -> None:
    messages = [{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "first question"}]
    with _client() as client:
        first = client.post("/v1/chat/completions", json={"messages": messages}).json()["usage"]
        messages[-1]["content"] = "a different second question"
        second = client.post("/v1/chat/completions", json={"messages": messages}).json()["usage"]
        short = client.post("/v1/chat/completions", json=_body()).json()["usage"]
        short_again = client.post("/v1/chat/completions", json=_body()).json()["usage"]
    assert first["prompt_tokens"] >= 1024
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    cached = second["prompt_tokens_details"]["cached_tokens"]
    assert cached > 0 and cached % 128 == 0 and cached <= second["prompt_tokens"]
    assert cached >= second["prompt_tokens"] - 128 - 10  # the shared system prompt is cached, the question is not
    # Below 1024 prompt tokens nothing is cached, even on a repeat.
    assert short["prompt_tokens_details"]["cached_tokens"] == short_again["prompt_tokens_details"]["cached_tokens"] == 0


def test_same_seed_same_run_other_seed_other_run() -> None:
    def run(seed: int) -> list[Any]:
        with _client(ServerConfig(**{**FAST.__dict__, "seed": seed})) as client:
            return [client.post("/v1/chat/completions", json=_body(f"question {i}")).json() for i in range(3)]

    def strip(results: list[Any]) -> list[Any]:
        return [{k: v for k, v in r.items() if k != "created"} for r in results]

    assert strip(run(1)) == strip(run(1))
    assert strip(run(1)) != strip(run(2))


def test_latency_distribution_follows_the_config() -> None:
    config = ServerConfig(
        ttft_ms=300.0, ttft_sigma=0.3, tokens_per_s=80.0, tokens_per_s_sd=10.0, outlier_rate=0.05, outlier_factor=10.0
    )
    server = LLMServer(config)
    plans = [server.plan([{"role": "user", "content": "hi"}], None) for _ in range(2000)]
    ttfts = [p.ttft_s for p in plans]
    assert 0.27 < statistics.median(ttfts) < 0.33
    outliers = sum(t > 1.5 for t in ttfts) / len(ttfts)  # 5x the median: (almost) only the injected outliers
    assert 0.03 < outliers < 0.07
    assert 75 < statistics.mean(p.tokens_per_s for p in plans) < 85


def test_injected_errors_look_like_openai() -> None:
    with _client(ServerConfig(**{**FAST.__dict__, "error_429_rate": 1.0})) as client:
        response = client.post("/v1/chat/completions", json=_body())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    with _client(ServerConfig(**{**FAST.__dict__, "error_500_rate": 1.0})) as client:
        response = client.post("/v1/chat/completions", json=_body(stream=True))
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


def test_error_rates_are_seeded_shares() -> None:
    server = LLMServer(ServerConfig(error_429_rate=0.1, error_500_rate=0.05, timeout_rate=0.02))
    outcomes = [server.plan([{"role": "user", "content": "x"}], None).outcome for _ in range(4000)]
    assert 0.08 < outcomes.count("429") / 4000 < 0.12
    assert 0.035 < outcomes.count("500") / 4000 < 0.065
    assert 0.01 < outcomes.count("hang") / 4000 < 0.03


@pytest.mark.parametrize("given", [None, "sk-wrong-0123456789abcdef"])
def test_api_key_required_gives_openai_401(given: str | None) -> None:
    headers = {"authorization": f"Bearer {given}"} if given else {}
    with _client(ServerConfig(**{**FAST.__dict__, "api_key": "sk-right-key-000000"})) as client:
        denied = client.post("/v1/chat/completions", json=_body(), headers=headers)
        allowed = client.get("/v1/models", headers={"authorization": "Bearer sk-right-key-000000"})
    assert denied.status_code == 401
    message = denied.json()["error"]["message"]
    if given:
        assert denied.json()["error"]["code"] == "invalid_api_key"
        assert given not in message and given[-4:] in message  # masked, as OpenAI does
    assert allowed.status_code == 200


def test_bad_requests() -> None:
    with _client() as client:
        assert client.post("/v1/chat/completions", content=b"{not json").status_code == 400
        assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 400


def test_n_choices_stream_interleaves_indexes_each_with_its_role_and_finish_chunk() -> None:
    body = _body(n=3, max_tokens=40, stream=True, stream_options={"include_usage": True})
    with _client() as client:
        *chunks, usage_chunk = _events(client.post("/v1/chat/completions", json=body).text)
    by_index: dict[int, list[dict[str, Any]]] = {}
    for chunk in chunks:
        (choice,) = chunk["choices"]
        by_index.setdefault(choice["index"], []).append(choice)
    assert sorted(by_index) == [0, 1, 2]
    tokens = 0
    for choices in by_index.values():
        assert choices[0]["delta"]["role"] == "assistant"
        assert [c["finish_reason"] for c in choices if c["finish_reason"]] == [choices[-1]["finish_reason"]]
        tokens += sum(1 for c in choices if c["delta"].get("content"))
    assert by_index[2][-1]["finish_reason"] == "length"  # the last of n > 1 runs into the token limit
    assert usage_chunk["usage"]["completion_tokens"] == tokens


def test_responses_stream_event_sequence() -> None:
    body = {
        "model": "o4-mini",
        "input": "Hello there",
        "reasoning": {"effort": "low", "summary": "auto"},
        "stream": True,
    }
    with _client() as client:
        text = client.post("/v1/responses", json=body).text
    events = [json.loads(line.removeprefix("data: ")) for line in text.splitlines() if line.startswith("data: ")]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
    ]
    assert kinds.index("response.reasoning_summary_text.delta") < kinds.index("response.output_text.delta")
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1]["response"]
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert final["output"][1]["content"][0]["text"] == "".join(deltas)
    usage = final["usage"]
    assert usage["output_tokens"] == len(deltas) + usage["output_tokens_details"]["reasoning_tokens"]


def test_embeddings_float_and_base64_agree() -> None:
    body = {"model": "text-embedding-3-small", "input": ["hello world", "bye"], "dimensions": 8}
    with _client() as client:
        floats = client.post("/v1/embeddings", json=body).json()
        packed = client.post("/v1/embeddings", json={**body, "encoding_format": "base64"}).json()
    for plain, encoded in zip(floats["data"], packed["data"], strict=True):
        decoded = struct.unpack("<8f", base64.b64decode(encoded["embedding"]))
        assert decoded == pytest.approx(plain["embedding"], rel=1e-6)
    assert floats["usage"] == {"prompt_tokens": count_tokens("hello world") + count_tokens("bye"), "total_tokens": 3}
