"""USD cost of an LLM call: price data plus pure functions.

Prices come from the bundled, offline data of `genai-prices <https://github.com/pydantic/genai-prices>`_, with user
overrides layered on top (``configure(prices={...})`` or a TOML/JSON file named by ``OTEL_CHATBOT_PRICES_FILE``).
Arithmetic is exact (``Decimal``); an unknown model gives ``None``, never a silent $0.

Every billable unit the price data knows is priced as genai-prices prices it: a call whose usage has ``details``
(audio/image/video tokens, 1-hour cache writes, tool-use prompt tokens, web searches...), or whose model has a price
that applies without them (a per-request fee, a separate reasoning price, context-size tiers), is computed by
genai-prices' own ``ModelPrice.calc_price``. The common text-only call at a plain price keeps an integer fast path
that gives the same result (a property test checks both against ``genai_prices.calc_price`` for every bundled model).

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
from functools import cache
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from otel_chatbot import env
from otel_chatbot._state import STATE
from otel_chatbot.errors import ConfigurationError

if TYPE_CHECKING:
    from genai_prices.units import UnitDef, UnitRegistry

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
    # genai-prices' own ModelPrice (bundled data, or built from an override with extra units): every call with
    # usage details is priced by its calc_price; None for a plain override (details are then priced at their
    # parent's rate, being part of the totals).
    _genai: Any = field(default=None, init=False, compare=False, repr=False)
    # Whether _genai must price every call, details or not: a per-request fee, a reasoning price or tiers apply
    # to the plain totals too.
    _genai_always: bool = field(default=False, init=False, compare=False, repr=False)
    # ``pico`` when a call's plain token counts (no usage details, no cache writes) are priced by its formula alone:
    # no tiers, nothing genai-prices must add (``cost_usd_float`` without the checks; the span fast path reads it).
    plain_pico: tuple[int, int, int, int] | None = field(default=None, init=False, compare=False, repr=False)

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
            if not self.tiers:
                object.__setattr__(self, "plain_pico", (a, b, c, d))


def _with_genai(price: ModelPrice, genai_price: Any) -> ModelPrice:
    """``price`` priced by genai-prices' ``genai_price`` whenever the plain fields cannot say it all."""
    always = False
    for key, value in vars(genai_price).items():
        if value is None or key.startswith("_"):
            continue
        if key in _ALWAYS_ACTIVE_PRICE_KEYS or not isinstance(value, Decimal):  # fees, reasoning price, tiers
            always = True
    object.__setattr__(price, "_genai", genai_price)
    object.__setattr__(price, "_genai_always", always)
    if always:
        object.__setattr__(price, "plain_pico", None)
    return price


_ALWAYS_ACTIVE_PRICE_KEYS = frozenset({"requests_kcount", "output_reasoning_mtok"})
"""Price keys that apply to a call without any usage details (a per-request fee; reasoning is a plain field)."""


def _uses_genai(usage: TokenUsage, price: ModelPrice) -> bool:
    if price._genai is None:
        return False
    if price._genai_always:
        return True
    details = usage.details
    return details is not None and any(details.values())  # all-zero details change nothing: keep the fast path


def compute_cost(usage: TokenUsage, price: ModelPrice) -> Decimal:
    """The exact USD cost of ``usage`` at ``price``.

    Cached input is priced at the cache-read price, cache writes at the cache-write price, the rest of the input at
    the input price; reasoning tokens are part of the output and priced as output unless the model has a reasoning
    price. Usage details (audio, 1-hour cache writes, web searches...) and per-request fees are priced by
    genai-prices for bundled prices; a plain override prices each detail at its parent's rate (it is part of the
    totals), and units without a parent (web searches) at nothing.
    """
    if _uses_genai(usage, price):
        exact = _genai_cost(usage, price._genai)
        if exact is not None:
            return exact
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


_warned: set[str] = set()


def _genai_cost(usage: TokenUsage, genai_price: Any) -> Decimal | None:
    """genai-prices' total for ``usage``; None when genai-prices rejects even the plain totals.

    Two overlapping parts reported without their overlap (cached tokens and audio tokens, but not cached audio
    tokens, for a model that prices cached audio) are taken as not overlapping, when the counts allow it; usage
    details genai-prices still rejects (more audio than input tokens) are dropped, with a warning, and the totals
    priced.
    """
    base = _genai_usage_values(usage)
    values = dict(base)
    if usage.details:
        reported = _registry_keys()[0]
        for key, value in usage.details.items():
            if key in reported and key not in values:
                values[key] = value
    usage_class = _genai_usage_class()
    for _ in range(8):
        try:
            total: Decimal = genai_price.calc_price(usage_class(**values))["total_price"]
        except ValueError as exc:
            message = str(exc)
            missing = _missing_overlap(message)
            if missing is None or missing in values:
                break
            values[missing] = 0
        else:
            return total
    if len(values) == len(base):
        return None
    if message not in _warned and len(_warned) < 100:
        _warned.add(message)
        logger.warning("genai-prices cannot price these usage details (%s); pricing the totals only", message)
    try:
        total = genai_price.calc_price(usage_class(**base))["total_price"]
    except ValueError:
        return None
    return total


