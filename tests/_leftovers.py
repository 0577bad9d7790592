"""What a test left running: threads (exporter workers, servers, flushes) and child processes (servers).

``tests/conftest.py`` takes a :func:`census` before each test and fails the test when :func:`left_running` reports
anything after its teardown.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Census:
    """The threads and the (running) child processes of this process at one moment."""

    threads: frozenset[threading.Thread]
    children: frozenset[int]


def census() -> Census:
    return Census(frozenset(threading.enumerate()), frozenset(_child_pids()))


def left_running(before: Census, *, allowed_threads: frozenset[str], grace: float) -> list[str]:
    """Threads and child processes started since ``before`` that still run after ``grace`` seconds, described.

    ``allowed_threads`` are thread names that may outlive a test (threads of wider-scoped fixtures).
    """
    deadline = time.monotonic() + grace
    while True:
        threads = [t for t in threading.enumerate() if t not in before.threads and t.name not in allowed_threads]
        children = sorted(_child_pids() - before.children)
        if not (threads or children) or time.monotonic() > deadline:
            break
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if children:
            time.sleep(0.05)
    return [f"thread {t.name!r}" for t in threads] + [f"process {pid} ({_command(pid)})" for pid in children]


def _child_pids() -> set[int]:
    """This process's running (not zombie) children, from Linux's /proc."""
    pids: set[int] = set()
    for tasks in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        try:
            pids.update(int(pid) for pid in tasks.read_text().split())
        except OSError:  # the thread ended meanwhile
            continue
    return {pid for pid in pids if _state(pid) not in ("Z", "X", "")}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    except OSError:
        return "?"
