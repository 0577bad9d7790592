"""Independent oracles: genai-prices' own usage extraction and price calculation (code nobody here wrote)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import genai_prices


def genai_usage(response_json: Any, provider_id: str, api_flavor: str = "default") -> genai_prices.Usage:
    """genai-prices' reading of a provider's raw response JSON."""
    return genai_prices.extract_usage(response_json, provider_id=provider_id, api_flavor=api_flavor).usage


def genai_cost(usage: genai_prices.Usage | dict[str, int], model: str, provider_id: str) -> float:
    """genai-prices' ``calc_price`` for ``usage`` (a Usage, or a dict of its keys), as a float of USD."""
    if isinstance(usage, dict):
        usage = genai_prices.Usage(**usage)
    total: Decimal = genai_prices.calc_price(usage, model, provider_id=provider_id).total_price
    return float(total)
