"""The chatbot's configuration, from the environment."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_API_KEYS = "demo-acme=acme,demo-globex=globex,demo-initech=initech"


class SettingsError(ValueError):
    """A configuration mistake; the message is one line naming the variable (and never a secret it holds)."""


def _parse_keys(text: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for item in text.split(","):
        key, sep, tenant = item.strip().partition("=")
        if not key or not sep or not tenant:
            # Only the tenant part is shown: the key part is a credential of the app's clients.
            shown = f"***={tenant}" if sep else "***"
            raise SettingsError(f"CHATBOT_API_KEYS: expected key=tenant pairs separated by commas, got {shown!r}")
        keys[key] = tenant
    return keys


def _positive_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise SettingsError(f"{name}={raw[:40]!r} is not valid; give a positive number of seconds (default {default})")
    return value


def _shown(url: str) -> str:
    """``url`` fit for an error message: whatever sits between ``scheme://user:`` and ``@`` masked."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if sep and at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:***@{host}"
    return (scheme + sep + netloc + slash + path)[:200]


def _base_url(env: Mapping[str, str], default: str) -> str:
    raw = env.get("OPENAI_BASE_URL", default).strip()
    if not raw:
        raise SettingsError(f"OPENAI_BASE_URL is empty; set it to the provider's API URL, e.g. {default}")
    parts = urlsplit(raw) if "[" not in raw else None
    try:
        ok = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number
        ok = False
    if not ok:
        raise SettingsError(f"OPENAI_BASE_URL={_shown(raw)!r} is not an http:// or https:// URL; e.g. {default}")
    return raw


def _db_path(env: Mapping[str, str], default: str) -> str:
    raw = env.get("CHATBOT_DB", default)
    if raw == ":memory:":
        return raw
    path = Path(raw).expanduser()
    if not raw.strip() or path.is_dir() or not path.parent.is_dir():
        raise SettingsError(
            f"CHATBOT_DB={raw!r} is not valid; give a SQLite file path in an existing folder, or :memory:"
        )
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know; ``from_env()`` reads it from environment variables.

    ``OPENAI_BASE_URL`` (default the local LLM server), ``OPENAI_API_KEY``, ``CHATBOT_MODEL`` (``gpt-4o-mini``),
    ``CHATBOT_PROVIDER`` (``openai``), ``CHATBOT_API_KEYS`` (``key=tenant,...``: the keys of the app's own clients),
    ``CHATBOT_DB`` (SQLite path, default in memory), ``CHATBOT_TIMEOUT_S`` (provider timeout, 30).
    """

    openai_base_url: str = "http://127.0.0.1:8081/v1"
    openai_api_key: str = "local-key"
    model: str = "gpt-4o-mini"
    provider: str = "openai"
    api_keys: Mapping[str, str] = field(default_factory=lambda: _parse_keys(DEFAULT_API_KEYS))
    db_path: str = ":memory:"
    timeout_s: float = 30.0
    top_k: int = 3
    history_turns: int = 6
    cache_ttl_s: float = 600.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default ``os.environ``); unset variables keep their defaults.

        Raises:
            SettingsError: One line naming the variable whose value is wrong.
        """
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            openai_base_url=_base_url(env, defaults.openai_base_url),
            openai_api_key=env.get("OPENAI_API_KEY", defaults.openai_api_key),
            model=env.get("CHATBOT_MODEL", defaults.model),
            provider=env.get("CHATBOT_PROVIDER", defaults.provider),
            api_keys=_parse_keys(env.get("CHATBOT_API_KEYS", DEFAULT_API_KEYS)),
            db_path=_db_path(env, defaults.db_path),
            timeout_s=_positive_number(env, "CHATBOT_TIMEOUT_S", defaults.timeout_s),
        )
