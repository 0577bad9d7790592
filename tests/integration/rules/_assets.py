"""Shared helpers of the rule and dashboard tests: where the assets live, promtool, panel queries."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
RULES_DIR = REPO / "collector" / "prometheus" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TESTS_DIR = Path(__file__).resolve().parent
RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*_test.yml"))
DASHBOARD = REPO / "collector" / "grafana" / "dashboards" / "otel-chatbot.json"
RUNBOOK_FILE = REPO / "collector" / "README.md"

# The dashboard's query variables; tests substitute them the way Grafana does ("All" is the regex `.*`).
DASHBOARD_VARIABLES = ("service", "model", "provider", "stage", "variant")
ALL = ".*"

# Panels that need a metric label nobody emits yet (the lead wires it). The stack tests mark them strict xfail: once
# the label exists they XPASS, which fails the run until the entry is removed here.
NEEDS_LABEL: dict[str, str] = {}  # none left: chatbot_cache_hit and chatbot_variant are emitted by both
# Panels that filter on model/provider over spans that do not carry them (none left: the example app's backend_ttfb
# and stream_processing spans carry gen_ai.request.model / gen_ai.provider.name). Strict xfail when listed.
NEEDS_MODEL_ON_BREAKDOWN_SPANS: dict[str, str] = {}


def promtool() -> str:
    """The promtool binary; the test fails (never skips) when it is missing."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found on PATH: install Debian's prometheus package "
            "(apt-get install -y --no-install-recommends prometheus) or run ./scripts/test"
        )
    return path


def run_promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in RULE_FILES:
        groups.extend(load_yaml(path)["groups"])
    return groups


def alert_rules() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rule_groups() for rule in group["rules"] if "alert" in rule}


@dataclass(frozen=True)
class PanelQuery:
    """One target of one dashboard panel."""

    panel: str
    ref_id: str
    expr: str

    @property
    def name(self) -> str:
        return f"{self.panel} [{self.ref_id}]"


def dashboard() -> dict[str, Any]:
    with DASHBOARD.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace Grafana variables (`$name`, `${name}`) by values, as Grafana does before querying Prometheus."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for dashboard variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)


def panel_queries(values: Mapping[str, str]) -> list[PanelQuery]:
    return [
        PanelQuery(panel["title"], target["refId"], substitute(target["expr"], values))
        for panel in panels()
        for target in panel["targets"]
    ]


def variable_values(*, service: str = ALL, **overrides: str) -> dict[str, str]:
    values = dict.fromkeys(DASHBOARD_VARIABLES, ALL)
    values["service"] = service
    values.update(overrides)
    return values


def write_rule_tests_against(rule_files: list[Path], dest: Path) -> list[Path]:
    """Copies of this folder's *_test.yml in `dest` whose rule_files are `rule_files` (for mutated rule copies)."""
    copies = []
    for path in RULE_TEST_FILES:
        data = load_yaml(path)
        data["rule_files"] = [str(p) for p in rule_files]
        copy = dest / path.name
        copy.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        copies.append(copy)
    return copies
