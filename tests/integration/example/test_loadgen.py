"""The load generator's pure parts and the example's settings."""

from __future__ import annotations

import io
import math

import pytest

from examples.loadgen.load import Progress, Result, Stats, percentile, plan_conversations, slowest_trace, summary
from examples.rag_chatbot.settings import Settings


def test_percentile_interpolates() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([7.0], 99) == 7.0
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 100) == 100.0


def test_conversations_add_up_to_the_turns_and_are_seeded() -> None:
    plan = plan_conversations(200, seed=1, users=12)
    assert sum(len(messages) for _, messages in plan) == 200
    assert all(1 <= len(messages) <= 4 for _, messages in plan)
    assert len({user for user, _ in plan}) > 1
    assert plan == plan_conversations(200, seed=1, users=12)
    assert plan != plan_conversations(200, seed=2, users=12)


def test_summary_counts_errors_and_percentiles() -> None:
    stats = Stats(wall_s=2.0, feedback=1)
    stats.results = [
        Result(True, "200", 0.1 * i, ttft_s=0.05, usage={"prompt_tokens": 10, "completion_tokens": 2})
        for i in range(1, 11)
    ]
    stats.results += [Result(False, "502", 0.01), Result(False, "ReadTimeout", 30.0)]
    text = summary(stats)
    assert "12 chat turns in 2.0 s (6.0/s), 1 feedback posts" in text
    assert "errors     2  (502: 1, ReadTimeout: 1)" in text
    assert "latency    p50 550 ms   p95 955 ms   p99 991 ms" in text
    assert "tokens     100 in, 20 out" in text


def test_slowest_trace_is_an_answered_uncached_turn() -> None:
    stats = Stats()
    assert slowest_trace(stats) is None
    stats.results = [
        Result(True, "200", 0.5, trace_id="a"),
        Result(True, "200", 2.0, cached=True, trace_id="cached"),
        Result(False, "502", 9.0, trace_id=None),
        Result(True, "200", 1.5, trace_id="b"),
    ]
    assert slowest_trace(stats) == "b"


def test_progress_without_a_terminal_prints_every_tenth() -> None:
    out = io.StringIO()
    progress = Progress(20, out)
    for done in range(1, 21):
        progress.update(done, errors=0)
    lines = out.getvalue().splitlines()
    assert lines[0] == "  1/20 turns, 0 errors" and lines[-1] == "  20/20 turns, 0 errors"
    assert len(lines) == 11  # 0%..100% in steps of 10%


def test_settings_from_env() -> None:
    settings = Settings.from_env({"OPENAI_BASE_URL": "http://x/v1", "CHATBOT_API_KEYS": "k1=t1, k2=t2"})
    assert settings.openai_base_url == "http://x/v1"
    assert dict(settings.api_keys) == {"k1": "t1", "k2": "t2"}
    with pytest.raises(ValueError, match="CHATBOT_API_KEYS: expected key=tenant pairs"):
        Settings.from_env({"CHATBOT_API_KEYS": "just-a-key"})
