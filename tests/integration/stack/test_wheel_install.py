"""The native stack from an installed package: build the sdist and wheel, install the wheel into a new virtualenv
outside the checkout, and run ``otel-chatbot stack up``, a span, Jaeger, ``stack down`` from an empty folder.

The wheel carries the configs as package data (``otel_chatbot/stack/_assets/``), byte for byte the repository's
``collector/``, and nothing .gitignore'd. Building and installing take about a minute (PyPI, or pip's cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from otel_chatbot import env
from otel_chatbot.stack import Binaries, StackPorts
from otel_chatbot.stack import _runner as runner
from tests._http import eventually, get_json

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[3]
ASSETS = "otel_chatbot/stack/_assets/"
JUNK = ("collector/_build/otelcol-chatbot", "collector/__pycache__/junk.cpython-311.pyc", ".run/stack/pids.json")
"""Ignored files planted in the source tree: none may reach the sdist or the wheel."""

SEND_SPAN = """
import json, sys
from opentelemetry import trace
import otel_chatbot as oc

endpoint, service = sys.argv[1:3]
tel = oc.configure(service, endpoint=endpoint, embedded=False)

@oc.traced_stage("retrieval", data_source="wheel-install-test")
def retrieve(question):
    return format(trace.get_current_span().get_span_context().trace_id, "032x")

trace_id = retrieve("does the installed package work?")
json.dump({"trace_id": trace_id, "flushed": tel.force_flush(timeout=10) and tel.shutdown(timeout=10),
           "module": oc.__file__}, sys.stdout)
"""


def _run(argv: list[str | Path], *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 600) -> str:
    """Run one step; any failure fails the test with the step's output."""
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(map(str, argv))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _tracked_collector_files() -> list[str]:
    listed = _run(["git", "ls-files", "-z", "collector"], cwd=ROOT)
    return sorted(name for name in listed.split("\0") if name and (ROOT / name).is_file())


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build`` (sdist, then the wheel from the sdist) of the checkout's files plus ignored junk."""
    work = tmp_path_factory.mktemp("dist")
    source = work / "source"
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    for name in JUNK:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("junk: .gitignore'd, never packaged\n")
    builder = work / "build-venv"
    _run([sys.executable, "-m", "venv", builder], cwd=work)
    _run([builder / "bin/python", "-m", "pip", "install", "-q", "build"], cwd=work)
    _run([builder / "bin/python", "-m", "build", "--outdir", work / "dist", source], cwd=work)
    return work / "dist"


def _ignored(name: str) -> bool:
    return "/_build/" in name or "__pycache__" in name or name.endswith(".pyc") or name.startswith(".run/")


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("otel_chatbot-*.whl")
    return wheel


def test_the_wheel_ships_collector_byte_for_byte_and_no_ignored_file(dist: Path) -> None:
    tracked = _tracked_collector_files()
    assert "collector/manifest.yaml" in tracked and "collector/prometheus/rules/chatbot-alerts.yml" in tracked
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = wheel.namelist()
        shipped = sorted(name[len(ASSETS) :] for name in names if name.startswith(ASSETS))
        assert shipped == [name.removeprefix("collector/") for name in tracked]
        for name in tracked:
            assert wheel.read(ASSETS + name.removeprefix("collector/")) == (ROOT / name).read_bytes(), name
    assert not [n for n in names if _ignored(n)]
    assert not [n for n in names if n.startswith("collector/")]  # one copy: the package's, not a second top level


