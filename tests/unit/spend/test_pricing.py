from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
    assert f"all units (genai-prices=={genai_prices.__version__}): " in out and "web searches" in out
    assert main(["pricing", "no-such-model-abc"]) == 1
    assert "unknown model" in capsys.readouterr().out


def _simple(exporter: InMemorySpanExporter) -> SimpleSpanProcessor:
    return SimpleSpanProcessor(exporter)


# --- every billable unit, priced as genai-prices prices it -------------------------------------------------------

# Real models of genai-prices' bundled data, each with a unit beyond input/output/cache (the test below checks they
# still have it, so a data update that drops one fails loudly instead of testing nothing).
_MODELS: list[tuple[str, str, str]] = [
    ("claude-sonnet-4-6", "anthropic", "cache_write_1h_mtok"),  # 5-minute (cache_write) and 1-hour writes
    ("claude-sonnet-4-6", "anthropic", "web_searches_kcount"),
    ("gpt-4o-realtime-preview", "openai", "cache_audio_read_mtok"),  # audio in/out, cached audio
    ("gpt-audio", "openai", "output_audio_mtok"),
    ("gemini-2.5-flash", "google", "input_audio_mtok"),
    ("gemini-2.5-flash", "google", "web_searches_kcount"),
    ("gemini-live-2.5-flash", "google", "input_video_mtok"),
    ("sonar", "perplexity", "requests_kcount"),  # a per-request fee
    ("sonar-deep-research", "perplexity", "output_reasoning_mtok"),  # reasoning at its own price
    ("gpt-5.4", "openai", "input_mtok"),  # context-size tiers
    ("gpt-4o-mini", "openai", "input_mtok"),  # a plain price: the fast path
]


def _bundled(model: str, provider: str) -> ModelPrice:
    price = PricingTable().lookup(model, provider)
    assert price is not None
    return price


@pytest.mark.parametrize(("model", "provider", "price_key"), _MODELS)
def test_the_models_have_the_unit_they_test(model: str, provider: str, price_key: str) -> None:
    calc = genai_prices.calc_price(genai_prices.Usage(input_tokens=1), model, provider_id=provider)
    assert getattr(calc.model_price, price_key) is not None


@st.composite
def _usages(draw: st.DrawFn) -> dict[str, int]:
    """A consistent usage in genai-prices' keys: every part drawn apart, the totals their sums."""
    n = st.integers(0, 400_000)
    text, text_cached, audio, audio_cached, video, write_5m, write_1h = (draw(n) for _ in range(7))
    text_out, audio_out = draw(n), draw(n)
    reasoning = draw(st.integers(0, text_out))
    usage = {
        "input_tokens": text + text_cached + audio + audio_cached + video + write_5m + write_1h,
        "output_tokens": text_out + audio_out,
        "cache_read_tokens": text_cached + audio_cached,
        "cache_write_tokens": write_5m + write_1h,
        "output_reasoning_tokens": reasoning,
        "cache_write_1h_tokens": write_1h,
        "input_audio_tokens": audio + audio_cached,
        "cache_audio_read_tokens": audio_cached,
        "input_video_tokens": video,
        "output_audio_tokens": audio_out,
        "web_searches": draw(st.integers(0, 20)),
    }
    # A zero may be reported or left out; cached audio must be given when cached and audio tokens both are.
    return {
        key: value for key, value in usage.items() if value or key == "cache_audio_read_tokens" or draw(st.booleans())
    }


_BASE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "output_reasoning_tokens")


def _token_usage(usage: dict[str, int]) -> TokenUsage:
    details = {k: v for k, v in usage.items() if k not in _BASE_KEYS}
    return TokenUsage(
        input_tokens=usage.get("input_tokens", 0),
        output_tokens=usage.get("output_tokens", 0),
        cache_read_tokens=usage.get("cache_read_tokens", 0),
        cache_write_tokens=usage.get("cache_write_tokens", 0),
        reasoning_tokens=usage.get("output_reasoning_tokens", 0),
        details=details or None,
    )


@pytest.mark.parametrize(("model", "provider"), sorted({(m, p) for m, p, _ in _MODELS}))
@settings(max_examples=150, deadline=None)
@given(usage=_usages())
def test_cost_equals_genai_prices_calc_price(model: str, provider: str, usage: dict[str, int]) -> None:
    expected = genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider).total_price
    price = _bundled(model, provider)
    token_usage = _token_usage(usage)
    assert compute_cost(token_usage, price) == expected
    assert pricing.cost_usd_float(token_usage, price) == float(expected)
    # Without the details (a provider that reports only the totals), the totals at genai-prices' prices.
    totals = {k: v for k, v in usage.items() if k in _BASE_KEYS}
    plain = token_usage._replace(details=None)
    expected_totals = genai_prices.calc_price(genai_prices.Usage(**totals), model, provider_id=provider).total_price
    assert compute_cost(plain, price) == expected_totals
    assert pricing.cost_usd_float(plain, price) == float(expected_totals)


