"""The usage ledger: every priced call appended to SQLite (a file path) or PostgreSQL (a ``postgresql://`` URL).

Appends never touch the database on the request path: they go into a bounded queue that one background thread
writes in batches (a full queue drops the entry and counts it, it never blocks). Budgets read spend back from here,
so they hold across restarts and across processes that share one PostgreSQL ledger.

Example::

    ledger = Ledger.open("usage.db", retention="90d")
    ledger.append(LedgerEntry(ts=time.time(), model="gpt-4o-mini", cost_usd=0.0002, tenant="acme", ...))
    ledger.spend(since=time.time() - 86400, tenant="acme")
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from otel_chatbot import _losses, _values
from otel_chatbot._durations import parse_duration
from otel_chatbot._internal_errors import log_internal_error
from otel_chatbot._redact import display_text, display_url, url_password
from otel_chatbot.errors import ConfigurationError

__all__ = ["Ledger", "LedgerEntry", "UsageRow", "display_target"]

logger = logging.getLogger(__name__)

_NANO = 1_000_000_000
_TABLE = "otel_chatbot_usage"
_COLUMNS = (
    "ts",
    "trace_id",
    "service",
    "stage",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cost_nusd",
    "tenant",
    "user_id",
    "conversation",
    "variant",
    "cost_source",
    "price_version",
)
_ADDED_COLUMNS = (("cost_source", "TEXT"), ("price_version", "TEXT"))
"""Columns added after the first release: an older ledger gains them when opened (its old rows read as empty)."""
_BY = {
    "user": "user_id",
    "tenant": "tenant",
    "model": "model",
    "provider": "provider",
    "stage": "stage",
    "conversation": "conversation",
    "variant": "variant",
    "service": "service",
}
By = Literal["user", "tenant", "model", "provider", "stage", "conversation", "variant", "service"]


class LedgerEntry(NamedTuple):
    """One priced call (a NamedTuple: it is built on the request path, where a frozen dataclass costs more)."""

    ts: float
    trace_id: str = ""
    service: str = ""
    stage: str = ""
    model: str = ""
    provider: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    tenant: str = ""
    user: str = ""
    conversation: str = ""
    variant: str = ""
    cost_source: str = ""
    """``local`` (priced by us), ``provider`` (the cost the provider reported), or empty (no cost known)."""
    price_version: str = ""
    """The price data of a ``local`` cost: ``genai-prices==<version>`` or ``override``; empty otherwise."""


@dataclass(frozen=True)
class UsageRow:
    """Usage of one key over a period (``otel-chatbot usage``)."""

    key: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    provider_cost_calls: int = 0
    """Of ``calls``, those whose cost is the provider's own (``cost_source = provider``) rather than ours."""


