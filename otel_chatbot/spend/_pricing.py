"""USD cost of an LLM call: price data plus pure functions.

Prices come from the bundled, offline data of `genai-prices <https://github.com/pydantic/genai-prices>`_, with user
overrides layered on top (``configure(prices={...})`` or a TOML/JSON file named by ``OTEL_CHATBOT_PRICES_FILE``).
Arithmetic is exact (``Decimal``); an unknown model gives ``None``, never a silent $0.

Example::

    from otel_chatbot.spend import TokenUsage, default_table

    cost = default_table().cost(TokenUsage(input_tokens=1000, output_tokens=500), "gpt-4o-mini", "openai")
    assert str(cost) == "0.00045"
"""

from __future__ import annotations

import json
import logging
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

from otel_chatbot import env
from otel_chatbot._state import STATE
from otel_chatbot.errors import ConfigurationError

__all__ = ["ModelPrice", "PricingTable", "TokenUsage", "compute_cost", "default_table"]

logger = logging.getLogger(__name__)

_MILLION = Decimal(1_000_000)

# semconv gen_ai.provider.name -> genai-prices provider id, where they differ.
_PROVIDER_IDS: dict[str, str] = {
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "aws.bedrock": "aws",
    "x_ai": "x-ai",
    "mistral_ai": "mistral",
    "moonshot_ai": "moonshotai",
}


class TokenUsage(NamedTuple):
    """Token counts of one call, in semconv terms: ``input_tokens`` INCLUDES cache reads and writes.

    (A NamedTuple rather than a frozen dataclass: it is built on every priced call, and is 5x cheaper to create.)

    Attributes:
        input_tokens: All input tokens, cached ones included.
        output_tokens: All output tokens, reasoning ones included.
        cache_read_tokens: Input tokens read from the provider's prompt cache.
        cache_write_tokens: Input tokens written to the provider's prompt cache.
        reasoning_tokens: Output tokens spent on reasoning (priced as output).
        details: Any other billable unit the provider reported, by genai-prices' usage key (``input_audio_tokens``,
            ``cache_write_1h_tokens``, ``input_tool_tokens``, ``web_searches``...); each is a part of the totals
            above where it is a token count, as in genai-prices. None (the common case) when there are none.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    details: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per one million tokens. ``None`` cache prices fall back to the input price.

    ``tiers`` holds genai-prices' "cliff" tiers: ``(threshold_input_tokens, ModelPrice)``; above a threshold the
    whole call is priced at that tier.
    """

    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    tiers: tuple[tuple[int, ModelPrice], ...] = ()
    version: str = "override"
    """The price data it came from: ``genai-prices==<version>`` for bundled data, ``override`` for the user's."""
    # Prices in integer pico-dollars per token (exact when a price has at most 6 decimals per 1M tokens, as all
    # published prices do): the hot path prices a call with two integer multiplications instead of Decimal maths.
    pico: tuple[int, int, int, int] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        rates = [
            self.input_mtok,
            self.output_mtok,
            self.input_mtok if self.cache_read_mtok is None else self.cache_read_mtok,
            self.input_mtok if self.cache_write_mtok is None else self.cache_write_mtok,
        ]
        scaled = [rate * _MILLION for rate in rates]
        if all(value == value.to_integral_value() for value in scaled):
            a, b, c, d = (int(value) for value in scaled)
            object.__setattr__(self, "pico", (a, b, c, d))


def compute_cost(usage: TokenUsage, price: ModelPrice) -> Decimal:
    """The exact USD cost of ``usage`` at ``price``.

    Cached input is priced at the cache-read price, cache writes at the cache-write price, the rest of the input at
    the input price; reasoning tokens are part of the output and priced as output.
    """
    if price.tiers:
        for threshold, tier_price in reversed(price.tiers):
            if usage.input_tokens > threshold:
                price = tier_price
                break
    if not usage.cache_read_tokens and not usage.cache_write_tokens:  # the common case, kept cheap
        return (usage.input_tokens * price.input_mtok + usage.output_tokens * price.output_mtok) / _MILLION
    cache_read = min(usage.cache_read_tokens, usage.input_tokens)
    cache_write = min(usage.cache_write_tokens, usage.input_tokens - cache_read)
    uncached = usage.input_tokens - cache_read - cache_write
    read_price = price.input_mtok if price.cache_read_mtok is None else price.cache_read_mtok
    write_price = price.input_mtok if price.cache_write_mtok is None else price.cache_write_mtok
    total = (
        uncached * price.input_mtok
        + cache_read * read_price
        + cache_write * write_price
        + usage.output_tokens * price.output_mtok
    )
    return total / _MILLION


