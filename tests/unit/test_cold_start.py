"""One cold-start rule: a user without a profile gets an empty personalization everywhere, or a strict error."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage
from langgraph.graph import START

from langchain_rpm import RPMContext, RPMRetriever, RPMState, create_inference_graph
from langchain_rpm.agents.middleware import RPMMiddleware
from langchain_rpm.agents.tools import NO_PROFILE, create_rpm_tool
from langchain_rpm.errors import ConfigurationError, UnknownUserError
from langchain_rpm.graphs.compose import add_rpm_nodes, rpm_context
from langchain_rpm.testing import demo_rpm
from tests.support.agent_fakes import BASE_PROMPT, AgentState, ToolLoopModel, build_agent

NEW = RPMContext(user_id="newcomer")
QUERY = "Broke in a day."


@pytest.fixture(scope="module")
def rpm():  # type: ignore[no-untyped-def]
    return demo_rpm()


def test_retriever_gives_no_documents_by_default_and_raises_when_strict(rpm) -> None:  # type: ignore[no-untyped-def]
    assert RPMRetriever.from_rpm(rpm, user_id="newcomer").invoke(QUERY) == []
    with pytest.raises(UnknownUserError, match="no profile for user 'newcomer'"):
        RPMRetriever.from_rpm(rpm, user_id="newcomer", on_unknown_user="raise").invoke(QUERY)


async def test_tool_says_there_is_no_personalization_yet(rpm) -> None:  # type: ignore[no-untyped-def]
    config = {"configurable": {"user_id": "newcomer"}}
    for mode in ("answer", "examples"):
        tool = create_rpm_tool(rpm, mode=mode)  # type: ignore[arg-type]
        assert tool.invoke({"query": QUERY}, config=config) == NO_PROFILE
        assert await tool.ainvoke({"query": QUERY}, config=config) == NO_PROFILE
    with pytest.raises(UnknownUserError):
        create_rpm_tool(rpm, on_unknown_user="raise").invoke({"query": QUERY}, config=config)


def test_middleware_leaves_the_prompt_unchanged_or_raises(rpm) -> None:  # type: ignore[no-untyped-def]
    model = ToolLoopModel()
    agent = create_agent(model, tools=[], system_prompt=BASE_PROMPT, middleware=[RPMMiddleware(rpm)])
    agent.invoke({"messages": [HumanMessage(QUERY)]}, context=NEW)
    assert model.system_prompts == [BASE_PROMPT]
    strict = create_agent(ToolLoopModel(), tools=[], middleware=[RPMMiddleware(rpm, on_unknown_user="raise")])
    with pytest.raises(UnknownUserError):
        strict.invoke({"messages": [HumanMessage(QUERY)]}, context=NEW)


async def test_inference_graph_gives_empty_keys_without_a_model_call(rpm) -> None:  # type: ignore[no-untyped-def]
    calls = rpm.components.llm.call_count
    graph = create_inference_graph(rpm.components).compile()
    out = await graph.ainvoke({"rpm_query": QUERY}, context=NEW)
    assert (out["rpm_features"], out["rpm_factors"], out["rpm_examples"], out["rpm_prediction"]) == ([], [], [], None)
    assert rpm.components.llm.call_count == calls
    with pytest.raises(UnknownUserError):
        create_inference_graph(rpm.components, on_unknown_user="raise").compile().invoke(
            {"rpm_query": QUERY}, context=NEW
        )


def test_host_graph_nodes_run_the_host_unpersonalized_or_raise(rpm) -> None:  # type: ignore[no-untyped-def]
    class State(AgentState, RPMState):
        pass

    def host(**options: Any) -> Any:
        model = ToolLoopModel()
        builder = build_agent(State, model, [], entry=None, prompt=lambda s: BASE_PROMPT + rpm_context(s))
        add_rpm_nodes(builder, rpm, after=START, before="agent", **options)
        return builder.compile(), model

    graph, model = host()
    out = graph.invoke({"messages": [HumanMessage(QUERY)]}, context=NEW)
    assert out["messages"][-1].type == "ai" and model.system_prompts == [BASE_PROMPT]
    strict, _ = host(on_unknown_user="raise")
    with pytest.raises(UnknownUserError):
        strict.invoke({"messages": [HumanMessage(QUERY)]}, context=NEW)


def test_the_facade_stays_strict_and_bad_rules_are_refused(rpm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownUserError):
        rpm.personalize("newcomer", QUERY)
    with pytest.raises(ConfigurationError, match="'empty' or 'raise'"):
        create_rpm_tool(rpm, on_unknown_user="maybe")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'empty' or 'raise'"):
        RPMMiddleware(rpm, on_unknown_user="maybe")  # type: ignore[arg-type]
