from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import semconv
from otel_chatbot.cli._main import main
from otel_chatbot.spend import _pricing as pricing
from otel_chatbot.spend._pricing import ModelPrice, PricingTable, TokenUsage, compute_cost


def test_compute_cost_is_exact_decimal() -> None:
    price = ModelPrice(Decimal("0.15"), Decimal("0.6"), Decimal("0.075"))
    cost = compute_cost(TokenUsage(input_tokens=1000, output_tokens=500), price)
    assert cost == Decimal("0.00045") and isinstance(cost, Decimal)
    # 1M calls of 1 token each adds up exactly: no float drift.
    one = compute_cost(TokenUsage(input_tokens=1), price)
    assert sum([one] * 1000) == Decimal("0.00015")


def test_reasoning_tokens_are_output_and_cache_writes_have_their_price() -> None:
    price = ModelPrice(Decimal(3), Decimal(15), Decimal("0.3"), Decimal("3.75"))
    usage = TokenUsage(
        input_tokens=1300, output_tokens=100, cache_read_tokens=1000, cache_write_tokens=200, reasoning_tokens=60
    )
    assert compute_cost(usage, price) == (Decimal(100 * 3) + Decimal("300") + Decimal("750") + Decimal(1500)) / 10**6


def test_missing_cache_prices_fall_back_to_input_price() -> None:
    price = ModelPrice(Decimal(1), Decimal(2))
    assert compute_cost(TokenUsage(input_tokens=10, cache_read_tokens=10), price) == Decimal("0.00001")


def test_overrides_win_over_bundled_data() -> None:
    table = PricingTable(pricing.parse_overrides({"gpt-4o-mini": {"input": 1, "output": 2}}))
    assert table.cost(TokenUsage(input_tokens=1_000_000), "gpt-4o-mini", "openai") == Decimal(1)
    provider_scoped = PricingTable(pricing.parse_overrides({"azure.ai.openai/gpt-4o-mini": {"input": 5, "output": 5}}))
    assert provider_scoped.cost(TokenUsage(input_tokens=10**6), "gpt-4o-mini", "azure.ai.openai") == Decimal(5)
    assert provider_scoped.cost(TokenUsage(input_tokens=10**6), "gpt-4o-mini", "openai") == Decimal("0.15")


def test_semconv_provider_names_map_to_price_providers() -> None:
    table = PricingTable()
    assert table.lookup("gemini-2.0-flash", "gcp.gemini") is not None
    assert table.lookup("claude-sonnet-4-5", "aws.bedrock") is not None or table.lookup("claude-sonnet-4-5") is not None
    assert table.lookup("definitely-not-a-model-xyz", "openai") is None


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_price_file_via_env(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, span_exporter: InMemorySpanExporter
) -> None:
    file = tmp_path / f"prices{suffix}"
    if suffix == ".toml":
        file.write_text('[models."acme-llm"]\ninput = 2.0\noutput = 8.0\ncache_read = 0.5\n')
    else:
        file.write_text(json.dumps({"acme-llm": {"input": 2.0, "output": 8.0, "cache_read": 0.5}}))
    monkeypatch.setenv("OTEL_CHATBOT_PRICES_FILE", str(file))
    tel = oc.configure("pricing-test", embedded=False, span_processors=[_simple(span_exporter)])
    try:

        @oc.traced_stage("generation", model="acme-llm")
        def call() -> dict[str, object]:
            return {
                "usage": {
                    "prompt_tokens": 1000,
                    "completion_tokens": 100,
                    "prompt_tokens_details": {"cached_tokens": 500},
                }
            }

        call()
        tel.force_flush()
    finally:
        tel.shutdown()
    (span,) = span_exporter.get_finished_spans()
    attrs = span.attributes or {}
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx((500 * 2 + 500 * 0.5 + 100 * 8) / 1e6, rel=1e-12)


def test_configure_prices_win_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "p.json"
    file.write_text(json.dumps({"acme-llm": {"input": 2.0, "output": 8.0}}))
    monkeypatch.setenv("OTEL_CHATBOT_PRICES_FILE", str(file))
    tel = oc.configure("p", embedded=False, prices={"acme-llm": {"input": 1, "output": 1}})
    try:
        assert pricing.default_table().cost(TokenUsage(input_tokens=10**6), "acme-llm") == Decimal(1)
    finally:
        tel.shutdown()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[models.x\ninput=1", "not valid"),
        ('{"x": {"input": 1}}', "needs both input and output"),
        ('{"x": {"input": -1, "output": 1}}', "non-negative"),
        ('{"x": {"input": "cheap", "output": 1}}', "must be a number"),
        ('{"x": {"inptu": 1, "output": 1}}', "unknown keys"),
        ('{"x": 3}', "must be a table"),
    ],
)
def test_malformed_price_file_raises_at_configure(
    content: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / ("p.toml" if content.startswith("[") else "p.json")
    file.write_text(content)
    monkeypatch.setenv("OTEL_CHATBOT_PRICES_FILE", str(file))
    with pytest.raises(oc.ConfigurationError, match=message):
        oc.configure("bad-prices")


def test_missing_price_file_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_CHATBOT_PRICES_FILE", "/nonexistent/prices.toml")
    with pytest.raises(oc.ConfigurationError, match="cannot read the price file"):
        oc.configure("x")


def test_bad_price_file_without_configure_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "p.json"
    file.write_text("{not json")
    monkeypatch.setenv("OTEL_CHATBOT_PRICES_FILE", str(file))
    table = pricing.default_table()
    assert table.lookup("gpt-4o-mini", "openai") is not None
    assert "Using bundled prices only" in caplog.text


def test_pricing_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pricing", "gpt-4o-mini", "--provider", "openai", "--input", "1000", "--output", "500"]) == 0
    out = capsys.readouterr().out
    assert "$0.00045" in out
    assert main(["pricing", "no-such-model-abc"]) == 1
    assert "unknown model" in capsys.readouterr().out


def _simple(exporter: InMemorySpanExporter) -> SimpleSpanProcessor:
    return SimpleSpanProcessor(exporter)