def _decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigurationError(f"{where} must be a number of USD per 1M tokens, not {value!r}.")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ConfigurationError(f"{where} must be a number of USD per 1M tokens, not {value!r}.") from None
    if not result.is_finite() or result < 0:
        raise ConfigurationError(f"{where} must be a finite, non-negative number, not {value!r}.")
    return result


_OVERRIDE_KEYS = {
    "input",
    "output",
    "cache_read",
    "cache_write",
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
}


def _price_from_mapping(model: str, spec: object) -> ModelPrice:
    if isinstance(spec, ModelPrice):
        return spec
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"price for {model!r} must be a table like {{input = 0.15, output = 0.6}}.")
    unknown = set(spec) - _OVERRIDE_KEYS
    if unknown:
        raise ConfigurationError(
            f"price for {model!r} has unknown keys {sorted(unknown)}; use input, output, cache_read, cache_write "
            "(USD per 1M tokens)."
        )

    def get(name: str) -> object:
        return spec.get(name, spec.get(f"{name}_mtok"))

    if get("input") is None or get("output") is None:
        raise ConfigurationError(f"price for {model!r} needs both input and output (USD per 1M tokens).")
    read, write = get("cache_read"), get("cache_write")
    return ModelPrice(
        input_mtok=_decimal(get("input"), f"{model}.input"),
        output_mtok=_decimal(get("output"), f"{model}.output"),
        cache_read_mtok=None if read is None else _decimal(read, f"{model}.cache_read"),
        cache_write_mtok=None if write is None else _decimal(write, f"{model}.cache_write"),
    )


def parse_overrides(prices: Mapping[str, Any]) -> dict[str, ModelPrice]:
    """Validate user price overrides: ``{"model" or "provider/model": {"input": .., "output": .., ...}}``.

    Raises:
        ConfigurationError: On any malformed entry, naming it.
    """
    if not isinstance(prices, Mapping):
        raise ConfigurationError("prices must be a mapping of model name to {input, output, ...} (USD per 1M tokens).")
    models = prices.get("models", prices) if isinstance(prices.get("models"), Mapping) else prices
    return {str(name).lower(): _price_from_mapping(str(name), spec) for name, spec in models.items()}


