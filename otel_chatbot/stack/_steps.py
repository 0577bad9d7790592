"""The long steps of a stack build, told as they go: one build at a time per cache, and a line every few seconds.

* :func:`build_lock`: one builder per cache; a second ``stack build`` / ``stack up`` says that it waits for the other
  one (its pid and command), how long so far, and when it may go on.
* :func:`run_step`: a build command with its output in a log file, a progress line every
  :data:`PROGRESS_INTERVAL_S` seconds while it runs, and one :class:`StackError` line naming the log when it fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

from otel_chatbot import env
from otel_chatbot.stack._errors import StackError
from otel_chatbot.stack._paths import cache_dir

Log = Callable[[str], None]

PROGRESS_INTERVAL_S = 10.0
"""Seconds between two progress lines of a running build step or of a wait for another build."""
LOCK_FILE = ".build.lock"


def go_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a Go build: ours, without cgo (static binaries), plus ``extra``."""
    environ = dict(os.environ)
    environ["CGO_ENABLED"] = "0"
    environ.update(extra or {})
    return environ


def run_step(argv: list[str], *, log_file: Path, cwd: Path, env: Mapping[str, str], what: str, log: Log) -> None:
    """Run a build step, appending its output to ``log_file`` and logging progress while it runs.

    Raises:
        StackError: The step failed: one line with its exit code, the most telling line of its log, and the log path.
    """
    started = time.monotonic()
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise StackError(f"{what}: cannot run {argv[0]} ({exc.strerror or exc})") from None
        try:
            code = _wait(proc, lambda: log(f"  ... {what}: {time.monotonic() - started:.0f}s so far (log {log_file})"))
        except BaseException:  # Ctrl-C: leave no build running behind us
            proc.kill()
            proc.wait()
            raise
    if code != 0:
        raise StackError(f"{what} failed (exit {code}): {last_error(log_file)}; full log: {log_file}")


def _wait(proc: subprocess.Popen[bytes], progress: Callable[[], None]) -> int:
    while True:
        try:
            return proc.wait(timeout=PROGRESS_INTERVAL_S)
        except subprocess.TimeoutExpired:
            progress()


def last_error(log_file: Path) -> str:
    """The most telling line of a build log: the last one that looks like an error, else the last one."""
    lines = [ln.strip() for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
    interesting = [ln for ln in lines if not ln.startswith(("go: downloading", "go: added", "go: upgraded", "$ "))]
    for line in reversed(interesting):
        if "error" in line.lower() or "forbidden" in line.lower() or "cannot" in line.lower():
            return line[:300]
    return (interesting or lines or ["no output"])[-1][:300]


@contextlib.contextmanager
def build_lock(log: Log) -> Iterator[None]:
    """Hold the cache's build lock (two builds must not write into the same folder); say so when waiting for it."""
    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = (root / LOCK_FILE).open("a+")  # "a+": opening must not erase the holder's note
    except OSError as exc:
        raise StackError(
            f"cannot write to the stack's cache {root} ({exc.strerror or exc}): fix its permissions or set "
            f"{env.OTEL_CHATBOT_CACHE} to a writable folder"
        ) from None
    with lock:
        if not _try_lock(lock):
            _wait_for_lock(lock, root / LOCK_FILE, log)
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}: {' '.join(sys.argv)[:200]}\n")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _try_lock(lock: IO[str]) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _wait_for_lock(lock: IO[str], path: Path, log: Log) -> None:
    lock.seek(0)
    holder = lock.read().strip() or "another process"
    log(f"waiting for another build of the stack to finish ({holder}; lock {path}) ...")
    started = next_line = time.monotonic()
    while not _try_lock(lock):
        time.sleep(0.2)
        if time.monotonic() - next_line >= PROGRESS_INTERVAL_S:
            next_line = time.monotonic()
            log(f"  ... still waiting for the other build: {next_line - started:.0f}s so far")
    log(f"the other build finished after {time.monotonic() - started:.0f}s; going on")
