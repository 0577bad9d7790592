"""``POST /v1/embeddings``: one deterministic unit vector per input, ``usage.prompt_tokens`` only.

``input`` is a string, a list of strings, a list of token ids or a list of those; ``dimensions`` defaults to 1536;
``encoding_format`` is ``float`` or ``base64`` (little-endian float32, the openai SDK's default request).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import random
import struct
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from examples.llm_server.server import count_tokens, error_response, openai_request

__all__ = ["embeddings"]

_DEFAULT_DIMENSIONS = 1536


def _inputs(given: Any) -> list[str | list[int]] | None:
    if isinstance(given, str):
        return [given]
    if isinstance(given, list) and given:
        if all(isinstance(i, int) for i in given):
            return [given]
        if all(isinstance(i, str) or (isinstance(i, list) and all(isinstance(t, int) for t in i)) for i in given):
            return list(given)
    return None


def _vector(item: str | list[int], dimensions: int, seed: int) -> list[float]:
    rng = random.Random(hashlib.sha256(f"{seed}:{item}".encode()).digest())
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


async def embeddings(request: Request) -> Response:
    """The endpoint."""
    parsed = await openai_request(request)
    if isinstance(parsed, Response):
        return parsed
    llm, body = parsed
    inputs = _inputs(body.get("input")) if isinstance(body, dict) else None
    if inputs is None:
        return error_response(400, "'input' is a required property", "invalid_request_error", None)
    dimensions = body.get("dimensions") or _DEFAULT_DIMENSIONS
    if not isinstance(dimensions, int) or not 1 <= dimensions <= 3072:
        return error_response(400, "dimensions must be from 1 to 3072.", "invalid_request_error", None)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = _vector(item, dimensions, llm.config.seed)
        encoded: Any = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(count_tokens(i) if isinstance(i, str) else len(i) for i in inputs)
    await asyncio.sleep(llm.config.ttft_ms / 1000 / 4)
    model = str(body.get("model") or "text-embedding-3-small")
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return JSONResponse({"object": "list", "data": data, "model": model, "usage": usage})
