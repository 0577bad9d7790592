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

Folders the buffer creates are owner-only (0700) and its files too (0600): they can hold captured prompts and user
and tenant ids. A subfolder removed under a running process (``rm -rf``) is made again at the next write or read; the
requests that went with it are counted (``buffer_full``).
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
_SEQ_START = 500_000_000_000


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
        # File numbers: this process's own requests count up from _SEQ_START; adopted ones count down below it
        # (each adoption goes ahead of everything held), so the names sort in the order of the queue and a later
        # adoption of this subfolder keeps it.
        self._seq = _SEQ_START
        self._floor = _SEQ_START
        self._in_flight: Entry | None = None
        self._adopting = threading.Lock()  # one adoption at a time (the buffer's thread, a replaced configure())
        self._write_error_logged = False
        self._drops: list[tuple[str, str, int]] = []  # losses noted under the lock, counted after it
        self._lock_fd = -1
        self.folder = root / f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._make_folder()
        self.closed = False

    def _make_folder(self) -> None:
        """Create ``self.folder`` (0700, under a hidden name, locked, then renamed: no other process ever sees it
        unlocked) and hold its lock.

        Raises:
            OSError: It cannot be created or locked.
        """
        _private_dirs(self.root)
        hidden = self.root / f".{self.folder.name}"
        hidden.mkdir(mode=0o700)
        fd = os.open(hidden / _LOCK, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(hidden, self.folder)
        except OSError:
            os.close(fd)
            raise
        if self._lock_fd >= 0:
            try:
                os.close(self._lock_fd)
            except OSError:
                pass
        self._lock_fd = fd

    def _recreate(self) -> None:
        """The subfolder was removed under us (``rm -rf``): forget the entries whose files went with it (counted,
        once the lock is released) and make it again. Called with the lock held.

        Raises:
            OSError: It cannot be made again.
        """
        lost = [entry for entry in (*self._traces, *self._metrics) if not entry.path.exists()]
        for entry in lost:
            (self._traces if entry.signal == "spans" else self._metrics).remove(entry)
            self._bytes -= entry.size
            self._drops.append((entry.signal, "buffer_full", entry.items))
        if self._in_flight in lost:
            self._in_flight = None
        self._make_folder()
        logger.warning(
            "otel_chatbot: the export buffer folder %s was removed while in use: made again; %d buffered requests "
            "were lost with it (counted as dropped, buffer_full)",
            self.folder,
            len(lost),
        )

    def _folder_gone(self) -> bool:
        return not os.path.isdir(self.folder)

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
        """The bytes of ``entry``; None when its file is unreadable or empty (then removed and counted), or gone
        with the whole subfolder (then the subfolder is made again and every lost request counted)."""
        try:
            data = entry.path.read_bytes()
        except OSError as exc:
            data = b""
            if exc.errno == errno.ENOENT and self._folder_gone():
                with self._lock:
                    try:
                        self._recreate()
                    except OSError as again:
                        self._cannot_write(again)
                self._count_drops()
            elif exc.errno != errno.ENOENT:
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

    def _count_drops(self) -> None:
        """Count the losses noted while the lock was held (counting may log: never under our lock)."""
        with self._lock:
            drops, self._drops = self._drops, []
        for signal, reason, items in drops:
            _losses.record_dropped(signal, reason, items)

    # --- writing ---------------------------------------------------------------------------------------------------

    def append_traces(self, data: bytes, spans: int) -> bool:
        """Add a trace request after the others; False when it could not be written (counted as dropped)."""
        written = False
        with self._lock:
            if self.closed:
                self._drops.append(("spans", "shutdown", spans))
            else:
                self._seq += 1
                name = f"t-{self._seq:012d}-{spans}.otlp"
                if (path := self._write(self.folder / name, data, "spans", spans)) is not None:
                    entry = Entry(path, "spans", spans, len(data))
                    self._traces.append(entry)
                    self._bytes += entry.size
                    self._evict()
                    written = True
        self._count_drops()
        return written

    def put_metrics(self, data: bytes, points: int) -> bool:
        """Make ``data`` this process's newest undelivered metrics request (it replaces the previous one: metrics
        are cumulative, the newest totals include the older ones)."""
        written = False
        with self._lock:
            if self.closed:
                self._drops.append(("metrics", "shutdown", points))
            elif (path := self._write(self.folder / _LATEST, data, "metrics", points)) is not None:
                current = next((entry for entry in self._metrics if entry.path.name == _LATEST), None)
                if current is None:
                    self._metrics.append(Entry(path, "metrics", points, len(data)))
                    self._bytes += len(data)
                else:
                    self._bytes += len(data) - current.size
                    current.size, current.items, current.version = len(data), points, current.version + 1
                self._evict()
                written = True
        self._count_drops()
        return written

    def _write(self, path: Path, data: bytes, signal: str, items: int) -> Path | None:
        """Write ``data`` to ``path`` atomically, owner-only (0600); its path (the subfolder may have been made
        again), or None on a failure (logged once, counted). Called with the lock held."""
        if len(data) > self.max_bytes:
            self._drops.append((signal, "buffer_full", items))
            return None
        for attempt in (1, 2):
            try:
                _write_file(path, data)
                self._write_error_logged = False
                return path
            except OSError as exc:
                if attempt == 1 and exc.errno == errno.ENOENT and self._folder_gone():
                    try:  # removed under us (rm -rf): make it again, count what went with it, write once more
                        self._recreate()
                        path = self.folder / path.name
                        continue
                    except OSError as again:
                        exc = again
                self._cannot_write(exc)
                break
        self._drops.append((signal, "buffer_full", items))
        return None

    def _cannot_write(self, exc: OSError) -> None:
        if not self._write_error_logged:
            self._write_error_logged = True
            logger.warning(
                "otel_chatbot: cannot write to the export buffer %s (%s): telemetry the endpoint does not take is "
                "dropped and counted until it can",
                self.folder,
                exc,
            )
        _losses.note("buffer_full", f"export buffer {self.folder}: {exc.strerror or exc}")

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
            self._drops.append(("spans", "buffer_full", victim.items))

    # --- adoption --------------------------------------------------------------------------------------------------

    def adopt(self) -> int:
        """Move the files of dead processes' subfolders into this one, ahead of ours; returns how many."""
        try:
            listing = os.listdir(self.root)
        except OSError as exc:
            logger.warning("otel_chatbot: cannot list the export buffer %s (%s)", self.root, exc)
            return 0
        names = sorted(name for name in listing if _DIR.match(name))
        for name in listing:  # a process that died between creating its subfolder and renaming it
            if name.startswith(".") and _DIR.match(name[1:]):
                self._remove_stale(self.root / name)
        adopted: list[Entry] = []
        with self._adopting:
            for name in reversed(names):  # the newest first: it takes the highest of the numbers below ours
                folder = self.root / name
                if folder != self.folder:
                    adopted[:0] = self._adopt_folder(folder)
        if not adopted:
            return 0
        with self._lock:
            traces = [entry for entry in adopted if entry.signal == "spans"]
            metrics = [entry for entry in adopted if entry.signal == "metrics"]
            self._traces.extendleft(reversed(traces))
            self._metrics.extendleft(reversed(metrics))
            self._bytes += sum(entry.size for entry in adopted)
            self._evict()
        self._count_drops()
        logger.info(
            "otel_chatbot: export buffer: replaying %d requests (%d spans) left by earlier processes",
            len(adopted),
            sum(entry.items for entry in adopted if entry.signal == "spans"),
        )
        return len(adopted)

    def _remove_stale(self, folder: Path) -> None:
        """Remove a hidden subfolder (it never held a file) whose creator is dead (its lock can be taken)."""
        try:
            if time.time() - folder.stat().st_mtime < 60:
                return  # being created right now
            fd = os.open(folder / _LOCK, os.O_RDWR)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _unlink(folder / _LOCK)
            folder.rmdir()
        except OSError:
            pass
        finally:
            os.close(fd)

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
            files = [name for name in names if _TRACE.match(name) or _METRICS.match(name)]
            seq = self._reserve(len(files))
            for name in names:
                source = folder / name
                try:
                    if trace := _TRACE.match(name):
                        seq += 1
                        target = self.folder / f"t-{seq:012d}-{int(trace.group(2))}.otlp"
                        signal, items = "spans", int(trace.group(2))
                    elif _METRICS.match(name):
                        seq += 1
                        target = self.folder / f"m-{seq:012d}.otlp"
                        signal, items = "metrics", 0
                    else:
                        if name != _LOCK:
                            _unlink(source)  # a temporary file of a write the crash interrupted
                        continue
                    size = source.stat().st_size
                    os.rename(source, target)
                    try:
                        os.chmod(target, 0o600)  # (files of older versions were 0644)
                    except OSError:
                        pass
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

    def _reserve(self, count: int) -> int:
        """Numbers for ``count`` adopted files, below every number in use: they are ``returned + 1 ... + count``."""
        with self._lock:
            self._floor -= count
            return self._floor - 1

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


def _write_file(path: Path, data: bytes) -> None:
    """``data`` into ``path`` through a temporary file and a rename (atomic), readable by the owner only."""
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except OSError:
        _unlink(tmp)
        raise


def _private_dirs(folder: Path) -> None:
    """Make ``folder`` and its missing parents, each owner-only (0700; existing folders are left as they are)."""
    missing = []
    probe = folder
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder))


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
