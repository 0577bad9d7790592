"""Where the stack finds its configs and Prometheus, and where it writes: the cache and the XDG state folder only.

No running stack is needed (not marked ``stack``); the wheel-install test checks the same from an installed package.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from otel_chatbot import env
from otel_chatbot.stack import StackError
from otel_chatbot.stack import _build as build
from otel_chatbot.stack import _paths as paths

ROOT = Path(__file__).resolve().parents[3]


def test_a_checkout_runs_the_configs_of_its_collector_folder() -> None:
    # an editable install has no packaged copy: the one copy is collector/
    assert paths.packaged_collector_dir() is None
    assert paths.collector_dir() == ROOT / "collector"


def test_the_required_assets_are_every_file_the_configs_refer_to() -> None:
    folder = paths.collector_dir()
    for name in paths.REQUIRED_ASSETS:
        assert (folder / name).is_file(), name
    rule_globs = yaml.safe_load((folder / "prometheus.yml").read_text())["rule_files"]
    rules = {str(p.relative_to(folder)) for pattern in rule_globs for p in folder.glob(pattern)}
    assert rules and rules <= set(paths.REQUIRED_ASSETS)
    dashboards = {str(p.relative_to(folder)) for p in folder.glob("grafana/dashboards/*.json")}
    assert dashboards and dashboards <= set(paths.REQUIRED_ASSETS)


def test_the_collector_dir_variable_overrides_and_an_incomplete_folder_is_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "collector"
    shutil.copytree(ROOT / "collector", copy)
    monkeypatch.setenv(env.OTEL_CHATBOT_COLLECTOR_DIR, str(copy))
    assert paths.collector_dir() == copy
    (copy / "prometheus/rules/chatbot-alerts.yml").unlink()
    with pytest.raises(StackError) as failed:
        paths.collector_dir()
    message = str(failed.value)
    assert "\n" not in message
    assert "prometheus/rules/chatbot-alerts.yml" in message and f"{env.OTEL_CHATBOT_COLLECTOR_DIR}=" in message


def test_run_state_lives_in_the_xdg_state_folder_unless_a_variable_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    assert paths.default_run_dir() == tmp_path / "home/.local/state/otel-chatbot/stack"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # the XDG spec says: ignore relative paths
    assert paths.default_run_dir() == tmp_path / "home/.local/state/otel-chatbot/stack"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert paths.default_run_dir() == tmp_path / "state/otel-chatbot/stack"
    monkeypatch.setenv(env.OTEL_CHATBOT_STACK_RUN_DIR, str(tmp_path / "run"))
    assert paths.default_run_dir() == tmp_path / "run"


def test_binaries_are_cached_in_the_xdg_cache_folder_unless_a_variable_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert paths.cache_dir() == tmp_path / "home/.cache/otel-chatbot"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert paths.cache_dir() == tmp_path / "cache/otel-chatbot"
    monkeypatch.setenv(env.OTEL_CHATBOT_CACHE, str(tmp_path / "binaries"))
    assert paths.cache_dir() == tmp_path / "binaries"


def test_a_missing_prometheus_is_one_line_naming_the_package_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    (empty / "apt-get").write_text(f"#!/bin/sh\ntouch {tmp_path / 'apt-get-ran'}\n")
    (empty / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(StackError) as failed:
        build.ensure_prometheus(print)
    message = str(failed.value)
    assert "\n" not in message
    assert "apt-get install --no-install-recommends prometheus" in message
    assert f"{env.OTEL_CHATBOT_PROMETHEUS_BINARY}=/path/to/prometheus" in message
    assert not (tmp_path / "apt-get-ran").exists()  # library code only names the fix; the scripts install


def test_the_prometheus_binary_variable_finds_prometheus_and_promtool_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "prometheus-2.42"
    folder.mkdir()
    for name in ("prometheus", "promtool"):
        installed = shutil.which(name)
        assert installed, f"{name} not on PATH: scripts/_embedded_install.sh installs it for the tests"
        (folder / name).symlink_to(installed)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    monkeypatch.setenv(env.OTEL_CHATBOT_PROMETHEUS_BINARY, str(folder / "prometheus"))
    logged: list[str] = []
    assert build.ensure_prometheus(logged.append) == (folder / "prometheus", folder / "promtool")
    assert not logged  # the tested release: no version warning
    monkeypatch.setenv(env.OTEL_CHATBOT_PROMETHEUS_BINARY, str(tmp_path / "missing"))
    with pytest.raises(StackError, match=re.escape(f"{env.OTEL_CHATBOT_PROMETHEUS_BINARY}=")):
        build.ensure_prometheus(logged.append)
