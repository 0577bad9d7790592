"""The public API is exactly what __all__ says (httpx test_exported_members), and every name is used in tests."""

from __future__ import annotations

import pathlib

import otel_chatbot


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in dir(otel_chatbot) if not name.startswith("_")} - _submodules()
    assert otel_chatbot.__all__ == sorted(otel_chatbot.__all__)
    assert set(otel_chatbot.__all__) - {"__version__"} == public


def test_every_exported_name_is_used_in_tests() -> None:
    tests = pathlib.Path(__file__).parent
    text = "\n".join(p.read_text() for p in tests.rglob("*.py") if p.name != "test_public_api.py")
    unused = [name for name in otel_chatbot.__all__ if name != "__version__" and name not in text]
    assert unused == []


def _submodules() -> set[str]:
    # Computed when the test runs, not at import: earlier tests may import submodules lazily (report, processor...).
    return {
        name
        for name in dir(otel_chatbot)
        if not name.startswith("_") and type(getattr(otel_chatbot, name)).__name__ == "module"
    }
