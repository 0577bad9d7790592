from __future__ import annotations

import subprocess
import sys

import pytest

from otel_chatbot._redact import display_text, display_url, is_secret_key, scrub_query, scrub_url, url_password
from otel_chatbot.spend._ledger import display_target


@pytest.mark.parametrize(
    "key",
    ["api_key", "apikey", "API-KEY", "key", "token", "access_token", "password", "secret", "sig", "Signature",
     "auth", "client_secret", "code", "X-Amz-Signature", "X-Amz-Credential", "AWSAccessKeyId", "refresh_token",
     "subscription-key", "api%5Fkey"],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["q", "page", "author", "keyboard", "monkey", "model", "stream", "tokens_max", ""])
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_scrub_query_and_url() -> None:
    assert scrub_query("q=hi&api_key=abc&x=1") == "q=hi&api_key=[REDACTED]&x=1"
    assert scrub_query("token") == "token"  # no value: nothing to hide
    assert scrub_url("https://u:pw@h/p?key=AIza123&alt=sse") == "https://u@h/p?key=[REDACTED]&alt=sse"
    assert scrub_url("/chat?sig=abc#frag") == "/chat?sig=[REDACTED]"
    assert scrub_url("/chat/ordinary?x=1") == "/chat/ordinary?x=1"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bot:s3cret@db:5432/usage?sslmode=require", "postgresql://bot:***@db:5432/usage?sslmode=require"),
        ("postgresql://bot@db/usage", "postgresql://bot@db/usage"),
        ("/var/lib/bot/usage.db", "/var/lib/bot/usage.db"),
        (":memory:", ":memory:"),
        ("postgresql://bot:p@ss:w@rd@db/usage", "postgresql://bot:***@db/usage"),
        ("postgresql://db/usage?password=s3cret&sslmode=require", "postgresql://db/usage?password=***&sslmode=require"),
        ("https://user:tok@collector:4318", "https://user:***@collector:4318"),
        ("https://hooks.example/alert?token=abc&x=1", "https://hooks.example/alert?token=***&x=1"),
        ("http://[::1:4317", "http://[::1:4317"),
        ("postgresql://u:pw@h:notaport/db", "postgresql://u:***@h:notaport/db"),
    ],
)
def test_display_url(url: str, shown: str) -> None:
    assert display_url(url) == shown
    assert display_target(url) == shown


def test_display_text_masks_urls_pairs_and_given_secrets() -> None:
    text = 'connection to "postgresql://u:hunter22@h/db" failed: password=hunter22 user=u; hunter%2222'
    shown = display_text(text, *url_password("postgresql://u:hunter%2222@h/db"))
    assert "hunter22" not in shown and "hunter%2222" not in shown
    assert "postgresql://u:***@h/db" in shown and "password=***" in shown and "user=u" in shown


@pytest.mark.parametrize(
    "key", ["auth_key", "signing_key", "private_key", "session_token", "X-Auth-Key", "hmac.key", "Master-Key"]
)
def test_keys_ending_in_a_separated_key_are_secret(key: str) -> None:
    assert is_secret_key(key)
    assert scrub_query(f"{key}=s3cr3t&q=1") == f"{key}=[REDACTED]&q=1"


@pytest.mark.parametrize("key", ["turkey", "monkey", "keyboard", "keys", "hockey_team"])
def test_words_merely_containing_key_are_not(key: str) -> None:
    assert not is_secret_key(key)


def test_a_short_secret_is_masked_where_it_stands_alone() -> None:
    # skipped before (shorter than 3 characters); masked as a whole token, so words that contain it stay readable
    shown = display_text("login with pw failed (pw); upwards", "pw")
    assert shown == "login with *** failed (***); upwards"
    assert display_text('user "x" password "x"', "x") == 'user "***" password "***"'


def test_display_text_is_linear_on_a_long_run_of_scheme_characters() -> None:
    # "a.a.a...." is all scheme characters without "://": the old regex re-scanned the run from every start
    # (~5 s at 80,000 characters, ~12 minutes at 1,000,000, holding the GIL). In a child process, so a regression
    # fails here after the ceiling instead of hanging the suite; the ceiling says "returns at all", not a speed.
    code = (
        "from otel_chatbot._redact import display_text\n"
        "text = 'a.' * 500_000 + ' postgresql://u:pw1234@h/db ' + 'b-' * 500_000\n"
        "shown = display_text(text)\n"
        "assert 'postgresql://u:***@h/db' in shown and 'pw1234' not in shown, shown[-2000:]\n"
        "assert len(shown) == len(text) - len('pw1234') + 3\n"
        "print('ok')\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("display_text did not return within 60 s on a 2,000,000-character message")
    assert done.stdout.strip() == "ok", done.stderr
