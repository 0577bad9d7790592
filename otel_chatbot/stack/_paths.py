"""Where the native stack's files live: its configs (package data), the binary cache, and the run folder.

* Configs: ``$OTEL_CHATBOT_COLLECTOR_DIR``, else the copy shipped in the package (``otel_chatbot/stack/_assets/``,
  mapped from the repository's ``collector/`` at build time), else ``collector/`` of the checkout this package runs
  from (an editable install has no ``_assets``).
* Cache (binaries and their Go builds): ``$OTEL_CHATBOT_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/otel-chatbot``.
* Run folder (pids, logs, rendered Prometheus config and data): ``$OTEL_CHATBOT_STACK_RUN_DIR``, else
  ``${XDG_STATE_HOME:-~/.local/state}/otel-chatbot/stack``.

The stack writes only into the cache and the run folder, never into the package or the current folder.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from otel_chatbot import env
from otel_chatbot.stack._errors import StackError

APP_NAME = "otel-chatbot"
ASSETS_FOLDER = "_assets"
REQUIRED_ASSETS = (
    "manifest.yaml",
    "otelcol.yaml",
    "otelcol-agent.yaml",
    "otelcol-gateway.yaml",
    "jaeger.yaml",
    "prometheus.yml",
    "prometheus/rules/chatbot-alerts.yml",
    "prometheus/rules/chatbot-recording.yml",
    "grafana/dashboards/otel-chatbot.json",
)
"""Every file the stack and its users need, relative to the configs folder."""


def _xdg_base(variable: str, default: str) -> Path:
    """An XDG base folder: the variable when it is an absolute path (the spec ignores relative ones), else default."""
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else Path.home() / default


def cache_dir() -> Path:
    """The binary cache folder (outside any checkout or virtualenv, shared by all of them on the machine)."""
    explicit = os.environ.get(env.OTEL_CHATBOT_CACHE)
    if explicit:
        return Path(explicit).expanduser()
    return _xdg_base("XDG_CACHE_HOME", ".cache") / APP_NAME


def default_run_dir() -> Path:
    """``$OTEL_CHATBOT_STACK_RUN_DIR``, else ``stack`` in the XDG state folder of otel-chatbot."""
    explicit = os.environ.get(env.OTEL_CHATBOT_STACK_RUN_DIR)
    if explicit:
        return Path(explicit).expanduser()
    return _xdg_base("XDG_STATE_HOME", ".local/state") / APP_NAME / "stack"


def packaged_collector_dir() -> Path | None:
    """The configs shipped in an installed package, or None (editable install, or a package not on disk)."""
    folder = importlib.resources.files("otel_chatbot.stack") / ASSETS_FOLDER
    # The processes read the configs by path, so only a package unpacked on disk (what pip installs) will do.
    if isinstance(folder, Path) and folder.is_dir():
        return folder
    return None


def checkout_collector_dir() -> Path:
    """``collector/`` of the repository checkout this package would run from in an editable install."""
    return Path(__file__).resolve().parents[2] / "collector"


def collector_dir() -> Path:
    """The folder holding the stack's configs, rules and dashboard (every file of :data:`REQUIRED_ASSETS`).

    Raises:
        StackError: No complete configs folder was found; the message names what is missing and the fix.
    """
    explicit = os.environ.get(env.OTEL_CHATBOT_COLLECTOR_DIR)
    if explicit:
        folder = Path(explicit).expanduser()
        where = f"{env.OTEL_CHATBOT_COLLECTOR_DIR}={explicit}"
    else:
        folder = packaged_collector_dir() or checkout_collector_dir()
        where = str(folder)
    missing = [name for name in REQUIRED_ASSETS if not (folder / name).is_file()]
    if missing:
        variable = env.OTEL_CHATBOT_COLLECTOR_DIR
        fix = (
            f"point {variable} at a copy of the repository's collector/ folder"
            if explicit
            else f"reinstall otel-chatbot (its wheel ships them) or set {variable}=/path/to/collector"
        )
        lack = "no stack configs" if len(missing) == len(REQUIRED_ASSETS) else f"lacks {', '.join(missing)}"
        raise StackError(f"{where}: {lack}; {fix}")
    return folder
