"""Test doubles in one place: a deterministic tool-calling fake chat model, and the offline demo model.

LangChain's stock fake chat models do not implement ``bind_tools``, so ``with_structured_output``
fails on them. :class:`FakeStructuredChatModel` records the tool schemas it is bound to and replies
with a tool call whose arguments are a pure function of the messages (safe under concurrent
``batch``/``abatch``). An optional fixed ``delay`` simulates model latency for benchmarks.

:func:`demo_chat_model` is that model answering every RPM and baseline prompt with simple
deterministic rules (:func:`demo_responder`): the README, notebooks, doctests and the evaluation's
dry run use it offline. Numbers it produces measure the plumbing, never a model's quality.

As an *agent's own* model (tools bound without a forced ``tool_choice``, as ``create_agent`` and
LangGraph's ``ToolNode`` loops do) it behaves like a chat model in a tool loop: on a new user message it
calls the first bound tool once, with the message text as its text arguments; after the tool's result it
answers in text, quoting that result, and the turn ends (:func:`agent_turn`).

Example:
    >>> from pydantic import BaseModel
    >>> class Answer(BaseModel):
    ...     answer: str
    >>> model = FakeStructuredChatModel(responder=lambda messages, schema: {"answer": "42"})
    >>> model.with_structured_output(Answer).invoke("What is the answer?")
    Answer(answer='42')
    >>> model.call_count
    1
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

from langchain_rpm._demo import demo_responder as demo_responder  # re-exported: every test double lives here
from langchain_rpm._demo import fill_schema as fill_schema

Responder = Callable[[list[BaseMessage], dict[str, Any]], dict[str, Any]]
"""``(messages, tool_json_schema) -> tool-call arguments``; the schema's ``title`` is the tool's name."""


def _tool_arguments(function: dict[str, Any], text: str) -> dict[str, Any]:
    """A tool's required arguments: text ones get ``text``, the others a placeholder from the schema."""
    parameters = function.get("parameters", {})
    properties = parameters.get("properties", {})
    required = parameters.get("required", list(properties))
    return {
        key: text if properties[key].get("type") == "string" else fill_schema(properties[key], text, root=parameters)
        for key in required
        if key in properties
    }


