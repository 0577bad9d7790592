"""The usage ledger on SQLite and on a real PostgreSQL server; two processes sharing one PostgreSQL ledger."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import genai_prices
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_chatbot as oc
from otel_chatbot.cli._main import main
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.spend._ledger import Ledger, LedgerEntry, display_target
from tests._http import eventually
from tests._postgres import postgres_server

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


_DATABASES = iter(range(1, 1000))


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh database per test on the module's server."""
    import psycopg

    name = f"ledger_{next(_DATABASES)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "usage.db")
    url: str = request.getfixturevalue("pg_url")
    return url


def entry(
    ts: float,
    cost: float,
    *,
    tenant: str = "acme",
    user: str = "u1",
    model: str = "gpt-4o-mini",
    inp: int = 100,
    out: int = 10,
) -> LedgerEntry:
    return LedgerEntry(
        ts=ts,
        trace_id="ab" * 16,
        service="bot",
        stage="generation",
        model=model,
        provider="openai",
        input_tokens=inp,
        output_tokens=out,
        cost_usd=cost,
        tenant=tenant,
        user=user,
        conversation="c1",
        variant="A",
    )


def test_append_spend_usage_and_prune(target: str) -> None:
    ledger = Ledger.open(target)
    try:
        for i in range(10):
            assert ledger.append(
                entry(
                    NOW - i * 3600,
                    0.1,
                    tenant="acme" if i % 2 else "globex",
                    user=f"u{i % 3}",
                    model="gpt-4o" if i < 3 else "gpt-4o-mini",
                )
            )
        assert ledger.flush()
        assert ledger.spend(since=NOW - 4.5 * 3600) == pytest.approx(0.5)
        assert ledger.spend(since=0, tenant="acme") == pytest.approx(0.5)
        assert ledger.spend(since=0, user="u0") == pytest.approx(0.4)
        rows = ledger.usage("model", since=0)
        assert [(r.key, r.calls) for r in rows] == [("gpt-4o-mini", 7), ("gpt-4o", 3)]
        assert rows[0].input_tokens == 700 and rows[0].cost_usd == pytest.approx(0.7)
        assert {r.key for r in ledger.usage("tenant", since=0)} == {"acme", "globex"}
        assert ledger.prune(older_than=NOW - 5.5 * 3600) == 4
        assert ledger.spend(since=0) == pytest.approx(0.6)
        with pytest.raises(ValueError):
            ledger.usage("prompt", since=0)  # type: ignore[arg-type]
    finally:
        ledger.close()


def test_sums_are_exact(target: str) -> None:
    ledger = Ledger.open(target)
    for _ in range(1000):
        ledger.append(entry(NOW, 0.000_001_7))
    ledger.close(timeout=30)
    again = Ledger.open(target)  # spend survives a restart
    assert again.spend(since=0) == 0.0017
    again.close()


def test_full_queue_drops_instead_of_blocking(tmp_path: Path) -> None:
    ledger = Ledger.open(str(tmp_path / "u.db"), queue_size=1)
    gate = threading.Event()

    def hold(entries: object) -> None:  # keep the writer inside its first batch
        gate.wait(30)

    ledger.add_listener(hold)
    ledger.append(entry(NOW, 1.0))
    assert eventually(lambda: ledger._queue.empty() or None, timeout=30, interval=0.01)  # the writer took it
    assert ledger.append(entry(NOW, 1.0))  # fills the queue (size 1)
    assert not ledger.append(entry(NOW, 1.0))  # full: dropped, not blocked
    assert ledger.dropped == 1
    gate.set()
    ledger.close()


