"""Gemini API wire formats for the local LLM server: ``generateContent`` and ``streamGenerateContent``.

Routes (``POST``, mounted by ``create_app``): ``/v1/models/{model}:generateContent`` and
``/v1beta/models/{model}:generateContent`` (JSON), ``.../{model}:streamGenerateContent?alt=sse`` (SSE: one
``data: <GenerateContentResponse JSON>`` event per chunk, each ended by a blank line, no ``[DONE]``) and, without
``alt=sse``, the same chunks as one streamed JSON array, as Google's REST API does. ``google-genai`` 3.x calls ``/v1``
unless ``HttpOptions(api_version="v1beta")``; point it here with ``genai.Client(api_key=...,
http_options=types.HttpOptions(base_url=<server url>))``. JSON out is Gemini's camelCase; request fields are read in
camelCase or snake_case (the SDK sends both, e.g. ``inlineData.mime_type``, ``thinkingConfig.include_thoughts``).

Latency, failures and the answer come from the server's own :meth:`LLMServer.plan` (time to first token, token rate,
seeded words, 429/500/hang outcomes as Gemini errors ``RESOURCE_EXHAUSTED``/``INTERNAL``/``DEADLINE_EXCEEDED``), and
the prompt's text tokens and implicit prefix-cache hits from :meth:`LLMServer.usage`. With ``ServerConfig.api_key``
set, requests need ``x-goog-api-key`` (or ``?key=``).

What the request switches on, and the ``usageMetadata`` it gives (``promptTokenCount`` includes cached tokens;
``totalTokenCount`` = prompt + tool-use prompt + candidates + thoughts; zero counts are omitted, as Gemini does):

- Text parts (``contents`` and ``systemInstruction``): TEXT prompt tokens, the server's tokenizer with chat framing.
- ``inlineData`` / ``fileData`` parts, by MIME type: ``image/*`` IMAGE, 258 tokens each; ``application/pdf``
  DOCUMENT, 258 tokens each (one page); ``video/*`` VIDEO, 263 tokens each (one second); ``audio/*`` AUDIO, 32
  tokens a second with the duration read as 16 kHz 16-bit mono PCM (one token per 1,000 bytes, at least 1; 32 for a
  ``fileData`` reference). Each adds to ``promptTokensDetails`` under its modality.
- ``cachedContent`` (any name): the named cache holds ``CACHED_CONTENT_TOKENS`` TEXT tokens, added to the prompt and
  reported as ``cachedContentTokenCount`` and ``cacheTokensDetails``. Implicit prefix-cache hits (long prompts seen
  before, as ``LLMServer.usage`` finds them) are reported the same way.
- ``tools`` with ``googleSearch``, ``codeExecution`` or ``urlContext`` (either case): ``toolUsePromptTokenCount``
  of ``TOOL_USE_TOKENS[tool]`` per tool (TEXT, in ``toolUsePromptTokensDetails``), not part of ``promptTokenCount``.
- ``tools`` with ``functionDeclarations`` and ``toolConfig.functionCallingConfig.mode`` ``ANY``: the answer is one
  ``functionCall`` part calling the first declared function with ``{}``, its tokens counted as candidates.
- ``generationConfig.thinkingConfig`` with ``thinkingBudget`` != 0, ``includeThoughts`` or ``thinkingLevel``: a
  thinking phase of ``THOUGHTS_PER_WORD`` x answer words thought tokens (capped by a positive budget) that lasts
  their count at the token rate, between the time to first token and the first text. ``thoughtsTokenCount`` is
  reported; with ``includeThoughts`` a thought summary part (``"thought": true``) is sent at the time to first token
  (its own chunk when streaming). Without ``thinkingConfig`` nothing thinks.
- ``generationConfig.maxOutputTokens``: the answer is cut there, ``finishReason`` ``MAX_TOKENS`` (else ``STOP``).
- ``generationConfig.candidateCount`` n (1 to 8): n candidates (``index`` 0..n-1), each the plan's words rotated by
  its index; ``candidatesTokenCount`` is their sum.
- ``generationConfig.responseModalities`` containing ``IMAGE``: each candidate also returns a 1x1 PNG ``inlineData``
  part worth ``IMAGE_OUTPUT_TOKENS`` IMAGE tokens (``candidatesTokensDetails``).

Streaming: the first chunk goes out at the time to first token (plus prefill per uncached prompt token), then one
word per chunk per candidate at the token rate; each chunk is a full ``GenerateContentResponse`` with ``responseId``,
``modelVersion`` and ``usageMetadata`` as the running total so far (prompt, tool-use and thoughts from the first
chunk, candidates growing word by word); the last chunk has the ``finishReason`` and the final counts.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from examples.llm_server.server import LLMServer

__all__ = ["CACHED_CONTENT_TOKENS", "IMAGE_OUTPUT_TOKENS", "THOUGHTS_PER_WORD", "TOOL_USE_TOKENS", "gemini_routes"]

CACHED_CONTENT_TOKENS = 2048
"""TEXT tokens held by any ``cachedContent`` a request names."""
TOOL_USE_TOKENS = {"google_search": 180, "code_execution": 90, "url_context": 300}
"""Tool-use prompt tokens each server-side tool adds (search results, code output, fetched pages)."""
THOUGHTS_PER_WORD = 4
"""Thought tokens per answer word when thinking is asked for."""
IMAGE_OUTPUT_TOKENS = 1290
"""IMAGE output tokens of one generated image (Gemini's price unit for a 1024x1024 image)."""
_MEDIA_TOKENS = {"IMAGE": 258, "DOCUMENT": 258, "VIDEO": 263}
_PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def gemini_routes(llm: LLMServer) -> list[Route]:
    """The Gemini routes of the server whose state is ``llm``."""

    async def generate(request: Request) -> Response:
        return await _generate(request, llm, stream=False)

    async def stream_generate(request: Request) -> Response:
        return await _generate(request, llm, stream=True)

    return [
        Route(f"/{version}/models/{{model}}:{method}", handler, methods=["POST"])
        for version in ("v1", "v1beta")
        for method, handler in (("generateContent", generate), ("streamGenerateContent", stream_generate))
    ]


def _field(obj: Any, camel: str) -> Any:
    """``obj[camelCase]`` or ``obj[snake_case]``; None when absent or ``obj`` is not a dict."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return obj.get(snake)


def _error(status: int, state: str, message: str) -> Response:
    return JSONResponse({"error": {"code": status, "message": message, "status": state}}, status_code=status)


@dataclasses.dataclass
class _Request:
    """What one ``generateContent`` request asks for."""

    messages: list[dict[str, str]]
    media: dict[str, int]  # modality -> prompt tokens of inline/file data
    cached_content: bool
    tool_use_tokens: int
    function_name: str | None
    max_output: int | None
    thinking: bool
    include_thoughts: bool
    thinking_budget: int | None
    candidates: int
    image_out: bool


def _media_tokens(part: Any) -> tuple[str, int] | None:
    blob = _field(part, "inlineData")
    file = _field(part, "fileData")
    source = blob if isinstance(blob, dict) else file if isinstance(file, dict) else None
    if source is None:
        return None
    mime = str(_field(source, "mimeType") or "").lower()
    if mime.startswith("audio/"):
        data = _field(source, "data") if source is blob else None
        size = len(base64.b64decode(data, validate=False)) if isinstance(data, str) else 32_000
        return "AUDIO", max(1, size // 1000)
    if mime.startswith("image/"):
        return "IMAGE", _MEDIA_TOKENS["IMAGE"]
    if mime.startswith("video/"):
        return "VIDEO", _MEDIA_TOKENS["VIDEO"]
    return "DOCUMENT", _MEDIA_TOKENS["DOCUMENT"]


def _parse(body: dict[str, Any]) -> _Request | str:
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    messages: list[dict[str, str]] = []
    media: dict[str, int] = {}
    system = _field(body, "systemInstruction")
    turns = [("system", system)] if isinstance(system, dict) else []
    turns += [(str(_field(c, "role") or "user"), c) for c in contents]
    for role, content in turns:
        parts = _field(content, "parts")
        texts: list[str] = []
        for part in parts if isinstance(parts, list) else []:
            if isinstance(text := _field(part, "text"), str):
                texts.append(text)
            elif (found := _media_tokens(part)) is not None:
                media[found[0]] = media.get(found[0], 0) + found[1]
        messages.append({"role": role, "content": " ".join(texts)})
    tools: list[Any] = body["tools"] if isinstance(body.get("tools"), list) else []
    tool_use = sum(
        tokens for tool in tools for name, tokens in TOOL_USE_TOKENS.items() if _field(tool, _camel(name)) is not None
    )
    declared = [d for tool in tools for d in (_field(tool, "functionDeclarations") or []) if isinstance(d, dict)]
    calling = _field(_field(_field(body, "toolConfig"), "functionCallingConfig"), "mode")
    config = _field(body, "generationConfig") or {}
    thinking = _field(config, "thinkingConfig")
    budget = _field(thinking, "thinkingBudget")
    budget = budget if isinstance(budget, int) and not isinstance(budget, bool) else None
    max_output = _field(config, "maxOutputTokens")
    count = _field(config, "candidateCount")
    modalities = _field(config, "responseModalities")
    return _Request(
        messages=messages,
        media=media,
        cached_content=bool(_field(body, "cachedContent")),
        tool_use_tokens=tool_use,
        function_name=str(declared[0].get("name")) if declared and str(calling).upper() == "ANY" else None,
        max_output=max_output if isinstance(max_output, int) and max_output > 0 else None,
        thinking=isinstance(thinking, dict)
        and (
            budget not in (None, 0)
            or bool(_field(thinking, "includeThoughts"))
            or bool(_field(thinking, "thinkingLevel"))
        ),
        include_thoughts=bool(_field(thinking, "includeThoughts")),
        thinking_budget=budget,
        candidates=min(max(count, 1), 8) if isinstance(count, int) else 1,
        image_out=isinstance(modalities, list) and "IMAGE" in [str(m).upper() for m in modalities],
    )


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word.title() for word in rest)


def _details(tokens: dict[str, int]) -> list[dict[str, Any]]:
    return [{"modality": modality, "tokenCount": n} for modality, n in tokens.items() if n]


async def _generate(request: Request, llm: LLMServer, *, stream: bool) -> Response:
    expected = llm.config.api_key
    if expected is not None:
        given = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not given:
            return _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers. Please use API Key.")
        if given != expected:
            return _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    parsed = _parse(body) if isinstance(body, dict) else "Invalid JSON payload received."
    if isinstance(parsed, str):
        return _error(400, "INVALID_ARGUMENT", parsed)
    model = request.path_params["model"].removeprefix("models/")
    plan = llm.plan(parsed.messages, None)
    usage, uncached = llm.usage(parsed.messages, 0)
    ttft_s = plan.ttft_s + uncached * llm.config.prefill_ms_per_token / 1000
    if plan.outcome == "429":
        await asyncio.sleep(0.005)
        return _error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
    if plan.outcome == "500":
        await asyncio.sleep(ttft_s / 2)
        return _error(500, "INTERNAL", "An internal error has occurred. Please retry or report in the docs.")
    if plan.outcome == "hang":
        await asyncio.sleep(llm.config.hang_s)
        return _error(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")

    words = list(plan.words)
    finish = "STOP"
    if parsed.max_output is not None and len(words) > parsed.max_output:
        words, finish = words[: parsed.max_output], "MAX_TOKENS"
    thoughts = THOUGHTS_PER_WORD * len(plan.words) if parsed.thinking else 0
    if parsed.thinking_budget is not None and parsed.thinking_budget > 0:
        thoughts = min(thoughts, parsed.thinking_budget)
    answer = _Answer(
        response_id=base64.urlsafe_b64encode(bytes.fromhex(plan.response_id.removeprefix("chatcmpl-"))).decode(),
        model=model,
        words=words,
        finish=finish,
        thoughts=thoughts,
        prompt={"TEXT": int(usage["prompt_tokens"]), **parsed.media},
        cached=int(usage["prompt_tokens_details"]["cached_tokens"]),
        request=parsed,
    )
    if parsed.cached_content:
        answer.prompt["TEXT"] += CACHED_CONTENT_TOKENS
        answer.cached += CACHED_CONTENT_TOKENS
    thinking_s = thoughts / plan.tokens_per_s
    await asyncio.sleep(ttft_s)
    if stream:
        chunks = _chunks(answer, thinking_s, plan.tokens_per_s)
        if request.query_params.get("alt") == "sse":
            body_iter = (b"data: " + json.dumps(c).encode() + b"\r\n\r\n" async for c in chunks)
            return StreamingResponse(body_iter, media_type="text/event-stream", headers={"cache-control": "no-cache"})
        return StreamingResponse(_json_array(chunks), media_type="application/json")
    await asyncio.sleep(thinking_s + len(words) / plan.tokens_per_s)
    return JSONResponse(answer.response(answer.all_parts, len(words), final=True))


@dataclasses.dataclass
class _Answer:
    response_id: str
    model: str
    words: list[str]
    finish: str
    thoughts: int
    prompt: dict[str, int]  # modality -> tokens, cached included
    cached: int
    request: _Request

    def candidate_words(self, index: int) -> list[str]:
        return self.words[index:] + self.words[:index] if self.words else []

    def thought_part(self) -> dict[str, Any]:
        return {"text": "**Planning the answer** I should mention " + " ".join(self.words[:6]), "thought": True}

    def function_call(self) -> dict[str, Any]:
        return {"functionCall": {"name": self.request.function_name, "args": {}}}

    def output_tokens(self, words: int) -> dict[str, int]:
        if self.request.function_name is not None:
            return {"TEXT": len(json.dumps(self.function_call()).split())}
        image = IMAGE_OUTPUT_TOKENS if self.request.image_out and words == len(self.words) else 0
        return {"TEXT": words, "IMAGE": image}

    def all_parts(self, index: int) -> list[dict[str, Any]]:
        parts = [self.thought_part()] if self.request.include_thoughts and self.thoughts else []
        if self.request.function_name is not None:
            return [*parts, self.function_call()]
        parts.append({"text": " ".join(self.candidate_words(index))})
        if self.request.image_out:
            parts.append({"inlineData": {"mimeType": "image/png", "data": _PNG_1X1}})
        return parts

    def response(self, parts_of: Any, words: int, *, final: bool) -> dict[str, Any]:
        """A ``GenerateContentResponse``: every candidate's parts, usage as if ``words`` words per candidate."""
        candidates = []
        for index in range(self.request.candidates):
            candidate: dict[str, Any] = {"content": {"parts": parts_of(index), "role": "model"}, "index": index}
            if final:
                candidate["finishReason"] = self.finish
            candidates.append(candidate)
        output = self.output_tokens(words)
        output = {modality: n * self.request.candidates for modality, n in output.items()}
        prompt_tokens = sum(self.prompt.values())
        tool_use = self.request.tool_use_tokens
        usage: dict[str, Any] = {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": sum(output.values()),
            "totalTokenCount": prompt_tokens + tool_use + sum(output.values()) + self.thoughts,
            "cachedContentTokenCount": self.cached,
            "thoughtsTokenCount": self.thoughts,
            "toolUsePromptTokenCount": tool_use,
            "promptTokensDetails": _details(self.prompt),
            "cacheTokensDetails": _details({"TEXT": self.cached}),
            "candidatesTokensDetails": _details(output),
            "toolUsePromptTokensDetails": _details({"TEXT": tool_use}),
        }
        usage = {key: value for key, value in usage.items() if value}
        return {
            "candidates": candidates,
            "usageMetadata": usage,
            "modelVersion": self.model,
            "responseId": self.response_id,
        }


async def _chunks(answer: _Answer, thinking_s: float, tokens_per_s: float) -> AsyncIterator[dict[str, Any]]:
    request = answer.request
    if request.include_thoughts and answer.thoughts:
        yield answer.response(lambda index: [answer.thought_part()], 0, final=False)
    await asyncio.sleep(thinking_s)
    if request.function_name is not None:
        yield answer.response(lambda index: [answer.function_call()], 1, final=True)
        return
    start = time.perf_counter()
    for i in range(len(answer.words)):
        delay = start + i / tokens_per_s - time.perf_counter()  # absolute schedule: no drift
        if delay > 0:
            await asyncio.sleep(delay)
        last = i == len(answer.words) - 1

        def parts(index: int, i: int = i, last: bool = last) -> list[dict[str, Any]]:
            word = answer.candidate_words(index)[i]
            out: list[dict[str, Any]] = [{"text": word if i == 0 else " " + word}]
            if last and request.image_out:
                out.append({"inlineData": {"mimeType": "image/png", "data": _PNG_1X1}})
            return out

        yield answer.response(parts, i + 1, final=last)
    if not answer.words:
        yield answer.response(lambda index: [], 0, final=True)


async def _json_array(chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    separator = b"["
    async for chunk in chunks:
        yield separator + json.dumps(chunk).encode()
        separator = b",\r\n"
    yield b"]" if separator != b"[" else b"[]"
