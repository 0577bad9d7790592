"""Run tests/integration/rules/_drive_chatbot.py (the example chatbot under chat traffic) in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.integration.rules._assets import REPO

# The SDK's batch span processor exports every 5 s by default; export often so that the counters grow across
# several Prometheus scrapes while the traffic runs (a rate needs an increase between two samples).
_DRIVER_ENV = {"OTEL_BSP_SCHEDULE_DELAY": "200"}


def unique_service(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def driver_command(service: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "tests.integration.rules._drive_chatbot", "--service", service, *args]


def driver_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") or k == "OTEL_CHATBOT_EXPORT_BUFFER"}
    return {**env, **_DRIVER_ENV}


def start_driver(service: str, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        driver_command(service, *args),
        cwd=REPO,
        env=driver_env(),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120.0) -> str:
    """Wait for a driver; assert it succeeded; return its stdout."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"chat traffic driver timed out after {timeout} s:\n{err[-3000:]}") from None
    assert process.returncode == 0, f"chat traffic driver failed ({process.returncode}):\n{err[-3000:]}"
    return out


@contextmanager
def traffic(service: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """Chat traffic in waves until the block ends (``--waves 0``): poll for what you need inside the block."""
    process = start_driver(service, "--waves", "0", *args, stdin=subprocess.PIPE)
    try:
        yield process
    finally:
        finish(process)  # closes the driver's stdin: it ends the current wave, flushes and exits
