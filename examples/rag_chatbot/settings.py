"""The chatbot's configuration, from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_API_KEYS = "demo-acme=acme,demo-globex=globex,demo-initech=initech"


def _parse_keys(text: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for item in text.split(","):
        key, sep, tenant = item.strip().partition("=")
        if not key or not sep or not tenant:
            raise ValueError(f"CHATBOT_API_KEYS: expected key=tenant pairs separated by commas, got {item!r}")
        keys[key] = tenant
    return keys


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
        """Read the settings from ``environ`` (default ``os.environ``); unset variables keep their defaults."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            openai_base_url=env.get("OPENAI_BASE_URL", defaults.openai_base_url),
            openai_api_key=env.get("OPENAI_API_KEY", defaults.openai_api_key),
            model=env.get("CHATBOT_MODEL", defaults.model),
            provider=env.get("CHATBOT_PROVIDER", defaults.provider),
            api_keys=_parse_keys(env.get("CHATBOT_API_KEYS", DEFAULT_API_KEYS)),
            db_path=env.get("CHATBOT_DB", defaults.db_path),
            timeout_s=float(env.get("CHATBOT_TIMEOUT_S", defaults.timeout_s)),
        )