def _missing_overlap(message: str) -> str | None:
    """The usage key in genai-prices' "Missing usage for KEY: reported overlapping usage keys ..." error."""
    head, _, rest = message.partition(": ")
    if not head.startswith("Missing usage for ") or not rest.startswith("reported overlapping"):
        return None
    key = head.removeprefix("Missing usage for ")
    return key if key in _registry_keys()[0] else None


def _genai_usage_values(usage: TokenUsage) -> dict[str, int]:
    """genai-prices' usage keys for the totals: cache counts clamped as on the fast path, reasoning inside output."""
    cache_read = min(usage.cache_read_tokens, usage.input_tokens)
    cache_write = min(usage.cache_write_tokens, usage.input_tokens - cache_read)
    values = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
    }
    if usage.reasoning_tokens:
        # genai-prices' output_reasoning_tokens is a part of output_tokens (priced apart only when the model has
        # an output_reasoning_mtok price): no double count.
        values["output_reasoning_tokens"] = min(usage.reasoning_tokens, usage.output_tokens)
    return values


@cache
def _genai_usage_class() -> Any:
    from genai_prices import Usage

    return Usage


@cache
def _registry() -> UnitRegistry:
    from genai_prices.data_units import unit_data
    from genai_prices.units import UnitRegistry

    return UnitRegistry(unit_data)


@cache
def _registry_keys() -> tuple[frozenset[str], frozenset[str]]:
    """(usage keys a usage may report, price keys a price may have) of genai-prices' unit registry."""
    units = _registry().units
    return frozenset(k for k in units if k != "requests"), frozenset(u.price_key for u in units.values())


def _decimal(value: object, where: str, unit: str = "USD per 1M tokens") -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigurationError(f"{where} must be a number of {unit}, not {value!r}.")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ConfigurationError(f"{where} must be a number of {unit}, not {value!r}.") from None
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
    extras = _extra_prices(model, {str(k): v for k, v in spec.items() if k not in _OVERRIDE_KEYS})

    def get(name: str) -> object:
        return spec.get(name, spec.get(f"{name}_mtok"))

    if get("input") is None or get("output") is None:
        raise ConfigurationError(f"price for {model!r} needs both input and output (USD per 1M tokens).")
    read, write = get("cache_read"), get("cache_write")
    price = ModelPrice(
        input_mtok=_decimal(get("input"), f"{model}.input"),
        output_mtok=_decimal(get("output"), f"{model}.output"),
        cache_read_mtok=None if read is None else _decimal(read, f"{model}.cache_read"),
        cache_write_mtok=None if write is None else _decimal(write, f"{model}.cache_write"),
    )
    if not extras:
        return price
    return _with_genai(price, _genai_price_for_override(model, price, extras))


def _extra_prices(model: str, spec: Mapping[str, object]) -> dict[str, Decimal]:
    """An override's prices of extra units, by genai-prices price key (``cache_write_1h`` = ``cache_write_1h_mtok``)."""
    if not spec:
        return {}
    registry = _registry()
    price_keys = _registry_keys()[1]
    extras: dict[str, Decimal] = {}
    unknown: list[str] = []
    for name, value in spec.items():
        key = name if name in price_keys else f"{name}_mtok"
        if key not in price_keys:
            unknown.append(name)
            continue
        if key in extras:
            raise ConfigurationError(f"price for {model!r} gives {key} twice (as {key} and {key[:-5]}).")
        extras[key] = _decimal(value, f"{model}.{name}", _unit_label(registry.unit_for_price_key(key)))
    if unknown:
        raise ConfigurationError(
            f"price for {model!r} has unknown keys {sorted(unknown)}; use input, output, cache_read, cache_write "
            "(USD per 1M tokens), or a genai-prices price key such as cache_write_1h, input_audio, output_audio "
            "(USD per 1M tokens), requests_kcount, web_searches_kcount (USD per 1000)."
        )
    return extras


def _unit_label(unit: UnitDef) -> str:
    if unit.dimensions.get("family") == "tokens":
        return "USD per 1M tokens" if unit.per == 1_000_000 else f"USD per {unit.per} tokens"
    return f"USD per {unit.per} {unit.usage_key.replace('_', ' ')}"