def test_fast_path_agrees_with_genai_prices_for_every_bundled_model() -> None:
    """The integer fast path (text-only usage, no per-request fee, no tiers) is what genai-prices computes."""
    from genai_prices import data_snapshot

    now = datetime.now(tz=UTC)
    usages = [
        dict(input_tokens=1234, output_tokens=567),
        dict(input_tokens=98_765, output_tokens=4321, cache_read_tokens=50_000, cache_write_tokens=7_000),
        dict(input_tokens=10, output_tokens=3000, output_reasoning_tokens=2500),
    ]
    checked = 0
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            gp_price = model.get_prices(now)
            price = pricing._convert(gp_price, "test")
            if price is None:
                continue
            for usage in usages:
                expected = model.calc_price(genai_prices.Usage(**usage), provider).total_price
                token_usage = _token_usage(usage)
                assert compute_cost(token_usage, price) == expected, (provider.id, model.id, usage)
                assert pricing.cost_usd_float(token_usage, price) == float(expected), (provider.id, model.id)
            checked += 1
    assert checked > 1000


def test_plain_price_keeps_the_integer_fast_path() -> None:
    price = _bundled("gpt-4o-mini", "openai")
    assert price.pico is not None and not price._genai_always
    assert str(compute_cost(TokenUsage(input_tokens=1000, output_tokens=500), price)) == "0.00045"
    # All-zero details (OpenAI's audio_tokens: 0) change nothing.
    zero = TokenUsage(input_tokens=1000, output_tokens=500, details={"input_audio_tokens": 0})
    assert not pricing._uses_genai(zero, price)
    assert _bundled("sonar", "perplexity")._genai_always  # a per-request fee applies to every call


def test_per_request_fee_applies_to_every_call() -> None:
    price = _bundled("sonar", "perplexity")
    expected = genai_prices.calc_price(genai_prices.Usage(), "sonar", provider_id="perplexity").total_price
    assert expected > 0
    assert compute_cost(TokenUsage(), price) == expected
    assert pricing.cost_usd_float(TokenUsage(), price) == float(expected)


def test_inconsistent_details_price_the_totals(caplog: pytest.LogCaptureFixture) -> None:
    price = _bundled("gemini-2.5-flash", "google")
    usage = TokenUsage(input_tokens=10, output_tokens=5, details={"input_audio_tokens": 50})  # more audio than input
    totals = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=10, output_tokens=5), "gemini-2.5-flash", provider_id="google"
    ).total_price
    assert compute_cost(usage, price) == totals
    assert "cannot price these usage details" in caplog.text


def test_price_version() -> None:
    assert _bundled("gpt-4o-mini", "openai").version == f"genai-prices=={genai_prices.__version__}"
    table = PricingTable(pricing.parse_overrides({"gpt-4o-mini": {"input": 1, "output": 2}}))
    override = table.lookup("gpt-4o-mini", "openai")
    assert override is not None and override.version == "override"


# --- overrides: extra units ---------------------------------------------------------------------------------------


def test_plain_override_prices_details_at_their_parent_rate() -> None:
    price = pricing.parse_overrides({"m": {"input": 1, "output": 2, "cache_write": 3}})["m"]
    usage = TokenUsage(
        input_tokens=1000,
        output_tokens=100,
        cache_write_tokens=400,
        details={"input_audio_tokens": 500, "cache_write_1h_tokens": 300, "web_searches": 2, "output_audio_tokens": 50},
    )
    # Audio input at the input rate, 1-hour writes at the cache-write rate, audio output at the output rate;
    # web searches have no parent and no price.
    assert compute_cost(usage, price) == (Decimal(600 * 1) + Decimal(400 * 3) + Decimal(100 * 2)) / 10**6


def test_override_with_extra_units() -> None:
    spec = {
        "input": 1,
        "output": 2,
        "cache_read": "0.1",
        "cache_write": 3,
        "cache_write_1h": 6,
        "input_audio_mtok": 10,
        "output_audio": 20,
        "requests_kcount": 5,
        "web_searches_kcount": 10,
    }
    price = pricing.parse_overrides({"m": spec})["m"]
    assert price.version == "override"
    usage = TokenUsage(
        input_tokens=2000,
        output_tokens=300,
        cache_read_tokens=200,
        cache_write_tokens=500,
        details={"cache_write_1h_tokens": 100, "input_audio_tokens": 700, "output_audio_tokens": 50, "web_searches": 3},
    )
    tokens = (
        Decimal(2000 - 200 - 500 - 700) * 1  # text input
        + Decimal(200) * Decimal("0.1")  # cache reads
        + Decimal(400) * 3  # 5-minute writes
        + Decimal(100) * 6  # 1-hour writes
        + Decimal(700) * 10  # audio input
        + Decimal(250) * 2  # text output
        + Decimal(50) * 20  # audio output
    ) / 10**6
    fees = (Decimal(3) * 10 + Decimal(1) * 5) / 1000  # 3 web searches, 1 request
    assert compute_cost(usage, price) == tokens + fees
    assert pricing.cost_usd_float(usage, price) == float(tokens + fees)
    # The request fee applies to a call without details too.
    assert compute_cost(TokenUsage(input_tokens=1000), price) == Decimal(1000) / 10**6 + Decimal(5) / 1000


