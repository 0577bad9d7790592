"""``Telemetry.mount_ui(app)`` on a real FastAPI app: the page and its data, behind the app's own dependencies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.trace import SpanKind

import otel_chatbot as oc


def require_key(x_key: str | None = Header(default=None)) -> None:
    if x_key != "secret":
        raise HTTPException(status_code=401, detail="no key")


def refuse_all() -> None:
    raise HTTPException(status_code=403, detail="admins only")


def make_app(tel: oc.Telemetry, **options: object) -> FastAPI:
    app = FastAPI()

    @app.get("/chat")
    def chat() -> dict[str, str]:
        with trace.get_tracer("test").start_as_current_span("GET /chat", kind=SpanKind.SERVER):
            with oc.traced_stage("retrieval"):
                pass
        return {"ok": "yes"}

    tel.mount_ui(app, **options)  # type: ignore[arg-type]
    return app


ROUTES = ["/otel-chatbot", "/otel-chatbot/", "/otel-chatbot/api/view", "/otel-chatbot/static/app.js"]


def test_the_view_shows_the_apps_own_requests() -> None:
    tel = oc.configure("ui-bot")
    try:
        client = TestClient(make_app(tel))
        assert client.get("/chat").status_code == 200
        page = client.get("/otel-chatbot/")
        assert page.status_code == 200
        refs = re.findall(r'(?:src|href)="(/[^"]*)"', page.text)
        assert refs and all(r.startswith("/otel-chatbot/static/") for r in refs)
        for ref in refs:
            assert client.get(ref).status_code == 200, ref
        doc = client.get("/otel-chatbot/api/view").json()
        assert doc["source"] == "embedded ui-bot"
        assert [s["stage"] for s in doc["snapshot"]["stages"]] == ["retrieval"]
        assert doc["snapshot"]["requests"]["count"] == 1
        assert doc["budgets"] == []
        assert client.get("/otel-chatbot/static/nope.js").status_code == 404
    finally:
        tel.shutdown()


def test_a_dependency_that_refuses_guards_every_route() -> None:
    tel = oc.configure("ui-bot")
    try:
        client = TestClient(make_app(tel, dependencies=[Depends(refuse_all)]))
        for route in ROUTES:
            response = client.get(route)
            assert response.status_code == 403, route
            assert "uPlot" not in response.text and "snapshot" not in response.text
    finally:
        tel.shutdown()


def test_an_auth_dependency_lets_the_right_caller_in() -> None:
    tel = oc.configure("ui-bot")
    try:
        client = TestClient(make_app(tel, path="/admin/view/", dependencies=[Depends(require_key)]))
        for route in ROUTES:
            route = route.replace("/otel-chatbot", "/admin/view")
            assert client.get(route).status_code == 401, route
            assert client.get(route, headers={"x-key": "secret"}).status_code == 200, route
        assert "/admin/view/static/app.js" in client.get("/admin/view/", headers={"x-key": "secret"}).text
    finally:
        tel.shutdown()


def test_budgets_are_shown_with_their_spend(tmp_path: Path) -> None:
    tel = oc.configure("ui-bot", ledger=f"{tmp_path}/usage.db", budgets=[oc.Budget(limit_usd=5, window="1d")])
    try:
        client = TestClient(make_app(tel))
        (budget,) = client.get("/otel-chatbot/api/view").json()["budgets"]
        assert budget["name"] == "soft $5/1d"
        assert budget["limit_usd"] == 5.0 and budget["spent_usd"] == 0.0
    finally:
        tel.shutdown()


def test_without_embedded_statistics_mount_ui_says_so_at_once() -> None:
    tel = oc.configure("ui-bot", embedded=False)
    try:
        with pytest.raises(oc.ConfigurationError, match="mount_ui\\(\\) needs the embedded statistics"):
            tel.mount_ui(FastAPI())
    finally:
        tel.shutdown()


def test_the_views_own_page_loads_are_not_counted_as_chat_traffic() -> None:
    tel = oc.configure("ui-bot")
    try:
        app = FastAPI()
        tel.mount_ui(app)
        with oc.instrument_fastapi(app, tracer_provider=tel.tracer_provider):
            client = TestClient(app)
            for route in ROUTES:
                assert client.get(route).status_code == 200
            doc = client.get("/otel-chatbot/api/view").json()
    finally:
        tel.shutdown()
    assert doc["snapshot"]["requests"] is None
    assert sum(p["requests"] for p in doc["snapshot"]["history"]) == 0


@pytest.mark.parametrize(
    ("url", "excluded"),
    [
        ("http://127.0.0.1:8000/otel-chatbot", True),
        ("http://127.0.0.1:8000/otel-chatbot/", True),
        ("http://127.0.0.1:8000/otel-chatbot/api/view", True),
        ("http://127.0.0.1:8000/otel-chatbot?x=1", True),
        ("http://127.0.0.1:8000/otel-chatbot-feedback", False),  # a user's own route keeps its server span
        ("http://127.0.0.1:8000/chat", False),
    ],
)
def test_the_view_default_exclusion_matches_only_the_view(url: str, excluded: bool) -> None:
    """The contrib instrumentations re.search each excluded-URL regex in the full URL."""
    from otel_chatbot.telemetry import DEFAULT_EXCLUDED_URLS

    assert any(re.search(pattern, url) for pattern in DEFAULT_EXCLUDED_URLS) is excluded
