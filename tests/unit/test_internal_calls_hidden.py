"""RPM's own model calls inside a host graph stay out of the host's ``stream_mode="messages"``."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessageChunk, HumanMessage
from langgraph.graph import START

from langchain_rpm import RPMContext, RPMRetriever, RPMState
from langchain_rpm.agents.learning import rpm_learn_node
from langchain_rpm.agents.middleware import RPMMiddleware
from langchain_rpm.agents.tools import create_rpm_tool
from langchain_rpm.graphs.compose import add_rpm_nodes, rpm_context
from langchain_rpm.testing import demo_chat_model, demo_rpm
from tests.support.agent_fakes import AgentState, ToolLoopModel, build_agent

RPM_SCHEMAS = {"FactorAwareFeatures", "PersonalizedAnswer", "ExtractedFeatures", "ReasoningOutput"}


@pytest.fixture(scope="module")
def rpm():  # type: ignore[no-untyped-def]
    return demo_rpm()


def _streamed(chunks: list[Any]) -> tuple[set[str], set[str]]:
    """Nodes that emitted messages, and the tool names the streamed AI messages called."""
    nodes = {meta["langgraph_node"] for _, meta in chunks}
    called = {c["name"] for m, _ in chunks if isinstance(m, AIMessageChunk) for c in m.tool_call_chunks if c["name"]}
    called |= {c["name"] for m, _ in chunks for c in getattr(m, "tool_calls", []) or []}
    return nodes, called


def test_create_agent_with_the_rpm_tool_streams_only_its_own_messages(rpm) -> None:  # type: ignore[no-untyped-def]
    agent = create_agent(demo_chat_model(), tools=[create_rpm_tool(rpm)], context_schema=RPMContext)
    chunks = list(
        agent.stream({"messages": [HumanMessage("Broke in a day.")]}, stream_mode="messages", context=RPMContext("ada"))
    )
    nodes, called = _streamed(chunks)
    assert nodes == {"model", "tools"}
    assert called == {"personalize_for_user"} and not called & RPM_SCHEMAS


async def test_host_graph_with_rpm_nodes_streams_only_the_hosts_messages(rpm) -> None:  # type: ignore[no-untyped-def]
    class State(AgentState, RPMState):
        pass

    builder = build_agent(State, ToolLoopModel(), [], entry=None, prompt=lambda s: "Movie bot.\n" + rpm_context(s))
    add_rpm_nodes(builder, rpm, after=START, before="agent")
    modes: dict[str, list[Any]] = {"messages": [], "custom": []}
    async for mode, chunk in builder.compile().astream(
        {"messages": [HumanMessage("Broke in a day.")]}, stream_mode=["messages", "custom"], context=RPMContext("ada")
    ):
        modes[mode].append(chunk)
    nodes, called = _streamed(modes["messages"])
    assert nodes == {"agent"} and not called & RPM_SCHEMAS
    assert [event["stage"] for event in modes["custom"]] == ["query_features", "retrieve", "generate"]


def test_middleware_retriever_and_learning_node_are_hidden(rpm) -> None:  # type: ignore[no-untyped-def]
    retriever = RPMRetriever.from_rpm(rpm, k=1)

    def lookup(state: dict[str, Any]) -> dict[str, Any]:
        retriever.invoke(state["messages"][-1].text)
        return {}

    class State(AgentState, RPMState):
        user_answer: str

    builder = build_agent(State, ToolLoopModel(), [], entry=None)
    builder.add_node("lookup", lookup)
    builder.add_node("learn", rpm_learn_node(rpm, input_key="rpm_query", response_key="user_answer"))
    builder.add_edge(START, "lookup")
    builder.add_edge("lookup", "learn")
    builder.add_edge("learn", "agent")
    state = {"messages": [HumanMessage("Cheap plastic.")], "rpm_query": "Cheap plastic.", "user_answer": "1"}
    chunks = list(builder.compile().stream(state, stream_mode="messages", context=RPMContext("ada")))
    assert _streamed(chunks)[0] == {"agent"}

    mw_agent = create_agent(
        demo_chat_model(), tools=[], middleware=[RPMMiddleware(rpm, k=1)], context_schema=RPMContext
    )
    chunks = list(
        mw_agent.stream({"messages": [HumanMessage("Late.")]}, stream_mode="messages", context=RPMContext("ada"))
    )
    assert _streamed(chunks)[0] == {"model"}
