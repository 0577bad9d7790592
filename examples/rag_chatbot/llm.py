"""The provider client: OpenAI-compatible Chat Completions over httpx, with the generation stage and its breakdown.

Each call is one ``generation`` stage span (``chat {model}``); inside it, ``backend_ttfb`` covers sending the request
until the first byte of the provider's response arrives (the httpx CLIENT span nests there), and
``stream_processing`` covers reading and parsing the body to its last byte.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

import otel_chatbot as oc


class ProviderError(Exception):
    """The provider failed: an HTTP error status, a timeout or no connection. The message never holds the API key."""

    def __init__(self, message: str, *, status: int | None = None, secret: str = "") -> None:
        if secret:
            message = message.replace(secret, "***")
        super().__init__(message)
        self.status = status


class LLMClient:
    """Chat Completions against ``base_url`` (``OPENAI_BASE_URL``), authenticated with ``api_key``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        provider: str = "openai",
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.provider = provider
        self._secret = api_key
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            transport=transport,
        )
        url = urlsplit(self.base_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        stage = oc.traced_stage(
            "generation", model=model, provider=provider, server_address=url.hostname, server_port=port
        )
        # Decorated per instance: the model comes from configuration, not from the source code.
        self.complete: Callable[..., Any] = stage(self._complete)
        self.stream: Callable[..., AsyncIterator[dict[str, Any]]] = stage(self._stream)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def check(self) -> None:
        """Fail fast with a :class:`ProviderError` when the provider is unreachable or rejects the key."""
        response = await self._send(self.http.build_request("GET", "/models"))
        await response.aread()

    def _body(self, messages: list[dict[str, str]], max_tokens: int, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.2}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send and return once the response's first bytes (status and headers) are in; raise on an error status."""
        try:
            response = await self.http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise ProviderError(
                f"the LLM provider at {self.base_url} timed out ({type(exc).__name__})", status=504
            ) from None
        except httpx.TransportError as exc:
            raise ProviderError(
                f"cannot reach the LLM provider at {self.base_url} ({exc or type(exc).__name__}); check OPENAI_BASE_URL"
            ) from None
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise ProviderError(_describe(response), status=response.status_code, secret=self._secret)
        return response

    async def _complete(self, messages: list[dict[str, str]], *, max_tokens: int = 256) -> dict[str, Any]:
        request = self.http.build_request("POST", "/chat/completions", json=self._body(messages, max_tokens, False))
        with oc.traced_stage("backend_ttfb", model=self.model, provider=self.provider):
            response = await self._send(request)
        with oc.traced_stage("stream_processing", model=self.model, provider=self.provider):
            try:
                await response.aread()
            except httpx.TimeoutException:
                raise ProviderError(f"the LLM provider at {self.base_url} timed out mid-response", status=504) from None
            finally:
                await response.aclose()
            completion: dict[str, Any] = response.json()
            return completion

    async def _stream(self, messages: list[dict[str, str]], *, max_tokens: int = 256) -> AsyncIterator[dict[str, Any]]:
        request = self.http.build_request("POST", "/chat/completions", json=self._body(messages, max_tokens, True))
        with oc.traced_stage("backend_ttfb", model=self.model, provider=self.provider):
            response = await self._send(request)
        with oc.traced_stage("stream_processing", model=self.model, provider=self.provider):
            try:
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    yield json.loads(data)
            except httpx.TimeoutException:
                raise ProviderError(f"the LLM provider at {self.base_url} timed out mid-stream", status=504) from None
            finally:
                await response.aclose()


def _describe(response: httpx.Response) -> str:
    """``provider returned 401: Incorrect API key provided: sk-ab***wxyz.`` from an OpenAI-style error body."""
    message = response.text.strip()[:300]
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = str(body["error"].get("message", message))
    except ValueError:
        pass
    hint = " (check OPENAI_API_KEY)" if response.status_code == 401 else ""
    return f"LLM provider returned {response.status_code}: {message}{hint}"