def test_retention_prunes_at_open(tmp_path: Path) -> None:
    path = str(tmp_path / "u.db")
    ledger = Ledger.open(path)
    ledger.append(entry(time.time() - 10 * 86400, 1.0))
    ledger.append(entry(time.time(), 2.0))
    ledger.close(timeout=30)
    kept = Ledger.open(path, retention="7d")
    assert kept.spend(since=0) == 2.0
    kept.close()
    with pytest.raises(ConfigurationError):
        Ledger.open(path, retention="a week")
    with pytest.raises(ConfigurationError):
        Ledger.open("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ConfigurationError):
        Ledger.open(str(tmp_path / "missing-dir" / "u.db"))


def test_configure_records_priced_spans_and_usage_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "usage.db")

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def generate() -> dict[str, object]:
        return {"usage": {"prompt_tokens": 1000, "completion_tokens": 100}}

    tel = oc.configure("ledger-bot", ledger=path, span_processors=[SimpleSpanProcessor(InMemorySpanExporter())])
    for i in range(3):
        with oc.conversation(user_id=f"u{i % 2}", tenant_id="acme", conversation_id=f"c{i}"):
            generate()
    tel.shutdown()
    cost = tel.report().usage.total_cost_usd
    assert cost > 0
    assert main(["usage", "--ledger", path, "--by", "user", "--since", "7d", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["key"], r["calls"]) for r in rows] == [("u0", 2), ("u1", 1)]
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(cost)
    assert main(["usage", "--ledger", path, "--by", "model"]) == 0
    out = capsys.readouterr().out
    assert "gpt-4o-mini" in out and "3" in out
    assert main(["usage", "--by", "tenant"]) == 2  # no ledger given nor in OTEL_CHATBOT_LEDGER
    assert "OTEL_CHATBOT_LEDGER" in capsys.readouterr().err


_WORKER = textwrap.dedent("""
    import json, sys
    from otel_chatbot.spend._budgets import Budget, BudgetGuard
    from otel_chatbot.errors import BudgetExceededError
    from otel_chatbot.spend._ledger import Ledger, LedgerEntry
    import time
    url, name = sys.argv[1], sys.argv[2]
    ledger = Ledger.open(url)
    guard = BudgetGuard([Budget(limit_usd=1.0, window="1h", per="tenant", hard=True)], ledger, alerts=[])
    calls = 0
    sys.stdin.readline()  # start together
    while True:
        try:
            guard.check(tenant_id="acme")
        except BudgetExceededError as exc:
            print(json.dumps({"calls": calls, "blocked_at": exc.spent_usd}))
            break
        ledger.append(LedgerEntry(ts=time.time(), service=name, tenant="acme", cost_usd=0.05))
        assert ledger.flush(30)
        calls += 1
        if calls > 100:
            print(json.dumps({"calls": calls, "blocked_at": None}))
            break
    ledger.close()
""")


def test_two_processes_share_one_hard_budget(pg_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, pg_url, f"p{i}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    time.sleep(0.5)  # let both open the ledger; the budget logic itself does not depend on timing
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(r["blocked_at"] is not None and r["blocked_at"] >= 1.0 for r in results)
    total_calls = sum(r["calls"] for r in results)
    # $1 at $0.05 a call is 20 calls; each process may pass its check once while the other's last call lands.
    assert 20 <= total_calls <= 21
    ledger = Ledger.open(pg_url)
    assert ledger.spend(since=0, tenant="acme") == pytest.approx(0.05 * total_calls)
    ledger.close()


def test_only_stage_spans_reach_the_ledger(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from otel_chatbot import semconv
    from otel_chatbot.spend._ledger import Ledger
    from otel_chatbot.spend._recorder import UsageRecorder

    ledger = Ledger.open(str(tmp_path / "ledger.sqlite"))
    provider = TracerProvider()
    provider.add_span_processor(UsageRecorder(ledger, "svc"))
    tracer = provider.get_tracer("t")
    priced = {semconv.GEN_AI_USAGE_INPUT_TOKENS: 10, semconv.GEN_AI_USAGE_COST_AMOUNT: 0.5}
    with tracer.start_as_current_span("openai.chat", attributes=priced):  # another instrumentation's span
        pass
    with tracer.start_as_current_span("chat m", attributes={**priced, semconv.CHATBOT_STAGE: "generation"}):
        pass
    assert ledger.flush(timeout=10)
    assert ledger.spend(since=0) == pytest.approx(0.5)
    ledger.close()


def test_postgres_ledger_reconnects_after_a_lost_connection(pg_url: str) -> None:
    import psycopg

    ledger = Ledger.open(pg_url)
    ledger.append(entry(NOW, 1.0))
    assert ledger.flush(timeout=10)
    # The server drops every connection (as on a restart): the next write and read reconnect.
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND datname = current_database()"
        )
    ledger.append(entry(NOW + 1, 2.0))
    assert ledger.flush(timeout=10)
    assert ledger.spend(since=NOW - 10) == pytest.approx(3.0)
    ledger.close()


_OLD_SCHEMA = """CREATE TABLE otel_chatbot_usage (
    ts DOUBLE PRECISION NOT NULL, trace_id TEXT, service TEXT, stage TEXT, model TEXT, provider TEXT,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, cost_nusd BIGINT NOT NULL,
    tenant TEXT, user_id TEXT, conversation TEXT, variant TEXT)"""
_OLD_ROW = (
    "INSERT INTO otel_chatbot_usage VALUES (1800000000.0, 'ab', 'bot', 'generation', 'gpt-4o-mini', 'openai', "
    "100, 10, 250000000, 'acme', 'u1', 'c1', 'A')"
)


def _columns(target: str) -> list[tuple[Any, ...]]:
    query = "SELECT model, cost_source, price_version FROM otel_chatbot_usage ORDER BY ts"
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target) as conn:
            return list(conn.execute(query).fetchall())
    with contextlib.closing(sqlite3.connect(target)) as db:
        return list(db.execute(query).fetchall())