def agent_turn(messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> AIMessage:
    """An agent model's reply: one call of the first tool per user turn, then a text answer that ends the turn.

    Example:
        >>> from langchain_core.messages import HumanMessage, ToolMessage
        >>> tool = {"type": "function", "function": {"name": "lookup", "parameters": {
        ...     "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}
        >>> call = agent_turn([HumanMessage("Hi")], [tool])
        >>> call.tool_calls[0]["name"], call.tool_calls[0]["args"]
        ('lookup', {'query': 'Hi'})
        >>> result = ToolMessage("It is 4.", tool_call_id=call.tool_calls[0]["id"], name="lookup")
        >>> agent_turn([HumanMessage("Hi"), call, result], [tool]).content
        'Answer to "Hi" (from lookup: It is 4.)'
    """
    start = max((i for i, m in enumerate(messages) if m.type == "human"), default=-1)
    question = messages[start].text if start >= 0 else ""
    turn = list(messages[start + 1 :])
    called = any(isinstance(m, AIMessage) and m.tool_calls for m in turn)
    if tools and question and not called:
        function = tools[0]["function"]
        args = _tool_arguments(function, question)
        call_id = "call_" + hashlib.sha256(repr((function["name"], args, len(messages))).encode()).hexdigest()[:12]
        return AIMessage(content="", tool_calls=[{"name": function["name"], "args": args, "id": call_id}])
    results = [m for m in turn if isinstance(m, ToolMessage)]
    if not results:
        return AIMessage(content=f'Answer to "{question}"')
    first_line = (results[-1].text.splitlines() or [""])[0]
    return AIMessage(content=f'Answer to "{question}" (from {results[-1].name or "a tool"}: {first_line})')


def _with_usage(message: AIMessage, messages: list[BaseMessage], completion_chars: int) -> ChatResult:
    """``message`` with token usage estimated as characters / 4, as a chat result."""
    prompt_tokens = max(1, sum(len(str(m.content)) for m in messages) // 4)
    output_tokens = max(1, completion_chars // 4)
    message.usage_metadata = {
        "input_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "total_tokens": prompt_tokens + output_tokens,
    }
    return ChatResult(generations=[ChatGeneration(message=message)])


def default_responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
    """Fill the tool's schema with words from the last message."""
    return cast(dict[str, Any], fill_schema(schema, str(messages[-1].content) if messages else ""))


class FakeStructuredChatModel(BaseChatModel):
    """Deterministic tool-calling chat model for tests and benchmarks.

    Args:
        responder: Pure function ``(messages, tool_schema) -> arguments``; default fills the schema.
        delay: Seconds each call takes (``time.sleep`` / ``asyncio.sleep``), to simulate latency.
        model: Name reported in profiles.
    """

    responder: Responder = default_responder
    delay: float = 0.0
    model: str = "fake-structured"
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: int = PrivateAttr(default=0)
    _bound_schemas: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake-structured-chat"

    @property
    def call_count(self) -> int:
        """Chat completions generated so far (cache hits are not counted)."""
        return self._calls

    @property
    def bound_schemas(self) -> list[dict[str, Any]]:
        """Every tool schema this model was bound to, in order."""
        return list(self._bound_schemas)

    def reset(self) -> None:
        """Zero the call counter."""
        with self._lock:
            self._calls = 0

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools like a real chat model (their schemas are recorded in :attr:`bound_schemas`)."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        with self._lock:
            self._bound_schemas.extend(formatted)
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _dispatch(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        tools = kwargs.get("tools")
        if tools and kwargs.get("tool_choice") is None:  # tools offered, none forced: an agent's own model
            with self._lock:
                self._calls += 1
            message = agent_turn(messages, tools)
            return _with_usage(message, messages, len(message.text) + len(repr(message.tool_calls)))
        return self._reply(messages, tools)

    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]] | None) -> ChatResult:
        with self._lock:
            self._calls += 1
        if tools:
            function = tools[0]["function"]  # the responder sees the schema titled with the tool's name
            args = self.responder(messages, {"title": function["name"], **function.get("parameters", {})})
            call_id = "call_" + hashlib.sha256(repr((function["name"], args)).encode()).hexdigest()[:12]
            message = AIMessage(content="", tool_calls=[{"name": function["name"], "args": args, "id": call_id}])
            completion_chars = len(repr(args))
        else:
            text = str(self.responder(messages, {"type": "object", "properties": {"text": {"type": "string"}}})["text"])
            message = AIMessage(content=text)
            completion_chars = len(text)
        return _with_usage(message, messages, completion_chars)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay:
            time.sleep(self.delay)
        return self._dispatch(messages, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._dispatch(messages, kwargs)


# -- the offline demo model (its rules: langchain_rpm/_demo.py) ----------------------------------


def demo_chat_model(**kwargs: Any) -> FakeStructuredChatModel:
    """A :class:`FakeStructuredChatModel` answering with :func:`demo_responder` (named ``demo-deterministic``)."""
    kwargs.setdefault("model", "demo-deterministic")
    return FakeStructuredChatModel(responder=demo_responder, **kwargs)


DEMO_HISTORY: list[dict[str, str]] = [
    {"id": "1", "input": "Arrived broken, the plastic cracked.", "response": "1"},
    {"id": "2", "input": "Sturdy build and fast delivery.", "response": "5"},
    {"id": "3", "input": "Works, but shipping took three weeks.", "response": "3"},
]
"""A three-item LaMP-3-style history (product reviews and star ratings) for examples."""


def demo_rpm(task: str = "lamp3", *, user: str | None = "ada", **options: Any) -> Any:
    """An :class:`~langchain_rpm.RPM` on the demo model, fake embeddings and a fresh temporary store.

    With ``user``, that user is built from :data:`DEMO_HISTORY` (a LaMP-3 history). For examples
    and tests only: nothing here calls a real model.

    Example:
        >>> rpm = demo_rpm()
        >>> rpm.profile("ada").num_items
        3
    """
    import tempfile

    from langchain_core.embeddings import DeterministicFakeEmbedding

    from langchain_rpm.rpm import RPM
    from langchain_rpm.store import RPMStore

    store = RPMStore(tempfile.mkdtemp(prefix="rpm-demo-"), embeddings=DeterministicFakeEmbedding(size=16))
    rpm = RPM(demo_chat_model(), task=task, store=store, **options)
    if user is not None:
        rpm.build_user(user, DEMO_HISTORY)
    return rpm
