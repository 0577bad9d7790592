"""``traced_stage``: one span per chatbot stage, as a decorator (with or without arguments) or a context manager.

Example::

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    async def generate(messages): ...  # usage + cost read from the return value


    with oc.traced_stage("retrieval", data_source="faq") as stage:
        stage.set_attribute("chatbot.retrieval.documents", 3)

Static attributes are computed once, at decoration time; one ``_Scope`` drives every form; the four wrappers
(sync, coroutine, generator, async generator) are a few lines each around it. Streams keep the span open over the
whole iteration and attach the span's context only while the wrapped generator runs, so an early ``break`` never
leaves it current. A plain or async function that RETURNS a stream (``openai.Stream``, a LangChain ``.stream()``
generator...) hands its span to a proxy that ends it over the consumer's iteration (``_returned.py``).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast, overload

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_chatbot import _sdk, semconv
from otel_chatbot._internal_errors import log_internal_error
from otel_chatbot._state import STATE
from otel_chatbot.spans import _conversation as context
from otel_chatbot.spans import _returned as returned
from otel_chatbot.spans._recording import StageHandle, record_usage
from otel_chatbot.spans._run import SpanRun
from otel_chatbot.spans._spec import Spec

__all__ = ["StageHandle", "TracedStage", "record_usage", "traced_stage"]

P = ParamSpec("P")
R = TypeVar("R")


class _Scope:
    """Start a ``SpanRun``, make it current, and end it; the one place where the wrappers meet the span."""

    __slots__ = ("handed_over", "run", "token")

    def __init__(
        self,
        spec: Spec,
        tracer: trace.Tracer,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        parent: otel_context.Context | None = None,
        conversation: Mapping[str, Any] | None = None,
    ) -> None:
        attributes = spec.attributes
        ids = context.current_attributes() if conversation is None else conversation
        if ids:
            attributes = {**attributes, **ids}
        self.run = SpanRun(
            tracer,
            spec.name,
            spec.kind,
            attributes,
            parent,
            spec.stage,
            spec.model,
            spec.provider,
            spec.stream,
            args,
            kwargs,
            spec.price(),
        )
        self.token: object | None = None
        self.handed_over = False  # a returned stream's proxy ends the run, not __exit__
        if spec.enforce_budget:
            self._check_budget(attributes)

    def _check_budget(self, attributes: Mapping[str, Any]) -> None:
        guard = STATE.budget_guard
        if guard is None:
            return
        try:
            guard.guard(attributes)  # raises BudgetExceededError on purpose: the user asked for a hard cap
        except Exception as exc:
            self.run.fail(exc)
            self.run.end()
            raise

    def __enter__(self) -> SpanRun:
        self.token = _sdk.attach(self.run.ctx)
        return self.run

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.token is not None:
            _sdk.detach(self.token)  # type: ignore[arg-type]
            self.token = None
        if isinstance(exc, Exception):
            self.run.fail(exc)
        # GeneratorExit, asyncio.CancelledError, KeyboardInterrupt: end the span without an application error.
        if not self.handed_over:
            self.run.end()

    def returned(self, result: Any, fn: Callable[..., Any]) -> Any:
        """The function returned ``result``: read it, or, when it is a stream, hand the run over to its proxy."""
        if type(result) not in _PLAIN:
            try:
                kind = returned.kind_of(result)
                if kind:
                    value = returned.measure(result, kind, self.run, fn)
                    self.handed_over = value is not result
                    if self.handed_over or kind == returned.MANAGER:
                        return value
            except Exception:
                log_internal_error()
        self.run.succeed(result)
        return result


_PLAIN = frozenset({dict, str, list, tuple, int, float, bool, bytes, type(None)})
"""Return types that are never a stream (the common case skips the stream check)."""


def _wrap_function(fn: Callable[P, R], spec: Spec) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        tracer = spec.tracer()
        if tracer is None:
            return fn(*args, **kwargs)
        scope = _Scope(spec, tracer, args, kwargs)
        with scope:
            result: R = scope.returned(fn(*args, **kwargs), fn)
            return result

    return wrapper


def _wrap_coroutine(fn: Callable[P, Any], spec: Spec) -> Callable[P, Any]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        tracer = spec.tracer()
        if tracer is None:
            return await fn(*args, **kwargs)
        scope = _Scope(spec, tracer, args, kwargs)
        with scope:
            return scope.returned(await fn(*args, **kwargs), fn)

    return wrapper


def _wrap_generator(fn: Callable[P, Generator[Any, Any, Any]], spec: Spec) -> Callable[P, Any]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, Any]:
        tracer = spec.tracer()
        if tracer is None:
            return fn(*args, **kwargs)
        # The parent and conversation ids are those of the CALL, not of whoever iterates later (StreamingResponse).
        return _traced_generator(
            fn(*args, **kwargs), spec, tracer, args, kwargs, otel_context.get_current(), context.current_attributes()
        )

    return wrapper


def _traced_generator(
    inner: Generator[Any, Any, Any],
    spec: Spec,
    tracer: trace.Tracer,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    parent: otel_context.Context,
    ids: Mapping[str, Any],
) -> Generator[Any, Any, Any]:
    scope = _Scope(spec, tracer, args, kwargs, parent, ids)
    run = scope.run
    # The body runs in its own copy of the consumer's context (taken at the first chunk), where the stage's context
    # is current: one C call per chunk (``Context.run``) instead of a set and a reset of the runtime context. The
    # consumer never sees the stage's context (nor a context variable the body sets); the body keeps what it set
    # from one chunk to the next (a token it got is reset in the same context), as a generator's own frame would.
    body = contextvars.copy_context()
    body.run(_sdk.attach, run.ctx)
    enter = body.run
    on_chunk = run.on_chunk
    send = inner.send
    try:
        method: Callable[[Any], Any] = send
        value: Any = None
        while True:
            try:
                item = enter(method, value)
            except StopIteration as stop:
                return stop.value
            on_chunk(item)
            try:
                value, method = (yield item), send
            except GeneratorExit:
                enter(inner.close)
                raise
            except BaseException as exc:  # .throw() into us: forward it to the wrapped generator
                value, method = exc, inner.throw
    except Exception as exc:
        run.fail(exc)
        raise
    finally:
        run.end()


def _wrap_async_generator(fn: Callable[P, AsyncGenerator[Any, Any]], spec: Spec) -> Callable[P, Any]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[Any, Any]:
        tracer = spec.tracer()
        if tracer is None:
            return fn(*args, **kwargs)
        return _traced_async_generator(
            fn(*args, **kwargs), spec, tracer, args, kwargs, otel_context.get_current(), context.current_attributes()
        )

    return wrapper


async def _traced_async_generator(
    inner: AsyncGenerator[Any, Any],
    spec: Spec,
    tracer: trace.Tracer,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    parent: otel_context.Context,
    ids: Mapping[str, Any],
) -> AsyncGenerator[Any, Any]:
    scope = _Scope(spec, tracer, args, kwargs, parent, ids)
    run = scope.run
    try:
        method: Callable[[Any], Awaitable[Any]] = inner.asend
        value: Any = None
        while True:
            token = _sdk.attach(run.ctx)
            try:
                item = await method(value)
            except StopAsyncIteration:
                return
            finally:
                _sdk.detach(token)
            run.on_chunk(item)
            try:
                value, method = (yield item), inner.asend
            except GeneratorExit:
                token = _sdk.attach(run.ctx)
                try:
                    await inner.aclose()
                finally:
                    _sdk.detach(token)
                raise
            except BaseException as exc:
                value, method = exc, inner.athrow
    except Exception as exc:
        run.fail(exc)
        raise
    finally:
        run.end()


_NO_OP_TRACER = trace.NoOpTracer()


_ENTERED: contextvars.ContextVar[tuple[tuple[TracedStage, _Scope], ...]] = contextvars.ContextVar(
    "otel_chatbot_entered_stages", default=()
)
"""The context-manager stages entered and not yet exited in this context, innermost last."""

_SPECS: dict[tuple[Any, ...], Spec] = {}
_MAX_SPECS = 1024


def _spec_for(stage: str, options: dict[str, Any]) -> Spec:
    """The ``Spec`` of a context-manager stage: built once per distinct (stage, options), so the usual inline form
    ``with oc.traced_stage("retrieval", data_source="faq"):`` builds nothing per use that it could build once."""
    if options["tracer_provider"] is not None:  # (not kept: the cache would keep the provider alive)
        return Spec(stage, **options)
    key = (stage, *options.values())
    try:
        spec = _SPECS.get(key)
    except TypeError:  # ``attributes`` given as a mapping: keyed by its items
        try:
            key = (stage, *(tuple(v.items()) if isinstance(v, Mapping) else v for v in options.values()))
            spec = _SPECS.get(key)
        except TypeError:  # an unhashable attribute value: built per use
            return Spec(stage, **options)
    if spec is None:
        spec = Spec(stage, **options)
        if len(_SPECS) < _MAX_SPECS:
            _SPECS[key] = spec
    return spec


class TracedStage:
    """A stage: use it as a decorator, or as a context manager. Made by :func:`traced_stage`."""

    __slots__ = ("_options", "_spec", "_stage")

    def __init__(self, stage: str, options: dict[str, Any]) -> None:
        self._stage = stage
        self._options = options
        self._spec: Spec | None = None

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn`` (sync, async, generator or async generator function, or method)."""
        is_async_gen = inspect.isasyncgenfunction(fn)
        is_gen = inspect.isgeneratorfunction(fn)
        spec = Spec(self._stage, function=fn, stream=is_async_gen or is_gen, **self._options)
        if is_async_gen:
            return cast(Callable[P, R], _wrap_async_generator(cast(Any, fn), spec))
        if is_gen:
            return cast(Callable[P, R], _wrap_generator(cast(Any, fn), spec))
        if inspect.iscoroutinefunction(fn):
            return cast(Callable[P, R], _wrap_coroutine(fn, spec))
        return _wrap_function(fn, spec)

    def __enter__(self) -> StageHandle:
        spec = self._spec
        if spec is None:
            spec = self._spec = _spec_for(self._stage, self._options)
        tracer = spec.tracer() or _NO_OP_TRACER
        scope = _Scope(spec, tracer, (), {})
        _ENTERED.set((*_ENTERED.get(), (self, scope)))
        return StageHandle(scope.__enter__())

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        entered = _ENTERED.get()
        for i in range(len(entered) - 1, -1, -1):  # this stage's innermost entry (almost always the last one)
            if entered[i][0] is self:
                _ENTERED.set(entered[:i] + entered[i + 1 :])
                entered[i][1].__exit__(exc_type, exc, tb)
                return