def test_an_old_ledger_gains_the_cost_source_columns(target: str) -> None:
    """A ledger written before cost_source/price_version existed keeps working and gains them."""
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(_OLD_SCHEMA)
            conn.execute(_OLD_ROW)
    else:
        with contextlib.closing(sqlite3.connect(target)) as db:
            db.execute(_OLD_SCHEMA)
            db.execute(_OLD_ROW)
            db.commit()
    ledger = Ledger.open(target)
    try:
        assert ledger.spend(since=0) == pytest.approx(0.25)
        ledger.append(entry(NOW + 1, 0.5, model="or-model")._replace(cost_source="provider"))
        ledger.append(
            entry(NOW + 2, 0.125)._replace(
                cost_source="local", price_version=f"genai-prices=={genai_prices.__version__}"
            )
        )
        assert ledger.flush()
        rows = ledger.usage("model", since=0)
        assert [(r.key, r.calls, r.provider_cost_calls) for r in rows] == [("or-model", 1, 1), ("gpt-4o-mini", 2, 0)]
    finally:
        ledger.close()
    assert [(m, s or "", v or "") for m, s, v in _columns(target)] == [
        ("gpt-4o-mini", "", ""),  # the old row: no source known
        ("or-model", "provider", ""),
        ("gpt-4o-mini", "local", f"genai-prices=={genai_prices.__version__}"),
    ]
    Ledger.open(target).close()  # opening a migrated ledger again is a no-op