def load_overrides_file(path: str | Path) -> dict[str, ModelPrice]:
    """Read a TOML or JSON price-override file.

    Raises:
        ConfigurationError: When the file is missing, unparsable or malformed.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the price file {str(file)!r}: {exc.strerror or exc}.") from None
    try:
        data: Any = json.loads(text) if file.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"the price file {str(file)!r} is not valid {file.suffix or 'TOML'}: {exc}.") from None
    return parse_overrides(data)


def _from_genai_prices(value: object) -> tuple[Decimal | None, tuple[tuple[int, Decimal], ...]]:
    if value is None:
        return None, ()
    if isinstance(value, Decimal):
        return value, ()
    base = getattr(value, "base", None)
    tiers = tuple((int(t.start), Decimal(t.price)) for t in getattr(value, "tiers", ()))
    return (Decimal(base) if base is not None else None), tiers


def _price_at(base: Decimal | None, tiers: tuple[tuple[int, Decimal], ...], threshold: int) -> Decimal | None:
    chosen = base
    for start, tier_price in tiers:
        if start <= threshold:
            chosen = tier_price
    return chosen


def _convert(gp_price: Any) -> ModelPrice | None:
    fields = {
        name: _from_genai_prices(getattr(gp_price, f"{name}_mtok", None))
        for name in ("input", "output", "cache_read", "cache_write")
    }
    inp, out = fields["input"][0], fields["output"][0]
    if inp is None:
        return None
    if out is None:  # embedding models: input-only pricing
        out = Decimal(0)
    thresholds = sorted({start for _, tiers in fields.values() for start, _ in tiers})
    tiers: list[tuple[int, ModelPrice]] = []
    for threshold in thresholds:
        at = {name: _price_at(base, tier_list, threshold) for name, (base, tier_list) in fields.items()}
        t_in, t_out = at["input"], at["output"] or Decimal(0)
        assert t_in is not None
        tiers.append((threshold, ModelPrice(t_in, t_out, at["cache_read"], at["cache_write"])))
    return ModelPrice(inp, out, fields["cache_read"][0], fields["cache_write"][0], tuple(tiers), _bundled_version())


def _bundled_version() -> str:
    from genai_prices import __version__

    return f"genai-prices=={__version__}"


def cost_usd_float(usage: TokenUsage, price: ModelPrice) -> float:
    """``float(compute_cost(usage, price))``, computed exactly in integers when the price allows (the span hot path)."""
    if price.pico is None or price.tiers:
        return float(compute_cost(usage, price))
    p_in, p_out, p_read, p_write = price.pico
    cache_read = min(usage.cache_read_tokens, usage.input_tokens)
    cache_write = min(usage.cache_write_tokens, usage.input_tokens - cache_read)
    pico = (
        (usage.input_tokens - cache_read - cache_write) * p_in
        + cache_read * p_read
        + cache_write * p_write
        + usage.output_tokens * p_out
    )
    return pico / 1e12  # 1e12 is exact in binary: this is the correctly rounded exact quotient, as float(Decimal)


class PricingTable:
    """Looks up a model's price: user overrides first, then genai-prices' bundled data; results are cached.

    Args:
        overrides: ``{"model" or "provider/model": ModelPrice}``; keys are matched case-insensitively.
    """

    def __init__(self, overrides: Mapping[str, ModelPrice] | None = None) -> None:
        self._overrides = {k.lower(): v for k, v in (overrides or {}).items()}
        self._cache: dict[tuple[str, str | None], ModelPrice | None] = {}
        self._lock = threading.Lock()

    def lookup(self, model: str, provider: str | None = None) -> ModelPrice | None:
        """The price of ``model`` (at ``provider``), or None when nobody knows it."""
        key = (model, provider)
        try:
            return self._cache[key]
        except KeyError:
            pass
        price = self._resolve(model, provider)
        with self._lock:
            if len(self._cache) < 4096:  # bounded: model names can come from responses
                self._cache[key] = price
        return price

    def cost(self, usage: TokenUsage, model: str, provider: str | None = None) -> Decimal | None:
        """The exact USD cost of ``usage``, or None when the model's price is unknown."""
        price = self.lookup(model, provider)
        return None if price is None else compute_cost(usage, price)

    def cost_float(self, usage: TokenUsage, model: str, provider: str | None = None) -> float | None:
        """The cost of ``usage`` as a float (for span attributes), or None when the price is unknown."""
        price = self.lookup(model, provider)
        return None if price is None else cost_usd_float(usage, price)

    def _resolve(self, model: str, provider: str | None) -> ModelPrice | None:
        name = model.lower()
        if provider and (price := self._overrides.get(f"{provider.lower()}/{name}")):
            return price
        if price := self._overrides.get(name):
            return price
        return _bundled_price(name, provider)


def _bundled_price(model: str, provider: str | None) -> ModelPrice | None:
    from genai_prices import data_snapshot  # imported lazily: ~0.1 s, only once a price is needed

    provider_id = _PROVIDER_IDS.get(provider, provider) if provider else None
    snapshot = data_snapshot.get_snapshot()
    for candidate in (provider_id, None) if provider_id else (None,):
        try:
            _, info = snapshot.find_provider_model(model, None, candidate, None)
        except LookupError:
            continue
        try:
            return _convert(info.get_prices(datetime.now(tz=UTC)))
        except Exception:  # genai-prices data we cannot interpret: unknown, never a wrong price
            logger.warning("cannot interpret genai-prices data for %r; treating its price as unknown", model)
            return None
    return None


def default_table() -> PricingTable:
    """The table in force: ``configure(prices=...)`` / ``OTEL_CHATBOT_PRICES_FILE`` overrides over bundled data."""
    table = STATE.prices
    if table is None:
        overrides: dict[str, ModelPrice] = {}
        path = env.prices_file()
        if path:
            try:
                overrides = load_overrides_file(path)
            except ConfigurationError as exc:  # without configure() nothing may raise: warn, use bundled data
                logger.warning("%s Using bundled prices only.", exc)
        table = STATE.prices = PricingTable(overrides)
    return table


def warm_up() -> None:
    """Load genai-prices' bundled data now (~60 ms, once per process) rather than inside the first priced request."""
    from genai_prices import data_snapshot

    data_snapshot.get_snapshot()
