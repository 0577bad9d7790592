"""A decorated (non-generator) function that RETURNS a stream: the span is measured over the consumer's iteration.

Example::

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    def answer(messages):
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)


    for chunk in answer(messages):  # the span ends after the last chunk, with the usage of the final chunk
        ...

What counts as a returned stream is told by the class of the return value, without importing any SDK: a generator
or an async generator (LangChain's ``.stream()`` / ``.astream()``, google-genai's ``generate_content_stream``), or an
iterator / async iterator (``__next__`` / ``__anext__``) whose class comes from a provider SDK package (``openai``'s
``Stream`` / ``AsyncStream``, ``anthropic``'s, ``google``, ``langchain*``). Any other return value, iterators of other
packages included, is read once when the function returns, as before.

The return value is replaced by a thin proxy that iterates it, feeds each chunk to the stage (usage, time to first
chunk and first token), attaches the span's context only while the SDK produces a chunk, and ends the span at
exhaustion, at an error, at ``close()`` / ``aclose()``, at the exit of a ``with`` / ``async with`` block, or when
the proxy is garbage-collected (whichever comes first; an early end keeps what arrived, usage estimated and flagged
when the provider had not reported it yet). Every other attribute (``response``, ``get_final_completion``...) is the
SDK object's, and ``isinstance(proxy, openai.Stream)`` still holds (``type()`` is the proxy's).

Unsupported, with one WARNING per function: an SDK stream MANAGER returned un-entered (openai's
``chat.completions.stream()`` / ``responses.stream()``, anthropic's ``messages.stream()``): its stream only exists
once the caller enters it, after the function returned. Write the function as a generator that enters the manager
and yields its events instead (``with client.messages.stream(...) as stream: yield from stream``).
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import types
from collections.abc import Callable
from typing import Any

from otel_chatbot import _sdk
from otel_chatbot.spans._run import SpanRun

__all__ = ["ASYNC", "MANAGER", "SYNC", "kind_of", "measure"]

logger = logging.getLogger(__name__)

SYNC = 1
"""``kind_of``: an iterator stream (a generator, ``openai.Stream``...)."""
ASYNC = 2
"""``kind_of``: an async iterator stream (an async generator, ``openai.AsyncStream``...)."""
MANAGER = 3
"""``kind_of``: a stream manager that must be entered first (unsupported: a warning)."""

_SDK_PACKAGES = frozenset({"openai", "anthropic", "google", "langchain", "langchain_core", "langchain_openai"})
_KINDS: dict[type, int] = {}
_MAX_KINDS = 512
_WARNED: set[str] = set()
_OWN = frozenset({"_inner", "_run", "_context"})
_GENERATORS = (types.GeneratorType, types.AsyncGeneratorType)


_PROXY = -1
"""Cached for a wrapt-style proxy class (``__wrapped__``): classify by the object inside each instance."""


def kind_of(result: Any) -> int:
    """``SYNC``, ``ASYNC``, ``MANAGER`` or 0 (not a stream), by the class of ``result`` (cached per class).

    Another instrumentation's proxy around an SDK stream (the official GenAI instrumentations and OpenLLMetry wrap it
    with ``wrapt.ObjectProxy``, OpenLIT with an iterator keeping it in ``__wrapped__``) is classified by the stream
    inside: measured through the proxy, the instrumentation's span ends inside the stage's, as the count-once rule
    expects (and the stage does not end while the instrumentation's span is still current).
    """
    cls = type(result)
    kind = _KINDS.get(cls)
    if kind is None:
        kind = _classify(cls)
        if kind == 0 and (hasattr(cls, "__wrapped__") or hasattr(cls, "__next__") or hasattr(cls, "__anext__")):
            kind = _PROXY  # a wrapt proxy, or an iterator that may keep what it wraps in ``__wrapped__`` (OpenLIT)
        if len(_KINDS) < _MAX_KINDS:
            _KINDS[cls] = kind
    if kind == _PROXY:
        inner = getattr(result, "__wrapped__", None)
        return 0 if inner is None or inner is result else kind_of(inner)
    return kind


def _classify(cls: type) -> int:
    if cls is types.GeneratorType:
        return SYNC
    if cls is types.AsyncGeneratorType:
        return ASYNC
    module = getattr(cls, "__module__", None)
    if not isinstance(module, str) or module.partition(".")[0] not in _SDK_PACKAGES:
        return 0
    if hasattr(cls, "__anext__") and hasattr(cls, "__aiter__"):
        return ASYNC
    if hasattr(cls, "__next__") and hasattr(cls, "__iter__"):
        return SYNC
    if cls.__name__.endswith("StreamManager"):
        return MANAGER
    return 0


_STREAM_STAGES = frozenset({"generation", "embeddings"})
"""Stages whose own returned generators are LLM streams; elsewhere only generators made by an SDK's code are."""


def _from_sdk(generator: Any) -> bool:
    """Whether a generator (or async generator) runs code of a provider SDK (LangChain's ``.stream()``...)."""
    frame = getattr(generator, "gi_frame", None) or getattr(generator, "ag_frame", None)
    module = frame.f_globals.get("__name__") if frame is not None else None
    return isinstance(module, str) and module.partition(".")[0] in _SDK_PACKAGES


def measure(result: Any, kind: int, run: SpanRun, fn: Callable[..., Any]) -> Any:
    """The object to return instead of ``result``: a measuring proxy, or ``result`` itself (then the caller ends).

    A plain generator the app made itself (``return (d for d in docs)`` in a retrieval stage) is not a stream of an
    LLM call: it is measured only in a generation or embeddings stage, or when an SDK's code made it.
    """
    if kind == MANAGER:
        _warn_once(fn, type(result))
        return result
    if not run.recording:
        return result
    if type(result) in _GENERATORS and run.stage not in _STREAM_STAGES and not _from_sdk(result):
        return result
    run.start_stream()
    return MeasuredStream(result, run) if kind == SYNC else MeasuredAsyncStream(result, run)


def _warn_once(fn: Callable[..., Any], cls: type) -> None:
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    if name in _WARNED:
        return
    _WARNED.add(name)
    logger.warning(
        "otel_chatbot: %s returns a %s.%s that is entered after the stage has ended, so its stream is not measured; "
        "make %s a generator that enters it and yields its events (with ... as stream: yield from stream)",
        name,
        cls.__module__,
        cls.__qualname__,
        name,
    )


class _Measured:
    """What both proxies share: the wrapped object, its run (None once ended), attribute forwarding, the end."""

    __slots__ = ("__weakref__", "_inner", "_run")

    def __init__(self, inner: Any, run: SpanRun) -> None:
        self._inner = inner
        self._run: SpanRun | None = run

    def __getattr__(self, name: str) -> Any:
        if name in _OWN:  # not set yet (a failed __init__): no recursion through __getattr__
            raise AttributeError(name)
        return getattr(self._inner, name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # so that isinstance(proxy, openai.Stream) holds
        cls: type = self._inner.__class__  # through another proxy too (wrapt forwards __class__)
        return cls

    def __repr__(self) -> str:
        return repr(self._inner)

    def _end(self, exc: BaseException | None = None) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        if isinstance(exc, Exception) and not isinstance(exc, StopIteration | StopAsyncIteration):
            run.fail(exc)
        run.end()

    def __del__(self) -> None:
        try:
            self._end()
        except Exception:  # pragma: no cover - a finalizer must not raise
            pass


class MeasuredStream(_Measured):
    """An iterator stream, measured chunk by chunk; the span ends at exhaustion, ``close()``, ``with`` exit or GC."""

    __slots__ = ("_context",)

    def __init__(self, inner: Any, run: SpanRun) -> None:
        super().__init__(inner, run)
        self._context: contextvars.Context | None = None

    def __iter__(self) -> MeasuredStream:
        return self

    def __next__(self) -> Any:
        run = self._run
        if run is None:
            return next(self._inner)
        context = self._context
        if context is None:
            # The SDK produces each chunk in one copy of the consumer's context (taken at the first chunk) where the
            # span's context is current: one ``Context.run`` per chunk instead of a set and a reset around it.
            context = self._context = contextvars.copy_context()
            context.run(_sdk.attach, run.ctx)
        try:
            item = context.run(next, self._inner)
        except BaseException as exc:
            self._end(exc)
            raise
        run.on_chunk(item)
        return item

    def _end(self, exc: BaseException | None = None) -> None:
        self._context = None  # it holds the run's context: let go of it with the run
        super()._end(exc)

    def close(self) -> None:
        """Close the SDK stream (its HTTP response), and end the span with what arrived."""
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._end()

    def __enter__(self) -> Any:
        enter = getattr(type(self._inner), "__enter__", None)
        value = enter(self._inner) if enter is not None else self._inner
        return self if value is self._inner else value

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            exit_ = getattr(type(self._inner), "__exit__", None)
            if exit_ is not None:
                return exit_(self._inner, *exc_info)
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
            return None
        finally:
            self._end()


class MeasuredAsyncStream(_Measured):
    """An async iterator stream; the span ends at exhaustion, ``close()`` / ``aclose()``, ``async with`` exit or GC."""

    __slots__ = ()

    def __aiter__(self) -> MeasuredAsyncStream:
        return self

    async def __anext__(self) -> Any:
        run = self._run
        if run is None:
            return await self._inner.__anext__()
        token = _sdk.attach(run.ctx)
        try:
            item = await self._inner.__anext__()
        except BaseException as exc:
            _sdk.detach(token)
            self._end(exc)
            raise
        _sdk.detach(token)
        run.on_chunk(item)
        return item

    async def _close_inner(self) -> None:
        try:
            close = getattr(self._inner, "aclose", None) or getattr(self._inner, "close", None)
            if close is not None:
                result = close()
                if inspect.isawaitable(result):
                    await result
        finally:
            self._end()

    async def close(self) -> None:
        """Close the SDK stream (``AsyncStream.close()``, an async generator's ``aclose()``); end the span."""
        await self._close_inner()

    async def aclose(self) -> None:
        """Same as :meth:`close`."""
        await self._close_inner()

    async def __aenter__(self) -> Any:
        enter = getattr(type(self._inner), "__aenter__", None)
        value = await enter(self._inner) if enter is not None else self._inner
        return self if value is self._inner else value

    async def __aexit__(self, *exc_info: Any) -> Any:
        exit_ = getattr(type(self._inner), "__aexit__", None)
        if exit_ is None:
            await self._close_inner()
            return None
        try:
            return await exit_(self._inner, *exc_info)
        finally:
            self._end()
