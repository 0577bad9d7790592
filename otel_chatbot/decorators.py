"""``traced_stage``: one span per chatbot stage, as a decorator (with or without arguments) or a context manager.

Example::

    @oc.traced_stage("generation", model="gpt-4o-mini", provider="openai")
    async def generate(messages): ...  # usage + cost read from the return value


    with oc.traced_stage("retrieval", data_source="faq") as stage:
        stage.set_attribute("chatbot.retrieval.documents", 3)

Static attributes are computed once, at decoration time; one ``_Scope`` drives every form; the four wrappers
(sync, coroutine, generator, async generator) are a few lines each around it. Streams keep the span open over the
whole iteration and attach the span's context only while the wrapped generator runs, so an early ``break`` never
leaves it current.
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
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from otel_chatbot import _runtime, context, pricing, semconv
from otel_chatbot._internal_errors import handle_internal_errors
from otel_chatbot._span_run import SpanRun, current_run, sanitize, usage_attributes
from otel_chatbot._version import __version__
from otel_chatbot.usage import Extracted, _count, extract

__all__ = ["StageHandle", "TracedStage", "record_usage", "traced_stage"]

P = ParamSpec("P")
R = TypeVar("R")

_NO_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
# (stage) -> (span kind, default operation, span-name rule)
_CONTRACT: dict[str, tuple[SpanKind, str | None]] = {
    semconv.Stage.RETRIEVAL.value: (SpanKind.CLIENT, semconv.Operation.RETRIEVAL.value),
    semconv.Stage.GENERATION.value: (SpanKind.CLIENT, semconv.Operation.CHAT.value),
    semconv.Stage.EMBEDDINGS.value: (SpanKind.CLIENT, semconv.Operation.EMBEDDINGS.value),
    semconv.Stage.MEMORY_UPDATE.value: (SpanKind.INTERNAL, semconv.Operation.UPDATE_MEMORY.value),
    semconv.Stage.TOOL.value: (SpanKind.INTERNAL, semconv.Operation.EXECUTE_TOOL.value),
}


def _global_provider() -> trace.TracerProvider:
    # trace.get_tracer_provider() consults os.environ on every call while no provider is set (~0.4 us), which is most
    # of the budget of the no-SDK pass-through (<= 1 us). Read the global it returns directly when we can.
    provider = getattr(trace, "_TRACER_PROVIDER", None)
    return provider if provider is not None else trace.get_tracer_provider()


class _Spec:
    """What is known at decoration time: the span's name, kind and start attributes, and how to get a tracer."""

    __slots__ = (
        "_price",
        "_price_generation",
        "_provider_seen",
        "_tracer",
        "attributes",
        "enforce_budget",
        "explicit_provider",
        "kind",
        "model",
        "name",
        "provider",
        "stage",
        "stream",
    )

    def __init__(
        self,
        stage: str,
        *,
        model: str | None,
        provider: str | None,
        operation: str | None,
        data_source: str | None,
        tool_name: str | None,
        server_address: str | None,
        server_port: int | None,
        attributes: Mapping[str, Any] | None,
        enforce_budget: bool,
        tracer_provider: trace.TracerProvider | None,
        stream: bool = False,
        function: Callable[..., Any] | None = None,
    ) -> None:
        kind, default_operation = _CONTRACT.get(stage, (SpanKind.INTERNAL, None))
        op = operation or default_operation
        if stage == semconv.Stage.TOOL.value and tool_name is None and function is not None:
            tool_name = function.__name__
        if stage == semconv.Stage.RETRIEVAL.value:
            name = f"{op} {data_source}" if data_source else op or stage
        elif stage in (semconv.Stage.GENERATION.value, semconv.Stage.EMBEDDINGS.value):
            name = f"{op} {model}" if model else op or stage
        elif stage == semconv.Stage.MEMORY_UPDATE.value:
            name = op or stage
        elif stage == semconv.Stage.TOOL.value:
            name = f"{op} {tool_name}" if tool_name else op or stage
        else:
            name = stage
        attrs: dict[str, AttributeValue] = {semconv.CHATBOT_STAGE: stage}
        for key, value in (
            (semconv.GEN_AI_OPERATION_NAME, op),
            (semconv.GEN_AI_PROVIDER_NAME, provider),
            (semconv.GEN_AI_REQUEST_MODEL, model),
            (semconv.GEN_AI_DATA_SOURCE_ID, data_source),
            (semconv.GEN_AI_TOOL_NAME, tool_name if stage == semconv.Stage.TOOL.value else None),
            (semconv.SERVER_ADDRESS, server_address),
            (semconv.SERVER_PORT, server_port),
        ):
            if value is not None:
                attrs[key] = value
        if stream:
            attrs[semconv.GEN_AI_REQUEST_STREAM] = True
        for key, value in (attributes or {}).items():
            clean = sanitize(value)
            if clean is not None:
                attrs[key] = clean
        self.stage = stage
        self.name = name
        self.kind = kind
        self.model = model
        self.provider = provider
        self.attributes = attrs
        self.enforce_budget = enforce_budget
        self.explicit_provider = tracer_provider
        self.stream = stream
        self._provider_seen: object = None
        self._tracer: trace.Tracer | None = None
        self._price: pricing.ModelPrice | None = None
        self._price_generation = -1

    def price(self) -> pricing.ModelPrice | None:
        """The request model's price, looked up once per price table (the table changes only on configure())."""
        if self._price_generation != pricing.GENERATION:
            self._price = pricing.default_table().lookup(self.model, self.provider) if self.model else None
            self._price_generation = pricing.GENERATION
        return self._price

    def tracer(self) -> trace.Tracer | None:
        """The tracer to use, or None when no SDK is installed (then every wrapper is a plain call)."""
        provider = self.explicit_provider or _global_provider()
        if provider is not self._provider_seen:
            self._tracer = None if isinstance(provider, _NO_SDK) else provider.get_tracer("otel_chatbot", __version__)
            self._provider_seen = provider
        return self._tracer


