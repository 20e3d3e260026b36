"""Chat-model plumbing: resolving a model, structured calls with validation retry, usage tracking.

Example:
    >>> from langchain_rpm.llm import UsageTracker
    >>> UsageTracker().usage.llm_calls
    0
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Generic, TypeVar

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.outputs import LLMResult
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, ValidationError

from langchain_rpm.prompts import RETRY_ON_INVALID
from langchain_rpm.types import TokenUsage

DEFAULT_MODEL = "gpt-4o-mini"
"""The paper's backbone; used when no model is given."""

SchemaT = TypeVar("SchemaT", bound=BaseModel)


PARSE_ERRORS = (OutputParserException, ValidationError)
"""A reply arrived but does not fit the schema: retried with the error fed back."""


class StructuredOutputError(RuntimeError):
    """The model kept returning output that does not fit the schema."""


def resolve_chat_model(model: BaseChatModel | str | None = None) -> BaseChatModel:
    """Return a chat model: pass one through, build one from a name, or default to ``gpt-4o-mini``.

    A string is resolved with ``langchain.chat_models.init_chat_model`` when ``langchain`` is installed
    (``"anthropic:claude-..."``), else as an OpenAI model name. ``ChatOpenAI`` honours
    ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``, so any OpenAI-compatible server works.
    """
    if isinstance(model, BaseChatModel):
        return model
    name = model or DEFAULT_MODEL
    if ":" in name:
        try:
            from langchain.chat_models import init_chat_model
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise ImportError(f"model {name!r} needs `pip install 'langchain-rpm[agents]'` (langchain)") from exc
        return init_chat_model(name, temperature=0)
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=name, temperature=0)


def model_name(model: BaseChatModel) -> str:
    """Best-effort readable name of a chat model, for profiles and reports."""
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


class UsageTracker(BaseCallbackHandler):
    """Callback handler that counts LLM calls and tokens, thread-safe.

    Pass it in ``config={"callbacks": [tracker]}``; it sees every chat-model call below that point.

    Example:
        >>> tracker = UsageTracker()
        >>> # chain.invoke(x, config={"callbacks": [tracker]}); tracker.usage.llm_calls
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.usage = TokenUsage()

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        input_tokens = output_tokens = 0
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                meta = getattr(message, "usage_metadata", None) or {}
                input_tokens += int(meta.get("input_tokens", 0))
                output_tokens += int(meta.get("output_tokens", 0))
        with self._lock:
            self.usage = self.usage + TokenUsage(llm_calls=1, input_tokens=input_tokens, output_tokens=output_tokens)


class CallLimiter:
    """Bounds the LLM calls in flight across every stage and user that share it (threads and asyncio).

    Example:
        >>> limiter = CallLimiter(4)
        >>> with limiter.hold():
        ...     pass
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.limit = limit
        self._threads = threading.BoundedSemaphore(limit)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold one slot (blocking threads wait)."""
        with self._threads:
            yield

    @asynccontextmanager
    async def ahold(self) -> AsyncIterator[None]:
        """Hold one slot of the running event loop's semaphore."""
        loop = asyncio.get_running_loop()
        semaphore = self._loops.get(loop)
        if semaphore is None:
            semaphore = self._loops.setdefault(loop, asyncio.Semaphore(self.limit))
        async with semaphore:
            yield


class StructuredCaller(Generic[SchemaT]):
    """Calls a chat model for one pydantic schema; a reply that fails validation is retried with the error.

    Transport faults (rate limits, 5xx, timeouts) are left to the model client's own retry
    (``ChatOpenAI(max_retries=...)``); this class handles replies that arrive but do not parse.

    Args:
        llm: Any chat model that supports ``with_structured_output``.
        schema: The pydantic model the reply must fill.
        method: Structured-output method (``"json_schema"``, ``"function_calling"``, ``"json_mode"``);
            ``None`` uses the provider's default. Local llama.cpp servers need ``"function_calling"``.
        max_retries: How many times a reply that fails the schema is retried (with the error fed back).
        limiter: Shared bound on concurrent calls (see :class:`CallLimiter`).
    """

    def __init__(
        self,
        llm: BaseChatModel,
        schema: type[SchemaT],
        *,
        method: str | None = None,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {}  # no include_raw: its map/fallback wrappers cost ~2 ms CPU per call
        if method is not None:
            kwargs["method"] = method
        self.schema = schema
        self.max_retries = max_retries
        self.limiter = limiter
        # A reply whose body is cut mid-JSON surfaces as JSONDecodeError, which the OpenAI client does not
        # retry; LangChain's retry helper re-sends it (transport errors stay with the client's own retry).
        self._runnable: Runnable[Any, Any] = llm.with_structured_output(schema, **kwargs).with_retry(
            retry_if_exception_type=(json.JSONDecodeError,), stop_after_attempt=max_retries + 1
        )

    def invoke(self, prompt: PromptValue | list[BaseMessage], config: RunnableConfig | None = None) -> SchemaT:
        """Call the model and return a validated ``schema`` instance."""
        messages = _messages(prompt)
        error = ""
        for _ in range(self.max_retries + 1):
            try:
                if self.limiter is None:
                    result = self._runnable.invoke(messages, config)
                else:
                    with self.limiter.hold():
                        result = self._runnable.invoke(messages, config)
            except PARSE_ERRORS as exc:
                parsed, error = None, _short(exc)
            else:
                parsed, error = self._check(result)
            if parsed is not None:
                return parsed
            messages = [*_messages(prompt), HumanMessage(RETRY_ON_INVALID.format(error=error))]
        raise StructuredOutputError(
            f"{self.schema.__name__}: no valid reply after {self.max_retries + 1} tries: {error}"
        )

    async def ainvoke(self, prompt: PromptValue | list[BaseMessage], config: RunnableConfig | None = None) -> SchemaT:
        """Async twin of :meth:`invoke`."""
        messages = _messages(prompt)
        error = ""
        for _ in range(self.max_retries + 1):
            try:
                if self.limiter is None:
                    result = await self._runnable.ainvoke(messages, config)
                else:
                    async with self.limiter.ahold():
                        result = await self._runnable.ainvoke(messages, config)
            except PARSE_ERRORS as exc:
                parsed, error = None, _short(exc)
            else:
                parsed, error = self._check(result)
            if parsed is not None:
                return parsed
            messages = [*_messages(prompt), HumanMessage(RETRY_ON_INVALID.format(error=error))]
        raise StructuredOutputError(
            f"{self.schema.__name__}: no valid reply after {self.max_retries + 1} tries: {error}"
        )

    def _check(self, result: Any) -> tuple[SchemaT | None, str]:
        if isinstance(result, self.schema):
            return result, ""
        if isinstance(result, dict):
            try:
                return self.schema.model_validate(result), ""
            except ValidationError as exc:
                return None, _short(exc)
        return None, "the reply did not call the tool with the required arguments"


def _messages(prompt: PromptValue | list[BaseMessage]) -> list[BaseMessage]:
    return prompt.to_messages() if isinstance(prompt, PromptValue) else list(prompt)


def _short(error: object, limit: int = 600) -> str:
    text = str(error)
    return text if len(text) <= limit else text[:limit] + "..."
