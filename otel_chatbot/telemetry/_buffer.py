"""The export buffer's files: OTLP requests the endpoint did not take, on disk, bounded, adopted by the next process.

Layout of the buffer folder (one per service, ``configure(export_buffer=...)``)::

    <folder>/<start time ns>-<pid>-<random>/lock           flock'ed by the live process that owns the subfolder
    <folder>/<start time ns>-<pid>-<random>/t-<seq>-<n>.otlp  a serialized ExportTraceServiceRequest of n spans
    <folder>/<start time ns>-<pid>-<random>/m-<seq>.otlp      a metrics request adopted from a dead process
    <folder>/<start time ns>-<pid>-<random>/m-latest.otlp     this process's newest undelivered metrics request

Each process (each uvicorn/gunicorn worker) owns one subfolder, created under a hidden name, locked with
``fcntl.flock`` and then renamed, so no other process ever sees it unlocked while its owner lives. A process adopts
the subfolders whose lock it can take (their owner is dead: the kernel releases a flock with its process): it moves
their files into its own, oldest first, ahead of its own, and removes them.

Files are written to a temporary name and renamed (atomic): a crash leaves whole files or none. They are not
fsync'ed: after a power cut (not a process crash), the last seconds of files may be empty or missing; an empty file is
counted as dropped (``invalid_value``) and removed.

The size bound is per process (each worker's subfolder, adopted files included): when a new file would pass it,
the oldest trace files are deleted and their spans counted (``buffer_full``).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from otel_chatbot import _losses

__all__ = ["DiskBuffer", "Entry"]

logger = logging.getLogger("otel_chatbot")

_LOCK = "lock"
_LATEST = "m-latest.otlp"
_TRACE = re.compile(r"^t-(\d+)-(\d+)\.otlp$")
_METRICS = re.compile(r"^m-(\d+|latest)\.otlp$")
_DIR = re.compile(r"^\d+-\d+-[0-9a-f]+$")


@dataclass(slots=True)
class Entry:
    """One buffered request: its file, the items it holds, its size; ``version`` changes when a file is replaced."""

    path: Path
    signal: str  # "spans" or "metrics"
    items: int
    size: int
    version: int = 0


class DiskBuffer:
    """This process's buffered requests, oldest first, bounded by ``max_bytes``.

    Args:
        root: The service's buffer folder (created if missing).
        max_bytes: The bound of this process's files.

    Raises:
        OSError: The folder cannot be created or locked (``configure()`` checks it first).
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._traces: deque[Entry] = deque()
        self._metrics: deque[Entry] = deque()  # adopted ones, oldest first; this process's own last (m-latest)
        self._bytes = 0
        self._seq = 0
        self._in_flight: Entry | None = None
        self._adopting = threading.Lock()  # one adoption at a time (the buffer's thread, a replaced configure())
        self._write_error_logged = False
        root.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        hidden = root / f".{name}"
        hidden.mkdir()
        self._lock_fd = os.open(hidden / _LOCK, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.folder = root / name
        os.rename(hidden, self.folder)
        self.closed = False

    # --- state -----------------------------------------------------------------------------------------------------

    def has_traces(self) -> bool:
        """Whether trace requests are waiting (new ones then queue behind them, so order is kept)."""
        return bool(self._traces)

    def has_own_metrics(self) -> bool:
        """Whether this process's newest metrics request waits on disk."""
        with self._lock:
            return any(entry.path.name == _LATEST for entry in self._metrics)

    def __len__(self) -> int:
        return len(self._traces) + len(self._metrics)

    @property
    def size_bytes(self) -> int:
        """Bytes of this process's files."""
        return self._bytes

    def oldest(self) -> Entry | None:
        """The next request to send (traces oldest first, then metrics), marked in flight; None when empty."""
        with self._lock:
            entry = self._traces[0] if self._traces else self._metrics[0] if self._metrics else None
            self._in_flight = entry
            return entry

    def settle(self) -> None:
        """Nothing is in flight any more (a send failed; the entry stays first)."""
        with self._lock:
            self._in_flight = None

    def read(self, entry: Entry) -> bytes | None:
        """The bytes of ``entry``; None when its file is unreadable or empty (then removed and counted)."""
        try:
            data = entry.path.read_bytes()
        except OSError as exc:
            data = b""
            if exc.errno != errno.ENOENT:
                logger.warning("otel_chatbot: export buffer file %s is unreadable (%s); removed", entry.path, exc)
        if not data:
            self.remove(entry, dropped="invalid_value")
            return None
        return data

    def remove(self, entry: Entry, *, dropped: str | None = None, version: int | None = None) -> None:
        """Forget ``entry`` and delete its file (``dropped``: count its items lost for that reason). With
        ``version``, only if the entry was not replaced since (a newer metrics request must stay)."""
        with self._lock:
            if self._in_flight is entry:
                self._in_flight = None
            if version is not None and entry.version != version:
                return
            queue = self._traces if entry.signal == "spans" else self._metrics
            try:
                queue.remove(entry)
            except ValueError:
                return
            self._bytes -= entry.size
            _unlink(entry.path)
        if dropped is not None:
            _losses.record_dropped(entry.signal, dropped, entry.items)

    # --- writing ---------------------------------------------------------------------------------------------------

    def append_traces(self, data: bytes, spans: int) -> bool:
        """Add a trace request after the others; False when it could not be written (counted as dropped)."""
        with self._lock:
            if self.closed:
                _losses.record_dropped("spans", "shutdown", spans)
                return False
            self._seq += 1
            path = self.folder / f"t-{self._seq:012d}-{spans}.otlp"
            if not self._write(path, data, "spans", spans):
                return False
            entry = Entry(path, "spans", spans, len(data))
            self._traces.append(entry)
            self._bytes += entry.size
            self._evict()
        return True

    def put_metrics(self, data: bytes, points: int) -> bool:
        """Make ``data`` this process's newest undelivered metrics request (it replaces the previous one: metrics
        are cumulative, the newest totals include the older ones)."""
        with self._lock:
            if self.closed:
                _losses.record_dropped("metrics", "shutdown", points)
                return False
            path = self.folder / _LATEST
            if not self._write(path, data, "metrics", points):
                return False
            current = next((entry for entry in self._metrics if entry.path.name == _LATEST), None)
            if current is None:
                self._metrics.append(Entry(path, "metrics", points, len(data)))
                self._bytes += len(data)
            else:
                self._bytes += len(data) - current.size
                current.size, current.items, current.version = len(data), points, current.version + 1
            self._evict()
        return True

    def _write(self, path: Path, data: bytes, signal: str, items: int) -> bool:
        """Write ``data`` to ``path`` atomically (called with the lock held); a failure is logged and counted."""
        if len(data) > self.max_bytes:
            _losses.record_dropped(signal, "buffer_full", items)
            return False
        tmp = path.with_name(f".tmp-{path.name}")
        try:
            with open(tmp, "wb") as file:
                file.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            _unlink(tmp)
            if not self._write_error_logged:
                self._write_error_logged = True
                logger.warning(
                    "otel_chatbot: cannot write to the export buffer %s (%s): telemetry the endpoint does not take is "
                    "dropped and counted until it can",
                    self.folder,
                    exc,
                )
            _losses.note("buffer_full", f"export buffer {self.folder}: {exc.strerror or exc}")
            _losses.record_dropped(signal, "buffer_full", items)
            return False
        self._write_error_logged = False
        return True

    def _evict(self) -> None:
        """Delete the oldest trace files until the files fit the bound (called with the lock held)."""
        while self._bytes > self.max_bytes:
            victim = next((entry for entry in self._traces if entry is not self._in_flight), None)
            if victim is None:
                return
            self._traces.remove(victim)
            self._bytes -= victim.size
            _unlink(victim.path)
            _losses.note(
                "buffer_full", f"export buffer {self.root}, {self.max_bytes / 2**20:g} MB full: oldest dropped"
            )
            _losses.record_dropped("spans", "buffer_full", victim.items)

    # --- adoption --------------------------------------------------------------------------------------------------

    def adopt(self) -> int:
        """Move the files of dead processes' subfolders into this one, ahead of ours; returns how many."""
        try:
            names = sorted(name for name in os.listdir(self.root) if _DIR.match(name))
        except OSError as exc:
            logger.warning("otel_chatbot: cannot list the export buffer %s (%s)", self.root, exc)
            return 0
        adopted: list[Entry] = []
        with self._adopting:
            for name in names:
                folder = self.root / name
                if folder != self.folder:
                    adopted.extend(self._adopt_folder(folder))
        if not adopted:
            return 0
        with self._lock:
            traces = [entry for entry in adopted if entry.signal == "spans"]
            metrics = [entry for entry in adopted if entry.signal == "metrics"]
            self._traces.extendleft(reversed(traces))
            self._metrics.extendleft(reversed(metrics))
            self._bytes += sum(entry.size for entry in adopted)
            self._evict()
        logger.info(
            "otel_chatbot: export buffer: replaying %d requests (%d spans) left by earlier processes",
            len(adopted),
            sum(entry.items for entry in adopted if entry.signal == "spans"),
        )
        return len(adopted)

    def _adopt_folder(self, folder: Path) -> list[Entry]:
        """The entries moved out of ``folder`` if its owner is dead (its lock can be taken), else none."""
        try:
            fd = os.open(folder / _LOCK, os.O_RDWR)
        except OSError:
            return []  # gone (adopted by another process) or not ours
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return []  # its process is alive
            entries: list[Entry] = []
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                return entries  # another process adopted it between our open and our lock
            for name in names:
                source = folder / name
                try:
                    if trace := _TRACE.match(name):
                        target = self.folder / f"t-{self._next_seq():012d}-{int(trace.group(2))}.otlp"
                        signal, items = "spans", int(trace.group(2))
                    elif _METRICS.match(name):
                        target = self.folder / f"m-{self._next_seq():012d}.otlp"
                        signal, items = "metrics", 0
                    else:
                        if name != _LOCK:
                            _unlink(source)  # a temporary file of a write the crash interrupted
                        continue
                    size = source.stat().st_size
                    os.rename(source, target)
                    entries.append(Entry(target, signal, items, size))
                except OSError as exc:
                    logger.warning("otel_chatbot: cannot adopt export buffer file %s (%s)", source, exc)
            _unlink(folder / _LOCK)
            try:
                folder.rmdir()
            except OSError:
                pass
            return entries
        finally:
            os.close(fd)

    def forked(self) -> DiskBuffer:
        """In a forked child: a buffer of its own (the parent's lock and files stay the parent's)."""
        try:
            os.close(self._lock_fd)  # else the child would hold the parent's lock after the parent dies
        except OSError:
            pass
        try:
            return DiskBuffer(self.root, self.max_bytes)
        except OSError as exc:
            logger.warning("otel_chatbot: export buffer %s unusable in worker %d (%s)", self.root, os.getpid(), exc)
            self._lock = threading.Lock()
            self._traces.clear()
            self._metrics.clear()
            self.closed = True
            return self

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    # --- closing ---------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop writing and release the lock: what is left stays for the next process (the folder goes if empty)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if not self._traces and not self._metrics:
                _unlink(self.folder / _LOCK)
                try:
                    self.folder.rmdir()
                except OSError:
                    pass
            os.close(self._lock_fd)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
