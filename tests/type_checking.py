"""Static pins (checked by mypy strict, never run): traced_stage keeps the decorated signature.

Each ``# type: ignore[...]`` below MUST be needed: with ``warn_unused_ignores`` (strict), mypy fails if the decorator
ever degrades a signature to ``Any``, because the misuse on that line would stop being an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import assert_type

import otel_chatbot as oc


@oc.traced_stage("generation", model="gpt-4o-mini")
def sync(x: int) -> str:
    return str(x)


@oc.traced_stage
def bare(x: int, *, flag: bool = False) -> list[int]:
    return [x]


@oc.traced_stage("generation")
async def coro(q: str) -> dict[str, int]:
    return {}


@oc.traced_stage("generation")
def gen(n: int) -> Iterator[str]:
    yield str(n)


@oc.traced_stage("generation")
async def agen(n: int) -> AsyncIterator[str]:
    yield str(n)


async def pins() -> None:
    assert_type(sync(1), str)
    assert_type(bare(1, flag=True), list[int])
    assert_type(await coro("q"), dict[str, int])
    assert_type(gen(1), Iterator[str])
    assert_type(agen(1), AsyncIterator[str])
    assert_type(oc.traced_stage("retrieval"), oc.TracedStage)
    sync("not an int")  # type: ignore[arg-type]
    bare(1, flag="yes")  # type: ignore[arg-type]
    await coro(3)  # type: ignore[arg-type]
    with oc.traced_stage("retrieval") as stage:
        assert_type(stage, oc.StageHandle)
