"""The public API is exactly what each ``__all__`` says (httpx test_exported_members), pinned here name by name.

A change to a public name fails this file on purpose: users type these names into their code, so a change needs a
migration note (docs/migration.md). Every import path the docs show must be public and importable.
"""

from __future__ import annotations

import importlib
import pathlib
import re
import types

import pytest

import otel_chatbot

REPO = pathlib.Path(__file__).resolve().parents[2]

PUBLIC_API: dict[str, list[str]] = {
    "otel_chatbot": [
        "Budget",
        "BudgetExceededError",
        "ConfigurationError",
        "OtelChatbotError",
        "Stage",
        "StageHandle",
        "StatsSnapshot",
        "Telemetry",
        "TracedStage",
        "__version__",
        "check_budget",
        "configure",
        "conversation",
        "instrument_fastapi",
        "instrument_httpx",
        "record_feedback",
        "record_usage",
        "traced_stage",
    ],
    "otel_chatbot.spans": [
        "StageHandle",
        "TracedStage",
        "conversation",
        "current_attributes",
        "record_feedback",
        "record_usage",
        "traced_stage",
    ],
    "otel_chatbot.stats": [
        "CONTENT_TYPE",
        "CacheStats",
        "ConversationRecord",
        "CounterSeries",
        "FeedbackStats",
        "HistogramSeries",
        "HistoryPoint",
        "LatencyStats",
        "ModelLatency",
        "SpanRecord",
        "StageStats",
        "StatsSnapshot",
        "StatsSpanProcessor",
        "StreamStats",
        "TraceRecord",
        "TurnRecord",
        "UsageBreakdown",
        "UsageStats",
        "VariantStats",
        "render_prometheus",
    ],
    "otel_chatbot.report": [
        "Format",
        "Recommendation",
        "Thresholds",
        "load_file",
        "load_jaeger",
        "load_prometheus",
        "load_url",
        "recommend",
        "render",
        "report_dict",
    ],
    "otel_chatbot.spend": [
        "Budget",
        "BudgetAlert",
        "BudgetGuard",
        "Ledger",
        "LedgerEntry",
        "ModelPrice",
        "PricingTable",
        "TokenUsage",
        "UsageRow",
        "WebhookAlert",
        "check_budget",
        "compute_cost",
        "default_table",
        "log_alert",
    ],
    "otel_chatbot.telemetry": [
        "DEFAULT_EXCLUDED_URLS",
        "SANITIZED_HEADERS",
        "Telemetry",
        "Uninstrumenter",
        "configure",
        "instrument_fastapi",
        "instrument_httpx",
    ],
    "otel_chatbot.cli": ["main"],
    "otel_chatbot.ui": ["render_standalone", "view_document"],
    "otel_chatbot.stack": [
        "Binaries",
        "RunningStack",
        "StackError",
        "StackPorts",
        "ensure_all",
        "load_stack",
        "start_stack",
        "stop_stack",
    ],
    "otel_chatbot.errors": ["BudgetExceededError", "ConfigurationError", "OtelChatbotError"],
    "otel_chatbot.testing": ["capture_spans", "reset_trace_globals"],
}


def _public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name in vars(module)
        if not name.startswith("_")
        and not isinstance(getattr(module, name), types.ModuleType)
        and name != "annotations"  # from __future__ import annotations
    }


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_all_is_pinned_sorted_and_complete(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__all__ == PUBLIC_API[module_name]
    assert module.__all__ == sorted(module.__all__)
    assert all(hasattr(module, name) for name in module.__all__)
    if module.__file__ is not None and module.__file__.endswith("__init__.py"):  # a package re-exports nothing else
        assert _public_names(module) == set(module.__all__) - {"__version__"}


def test_every_public_subpackage_is_pinned() -> None:
    package = pathlib.Path(otel_chatbot.__file__).parent
    subpackages = {f"otel_chatbot.{p.parent.name}" for p in package.glob("*/__init__.py")}
    assert subpackages - set(PUBLIC_API) == set()


def test_the_top_level_names_are_the_subpackages_names() -> None:
    """``oc.X`` and ``otel_chatbot.<concept>.X`` are the same object: one implementation, two spellings."""
    for module_name, names in PUBLIC_API.items():
        module = importlib.import_module(module_name)
        for name in names:
            if name in otel_chatbot.__all__ and name != "__version__":
                assert getattr(module, name) is getattr(otel_chatbot, name), (module_name, name)


def test_every_exported_name_is_used_in_tests() -> None:
    tests = REPO / "tests"
    text = "\n".join(p.read_text() for p in tests.rglob("*.py") if p.name != "test_public_api.py")
    unused = [name for name in otel_chatbot.__all__ if name != "__version__" and name not in text]
    assert unused == []


_IMPORT = re.compile(r"^\s*from (otel_chatbot[\w.]*) import ([\w, ]+)", re.M)
_DOTTED = re.compile(r"`(otel_chatbot(?:\.\w+)+)`")


def _documents() -> list[pathlib.Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "examples").rglob("*.py"))]


def test_every_documented_import_path_is_public() -> None:
    problems = []
    for doc in _documents():
        text = doc.read_text()
        for module_name, names in _IMPORT.findall(text):
            for name in (n.strip() for n in names.split(",") if n.strip()):
                if any(part.startswith("_") for part in module_name.split(".")) or name.startswith("_"):
                    problems.append(f"{doc.name}: from {module_name} import {name} (private)")
                    continue
                module = importlib.import_module(module_name)
                if not hasattr(module, name):
                    problems.append(f"{doc.name}: from {module_name} import {name} (missing)")
        for dotted in _DOTTED.findall(text):
            module_name, _, name = dotted.rpartition(".")
            if any(part.startswith("_") for part in dotted.split(".")):
                problems.append(f"{doc.name}: {dotted} (private)")
                continue
            try:
                importlib.import_module(dotted)
            except ImportError:
                if not hasattr(importlib.import_module(module_name), name):
                    problems.append(f"{doc.name}: {dotted} (missing)")
    assert problems == []
