"""``otel-chatbot ui``'s stdlib server over real HTTP: the page, its assets, /api/view per request, 404, errors."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError

import pytest

from otel_chatbot.stats._snapshot import StatsSnapshot
from otel_chatbot.ui._assets import ASSETS, asset
from otel_chatbot.ui._server import UIServer, ViewError
from otel_chatbot.ui._view import view_document


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


@pytest.fixture
def served() -> Iterator[tuple[UIServer, list[int]]]:
    calls: list[int] = []

    def view() -> dict[str, Any]:
        calls.append(1)
        return view_document(StatsSnapshot(service_name=f"bot-{len(calls)}", generated_at=1.0), source="test")

    server = UIServer.start("127.0.0.1", 0, view=view)
    try:
        yield server, calls
    finally:
        server.close()


def test_the_page_loads_its_assets_from_the_server(served: tuple[UIServer, list[int]]) -> None:
    server, _ = served
    assert server.url == f"http://127.0.0.1:{server.port}/"
    status, ctype, body = get(server.url)
    page = body.decode()
    assert status == 200 and ctype.startswith("text/html")
    assert '<main id="page"' in page
    assert re.findall(r'<a data-nav="(\w+)"', page) == [
        "overview",
        "stages",
        "cost",
        "variants",
        "traces",
        "conversations",
        "recommendations",
    ]
    refs = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert sorted(refs) == sorted(
        ["/static/vendor/uPlot.min.css", "/static/app.css", "/static/vendor/uPlot.iife.min.js", "/static/app.js"]
    )
    for ref in refs:
        status, ctype, body = get(server.url.rstrip("/") + ref)
        assert status == 200, ref
        assert body == asset(ref.removeprefix("/static/"))
        assert ctype.startswith("text/javascript" if ref.endswith(".js") else "text/css")


def test_api_view_is_built_on_each_request(served: tuple[UIServer, list[int]]) -> None:
    server, calls = served
    first = json.loads(get(server.url + "api/view")[2])
    second = json.loads(get(server.url + "api/view?x=1")[2])
    assert first["snapshot"]["service_name"] == "bot-1"
    assert second["snapshot"]["service_name"] == "bot-2"
    assert len(calls) == 2


@pytest.mark.parametrize("path", ["nope", "static/", "static/../_server.py", "static/index.html", "api/view/x"])
def test_anything_else_is_404(served: tuple[UIServer, list[int]], path: str) -> None:
    server, _ = served
    status, _, body = get(server.url + path)
    assert status == 404
    assert b"not found" in body


def test_a_source_that_cannot_be_read_answers_502_with_its_words() -> None:
    def view() -> dict[str, Any]:
        raise ViewError("cannot reach the app at http://127.0.0.1:1 (Connection refused)")

    server = UIServer.start("127.0.0.1", 0, view=view)
    try:
        status, ctype, body = get(server.url + "api/view")
    finally:
        server.close()
    assert status == 502 and ctype == "application/json"
    assert json.loads(body) == {"error": "cannot reach the app at http://127.0.0.1:1 (Connection refused)"}


def test_every_served_asset_exists_in_the_package() -> None:
    for name in ASSETS:
        assert asset(name), name


@pytest.mark.parametrize(
    ("host", "status"),
    [("localhost:{port}", 200), ("127.0.0.1:{port}", 200), ("LOCALHOST", 200), ("rebound.example:{port}", 403)],
)
def test_a_loopback_server_answers_only_loopback_host_names(
    served: tuple[UIServer, list[int]], host: str, status: int
) -> None:
    """DNS rebinding: a page on rebound.example (now resolving to 127.0.0.1) must not read the view's data."""
    server, calls = served
    before = len(calls)
    request = urllib.request.Request(f"{server.url}api/view", headers={"Host": host.format(port=server.port)})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            got = answer.status
    except HTTPError as exc:
        got = exc.code
    assert got == status
    assert len(calls) == before + (status == 200)  # a refused request never builds the view
