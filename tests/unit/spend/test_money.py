from __future__ import annotations

import pytest

from otel_chatbot.spend._money import format_usd


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "$0.0000"),
        (0.00045, "$0.00045"),  # was "$0.0004": a fraction of a cent is never rounded away
        (0.0001788, "$0.000179"),
        (0.009, "$0.0090"),
        (0.0082, "$0.0082"),
        (0.01, "$0.0100"),
        (30.02416, "$30.0242"),
        (99.99, "$99.9900"),
        (100.0, "$100.00"),
        (1234.567, "$1,234.57"),
        (1e-9, "$0.000000001"),
    ],
)
def test_amounts_keep_their_significant_digits(value: float, text: str) -> None:
    assert format_usd(value) == text


def test_reports_and_cli_write_sub_cent_amounts_in_full() -> None:
    from otel_chatbot.report import _render

    assert _render._usd(0.00045) == "$0.00045"