def test_the_sdist_carries_collector_and_no_ignored_file(dist: Path) -> None:
    (sdist,) = dist.glob("otel_chatbot-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if m.isfile()}
        for name in _tracked_collector_files():
            extracted = archive.extractfile(members[name])
            assert extracted is not None and extracted.read() == (ROOT / name).read_bytes(), name
    assert not [n for n in members if _ignored(n)]
    assert not set(JUNK) & set(members)


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv outside the checkout with the wheel and its dependencies (and the otlp extra) installed."""
    folder = tmp_path_factory.mktemp("wheel-venv") / "venv"
    assert not folder.is_relative_to(ROOT)
    _run([sys.executable, "-m", "venv", folder], cwd=folder.parent)
    _run([folder / "bin/python", "-m", "pip", "install", "-q", f"{_wheel(dist)}[otlp]"], cwd=folder.parent)
    return folder


def _user_env(venv: Path, state: Path, cache: Path, ports: StackPorts) -> dict[str, str]:
    """A shell of a user of the installed package: no checkout on any path, no OTEL_* or virtualenv of ours."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON", "VIRTUAL_ENV", "XDG_"))}
    path = [p for p in os.environ["PATH"].split(os.pathsep) if p and not Path(p).resolve().is_relative_to(ROOT)]
    return {
        **inherited,
        "PATH": os.pathsep.join([str(venv / "bin"), *path]),
        "XDG_STATE_HOME": str(state),
        env.OTEL_CHATBOT_CACHE: str(cache),  # the binaries built for this machine: nothing is rebuilt
        **ports.environ(),
    }


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts}


def test_stack_up_span_in_jaeger_down_from_an_installed_package(
    venv: Path, stack_binaries: Binaries, tmp_path: Path
) -> None:
    user_folder = tmp_path / "somewhere"  # an empty folder outside the checkout
    user_folder.mkdir()
    state = tmp_path / "state"
    ports = StackPorts.free()
    user_env = _user_env(venv, state, stack_binaries.collector.parents[2], ports)
    cli = venv / "bin/otel-chatbot"
    (package,) = venv.glob("lib/python*/site-packages/otel_chatbot")
    package_files = _files(package)
    run_dir = state / "otel-chatbot" / "stack"  # ${XDG_STATE_HOME}/otel-chatbot/stack

    try:
        up = _run([cli, "stack", "up"], cwd=user_folder, env=user_env, timeout=180)
        assert f"logs and pids in {run_dir}" in up, up
        assert f"configs             {package / 'stack/_assets'}" in up, up  # the package's copy, not the checkout's
        assert "building" not in up and "installing" not in up, up
        records = runner.read_records(run_dir)
        assert [r.name for r in records] == ["jaeger", "prometheus", "otelcol"]
        assert all(r.alive() for r in records)

        script = tmp_path / "send_span.py"
        script.write_text(SEND_SPAN)
        endpoint = f"http://{ports.collector_otlp_grpc}"
        sent: dict[str, Any] = json.loads(
            _run([venv / "bin/python", script, endpoint, "wheel-install"], cwd=user_folder, env=user_env, timeout=60)
        )
        assert sent["flushed"], sent
        assert Path(sent["module"]).is_relative_to(package), sent  # the installed package, not the checkout

        def found() -> list[dict[str, Any]] | None:
            answer = get_json(
                f"http://{ports.jaeger_query_http}/api/traces", {"service": "wheel-install", "limit": "20"}
            )
            return [t for t in answer["data"] or [] if t["traceID"] == sent["trace_id"]] or None

        traces = eventually(found, timeout=60)
        assert traces, f"trace {sent['trace_id']} not in Jaeger; see the logs in {run_dir}"
        (span,) = traces[0]["spans"]
        assert {tag["key"]: tag["value"] for tag in span["tags"]}["chatbot.stage"] == "retrieval", span
        assert traces[0]["processes"][span["processID"]]["serviceName"] == "wheel-install"

        status = _run([cli, "stack", "status"], cwd=user_folder, env=user_env, timeout=60)
        assert status.count("healthy") == 3, status
    finally:
        down = subprocess.run(
            [cli, "stack", "down"], cwd=user_folder, env=user_env, capture_output=True, text=True, timeout=60
        )
        leftover = [r.name for r in runner.read_records(run_dir) if r.alive()]
        runner.stop(run_dir)  # never leave processes behind, even when `down` misbehaved
    assert down.returncode == 0 and "stopped jaeger, prometheus, otelcol" in down.stdout, down
    assert not leftover and not any(r.alive() for r in records)
    assert (run_dir / "otelcol.log").is_file() and (run_dir / "prometheus-data").is_dir()
    assert not list(user_folder.iterdir())  # nothing written into the folder the user ran from
    assert _files(package) == package_files  # nothing written into site-packages (no Go build there)
