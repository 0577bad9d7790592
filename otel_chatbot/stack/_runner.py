"""Start processes on loopback, wait until they are healthy, and stop exactly the processes we started.

Every started process is recorded in ``<run dir>/pids.json`` with its pid and its kernel start time, so ``stop``
never signals a process that merely reuses one of our pids. Logs go to ``<run dir>/<name>.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from otel_chatbot.stack._errors import StackError

PIDS_FILE = "pids.json"


@dataclasses.dataclass(frozen=True)
class ProcessSpec:
    """One process to start: its name (log file, messages), argv, extra environment and health URL."""

    name: str
    argv: Sequence[str]
    health_url: str
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ProcessRecord:
    """A started process: enough to find it again and to tell it from a later process with the same pid."""

    name: str
    pid: int
    start_ticks: int
    health_url: str
    log: str

    def alive(self) -> bool:
        """True while the recorded process (same pid AND same start time) still runs and is not a zombie."""
        stat = _proc_stat(self.pid)
        return stat is not None and stat[1] == self.start_ticks and stat[0] != "Z"


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a pid, from /proc; None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may contain spaces and parentheses
    return fields[0], int(fields[19])


def proc_start_ticks(pid: int) -> int | None:
    """The kernel start time of a pid (clock ticks since boot), or None when there is no such process."""
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def read_records(run_dir: Path) -> list[ProcessRecord]:
    """The processes recorded in a run folder (empty when none)."""
    path = run_dir / PIDS_FILE
    if not path.is_file():
        return []
    try:
        return [ProcessRecord(**item) for item in json.loads(path.read_text())]
    except (ValueError, TypeError) as exc:  # not JSON, or not our records
        raise corrupt_state(path, exc) from None


def corrupt_state(path: Path, exc: BaseException) -> StackError:
    """A run-folder file that `otel-chatbot stack` cannot read: one line naming it and the way out."""
    return StackError(
        f"{path} is not a record that `otel-chatbot stack up` wrote ({type(exc).__name__}: {exc}); stop any "
        "otelcol, jaeger or prometheus it started (ps -ef | grep -E 'otelcol|jaeger|prometheus'), then delete it"
    )


def _write_records(run_dir: Path, records: Sequence[ProcessRecord]) -> None:
    tmp = run_dir / (PIDS_FILE + ".tmp")
    tmp.write_text(json.dumps([dataclasses.asdict(r) for r in records], indent=2))
    tmp.replace(run_dir / PIDS_FILE)


def start(spec: ProcessSpec, run_dir: Path) -> ProcessRecord:
    """Start ``spec`` in its own session (it outlives the command that started it) and record it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / f"{spec.name}.log"
    with log_path.open("ab") as log:
        try:
            proc = subprocess.Popen(
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **spec.env},
                cwd=run_dir,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(
                f"cannot start {spec.name} ({spec.argv[0]}): {exc}; run `otel-chatbot stack build`"
            ) from None
    stat = _proc_stat(proc.pid)
    record = ProcessRecord(
        name=spec.name, pid=proc.pid, start_ticks=stat[1] if stat else -1, health_url=spec.health_url, log=str(log_path)
    )
    _write_records(run_dir, [*read_records(run_dir), record])
    # The Popen object is dropped on purpose: the process belongs to the run folder now, not to this interpreter.
    proc.returncode = 0  # keeps Popen.__del__ from warning about a still-running child
    return record


def healthy(record: ProcessRecord, timeout: float = 2.0) -> bool:
    """True when the process answers its health URL with HTTP 200."""
    try:
        with urllib.request.urlopen(record.health_url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(records: Sequence[ProcessRecord], timeout: float = 90.0) -> None:
    """Wait until every process is healthy; a process that exits or stays unhealthy is one clear error line."""
    deadline = time.monotonic() + timeout
    pending = list(records)
    while pending:
        for record in list(pending):
            if not record.alive():
                raise StackError(f"{record.name} exited while starting: {_tail(record.log)} (log: {record.log})")
            if healthy(record):
                pending.remove(record)
        if pending and time.monotonic() > deadline:
            names = ", ".join(f"{r.name} ({r.health_url})" for r in pending)
            raise StackError(
                f"not healthy after {timeout:.0f}s: {names}; see the logs in {Path(pending[0].log).parent}"
            )
        if pending:
            time.sleep(0.2)


def _tail(log: str) -> str:
    try:
        lines = [ln.strip() for ln in Path(log).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    errors = [ln for ln in lines if "error" in ln.lower()]
    return ((errors or lines or ["no output"])[-1])[:400]


def stop(run_dir: Path, names: Sequence[str] | None = None, timeout: float = 15.0) -> list[str]:
    """Stop the recorded processes (all, or those named), SIGTERM then SIGKILL; return the names stopped."""
    records = read_records(run_dir)
    chosen = [r for r in records if names is None or r.name in names]
    for record in chosen:
        if record.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for record in chosen:
        while record.alive() and time.monotonic() < deadline:
            _reap(record.pid)
            time.sleep(0.05)
        if record.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
        _reap(record.pid)
    remaining = [r for r in records if r not in chosen]
    if remaining:
        _write_records(run_dir, remaining)
    else:
        (run_dir / PIDS_FILE).unlink(missing_ok=True)
    return [r.name for r in chosen]


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (tests start the stack in-process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