def test_ledger_rows_record_cost_source_and_price_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "usage.db")

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def local() -> dict[str, object]:
        return {"usage": {"prompt_tokens": 1000, "completion_tokens": 100}}

    @oc.traced_stage("generation", model="openai/gpt-4o-mini", provider="openrouter")
    def gateway() -> dict[str, object]:  # an OpenAI-compatible gateway reporting its own cost (OpenRouter)
        return {"usage": {"prompt_tokens": 1000, "completion_tokens": 100, "cost": 0.0125}}

    @oc.traced_stage("generation", model="no-such-model-xyz", provider="openai")
    def unknown() -> dict[str, object]:
        return {"usage": {"prompt_tokens": 5, "completion_tokens": 1}}

    exporter = InMemorySpanExporter()
    tel = oc.configure("ledger-bot", ledger=path, span_processors=[SimpleSpanProcessor(exporter)])
    local()
    gateway()
    unknown()
    tel.shutdown()
    spans: dict[Any, Any] = {
        (span.attributes or {})["gen_ai.request.model"]: dict(span.attributes or {})
        for span in exporter.get_finished_spans()
    }
    version = spans["gpt-4o-mini"]["chatbot.cost.price_version"]
    assert version == f"genai-prices=={genai_prices.__version__}"
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT model, cost_nusd, cost_source, price_version FROM otel_chatbot_usage ORDER BY ts"
        ).fetchall()
    local_nusd = round(float(spans["gpt-4o-mini"]["gen_ai.usage.cost.amount"]) * 1e9)
    assert rows == [
        ("gpt-4o-mini", local_nusd, "local", version),
        ("openai/gpt-4o-mini", 12_500_000, "provider", ""),
        ("no-such-model-xyz", 0, "", ""),
    ]
    assert main(["usage", "--ledger", path, "--by", "model"]) == 0
    out = capsys.readouterr().out
    assert "$0.0125*" in out
    assert "* includes 1 calls with provider-reported cost" in out
    assert main(["usage", "--ledger", path, "--by", "model", "--format", "json"]) == 0
    by_model = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert by_model["openai/gpt-4o-mini"]["provider_cost_calls"] == 1
    assert by_model["gpt-4o-mini"]["provider_cost_calls"] == 0


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("mysql://bot@db/usage", "mysql:// is not supported; give a SQLite file path or a postgresql:// URL"),
        ("{tmp}", "it is a folder; give a file path such as {tmp}/usage.db"),
        ("{tmp}/missing/usage.db", "the folder {tmp}/missing does not exist"),
        ("{tmp}/garbage.db", "file is not a database"),
    ],
)
def test_open_errors_name_the_ledger_and_say_what_to_do(tmp_path: Path, target: str, expected: str) -> None:
    (tmp_path / "garbage.db").write_text("not sqlite\n" * 100)
    target = target.format(tmp=tmp_path)
    with pytest.raises(ConfigurationError) as caught:
        Ledger.open(target)
    message = str(caught.value)
    assert message.startswith(f"cannot open the usage ledger {target}: ")
    assert expected.format(tmp=tmp_path) in message
    assert "\n" not in message


def test_a_postgres_password_never_appears_in_the_error() -> None:
    # Port 1 on loopback refuses at once: libpq's two-line message must come out as one line, password masked.
    target = "postgresql://bot:planted-s3cret@127.0.0.1:1/usage"
    with pytest.raises(ConfigurationError) as caught:
        Ledger.open(target)
    message = str(caught.value)
    assert "planted-s3cret" not in message
    assert message.startswith("cannot open the usage ledger postgresql://bot:***@127.0.0.1:1/usage: ")
    assert "\n" not in message
    assert caught.value.__cause__ is None  # the original exception (with the URL) is not chained into tracebacks


def test_display_target_masks_only_the_password() -> None:
    assert display_target("postgresql://bot:pw@db:5432/usage?sslmode=require") == (
        "postgresql://bot:***@db:5432/usage?sslmode=require"
    )
    assert display_target("postgresql://bot@db/usage") == "postgresql://bot@db/usage"
    assert display_target("/var/lib/bot/usage.db") == "/var/lib/bot/usage.db"


def test_usage_cli_does_not_create_a_ledger_at_a_mistyped_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "usgae.db"
    assert main(["usage", "--ledger", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"otel-chatbot usage: no usage ledger at {missing}: ")
    assert "configure(ledger=...)" in err
    assert not missing.exists()


def test_usage_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "garbage.db").write_text("not sqlite\n" * 100)
    for target in (str(tmp_path / "garbage.db"), str(tmp_path), "postgresql://bot:planted-s3cret@127.0.0.1:1/u"):
        assert main(["usage", "--ledger", target]) == 1
        err = capsys.readouterr().err
        assert err.startswith("otel-chatbot usage: cannot open the usage ledger ")
        assert err.count("\n") == 1 and "Traceback" not in err and "planted-s3cret" not in err
    assert main(["usage", "--ledger", str(tmp_path / "garbage.db"), "--since", "7x"]) == 2
    assert "not a duration: '7x'" in capsys.readouterr().err
