"""Fixtures of the outage tests: the local LLM server as a real process (one per module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.outage._harness import llm_server


@pytest.fixture(scope="module")
def llm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of ``python -m examples.llm_server`` (fast answers), stopped after the module."""
    server = llm_server(tmp_path_factory.mktemp("llm"))
    try:
        yield server.wait_url()
    finally:
        server.stop()
