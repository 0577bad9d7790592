"""Hypothesis strategies for values a user or a provider can produce: any text (lone surrogates included), strings
past the attribute length limit, integers far outside int64, NaN and infinities, odd objects."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
"""Lone surrogates (``st.characters()`` never draws them by default; a pair drawn in a row encodes a character)."""
CHAR = st.characters(codec=None) | SURROGATE
TEXT = st.text(alphabet=CHAR, max_size=24)
BIG_TEXT = st.builds(lambda ch, n: ch * n, CHAR, st.integers(16_000, 40_000))
"""Past the default limit of 16384 characters (one repeated character: cheap to draw)."""
STRINGS = TEXT | BIG_TEXT
INTS = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.integers(min_value=2**63 - 2, max_value=2**2000)
    | st.integers(min_value=-(2**2000), max_value=-(2**63) + 1)
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
SCALARS = STRINGS | INTS | FLOATS | st.booleans() | st.none() | st.binary(max_size=8)


class Unprintable:
    """An object whose ``str()`` and ``repr()`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


VALUES: st.SearchStrategy[Any] = (
    SCALARS
    | st.lists(SCALARS, max_size=4)
    | st.tuples(SCALARS, SCALARS)
    | st.dictionaries(TEXT, SCALARS, max_size=3)
    | st.builds(object)
    | st.builds(Unprintable)
)
"""Attribute values and return values: anything."""
KEYS = TEXT.filter(bool) | st.sampled_from(["k\ud800", "\udfffx", "\ud83d\ude00", "plain.key"])
ATTRIBUTES = st.dictionaries(KEYS, VALUES, max_size=4)
NUMBERS: st.SearchStrategy[Any] = INTS | FLOATS | st.booleans() | st.none() | TEXT | st.builds(Unprintable)
"""What ``record_usage`` may be given."""
IDS: st.SearchStrategy[Any] = STRINGS | st.none() | INTS | st.builds(Unprintable)
"""Conversation, user, tenant and variant ids."""
