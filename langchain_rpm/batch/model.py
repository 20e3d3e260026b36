"""A ``ChatOpenAI`` whose calls go out through the Batch API and come back exactly as online replies.

:class:`BatchChatOpenAI` builds the very request body ``ChatOpenAI`` would send
(``_get_request_payload``), hands it to a :class:`~langchain_rpm.batch._coordinator.BatchCoordinator`
under a ``custom_id`` that is a digest of the body, waits for the line's reply, and turns it into a
result the way ``ChatOpenAI`` does (``_create_chat_result``; replies to a ``response_format`` go
through the ``openai`` SDK's own parser first, as ``chat.completions.parse`` does online). Tool
binding, structured output, RPM's retry on invalid replies, callbacks and usage metadata therefore
behave as online. A line that failed, or whose batch expired or was refused, is sent online with the
parent class's own call, under a small concurrency bound.

Example:
    >>> from langchain_core.messages import HumanMessage
    >>> request = batch_request(ChatOpenAI(model="gpt-4o-mini", api_key="unused"), [HumanMessage("Hi")], None, {})
    >>> request.body["messages"], request.custom_id[:4], request.parse
    ([{'content': 'Hi', 'role': 'user'}], 'rpm-', False)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langchain_openai import ChatOpenAI
from openai import omit
from openai.lib._parsing import parse_chat_completion, type_to_response_format_param, validate_input_tools
from openai.types.chat import ChatCompletion
from pydantic import PrivateAttr

from langchain_rpm._plans import Call, CallLimiter, Plan, arun, run
from langchain_rpm.batch._coordinator import BatchCoordinator, Reply
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.types import TokenUsage

_CLIENT_ONLY = ("stream", "extra_headers", "extra_query", "extra_body", "timeout")
"""Payload keys the ``openai`` client consumes itself; they are not part of the request body."""

_NO_RESPONSES_API = (
    "batch_api sends chat completions, but this model uses the Responses API: create it with use_responses_api=False"
)


@dataclass(frozen=True)
class BatchRequest:
    """One chat-completions request as a batch line, with what is needed to parse its reply like online."""

    custom_id: str
    body: dict[str, Any]
    parse: bool
    response_format: Any = None
    tools: Any = omit


def batch_request(
    model: ChatOpenAI, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
) -> BatchRequest | None:
    """The batch line ``model`` would send online for ``messages``; ``None`` when it cannot be a line.

    Raises:
        ConfigurationError: The model talks to the Responses API, which these batches do not call.
    """
    payload = model._get_request_payload(messages, stop=stop, **kwargs)
    if model._use_responses_api(payload):
        raise ConfigurationError(_NO_RESPONSES_API)
    body = {key: value for key, value in payload.items() if key not in _CLIENT_ONLY}
    body.update(payload.get("extra_body") or {})
    parse = "response_format" in payload  # ChatOpenAI calls chat.completions.parse for these
    tools: Any = omit
    if parse:
        body["response_format"] = type_to_response_format_param(payload["response_format"])
        tools = validate_input_tools(payload["tools"]) if "tools" in payload else omit
    try:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    except (TypeError, ValueError):
        return None  # not plain JSON: only the client can send it
    return BatchRequest(f"rpm-{digest[:48]}", body, parse, payload.get("response_format"), tools)


def result_tokens(result: ChatResult) -> TokenUsage:
    """The tokens a chat result's messages report (one call)."""
    usage = [getattr(g.message, "usage_metadata", None) or {} for g in result.generations]
    return TokenUsage(
        llm_calls=1,
        input_tokens=sum(int(u.get("input_tokens", 0)) for u in usage),
        output_tokens=sum(int(u.get("output_tokens", 0)) for u in usage),
    )


class BatchChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` that answers through the Batch API (half price), with online fallback per request.

    Build it from a configured model with :meth:`from_model`; a bare instance needs :meth:`attach`.

    Example:
        >>> import tempfile, pathlib
        >>> model = ChatOpenAI(model="gpt-4o-mini", api_key="unused", base_url="http://127.0.0.1:9/v1")
        >>> with BatchCoordinator(model.root_client, pathlib.Path(tempfile.mkdtemp()) / "s.sqlite") as coordinator:
        ...     batched = BatchChatOpenAI.from_model(model, coordinator)
        ...     batched.model_name, batched.disable_streaming
        ('gpt-4o-mini', True)
    """

    _coordinator: BatchCoordinator | None = PrivateAttr(default=None)
    _online: CallLimiter = PrivateAttr(default_factory=lambda: CallLimiter(8))
    _source: ChatOpenAI | None = PrivateAttr(default=None)

    @classmethod
    def from_model(
        cls, model: ChatOpenAI, coordinator: BatchCoordinator, *, online_concurrency: int = 8
    ) -> BatchChatOpenAI:
        """A batching copy of ``model`` (same client, settings and name) sending through ``coordinator``."""
        if not isinstance(model, ChatOpenAI):
            raise ConfigurationError(
                f"batch_api needs an OpenAI chat model (langchain_openai.ChatOpenAI), got {type(model).__name__}"
            )
        fields = {**dict(model), "streaming": False, "disable_streaming": True}
        batched = cls.model_construct(_fields_set={*model.model_fields_set, "streaming", "disable_streaming"}, **fields)
        batched._source = model
        return batched.attach(coordinator, online_concurrency=online_concurrency)

    def attach(self, coordinator: BatchCoordinator, *, online_concurrency: int = 8) -> BatchChatOpenAI:
        """Send this model's calls through ``coordinator``; at most ``online_concurrency`` fallbacks at once."""
        if self._use_responses_api({}):
            raise ConfigurationError(_NO_RESPONSES_API)
        self._coordinator = coordinator
        self._online = CallLimiter(online_concurrency)
        return self

    def _get_llm_string(self, stop: list[str] | None = None, **kwargs: Any) -> str:
        """The source model's LLM-cache key: a cache fills and answers the same online and batched."""
        if self._source is not None:
            return self._source._get_llm_string(stop, **kwargs)
        return super()._get_llm_string(stop, **kwargs)

    @property
    def coordinator(self) -> BatchCoordinator:
        """The coordinator this model sends through."""
        if self._coordinator is None:
            raise ConfigurationError("BatchChatOpenAI has no coordinator: build it with BatchChatOpenAI.from_model")
        return self._coordinator

    def _from_reply(self, request: BatchRequest, reply: dict[str, Any]) -> ChatResult:
        """The reply body as ``ChatOpenAI`` turns an online response into a result."""
        completion = ChatCompletion.model_construct(**reply)  # as the SDK builds responses: unvalidated
        if request.parse:
            completion = parse_chat_completion(
                response_format=request.response_format, input_tools=request.tools, chat_completion=completion
            )
        return self._create_chat_result(completion, {})

    def _answer(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any], online: Call
    ) -> Plan[ChatResult]:
        """Answer from the request's batch line; with ``online`` (``ChatOpenAI``'s own call) when it did not come back."""
        coordinator = self.coordinator
        request = batch_request(self, messages, stop, kwargs)
        with coordinator.busy():
            reply: Reply = None
            if request is not None:
                future = coordinator.submit(request.custom_id, request.body)
                reply = yield Call(future.result, afn=lambda: asyncio.wrap_future(future))
            if request is None or reply is None:
                result: ChatResult = yield online
                coordinator.record_online(result_tokens(result))
                return result
        return self._from_reply(request, reply)

    def _online_call(self, *args: Any, **kwargs: Any) -> ChatResult:
        with self._online.hold():
            return super()._generate(*args, **kwargs)

    async def _aonline_call(self, *args: Any, **kwargs: Any) -> ChatResult:
        async with self._online.ahold():
            return await super()._agenerate(*args, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Answer through the batch (the calling thread waits on it); online when the line did not come back."""
        online = Call(self._online_call, args=(messages, stop, run_manager), kwargs=kwargs)
        return run(self._answer(messages, stop, kwargs, online))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Async :meth:`_generate`."""
        online = Call(self._online_call, afn=self._aonline_call, args=(messages, stop, run_manager), kwargs=kwargs)
        return await arun(self._answer(messages, stop, kwargs, online))
