"""The usage ledger rejects a row whose numbers it cannot hold, alone (issue 13: a token count of 2^63 once lost 88
of 101 rows: the whole batch's transaction failed)."""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot import _losses
from otel_chatbot.spend._ledger import Ledger, LedgerEntry
from tests._postgres import postgres_server

BAD: list[dict[str, Any]] = [
    {"input_tokens": 2**63},
    {"output_tokens": -1},
    {"input_tokens": 1.5},
    {"output_tokens": True},
    {"input_tokens": "12"},
    {"cost_usd": math.nan},
    {"cost_usd": math.inf},
    {"cost_usd": -0.5},
    {"cost_usd": 1e12},
]


def _rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT input_tokens, output_tokens, cost_nusd, tenant FROM otel_chatbot_usage"))


@pytest.mark.parametrize("bad", BAD, ids=[next(iter(b.items())).__repr__() for b in BAD])
def test_one_bad_row_is_rejected_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, bad: dict[str, Any]
) -> None:
    dropped: list[tuple[str, str, int]] = []
    monkeypatch.setattr(_losses, "record_dropped", lambda s, r, c=1: dropped.append((s, r, c)))
    ledger = Ledger.open(str(tmp_path / "usage.db"))
    now = time.time()
    with caplog.at_level(logging.WARNING):
        for i in range(101):
            fields: dict[str, Any] = {"input_tokens": i, "output_tokens": 1, "cost_usd": 0.001, "tenant": "t\ud800"}
            if i == 13:
                fields.update(bad)
            assert ledger.append(LedgerEntry(now, **fields))
        assert ledger.flush(10)
    ledger.close()
    rows = _rows(tmp_path / "usage.db")
    assert len(rows) == 100  # not 13: the other rows of the batch are written
    assert 13 not in [r[0] for r in rows]
    assert {r[3] for r in rows} == {"t\ufffd"}  # text is repaired, never a reason to lose a row
    assert dropped == [("ledger_rows", "invalid_value", 1)]
    assert "1 usage ledger row(s) rejected" in caplog.text


def test_record_usage_with_invalid_numbers_never_raises_and_writes_nothing_invalid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = InMemorySpanExporter()
    tel = oc.configure(
        "ledger-poison", ledger=str(tmp_path / "usage.db"), span_processors=[SimpleSpanProcessor(exporter)]
    )
    values: list[Any] = [-1, math.nan, math.inf, -math.inf, True, 2**63, 2**200, "many", 1.5, None, 10]
    for value in values:
        with oc.traced_stage("generation", model="gpt-4o-mini") as stage:
            oc.record_usage(input_tokens=value, output_tokens=value, cache_read_tokens=value)  # never raises
            stage.record_usage(value, value)
    assert tel.force_flush(10)
    tel.shutdown()
    spans = exporter.get_finished_spans()
    assert len(spans) == len(values)
    for span in spans:
        for key, attribute in (span.attributes or {}).items():
            if "tokens" in key:
                assert type(attribute) is int and 0 <= attribute < 2**63, (key, attribute)
    rows = _rows(tmp_path / "usage.db")
    assert [r[:2] for r in rows] == [(20, 20)]  # only the valid call (10, twice) is priced and written
    assert "record_usage(input_tokens=-1): not a token count in 0..2^63-1; not recorded" in caplog.text
    assert "more rejected in the last minute" not in caplog.text  # one warning a minute: the others are counted


def test_record_usage_with_an_int_too_big_for_a_float_keeps_the_valid_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # f"{2**1100:.3g}" raises OverflowError: the warning about the bad count must not cost the good one
    dropped: list[tuple[str, str, int]] = []
    monkeypatch.setattr(_losses, "record_dropped", lambda s, r, c=1: dropped.append((s, r, c)))
    exporter = InMemorySpanExporter()
    tel = oc.configure(
        "ledger-poison", ledger=str(tmp_path / "usage.db"), span_processors=[SimpleSpanProcessor(exporter)]
    )
    with caplog.at_level(logging.WARNING, logger="otel_chatbot"):
        with oc.traced_stage("generation", model="gpt-4o-mini", attributes={"big": 2**1100, "ok": 1}) as stage:
            oc.record_usage(2**1100, 5)
            stage.record_usage(input_tokens=-(2**1100), output_tokens=2)
    assert tel.force_flush(10)
    tel.shutdown()
    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.usage.output_tokens"] == 7
    assert "gen_ai.usage.input_tokens" not in attributes or attributes["gen_ai.usage.input_tokens"] == 0
    assert "big" not in attributes and attributes["ok"] == 1
    assert dropped == [("attributes", "invalid_value", 1)] * 3  # the attribute and the two input counts
    assert "an attribute integer (~2^1100) is outside int64" in caplog.text  # the first; then one a minute
    assert "internal error" not in caplog.text.lower()
    assert [r[:2] for r in _rows(tmp_path / "usage.db")] == [(0, 7)]


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def _target(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return str(tmp_path / "usage.db")
    import psycopg

    server: str = request.getfixturevalue("pg_server")
    name = f"nul_{tmp_path.name.lower().replace('-', '_')[-40:]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_nul_character_in_an_id_is_repaired_and_costs_no_row(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL refuses NUL in text: one tenant id holding it once failed the whole batch's insert (up to 500 rows)
    dropped: list[tuple[str, str, int]] = []
    monkeypatch.setattr(_losses, "record_dropped", lambda s, r, c=1: dropped.append((s, r, c)))
    ledger = Ledger.open(_target(kind, tmp_path, request))
    for i in range(101):
        tenant, conversation = ("t\x00x", "c\x00") if i == 13 else ("acme", "c")
        assert ledger.append(LedgerEntry(time.time(), input_tokens=i, tenant=tenant, conversation=conversation))
    assert ledger.flush(10)
    rows = ledger.usage("tenant", since=0)
    ledger.close()
    assert sorted((r.key, r.calls) for r in rows) == [("acme", 100), ("t\ufffdx", 1)]
    assert dropped == []


def test_a_failed_insert_is_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dropped: list[tuple[str, str, int]] = []
    monkeypatch.setattr(_losses, "record_dropped", lambda s, r, c=1: dropped.append((s, r, c)))
    ledger = Ledger.open(str(tmp_path / "usage.db"))

    def refuse(rows: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ledger._backend, "insert", refuse)
    for i in range(7):
        assert ledger.append(LedgerEntry(time.time(), input_tokens=i))
    assert ledger.flush(10)
    ledger.close()
    assert sum(c for s, r, c in dropped if s == "ledger_rows" and r == "buffer_off") == 7
    assert {(s, r) for s, r, c in dropped} == {("ledger_rows", "buffer_off")}


def test_a_full_queue_is_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dropped: list[tuple[str, str, int]] = []
    monkeypatch.setattr(_losses, "record_dropped", lambda s, r, c=1: dropped.append((s, r, c)))
    ledger = Ledger.open(str(tmp_path / "usage.db"), queue_size=3)
    release = threading.Event()
    insert = ledger._backend.insert

    def slow(rows: Any) -> None:
        release.wait(10)
        insert(rows)

    monkeypatch.setattr(ledger._backend, "insert", slow)
    results = [ledger.append(LedgerEntry(time.time(), input_tokens=i)) for i in range(10)]
    release.set()
    assert ledger.flush(10)
    ledger.close()
    lost = results.count(False)
    assert lost >= 6 and ledger.dropped == lost
    assert dropped == [("ledger_rows", "queue_full", 1)] * lost