def _genai_price_for_override(model: str, price: ModelPrice, extras: Mapping[str, Decimal]) -> Any:
    """genai-prices' ModelPrice for an override with extra units; each unit genai-prices also needs priced (the
    parent of an extra, or the join of two: cached audio) gets its parent's rate."""
    from genai_prices.types import ModelPrice as GenaiModelPrice
    from genai_prices.validation import validate_model_price

    registry = _registry()
    given: dict[str, Decimal | None] = {
        "input_mtok": price.input_mtok,
        "output_mtok": price.output_mtok,
        "cache_read_mtok": price.cache_read_mtok,
        "cache_write_mtok": price.cache_write_mtok,
        **extras,
    }
    rates = {registry.unit_for_price_key(k).usage_key: v for k, v in given.items() if v is not None}
    _complete_units(model, rates, registry)
    prices = {registry.units[key].price_key: rate for key, rate in rates.items()}
    try:
        validate_model_price(set(prices), registry)
    except ValueError as exc:
        raise ConfigurationError(f"price for {model!r}: {exc}.") from None
    return GenaiModelPrice(**prices)


def _complete_units(model: str, rates: dict[str, Decimal], registry: UnitRegistry) -> None:
    """Add each ancestor and join unit genai-prices requires of the units in ``rates``, at its parent's rate."""
    while True:
        units = [registry.units[key] for key in sorted(rates)]
        missing: set[str] = set()
        for unit in units:
            missing |= registry.ancestor_usage_keys(unit.usage_key) - rates.keys()
        for a, b in combinations(units, 2):
            if a.is_compatible_with(b) and not _within(a, b) and not _within(b, a):
                join = registry.find_join(a, b)
                if join is None:
                    raise ConfigurationError(f"price for {model!r}: {a.price_key} and {b.price_key} cannot be mixed.")
                if join.usage_key not in rates:
                    missing.add(join.usage_key)
        if not missing:
            return
        for key in sorted(missing, key=lambda k: (len(registry.units[k].dimensions), k)):
            unit = registry.units[key]
            parents = [registry.units[k] for k in rates if _within(registry.units[k], unit)]
            if not parents:
                raise ConfigurationError(f"price for {model!r} also needs {unit.price_key}.")
            parent = max(parents, key=lambda u: (len(u.dimensions), "token_type" in u.dimensions, u.usage_key))
            rates[key] = rates[parent.usage_key]


def _within(ancestor: UnitDef, unit: UnitDef) -> bool:
    """Whether ``unit`` is a part of ``ancestor`` (cached audio input is a part of cache reads and of audio input)."""
    return ancestor is not unit and ancestor.dimensions.items() <= unit.dimensions.items()


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


def _convert(gp_price: Any, version: str) -> ModelPrice | None:
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
    price = ModelPrice(inp, out, fields["cache_read"][0], fields["cache_write"][0], tuple(tiers), version)
    return _with_genai(price, gp_price)


def similar_models(model: str, provider: str | None = None, limit: int = 3) -> list[str]:
    """Known model ids that look like ``model`` (a typo, a missing date suffix), closest first: the did-you-mean of
    an unknown model. The user's price overrides count as known."""
    import difflib

    from genai_prices import data_snapshot

    names: set[str] = set(default_table().override_names())
    for candidate in data_snapshot.get_snapshot().providers:
        if provider is None or candidate.id == provider:
            names.update(m.id for m in candidate.models)
    wanted = model.lower()
    by_prefix = sorted(n for n in names if n.lower().startswith(wanted) and n.lower() != wanted)
    close = difflib.get_close_matches(wanted, sorted(names), n=limit, cutoff=0.6)
    return list(dict.fromkeys([*close, *by_prefix]))[:limit]


def _data_version(snapshot: Any) -> str:
    """``genai-prices==<version>``; a snapshot fetched by genai-prices' ``UpdatePrices`` adds its fetch time."""
    from genai_prices import __version__

    version = f"genai-prices=={__version__}"
    if getattr(snapshot, "from_auto_update", False):
        version += f"+updated.{snapshot.timestamp:%Y%m%dT%H%M%S}"
    return version


def cost_usd_float(usage: TokenUsage, price: ModelPrice) -> float:
    """``float(compute_cost(usage, price))``, computed exactly in integers when the price allows (the span hot path)."""
    if price.pico is None or price.tiers or (price._genai is not None and _uses_genai(usage, price)):
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

    def override_names(self) -> list[str]:
        """The model names the user priced (lower-cased, as matched)."""
        return list(self._overrides)

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
            return _convert(info.get_prices(datetime.now(tz=UTC)), _data_version(snapshot))
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
