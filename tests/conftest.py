from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_chatbot import _losses, _state, env
from otel_chatbot.testing import reset_trace_globals
from tests._leftovers import census, left_running
from tests.integration.stack.fixtures import stack, stack_binaries  # noqa: F401  (ONE real stack per session, for every folder)

_ENV_PREFIXES = ("OTEL_", "OTEL_CHATBOT_")

# Threads that session- or module-scoped fixtures start lazily (inside a test) and stop at their own teardown, by
# exact name. Keep it short: a name here may outlive every test. Fixtures of wider scope that are set up before the test
# (the usual case, e.g. ``stack``) need no entry: their threads and processes exist before the census.
_FIXTURE_THREADS: frozenset[str] = frozenset()
_GRACE_S = 2.0  # how long a thread or child process that is finishing may take to end after its test

# Set once for the whole session, before any fixture runs: app subprocesses and configure() calls of module- and
# session-scoped fixtures (set up before a test's own ``_export_buffer``) buffer here, never in the developer's real
# ``~/.local/state``.
_SESSION_STATE: list[str] = []


# The developer's real export-buffer folder and what it held when the session started: a test whose app subprocess
# loses the variable above (an environment built without OTEL_*) would buffer there and replay into later runs.
_REAL_BUFFERS = (
    Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "otel-chatbot" / "export-buffer"
)
_REAL_BEFORE: set[str] = set()


def _real_buffer_entries() -> set[str]:
    try:
        return set(os.listdir(_REAL_BUFFERS))
    except OSError:
        return set()


def pytest_configure(config: pytest.Config) -> None:
    state = tempfile.mkdtemp(prefix="otel-chatbot-tests-")
    _SESSION_STATE.append(state)
    os.environ[env.OTEL_CHATBOT_EXPORT_BUFFER] = os.path.join(state, "export-buffer")
    _REAL_BEFORE.update(_real_buffer_entries())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """FAIL the run when a test (or an app process it started) buffered into the developer's real state folder."""
    new = sorted(_real_buffer_entries() - _REAL_BEFORE)
    if new:
        print(f"\nFAILED: the tests wrote into the real export-buffer folder {_REAL_BUFFERS}: {', '.join(new)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    for state in _SESSION_STATE:
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OTEL_* variable from the developer's shell leaks into a test (``_export_buffer`` sets its own again)."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _export_buffer(_clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test's OTLP export buffer is a folder of its own (set after ``_clean_env``), so nothing a test leaves on
    disk is replayed by another; tests that start app subprocesses pass the variable on. Loss counts start at 0."""
    monkeypatch.setenv(env.OTEL_CHATBOT_EXPORT_BUFFER, str(tmp_path_factory.mktemp("export-buffer")))
    _losses._TABLE.reset()


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    """FAIL the test that leaves a thread (exporter worker, server, flush) or a child process (a server) running.

    pytest sets up a conftest's autouse fixtures in name order: this one comes before ``_reset_globals``, so it
    checks after every other fixture of the test has been torn down.
    """
    before = census()
    yield
    leftovers = left_running(before, allowed_threads=_FIXTURE_THREADS, grace=_GRACE_S)
    if leftovers:
        pytest.fail(f"the test left running: {', '.join(leftovers)}", pytrace=False)


@pytest.fixture(autouse=True)
def _reset_globals(_clean_env: None) -> Iterator[None]:
    """Each test starts with no configure() state, default settings and no global TracerProvider.

    Reset before the test too, after ``_clean_env``: a reset at teardown runs while the finished test's monkeypatched
    environment is still in force, so the settings it reads from the environment would carry into the next test.
    """
    _state.reset()
    yield
    _state.reset()
    reset_trace_globals()


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """A global SDK TracerProvider recording every span in memory; the globals are reset afterwards."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    reset_trace_globals()
    trace.set_tracer_provider(provider)
    yield provider
    provider.shutdown()
    reset_trace_globals()