class _Scope:
    """Start a ``SpanRun``, make it current, and end it; the one place where the wrappers meet the span."""

    __slots__ = ("run", "token")

    def __init__(
        self,
        spec: _Spec,
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
            stage=spec.stage,
            request_model=spec.model,
            provider=spec.provider,
            stream=spec.stream,
            args=args,
            kwargs=kwargs,
            model_price=spec.price(),
        )
        self.token: object | None = None
        if spec.enforce_budget:
            self._check_budget(attributes)

    def _check_budget(self, attributes: Mapping[str, Any]) -> None:
        guard = _runtime.RUNTIME.budget_guard
        if guard is None:
            return
        try:
            guard(attributes)  # raises BudgetExceededError on purpose: the user asked for a hard cap
        except Exception as exc:
            self.run.fail(exc)
            self.run.end()
            raise

    def __enter__(self) -> SpanRun:
        self.token = otel_context.attach(self.run.ctx)
        return self.run

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.token is not None:
            otel_context.detach(self.token)  # type: ignore[arg-type]
            self.token = None
        if isinstance(exc, Exception):
            self.run.fail(exc)
        # GeneratorExit, asyncio.CancelledError, KeyboardInterrupt: end the span without an application error.
        self.run.end()


def _wrap_function(fn: Callable[P, R], spec: _Spec) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        tracer = spec.tracer()
        if tracer is None:
            return fn(*args, **kwargs)
        with _Scope(spec, tracer, args, kwargs) as run:
            result = fn(*args, **kwargs)
            run.succeed(result)
            return result

    return wrapper


def _wrap_coroutine(fn: Callable[P, Any], spec: _Spec) -> Callable[P, Any]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        tracer = spec.tracer()
        if tracer is None:
            return await fn(*args, **kwargs)
        with _Scope(spec, tracer, args, kwargs) as run:
            result = await fn(*args, **kwargs)
            run.succeed(result)
            return result

    return wrapper


def _wrap_generator(fn: Callable[P, Generator[Any, Any, Any]], spec: _Spec) -> Callable[P, Any]:
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
    spec: _Spec,
    tracer: trace.Tracer,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    parent: otel_context.Context,
    ids: Mapping[str, Any],
) -> Generator[Any, Any, Any]:
    scope = _Scope(spec, tracer, args, kwargs, parent, ids)
    run = scope.run
    try:
        method: Callable[[Any], Any] = inner.send
        value: Any = None
        while True:
            token = otel_context.attach(run.ctx)
            try:
                item = method(value)
            except StopIteration as stop:
                return stop.value
            finally:
                otel_context.detach(token)
            run.on_chunk(item)
            try:
                value, method = (yield item), inner.send
            except GeneratorExit:
                token = otel_context.attach(run.ctx)
                try:
                    inner.close()
                finally:
                    otel_context.detach(token)
                raise
            except BaseException as exc:  # .throw() into us: forward it to the wrapped generator
                value, method = exc, inner.throw
    except Exception as exc:
        run.fail(exc)
        raise
    finally:
        run.end()


def _wrap_async_generator(fn: Callable[P, AsyncGenerator[Any, Any]], spec: _Spec) -> Callable[P, Any]:
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
    spec: _Spec,
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
            token = otel_context.attach(run.ctx)
            try:
                item = await method(value)
            except StopAsyncIteration:
                return
            finally:
                otel_context.detach(token)
            run.on_chunk(item)
            try:
                value, method = (yield item), inner.asend
            except GeneratorExit:
                token = otel_context.attach(run.ctx)
                try:
                    await inner.aclose()
                finally:
                    otel_context.detach(token)
                raise
            except BaseException as exc:
                value, method = exc, inner.athrow
    except Exception as exc:
        run.fail(exc)
        raise
    finally:
        run.end()