@overload
def traced_stage(stage: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def traced_stage(
    stage: str | semconv.Stage,
    /,
    *,
    model: str | None = None,
    provider: str | None = None,
    operation: str | None = None,
    data_source: str | None = None,
    tool_name: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    attributes: Mapping[str, Any] | None = None,
    enforce_budget: bool = False,
    tracer_provider: trace.TracerProvider | None = None,
) -> TracedStage: ...


def traced_stage(
    stage: str | semconv.Stage | Callable[..., Any],
    /,
    *,
    model: str | None = None,
    provider: str | None = None,
    operation: str | None = None,
    data_source: str | None = None,
    tool_name: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    attributes: Mapping[str, Any] | None = None,
    enforce_budget: bool = False,
    tracer_provider: trace.TracerProvider | None = None,
) -> Any:
    """Trace a chatbot stage: a decorator (with or without arguments) or a context manager.

    Example::

        @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
        def generate(messages): ...


        @oc.traced_stage  # a custom stage named after the function
        def rerank(docs): ...


        with oc.traced_stage("retrieval", data_source="faq") as stage:
            stage.set_attribute("chatbot.retrieval.documents", 3)

    Span name, kind and ``gen_ai.operation.name`` follow docs/spans.md (``retrieval`` and ``generation`` are CLIENT
    spans named ``retrieval {data_source}`` and ``chat {model}``; custom stages are INTERNAL spans named by the
    stage). Usage, cost, response model/id and finish reasons are read from the return value, or from stream
    chunks for generators (TTFT at the first chunk with content). Without an OpenTelemetry SDK it is a plain call.

    Args:
        stage: ``retrieval``, ``generation``, ``embeddings``, ``memory_update``, ``tool`` or any other string
            (a :class:`~otel_chatbot.semconv.Stage` works too); or, used bare, the function to decorate.
        model: The requested model (``gen_ai.request.model``); also prices the call.
        provider: ``gen_ai.provider.name`` (``openai``, ``anthropic``, ``gcp.gemini``...).
        operation: Override of ``gen_ai.operation.name`` (e.g. ``text_completion``, ``create_memory``).
        data_source: ``gen_ai.data_source.id`` for retrieval.
        tool_name: ``gen_ai.tool.name`` for tools (default: the function's name).
        server_address: ``server.address`` of the provider, set at span start.
        server_port: ``server.port`` of the provider.
        attributes: Extra static attributes.
        enforce_budget: Check hard budgets (``configure(budgets=...)``) before the call; raises
            :class:`~otel_chatbot.errors.BudgetExceededError` when one is spent.
        tracer_provider: Use this provider instead of the global one.

    Returns:
        A :class:`TracedStage` (decorator and context manager), or the decorated function when used bare.
    """
    options: dict[str, Any] = {
        "model": model,
        "provider": provider,
        "operation": operation,
        "data_source": data_source,
        "tool_name": tool_name,
        "server_address": server_address,
        "server_port": server_port,
        "attributes": attributes,
        "enforce_budget": enforce_budget,
        "tracer_provider": tracer_provider,
    }
    if callable(stage) and not isinstance(stage, str):
        return TracedStage(stage.__name__, options)(stage)
    return TracedStage(stage.value if isinstance(stage, semconv.Stage) else str(stage), options)