def test_override_extra_units_cached_audio_takes_the_cache_rate() -> None:
    price = pricing.parse_overrides({"m": {"input": 1, "output": 2, "cache_read": "0.5", "input_audio": 10}})["m"]
    usage = TokenUsage(input_tokens=1000, cache_read_tokens=100, details={"input_audio_tokens": 100})
    # Cached tokens and audio tokens reported without their overlap: taken as not overlapping.
    assert compute_cost(usage, price) == (Decimal(800) + Decimal(50) + Decimal(100 * 10)) / 10**6
    both = usage._replace(details={"input_audio_tokens": 300, "cache_audio_read_tokens": 100})
    assert compute_cost(both, price) == (Decimal(700) + Decimal(50) + Decimal(200 * 10)) / 10**6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"input": 1, "output": 1, "input_audoi": 3}, "unknown keys"),
        ({"input": 1, "output": 1, "web_searches_kcount": "x"}, "USD per 1000 web searches"),
        ({"input": 1, "output": 1, "input_audio": "x"}, "USD per 1M tokens"),
        ({"input": 1, "output": 1, "input_audio": 1, "input_audio_mtok": 2}, "twice"),
    ],
)
def test_malformed_extra_units(spec: dict[str, object], message: str) -> None:
    with pytest.raises(oc.ConfigurationError, match=message):
        pricing.parse_overrides({"m": spec})


# --- on the span: the units a provider reports, priced as genai-prices prices the same raw JSON ------------------


_RESPONSES: list[tuple[str, str, str, dict[str, object]]] = [
    (
        "gpt-audio",
        "openai",
        "chat",
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-audio",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": 1200,
                "completion_tokens": 300,
                "total_tokens": 1500,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 800},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 250},
            },
        },
    ),
    (
        "claude-sonnet-4-6",
        "anthropic",
        "default",
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": 1000,
                "output_tokens": 200,
                "cache_read_input_tokens": 4000,
                "cache_creation_input_tokens": 3000,
                "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
                "server_tool_use": {"web_search_requests": 2},
            },
        },
    ),
]


@pytest.mark.parametrize(("model", "provider", "flavor", "body"), _RESPONSES)
def test_span_cost_of_every_reported_unit(
    model: str, provider: str, flavor: str, body: dict[str, object], span_exporter: InMemorySpanExporter
) -> None:
    expected = genai_prices.extract_usage(body, provider_id=provider, api_flavor=flavor).calc_price().total_price
    tel = oc.configure("units", embedded=False, span_processors=[_simple(span_exporter)])
    try:

        @oc.traced_stage("generation", model=model, provider=provider)
        def call() -> dict[str, object]:
            return body

        call()
        tel.force_flush()
    finally:
        tel.shutdown()
    (span,) = span_exporter.get_finished_spans()
    attrs = span.attributes or {}
    assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] == float(expected)
    assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"
    assert attrs[semconv.CHATBOT_COST_PRICE_VERSION] == f"genai-prices=={genai_prices.__version__}"
    totals = genai_prices.Usage(
        **{
            key: int(attrs.get(name, 0))  # type: ignore[arg-type]
            for key, name in (
                ("input_tokens", semconv.GEN_AI_USAGE_INPUT_TOKENS),
                ("output_tokens", semconv.GEN_AI_USAGE_OUTPUT_TOKENS),
                ("cache_read_tokens", semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
                ("cache_write_tokens", semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS),
            )
        }
    )
    # The audio tokens / 1-hour writes and web searches cost more than the same totals as plain text would.
    assert expected > genai_prices.calc_price(totals, model, provider_id=provider).total_price


def test_pricing_cli_suggests_known_models_for_a_typo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pricing", "gpt4o-mini"]) == 1
    out = capsys.readouterr().out
    assert "did you mean: gpt-4o-mini" in out and "OTEL_CHATBOT_PRICES_FILE" in out
    assert main(["pricing", "claude-sonet-4", "--provider", "anthropic"]) == 1
    assert "did you mean: claude-sonnet-4" in capsys.readouterr().out
    assert main(["pricing", "zzzz-qqqq-9"]) == 1
    assert "did you mean" not in capsys.readouterr().out  # nothing close: no guess


def test_similar_models_include_the_users_own_prices() -> None:
    from otel_chatbot.spend import _pricing

    oc.configure("bot", prices={"acme-chat-v2": {"input": 1.0, "output": 2.0}}, embedded=False)
    assert "acme-chat-v2" in _pricing.similar_models("acme-chat-v3")