class StageHandle:
    """What ``with traced_stage(...) as stage`` yields: the span, and ways to add to it."""

    __slots__ = ("_run",)

    def __init__(self, run: SpanRun) -> None:
        self._run = run

    @property
    def span(self) -> Span:
        """The stage's OpenTelemetry span."""
        return self._run.span

    def set_attribute(self, key: str, value: Any) -> None:
        """Set an attribute on the stage span (values are sanitised and secrets scrubbed)."""
        self._run.set_attribute(key, value)

    def record_usage(self, input_tokens: int | None = None, output_tokens: int | None = None, **kwargs: Any) -> None:
        """Token usage of this stage by hand; same arguments as :func:`otel_chatbot.record_usage`."""
        _record_on_run(self._run, input_tokens, output_tokens, **kwargs)

    def record_response(self, response: Any) -> None:
        """Read usage, model, id and finish reasons from a provider response (as the decorator does)."""
        with handle_internal_errors():
            extracted = extract(response, self._run.provider)
            if extracted is not None:
                self._run.override().usage.merge(extracted)


class TracedStage:
    """A stage: use it as a decorator, or as a context manager. Made by :func:`traced_stage`."""

    def __init__(self, stage: str, options: dict[str, Any]) -> None:
        self._stage = stage
        self._options = options
        self._scopes: contextvars.ContextVar[tuple[_Scope | None, ...]] = contextvars.ContextVar(
            f"otel_chatbot_stage_{id(self)}", default=()
        )

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn`` (sync, async, generator or async generator function, or method)."""
        is_async_gen = inspect.isasyncgenfunction(fn)
        is_gen = inspect.isgeneratorfunction(fn)
        spec = _Spec(self._stage, function=fn, stream=is_async_gen or is_gen, **self._options)
        if is_async_gen:
            return cast(Callable[P, R], _wrap_async_generator(cast(Any, fn), spec))
        if is_gen:
            return cast(Callable[P, R], _wrap_generator(cast(Any, fn), spec))
        if inspect.iscoroutinefunction(fn):
            return cast(Callable[P, R], _wrap_coroutine(fn, spec))
        return _wrap_function(fn, spec)

    def __enter__(self) -> StageHandle:
        spec = _Spec(self._stage, **self._options)
        tracer = spec.tracer() or trace.NoOpTracer()
        scope = _Scope(spec, tracer, (), {})
        self._scopes.set((*self._scopes.get(), scope))
        return StageHandle(scope.__enter__())

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        *rest, scope = self._scopes.get()
        self._scopes.set(tuple(rest))
        if scope is not None:
            scope.__exit__(exc_type, exc, tb)


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

    Span name, kind and ``gen_ai.operation.name`` follow DESIGN §4 (``retrieval`` and ``generation`` are CLIENT
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


def _record_on_run(
    run: SpanRun,
    input_tokens: Any,
    output_tokens: Any,
    *,
    model: str | None = None,
    provider: str | None = None,
    cache_read_tokens: Any = None,
    cache_write_tokens: Any = None,
    reasoning_tokens: Any = None,
    estimated: bool = False,
) -> None:
    override = run.override()
    usage = Extracted(
        input_tokens=_count(input_tokens),
        output_tokens=_count(output_tokens),
        cache_read_tokens=_count(cache_read_tokens),
        cache_write_tokens=_count(cache_write_tokens),
        reasoning_tokens=_count(reasoning_tokens),
    )
    override.usage.merge(usage)
    override.model = model or override.model
    override.provider = provider or override.provider
    override.estimated = override.estimated or estimated


def record_usage(
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    *,
    model: str | None = None,
    provider: str | None = None,
    cache_read_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    estimated: bool = False,
) -> None:
    """Record token usage by hand on the current stage span (it wins over what the return value says).

    Example::

        oc.record_usage(input_tokens=812, output_tokens=95, model="gpt-4o-mini")

    Outside any stage it sets usage and cost on the current span, if one is recording. Invalid counts (negative,
    NaN, non-numeric) are ignored.

    Args:
        input_tokens: All input tokens, cached ones included (semconv).
        output_tokens: All output tokens, reasoning ones included.
        model: Model to price the call with (default: the stage's model).
        provider: Provider to price the call with.
        cache_read_tokens: Input tokens read from the provider's prompt cache.
        cache_write_tokens: Input tokens written to the provider's prompt cache.
        reasoning_tokens: Reasoning tokens (part of the output).
        estimated: Mark the counts as estimated (``chatbot.usage.estimated``).
    """
    with handle_internal_errors():
        run = current_run()
        if run is not None:
            _record_on_run(
                run,
                input_tokens,
                output_tokens,
                model=model,
                provider=provider,
                cache_read_tokens=cache_read_tokens,
                cache_write_tokens=cache_write_tokens,
                reasoning_tokens=reasoning_tokens,
                estimated=estimated,
            )
            return
        span = trace.get_current_span()
        if not span.is_recording():
            return
        usage = Extracted(
            input_tokens=_count(input_tokens),
            output_tokens=_count(output_tokens),
            cache_read_tokens=_count(cache_read_tokens),
            cache_write_tokens=_count(cache_write_tokens),
            reasoning_tokens=_count(reasoning_tokens),
        )
        attributes = usage_attributes(usage, model, provider, estimated=estimated)
        if model:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = model
        if provider:
            attributes[semconv.GEN_AI_PROVIDER_NAME] = provider
        span.set_attributes(attributes)