class _Backend:
    """One database connection behind a lock; SQL with ``?`` placeholders is adapted per driver."""

    placeholder = "?"

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def execute(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {_TABLE} (
    ts DOUBLE PRECISION NOT NULL, trace_id TEXT, service TEXT, stage TEXT, model TEXT, provider TEXT,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, cost_nusd BIGINT NOT NULL,
    tenant TEXT, user_id TEXT, conversation TEXT, variant TEXT, cost_source TEXT, price_version TEXT)"""
_INDEX = f"CREATE INDEX IF NOT EXISTS {_TABLE}_ts ON {_TABLE} (ts)"
_INSERT = f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


def display_target(target: str) -> str:
    """A ledger path or URL as it may be shown in errors, logs and CLI output: :func:`otel_chatbot._redact.display_url`.

    Example::

        display_target("postgresql://bot:s3cret@db/usage")  # 'postgresql://bot:***@db/usage'
    """
    return display_url(target)


class _SQLite(_Backend):
    def __init__(self, path: str) -> None:
        super().__init__()
        # One connection shared under our lock; WAL lets other processes read while we write.
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(_SCHEMA)
        self._migrate()
        self.conn.execute(_INDEX)

    def _migrate(self) -> None:
        """Add the columns a ledger written by an older release lacks."""
        present = {row[1] for row in self.conn.execute(f"PRAGMA table_info({_TABLE})")}
        for name, kind in _ADDED_COLUMNS:
            if name not in present:
                try:
                    self.conn.execute(f"ALTER TABLE {_TABLE} ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise

    def execute(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return list(self.conn.execute(text, tuple(params)).fetchall())

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                self.conn.executemany(_INSERT, rows)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class _Postgres(_Backend):
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError:
            raise ConfigurationError(
                "a postgresql:// ledger needs psycopg: pip install 'otel-chatbot[postgres]'"
            ) from None
        self._psycopg = psycopg
        self.url = url
        self.conn = self._connect()
        with self.conn.transaction():
            # Several processes may create the table at once: serialise the DDL on an advisory lock.
            self.conn.execute("SELECT pg_advisory_xact_lock(727274)")
            self.conn.execute(_SCHEMA)
            present = {
                row[0]
                for row in self.conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "AND table_schema = current_schema()",
                    (_TABLE,),
                ).fetchall()
            }
            for name, kind in _ADDED_COLUMNS:  # a ledger written by an older release gains the new columns
                if name not in present:  # ALTER takes an exclusive table lock: only when a column is missing
                    self.conn.execute(f"ALTER TABLE {_TABLE} ADD COLUMN IF NOT EXISTS {name} {kind}")
            self.conn.execute(_INDEX)

    def _connect(self) -> Any:
        # Bounded: a stalled server must not hang the writer thread or a budget check for long.
        try:
            return self._psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        except self._psycopg.Error as exc:
            # The driver's message may quote the URL or the password: the same error class, masked, no chain.
            raise type(exc)(display_text(str(exc), *url_password(self.url))) from None

    def _with_connection(self, work: Callable[[Any], Any]) -> Any:
        """Run ``work(conn)`` under the lock; after a lost connection (server restart), reconnect once and retry."""
        with self.lock:
            try:
                if self.conn.closed:
                    self.conn = self._connect()
                return work(self.conn)
            except self._psycopg.OperationalError:
                with contextlib.suppress(Exception):
                    self.conn.close()
                self.conn = self._connect()
                return work(self.conn)

    def execute(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        def run(conn: Any) -> list[tuple[Any, ...]]:
            cur = conn.execute(self.sql(text), tuple(params))
            return list(cur.fetchall()) if cur.description else []

        result: list[tuple[Any, ...]] = self._with_connection(run)
        return result

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        def run(conn: Any) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(self.sql(_INSERT), rows)

        self._with_connection(run)

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class Ledger:
    """A usage ledger with a bounded, non-blocking append queue and one writer thread.

    Args:
        backend: The database (use ``Ledger.open``).
        queue_size: Entries waiting to be written before ``append`` starts dropping (and counting) them.
        retention_s: Rows older than this are deleted (at start, then hourly); None keeps everything.
        clock: Wall clock, for retention.
    """

    def __init__(
        self,
        backend: _Backend,
        *,
        queue_size: int = 10_000,
        retention_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backend = backend
        # SimpleQueue (C) rather than Queue: a put is ~0.1 µs instead of ~1 µs of Python locking. The bound and the
        # flush bookkeeping are two counters.
        self._queue: queue.SimpleQueue[LedgerEntry | None] = queue.SimpleQueue()
        self._maxsize = queue_size
        self._count_lock = threading.Lock()
        self._appended = 0
        self._written = 0
        self._done = threading.Condition()
        self._retention_s = retention_s
        self._clock = clock
        self._listeners: list[Callable[[Sequence[LedgerEntry]], None]] = []
        self.dropped = 0
        self._closed = False
        if retention_s is not None:
            self.prune(older_than=clock() - retention_s)
        self._next_prune = clock() + 3600
        self._thread = threading.Thread(target=self._run, name="otel-chatbot-ledger", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, target: str, *, queue_size: int = 10_000, retention: str | float | None = None) -> Ledger:
        """Open (creating the table if needed) a SQLite file or a ``postgresql://`` database.

        Args:
            target: A file path, ``":memory:"``, or a ``postgresql://`` / ``postgres://`` URL.
            queue_size: See the class.
            retention: Keep rows this long: seconds or a duration such as ``"90d"``; None keeps everything.

        Raises:
            ConfigurationError: The database cannot be opened or the retention is not a duration.
        """
        try:
            retention_s = parse_duration(retention) if isinstance(retention, str) else retention
        except ValueError as exc:
            raise ConfigurationError(f"ledger retention: {exc}") from None
        shown = display_target(target)
        scheme, sep, _ = target.partition("://")
        if sep and scheme not in ("postgresql", "postgres"):
            raise ConfigurationError(
                f"cannot open the usage ledger {shown}: {scheme}:// is not supported; give a SQLite file path or a "
                "postgresql:// URL"
            )
        if not sep and target != ":memory:":
            path = Path(target).expanduser()
            if path.is_dir():
                raise ConfigurationError(
                    f"cannot open the usage ledger {shown}: it is a folder; give a file path such as "
                    f"{path / 'usage.db'}"
                )
            folder = path.parent
            if not folder.is_dir():
                raise ConfigurationError(
                    f"cannot open the usage ledger {shown}: the folder {folder} does not exist; create it or choose "
                    "another path"
                )
        try:
            if sep:
                backend: _Backend = _Postgres(target)
            else:
                backend = _SQLite(str(Path(target).expanduser()) if target != ":memory:" else target)
        except ConfigurationError:
            raise
        except Exception as exc:
            # One line (libpq's messages span several), and never the password a URL may carry.
            reason = " ".join(display_text(str(exc).replace(target, shown), *url_password(target)).split())
            raise ConfigurationError(f"cannot open the usage ledger {shown}: {reason}") from None
        return cls(backend, queue_size=queue_size, retention_s=retention_s)

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    def add_listener(self, listener: Callable[[Sequence[LedgerEntry]], None]) -> None:
        """Call ``listener(entries)`` on the writer thread after each batch is written (budgets' soft alerts)."""
        self._listeners.append(listener)

    def append(self, entry: LedgerEntry) -> bool:
        """Queue one entry; never blocks. Returns False when full or closed (counted in ``dropped`` and
        ``chatbot.telemetry.dropped``: ``queue_full``, ``shutdown``)."""
        if self._closed or self._queue.qsize() >= self._maxsize:
            self.dropped += 1
            _losses.record_dropped("ledger_rows", "shutdown" if self._closed else "queue_full")
            return False
        with self._count_lock:  # counted before the put, so a flush() never misses it
            self._appended += 1
        self._queue.put(entry)
        return True

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while len(batch) < 500:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            entries = [e for e in batch if e is not None]
            try:
                if entries:
                    self._write(entries)
            except Exception:
                logger.exception("otel_chatbot: writing %d usage ledger rows failed; they are lost", len(entries))
            finally:
                with self._done:
                    self._written += len(entries)
                    self._done.notify_all()
            if None in batch:
                return

    def _write(self, batch: list[LedgerEntry]) -> None:
        # One invalid row must not fail the batch's transaction (a token count of 2**63 once lost 88 of 101 rows):
        # each row is checked first, and a bad one is rejected alone, logged and counted.
        rows: list[tuple[Any, ...]] = []
        entries: list[LedgerEntry] = []
        rejected: list[str] = []
        for entry in batch:
            row = _row(entry)
            if isinstance(row, str):
                rejected.append(row)
            else:
                rows.append(row)
                entries.append(entry._replace(tenant=row[9], user=row[10]))  # as written: budgets read them back
        if rejected:
            reasons = "; ".join(sorted(set(rejected))[:3])
            what = f"{len(rejected)} usage ledger row(s) rejected ({reasons}); the other {len(rows)} are written"
            _values.warn_removed(what, "ledger_rows", len(rejected))
        if rows:
            try:
                self._backend.insert(rows)
            except Exception:
                _losses.record_dropped("ledger_rows", "buffer_off", len(rows))  # nothing holds them for a retry
                raise
        for listener in self._listeners:
            try:
                listener(entries)
            except Exception:
                log_internal_error()
        if self._retention_s is not None and self._clock() >= self._next_prune:
            self._next_prune = self._clock() + 3600
            self.prune(older_than=self._clock() - self._retention_s)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued entry is written; False if ``timeout`` seconds pass first."""
        target = self._appended
        deadline = time.monotonic() + timeout
        with self._done:
            while self._written < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
        return True

    def spend(self, *, since: float, tenant: str | None = None, user: str | None = None) -> float:
        """USD recorded since ``since`` (epoch seconds), optionally for one tenant or user (rows already written)."""
        text = f"SELECT COALESCE(SUM(cost_nusd), 0) FROM {_TABLE} WHERE ts >= ?"
        params: list[Any] = [since]
        if tenant is not None:
            text += " AND tenant = ?"
            params.append(_stored_text(tenant, _values.max_attribute_length()))
        if user is not None:
            text += " AND user_id = ?"
            params.append(_stored_text(user, _values.max_attribute_length()))
        ((total,),) = self._backend.execute(self._backend.sql(text), params)
        return int(total) / _NANO

    def usage(self, by: By, *, since: float) -> list[UsageRow]:
        """Calls, tokens and USD per ``by`` key since ``since``, most expensive first (with the calls whose cost
        the provider reported)."""
        if by not in _BY:
            raise ValueError(f"usage by {by!r}: choose one of {', '.join(_BY)}")
        column = _BY[by]
        text = (
            f"SELECT {column}, COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
            f"COALESCE(SUM(cost_nusd), 0), COALESCE(SUM(CASE WHEN cost_source = 'provider' THEN 1 ELSE 0 END), 0) "
            f"FROM {_TABLE} WHERE ts >= ? GROUP BY {column} ORDER BY 5 DESC, 1"
        )
        rows = self._backend.execute(self._backend.sql(text), [since])
        return [UsageRow(str(k or ""), int(n), int(i), int(o), int(c) / _NANO, int(p)) for k, n, i, o, c, p in rows]

    def prune(self, *, older_than: float) -> int:
        """Delete rows older than ``older_than`` (epoch seconds); returns how many."""
        before = self._backend.execute(self._backend.sql(f"SELECT COUNT(*) FROM {_TABLE} WHERE ts < ?"), [older_than])[
            0
        ][0]
        self._backend.execute(self._backend.sql(f"DELETE FROM {_TABLE} WHERE ts < ?"), [older_than])
        return int(before)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (within ``timeout``), stop the writer and close the database."""
        if self._closed:
            return
        self._closed = True
        if not self.flush(timeout):
            logger.warning("otel_chatbot: the usage ledger did not finish writing within %.1f s", timeout)
        self._queue.put(None)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._backend.close()


def _stored_text(value: object, limit: int | None = None) -> str:
    """``value`` as the ledger stores it: valid UTF-8, cut to ``limit``, and NUL as U+FFFD (PostgreSQL refuses NUL
    in text: one id holding it once failed a whole batch's insert)."""
    text = _values.clean_text(str(value), limit)
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _row(e: LedgerEntry) -> tuple[Any, ...] | str:
    """The database row of ``e``, or why it is rejected: token counts must be integers in 0..2^63-1, the cost a
    finite non-negative number of USD whose nano-USD fit in int64, the time finite; text is repaired (valid UTF-8,
    bounded), never a reason to reject."""
    counts = []
    for name, value in (("input_tokens", e.input_tokens), ("output_tokens", e.output_tokens)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name} is not a number: {type(value).__name__}"
        if not (0 <= value <= _values.INT64_MAX and (type(value) is int or float(value).is_integer())):
            return f"{name}={_values.shown_number(value)} is not a count in 0..2^63-1"
        counts.append(int(value))
    cost = _values.nano_usd(e.cost_usd)
    if cost is None:
        return f"cost_usd={e.cost_usd!r} is not a finite non-negative amount under 9e9"
    if isinstance(e.ts, bool) or not isinstance(e.ts, int | float) or not 0 <= e.ts < 1e11:
        return f"ts={e.ts!r} is not a time"
    limit = _values.max_attribute_length()

    def text(value: object) -> str:
        return _stored_text(value, limit)

    return (
        float(e.ts),
        text(e.trace_id),
        text(e.service),
        text(e.stage),
        text(e.model),
        text(e.provider),
        counts[0],
        counts[1],
        cost,
        text(e.tenant),
        text(e.user),
        text(e.conversation),
        text(e.variant),
        text(e.cost_source),
        text(e.price_version),
    )
