"""How every report, CLI table and message writes an amount of US dollars."""

from __future__ import annotations

import math

__all__ = ["format_usd"]


def format_usd(value: float) -> str:
    """``$1,234.57`` from 100 up, ``$0.1234`` (four decimals) down to a cent, and below a cent at least four decimals
    and three significant digits, so a fraction of a cent is never rounded away (``$0.00045``, not ``$0.0004``).

    Example::

        >>> format_usd(0.00045), format_usd(30.02416), format_usd(1234.567)
        ('$0.00045', '$30.0242', '$1,234.57')
    """
    if not math.isfinite(value):
        return f"${value}"
    size = abs(value)
    if size >= 100:
        return f"${value:,.2f}"
    if size >= 0.01 or size == 0:
        return f"${value:,.4f}"
    decimals = 2 - math.floor(math.log10(size))  # three significant digits
    text = f"{value:.{decimals}f}"
    while text.endswith("0") and len(text.partition(".")[2]) > 4:  # no fewer decimals than the other amounts
        text = text[:-1]
    return f"${text}"
