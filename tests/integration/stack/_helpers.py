"""Helpers for the stack tests: HTTP JSON, PromQL, polling, and running the test chatbot app in its own process."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from otel_chatbot.stack import RunningStack

T = TypeVar("T")
APP = Path(__file__).with_name("_chatbot_app.py")


def get_json(url: str, params: dict[str, str] | None = None, timeout: float = 10.0) -> Any:
    """GET ``url`` (with query ``params``) and decode the JSON answer."""
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def prom_query(stack: RunningStack, query: str) -> list[dict[str, Any]]:
    """Run an instant PromQL query; return ``data.result`` (asserting Prometheus answered ``success``)."""
    answer = get_json(f"{stack.prometheus_url}/api/v1/query", {"query": query})
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def prom_scalar(stack: RunningStack, query: str) -> float | None:
    """The single value of an instant query, or None when it has no (or no finite) sample."""
    result = prom_query(stack, query)
    if len(result) != 1:
        return None
    value = float(result[0]["value"][1])
    return value if math.isfinite(value) else None


def eventually(probe: Callable[[], T | None], timeout: float = 90.0, interval: float = 0.5) -> T | None:
    """Poll ``probe`` until it returns something other than None (data flows asynchronously through the stack).

    Returns the last answer; the caller asserts on it, so a timeout shows up as a failed assertion with the values.
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer is not None or time.monotonic() > deadline:
            return answer
        time.sleep(interval)


def run_app(endpoint: str, service: str, requests: int) -> dict[str, Any]:
    """Run ``_chatbot_app.py`` in its own process against ``endpoint``; return what it reports it sent."""
    done = subprocess.run(
        [sys.executable, str(APP), "--service", service, "--endpoint", endpoint, "--requests", str(requests)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sent: dict[str, Any] = json.loads(done.stdout)
    assert sent["flushed"], done.stderr
    return sent


def jaeger_traces(stack: RunningStack, service: str, limit: int = 1000) -> list[dict[str, Any]]:
    """All traces Jaeger's query API returns for ``service`` (``/api/traces``)."""
    answer = get_json(f"{stack.jaeger_url}/api/traces", {"service": service, "limit": str(limit)})
    traces: list[dict[str, Any]] = answer["data"] or []
    return traces
