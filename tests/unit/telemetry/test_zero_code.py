"""The zero-code pieces that need no process of their own: budgets from the environment, the side port, the distro.

The whole path (``opentelemetry-instrument`` running our distro and configurator in a real process) is tested in
tests/integration/zerocode/.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from importlib.metadata import entry_points
from typing import Any

import pytest

from otel_chatbot import env
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.spend import Budget
from otel_chatbot.stats._exposition import CONTENT_TYPE
from otel_chatbot.stats._server import MetricsServer
from otel_chatbot.telemetry import _distro, _zero_code
from otel_chatbot.telemetry._instrumentation import SANITIZED_HEADERS, _async_scrub_url, _scrub_url, scrub_server_span


def test_budgets_from_the_environment_format() -> None:
    assert _zero_code.parse_budgets("50/1d, 5/1d/tenant/hard ,0.25/1h/user") == (
        Budget(limit_usd=50, window="1d"),
        Budget(limit_usd=5, window="1d", per="tenant", hard=True),
        Budget(limit_usd=0.25, window="1h", per="user"),
    )
    assert _zero_code.parse_budgets("2/30d/hard/user") == (Budget(limit_usd=2, window="30d", per="user", hard=True),)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("50", "a limit and a window are required"),
        ("$50/1d", "the limit '$50' is not a number of USD"),
        ("50/1 day", "Budget window"),
        ("50/1d/tenat", "unexpected 'tenat'"),
        ("50/1d/tenant/user", "unexpected 'user'"),
        ("50/1d/hard/hard", "unexpected 'hard'"),
        ("50/1d,,5/1d", "an empty budget"),
        ("0/1d", "limit_usd must be > 0"),
    ],
)
def test_an_invalid_budget_names_the_variable_and_the_format(text: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _zero_code.parse_budgets(text)
    message = str(raised.value)
    assert message.startswith(f"OTEL_CHATBOT_BUDGETS={text!r}: ")
    assert why in message
    assert "LIMIT_USD/WINDOW[/tenant|/user][/hard]" in message


@pytest.mark.parametrize("raw", ["0", "65536", "http", "-1"])
def test_an_invalid_metrics_port_is_a_configuration_error(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.OTEL_CHATBOT_METRICS_PORT, raw)
    with pytest.raises(ConfigurationError, match="OTEL_CHATBOT_METRICS_PORT"):
        env.metrics_port(strict=True)


def test_metrics_port_host_and_report_file_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (env.metrics_port(strict=True), env.metrics_host(), env.report_file(), env.budgets_spec()) == (
        None,
        "127.0.0.1",
        None,
        None,
    )
    monkeypatch.setenv(env.OTEL_CHATBOT_METRICS_PORT, "9464")
    monkeypatch.setenv(env.OTEL_CHATBOT_REPORT_FILE, "/tmp/report-{pid}.json")
    assert env.metrics_port(strict=True) == 9464
    assert env.report_file() == f"/tmp/report-{os.getpid()}.json"


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_the_side_port_serves_prometheus_text_and_latency_json() -> None:
    calls: list[str] = []

    def prometheus() -> str:
        calls.append("prometheus")
        return "chatbot_cost_usd_total 1.5\n"

    def latency() -> dict[str, Any]:
        calls.append("latency")
        return {"generation": {"count": 2}}

    server = MetricsServer.start("127.0.0.1", 0, latency=latency, prometheus=prometheus)
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert _get(f"{base}/metrics") == (200, CONTENT_TYPE, b"chatbot_cost_usd_total 1.5\n")
        status, content_type, body = _get(f"{base}/metrics/latency?x=1")
        assert (status, content_type, json.loads(body)) == (200, "application/json", {"generation": {"count": 2}})
        assert _get(f"{base}/chat")[0] == 404
        assert calls == ["prometheus", "latency"]  # rendered per scrape, never cached
    finally:
        server.close()


def test_a_rendering_error_is_a_500_and_the_server_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> str:
        raise RuntimeError("boom")

    server = MetricsServer.start("127.0.0.1", 0, latency=dict, prometheus=broken)
    try:
        assert _get(f"http://127.0.0.1:{server.port}/metrics")[0] == 500
        assert _get(f"http://127.0.0.1:{server.port}/metrics/latency")[:2] == (200, "application/json")
    finally:
        server.close()
    assert "internal error in otel_chatbot" in caplog.text


def test_a_port_in_use_is_one_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    taken = MetricsServer.start("127.0.0.1", 0, latency=dict, prometheus=str)
    try:
        assert _zero_code._serve_metrics(object(), "127.0.0.1", taken.port) is None  # type: ignore[arg-type]
    finally:
        taken.close()
    assert f"OTEL_CHATBOT_METRICS_PORT={taken.port}: cannot listen" in caplog.text


def test_the_entry_points_are_registered_under_one_name() -> None:
    (distro,) = entry_points(group="opentelemetry_distro", name="otel_chatbot")
    (configurator,) = entry_points(group="opentelemetry_configurator", name="otel_chatbot")
    assert distro.load() is _distro.OtelChatbotDistro
    assert configurator.load() is _distro.OtelChatbotConfigurator
    assert _zero_code.ENTRY_POINT == "otel_chatbot"


def test_the_distro_sets_defaults_without_overriding_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (env.OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS, env.OTEL_PYTHON_CONFIGURATOR):
        monkeypatch.setenv(name, "")  # recorded as unset: restored (removed) after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv(env.OTEL_PYTHON_FASTAPI_EXCLUDED_URLS, "/mine")
    _distro.OtelChatbotDistro().configure()
    assert os.environ[env.OTEL_PYTHON_FASTAPI_EXCLUDED_URLS] == "/mine"
    assert os.environ[env.OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS] == ",".join(SANITIZED_HEADERS)
    assert os.environ[env.OTEL_PYTHON_CONFIGURATOR] == "otel_chatbot"


def test_the_distro_adds_our_sanitized_headers_to_the_users(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS, "x-internal, authorization")
    _distro.OtelChatbotDistro().configure()
    fields = os.environ[env.OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS].split(",")
    assert fields == [*SANITIZED_HEADERS, "x-internal"]


class _EntryPoint:
    def __init__(self, name: str, instrumentor: type) -> None:
        self.name = name
        self._instrumentor = instrumentor

    def load(self) -> type:
        return self._instrumentor


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "fastapi",
            {
                "exclude_spans": ["receive", "send"],
                "server_request_hook": scrub_server_span,
                "http_capture_headers_sanitize_fields": list(SANITIZED_HEADERS),
                "skip_dep_check": True,
            },
        ),
        ("httpx", {"request_hook": _scrub_url, "async_request_hook": _async_scrub_url, "skip_dep_check": True}),
        ("openai", {"skip_dep_check": True}),
    ],
)
def test_the_distro_gives_fastapi_and_httpx_our_helpers_arguments(name: str, expected: dict[str, Any]) -> None:
    received: list[dict[str, Any]] = []

    class Instrumentor:
        def instrument(self, **kwargs: Any) -> None:
            received.append(kwargs)

    entry_point: Any = _EntryPoint(name, Instrumentor)
    _distro.OtelChatbotDistro().load_instrumentor(entry_point, skip_dep_check=True)
    assert received == [expected]


@pytest.mark.parametrize(
    "argv",
    [
        ["instrument", "--", "uvicorn", "app:app", "--port", "8000"],
        ["instrument", "uvicorn", "app:app", "--port", "8000"],
    ],
)
def test_otel_chatbot_instrument_execs_opentelemetry_instrument_with_our_entry_points(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_chatbot.cli import _instrument
    from otel_chatbot.cli._main import _build_parser

    monkeypatch.setenv(env.OTEL_PYTHON_CONFIGURATOR, "configurator")  # the user's choice wins
    executed: list[tuple[str, list[str], dict[str, str]]] = []
    args = _build_parser("instrument").parse_args(argv)
    assert _instrument.run(args, execute=lambda path, a, e: executed.append((path, list(a), dict(e)))) == 0
    ((path, arguments, environ),) = executed
    assert path.endswith("opentelemetry-instrument") and os.access(path, os.X_OK)
    assert arguments == [path, "uvicorn", "app:app", "--port", "8000"]
    assert environ[env.OTEL_PYTHON_DISTRO] == "otel_chatbot"
    assert environ[env.OTEL_PYTHON_CONFIGURATOR] == "configurator"


def test_otel_chatbot_instrument_without_a_command_says_what_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    from otel_chatbot.cli._main import main

    assert main(["instrument"]) == 2
    assert "otel-chatbot instrument -- uvicorn app:app" in capsys.readouterr().out
