"""The history, trace and conversation records of a snapshot survive ``to_dict``/JSON/``from_dict`` unchanged."""

from __future__ import annotations

import json

from otel_chatbot.stats import (
    ConversationRecord,
    HistoryPoint,
    SpanRecord,
    StatsSnapshot,
    TraceRecord,
    TurnRecord,
)


def _snapshot() -> StatsSnapshot:
    span = SpanRecord(
        span_id="00f067aa0ba902b7",
        parent_id=None,
        name="chat",
        kind="SPAN_KIND_SERVER",
        status="STATUS_CODE_ERROR",
        start_ms=0.0,
        duration_ms=12.5,
        attributes={"chatbot.stage": "generation", "n": 3, "ok": True, "ids": ["a", "b"], "x": 1.5},
    )
    child = SpanRecord("00f067aa0ba902b8", "00f067aa0ba902b7", "gen", "SPAN_KIND_INTERNAL", "STATUS_CODE_OK", 1.0, 2.0)
    trace = TraceRecord(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        root_name="chat",
        start=1_700_000_000.25,
        duration_ms=12.5,
        error=True,
        reasons=("slowest", "recent"),
        spans=(span, child),
        dropped_spans=4,
    )
    turn = TurnRecord("4bf92f3577b34da6a3ce929d0e0e4736", 1_700_000_000.25, 12.5, None, 10, 20, 0.00045, "m", False)
    return StatsSnapshot(
        service_name="svc",
        generated_at=1_700_000_100.0,
        history=(
            HistoryPoint(1_700_000_000.0, 10.0, 2, 1, 5.0, 9.0, 9.5, 0.001, 10, 20, 14),
            HistoryPoint(1_700_000_010.0, 10.0, 0, 0, None, None, None, 0.0, 0, 0, 0),
        ),
        traces=(trace,),
        conversations=(ConversationRecord("conv-1", "u", None, "B", (turn, turn)),),
    )


def test_records_round_trip_through_json() -> None:
    snap = _snapshot()
    back = StatsSnapshot.from_dict(json.loads(snap.to_json()))
    assert back == snap
    assert isinstance(back.history[0], HistoryPoint)
    assert isinstance(back.traces[0].spans[1], SpanRecord)
    assert back.traces[0].spans[0].attributes["ids"] == ["a", "b"]
    assert isinstance(back.conversations[0].turns[0], TurnRecord)


def test_old_dumps_without_the_fields_still_load() -> None:
    data = _snapshot().to_dict()
    for key in ("history", "traces", "conversations"):
        del data[key]
    back = StatsSnapshot.from_dict(data)
    assert back.history == () and back.traces == () and back.conversations == ()
