"""A deterministic tool-calling agent model and a small pre-existing agent graph for integration tests.

``ToolLoopModel`` replies as a pure function of the messages: to a new human message it calls the
planned tools (those bound to it), with the message text as argument; after tool results it gives a
final answer that quotes the system prompt and the tool results, so a test can see which context
reached the model.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph import END, START, StateGraph, add_messages
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import Field, PrivateAttr
from typing_extensions import TypedDict


class ToolLoopModel(BaseChatModel):
    """Calls ``plan`` tools (name -> argument that gets the user's text) on a new human message, then answers."""

    plan: dict[str, str] = Field(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _systems: list[str] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "tool-loop-fake"

    @property
    def system_prompts(self) -> list[str]:
        """The system prompt of every call, in order."""
        return list(self._systems)

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]] | None) -> ChatResult:
        system = "\n".join(m.text for m in messages if m.type == "system")
        with self._lock:
            self._systems.append(system)
        bound = {t["function"]["name"] for t in tools or []}
        last = messages[-1]
        if last.type == "human":
            calls = [
                {
                    "name": name,
                    "args": {arg: last.text},
                    "id": "call_" + hashlib.sha256(f"{len(messages)}{name}{last.text}".encode()).hexdigest()[:10],
                }
                for name, arg in self.plan.items()
                if name in bound
            ]
            if calls:
                return ChatResult(generations=[ChatGeneration(message=AIMessage(content="", tool_calls=calls))])
        turn = max(i for i, m in enumerate(messages) if m.type == "human")
        results = [m.text for m in messages[turn:] if m.type == "tool"]
        text = "\n".join(["FINAL ANSWER", f"[system]\n{system}", *(f"[tool]\n{r}" for r in results)])
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return self._reply(messages, kwargs.get("tools"))

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return self._reply(messages, kwargs.get("tools"))


@tool
def movie_facts(title: str) -> str:
    """Facts about a movie: runtime and year."""
    return f"{title[:40]}: 118 minutes, released 2019."


class AgentState(TypedDict):
    """A plain chat agent's state."""

    messages: Annotated[list[AnyMessage], add_messages]


BASE_PROMPT = "You are a helpful movie assistant."


def build_agent(
    state_schema: type[Any],
    model: BaseChatModel,
    tools: Sequence[BaseTool],
    *,
    entry: str | None = START,
    prompt: Callable[[dict[str, Any]], str] = lambda state: BASE_PROMPT,
) -> StateGraph[Any, Any, Any, Any]:
    """The 'pre-existing' agent: ``agent <-> tools`` loop; ``entry=None`` leaves the way in to the caller."""

    def agent(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        reply = model.bind_tools(tools).invoke([SystemMessage(prompt(state)), *state["messages"]], config)
        return {"messages": [reply]}

    async def aagent(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        reply = await model.bind_tools(tools).ainvoke([SystemMessage(prompt(state)), *state["messages"]], config)
        return {"messages": [reply]}

    from langchain_core.runnables import RunnableLambda

    builder = StateGraph(state_schema)
    builder.add_node("agent", RunnableLambda(agent, afunc=aagent, name="agent"))
    builder.add_node("tools", ToolNode(list(tools)))
    if entry is not None:
        builder.add_edge(entry, "agent")
    builder.add_conditional_edges("agent", tools_condition, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder
