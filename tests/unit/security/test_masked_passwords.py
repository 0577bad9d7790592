"""Connection URLs are shown with the password masked: ledger errors and logs, ``otel-chatbot usage``, OTLP endpoint
errors, invalid variables, budget webhooks."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import otel_chatbot as oc
from otel_chatbot.errors import ConfigurationError
from otel_chatbot.spend import Budget
from otel_chatbot.spend._budgets import BudgetAlert, WebhookAlert
from otel_chatbot.spend._ledger import Ledger, LedgerEntry
from tests._postgres import postgres_server
from tests._servers import free_port

PW = "PLANTED-PW-9d2e41"

_BAD_URLS = [
    f"postgresql://bot:{PW}@127.0.0.1:{{port}}/usage",  # nothing listens
    f"postgresql://bot:{PW.replace('-', '%2D')}@127.0.0.1:{{port}}/usage",  # percent-encoded
    f"postgresql://bot:{PW}@127.0.0.1:notaport/usage",
    f"postgresql://bot:{PW}@127.0.0.1:{{port}}/usage?bogus=1",
    f"postgresql://127.0.0.1:{{port}}/usage?password={PW}",
    f"postgresql://bot:{PW} x@[::1/usage",  # unparsable: a space, an unclosed IPv6 bracket
    f"mysql://bot:{PW}@db/usage",
    f"postgresql://bot:{PW}@name.invalid/usage",
]


@pytest.mark.parametrize("template", _BAD_URLS)
def test_ledger_errors_never_show_the_password(template: str) -> None:
    url = template.format(port=free_port())
    with pytest.raises(ConfigurationError) as info:
        Ledger.open(url)
    message = str(info.value)
    assert "9d2e41" not in message and "%2D9d2e41" not in message
    assert "usage ledger" in message and "\n" not in message
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


@pytest.mark.parametrize("template", _BAD_URLS[:3])
def test_configure_with_a_bad_ledger_url_and_its_logs(template: str, caplog: pytest.LogCaptureFixture) -> None:
    url = template.format(port=free_port())
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigurationError) as info:
        oc.configure("secrets-probe", ledger=url)
    assert "9d2e41" not in str(info.value)
    assert "9d2e41" not in caplog.text


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:  # trust auth: any password is accepted, so one can be planted
        yield url.replace("postgresql://postgres@", f"postgresql://postgres:{PW}@")


def test_a_ledger_whose_server_goes_away_logs_no_password(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ledger = Ledger.open(pg_url)
    try:
        ledger.append(LedgerEntry(ts=time.time(), service="s", model="m", input_tokens=1, output_tokens=1, cost_usd=0))
        assert ledger.flush(10)
        backend = ledger._backend
        backend.url = backend.url.replace("127.0.0.1", "127.0.0.1:1", 1).replace(":1:", ":1", 1)  # type: ignore[attr-defined]
        backend.conn.close()  # type: ignore[attr-defined]
        ledger.append(LedgerEntry(ts=time.time(), service="s", model="m", input_tokens=1, output_tokens=1, cost_usd=0))
        ledger.flush(10)
    finally:
        ledger.close()
    assert "rows failed" in caplog.text  # the error path ran
    assert "9d2e41" not in caplog.text


def test_usage_cli_never_shows_the_password(tmp_path: object) -> None:
    for url in (_BAD_URLS[0].format(port=free_port()), _BAD_URLS[5]):
        proc = subprocess.run(
            [sys.executable, "-m", "otel_chatbot", "usage", "--ledger", url], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode != 0
        assert "usage ledger" in proc.stderr
        assert "9d2e41" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "endpoint", [f"https://user:{PW}@collector:notaport", f"ftp://user:{PW}@collector:4317", f"user:{PW}@collector"]
)
def test_otlp_endpoint_errors_mask_the_password(endpoint: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        oc.configure("secrets-probe", endpoint=endpoint)
    assert "9d2e41" not in str(info.value)
    assert "OTLP endpoint" in str(info.value)


def test_invalid_variables_mask_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"https://user:{PW}@collector:99999")
    with pytest.raises(ConfigurationError) as info:
        oc.configure("secrets-probe")
    assert "9d2e41" not in str(info.value)


def test_budget_webhook_failures_and_repr_mask_the_url(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/{PW}?token={PW}"
    hook = WebhookAlert(url, timeout=2)
    assert "9d2e41" not in repr(hook)
    caplog.set_level(logging.WARNING)
    budget = Budget(limit_usd=1, window="1d")
    before = set(threading.enumerate())
    hook(BudgetAlert(budget=budget, key="", spent_usd=2.0, at=time.time()))
    for thread in set(threading.enumerate()) - before:
        thread.join(10)
    assert "budget webhook http://127.0.0.1" in caplog.text
    assert "9d2e41" not in caplog.text
