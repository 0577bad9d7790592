"""The suite's guard against tests that leave threads or processes running (tests/_leftovers.py)."""

from __future__ import annotations

import subprocess
import sys
import threading

from tests._leftovers import census, left_running


def test_a_thread_still_running_after_the_grace_is_named() -> None:
    stop = threading.Event()
    before = census()
    thread = threading.Thread(target=stop.wait, name="exporter-retrying", daemon=True)
    thread.start()
    try:
        assert left_running(before, allowed_threads=frozenset(), grace=0.1) == ["thread 'exporter-retrying'"]
        assert left_running(before, allowed_threads=frozenset({"exporter-retrying"}), grace=0.1) == []
    finally:
        stop.set()
        thread.join()


def test_a_thread_that_ends_within_the_grace_is_not_a_leftover() -> None:
    before = census()
    threading.Thread(target=threading.Event().wait, args=(0.2,), name="finishing").start()
    assert left_running(before, allowed_threads=frozenset(), grace=5.0) == []


def test_a_child_process_still_running_is_named() -> None:
    before = census()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (leftover,) = left_running(before, allowed_threads=frozenset(), grace=0.1)
        assert leftover.startswith(f"process {process.pid} (") and "time.sleep(60)" in leftover
    finally:
        process.kill()
        process.wait()
    assert left_running(before, allowed_threads=frozenset(), grace=0.1) == []


def test_threads_and_processes_that_existed_before_are_not_leftovers() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert left_running(census(), allowed_threads=frozenset(), grace=0.1) == []
    finally:
        stop.set()
        thread.join()
