"""One local LLM server per module, on loopback in this process; the scenarios' child processes call it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examples.llm_server.server import create_app
from tests._servers import serve_asgi
from tests.sdk.conftest import server_config


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    """Base URL of a deterministic local LLM server (OpenAI at ``/v1``, Anthropic at ``/v1/messages``)."""
    with serve_asgi(create_app(server_config()), access_log=False) as url:
        yield url
