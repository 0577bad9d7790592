"""A stack build tells what it does while it runs: a line every few seconds, and a wait for another build.

Real processes throughout: the build step is a Python child process, the other build is another process holding the
cache's lock (``fcntl.flock``), and ``otel-chatbot stack build`` runs against a cache with every binary in place.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from otel_chatbot import cli, env
from otel_chatbot.stack import StackError
from otel_chatbot.stack import _build as build
from otel_chatbot.stack import _steps as steps
from otel_chatbot.stack import _versions as versions
from otel_chatbot.stack._paths import collector_dir

HOLD_LOCK = """
import select, sys
from otel_chatbot.stack import _steps as steps
with steps.build_lock(print):
    print("locked", flush=True)
    select.select([sys.stdin], [], [], 60)  # until the test closes our stdin (at most a minute)
"""


@pytest.fixture
def fast_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "PROGRESS_INTERVAL_S", 0.2)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(env.OTEL_CHATBOT_CACHE, str(folder))
    return folder


def _hold_lock() -> subprocess.Popen[str]:
    """Another process holding the cache's build lock (the environment names the same cache) until :func:`_release`.

    Released on what the waiter logs, never after a fixed time: on a busy machine a fixed time could run out before
    the waiter even asked for the lock.
    """
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert other.stdout is not None and other.stdout.readline() == "locked\n"
    return other


def _release(other: subprocess.Popen[str]) -> None:
    assert other.stdin is not None
    if not other.stdin.closed:
        other.stdin.close()


def _done(other: subprocess.Popen[str]) -> None:
    _release(other)
    other.wait(timeout=10)
    assert other.stdout is not None
    other.stdout.close()


@pytest.fixture
def other_build(cache: Path) -> Iterator[subprocess.Popen[str]]:
    other = _hold_lock()
    yield other
    _done(other)


def test_a_running_step_logs_progress_with_its_log_path(tmp_path: Path, fast_progress: None) -> None:
    logged: list[str] = []
    log_file = tmp_path / "build.log"
    steps.run_step(
        [sys.executable, "-c", "import time; print('go: downloading example.com/m v1'); time.sleep(0.9)"],
        log_file=log_file,
        cwd=tmp_path,
        env={},
        what="the example build",
        log=logged.append,
    )
    assert len(logged) >= 3  # 0.9 s at one line per 0.2 s
    assert all(line.startswith("  ... the example build: ") and f"so far (log {log_file})" in line for line in logged)
    assert "go: downloading example.com/m v1" in log_file.read_text()


def test_a_failed_step_is_one_line_with_the_error_and_the_log(tmp_path: Path) -> None:
    log_file = tmp_path / "build.log"
    with pytest.raises(StackError) as raised:
        steps.run_step(
            [sys.executable, "-c", "print('compiling'); print('error: undefined: foo'); raise SystemExit(3)"],
            log_file=log_file,
            cwd=tmp_path,
            env={},
            what="go build of Jaeger",
            log=print,
        )
    assert str(raised.value) == f"go build of Jaeger failed (exit 3): error: undefined: foo; full log: {log_file}"


def test_waiting_for_another_build_is_said_with_its_pid_and_progress(
    other_build: subprocess.Popen[str], fast_progress: None
) -> None:
    logged: list[str] = []

    def log(line: str) -> None:
        logged.append(line)
        if line.startswith("  ... still waiting"):
            _release(other_build)  # the other build finishes once the wait has been said, with progress

    with steps.build_lock(log):
        assert other_build.wait(timeout=10) == 0  # the lock came only once the other build was done with it
    assert logged[0].startswith(f"waiting for another build of the stack to finish (pid {other_build.pid}: ")
    assert any(line.startswith("  ... still waiting for the other build: ") for line in logged[1:-1])
    assert logged[-1].startswith("the other build finished after ")


def test_stack_build_says_it_waits_for_another_build(
    cache: Path,
    tmp_path: Path,
    fast_progress: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for binary in (  # everything built before: the command only waits for the lock, then reuses
        build.collector_binary_path(collector_dir() / "manifest.yaml"),
        cache / "jaeger" / versions.JAEGER_FALLBACK_VERSION / "jaeger",
    ):
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_text("#!/bin/sh\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("prometheus", "promtool"):
        (bin_dir / name).write_text(f"#!/bin/sh\necho '{name}, version {versions.PROMETHEUS_VERSION}+ds'\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv(env.OTEL_CHATBOT_PROMETHEUS_BINARY, str(bin_dir / "prometheus"))
    monkeypatch.setenv(env.OTEL_CHATBOT_JAEGER_RELEASE_URL, "off")
    other = _hold_lock()
    build_lock = steps.build_lock

    def released_once_waiting(log: steps.Log) -> AbstractContextManager[None]:
        def relay(line: str) -> None:
            log(line)
            if line.startswith("waiting for another build"):
                _release(other)

        return build_lock(relay)

    monkeypatch.setattr(steps, "build_lock", released_once_waiting)

    assert cli.main(["stack", "build"]) == 0
    _done(other)

    out, err = capsys.readouterr()
    assert f"waiting for another build of the stack to finish (pid {other.pid}: " in err
    assert "the other build finished after" in err
    assert "release archive (with UI) not installed" in err and "using the cached source build (no UI)" in err
    assert f"Jaeger {versions.JAEGER_FALLBACK_RELEASE} (" in out and "source build (no UI)" in out
