"""Reading what the servers answer: JSON over HTTP, readiness, Prometheus queries, and polling until data arrives."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def get_json(url: str, params: dict[str, str] | None = None, timeout: float = 10.0) -> Any:
    """GET ``url`` (with query ``params``) and decode the JSON answer."""
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def http_ok(url: str) -> bool | None:
    """True when a GET of ``url`` answers 200; None when it does not (yet): a probe for :func:`eventually`."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return True if response.status == 200 else None
    except OSError:
        return None


def prom_query(prometheus_url: str, query: str) -> list[dict[str, Any]]:
    """Run an instant PromQL query; return ``data.result`` (asserting Prometheus answered ``success``)."""
    answer = get_json(f"{prometheus_url}/api/v1/query", {"query": query})
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def prom_scalar(prometheus_url: str, query: str) -> float | None:
    """The single value of an instant query, or None when it has no (or no finite) sample."""
    result = prom_query(prometheus_url, query)
    if len(result) != 1:
        return None
    value = float(result[0]["value"][1])
    return value if math.isfinite(value) else None


def eventually(probe: Callable[[], T | None], timeout: float = 90.0, interval: float = 0.5) -> T | None:
    """Poll ``probe`` until it returns something other than None (data flows asynchronously between processes).

    Returns the last answer; the caller asserts on it, so a timeout shows up as a failed assertion with the values.
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer is not None or time.monotonic() > deadline:
            return answer
        time.sleep(interval)
