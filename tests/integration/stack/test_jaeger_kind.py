"""Which Jaeger runs, as the stack commands tell it, is what the running Jaeger really serves.

On a machine that could download the release archive this is ``release (UI)`` and Jaeger's page is its UI; offline it
is a source build and the page is Jaeger's placeholder. Either way the record beside the binary, the live page and
``stack status`` must agree, and without the UI the commands point to the web view.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from otel_chatbot import cli
from otel_chatbot.stack import RunningStack
from otel_chatbot.stack._jaeger import PLACEHOLDER_TEXT, jaeger_install, serves_ui
from otel_chatbot.stack._native import STATE_FILE

pytestmark = pytest.mark.stack


def test_the_record_beside_the_binary_matches_what_jaeger_serves(stack: RunningStack) -> None:
    install = jaeger_install(stack.binaries.jaeger)
    with urllib.request.urlopen(stack.jaeger_url + "/", timeout=5) as response:
        page = response.read().decode("utf-8", errors="replace")
    assert (PLACEHOLDER_TEXT not in page) is install.ui
    assert serves_ui(stack.jaeger_url) is install.ui


def test_stack_status_says_which_jaeger_runs(
    stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `status` of the session's stack: its run folder holds pids.json and stack.json
    assert (stack.run_dir / STATE_FILE).is_file()
    assert cli.main(["stack", "status", "--run-dir", str(stack.run_dir)]) == 0
    out = capsys.readouterr().out
    install = jaeger_install(stack.binaries.jaeger)
    assert f"Jaeger binary       {install.describe()}" in out
    web_view = f"otel-chatbot ui --jaeger {stack.jaeger_url} --prometheus {stack.prometheus_url} --service NAME"
    assert web_view in out
    assert ("docker compose -f" in out) is not install.ui
