"""RPM nodes inside a host LangGraph agent, as a compiled subgraph, and the build-time key check."""

from __future__ import annotations

import typing
import warnings
from typing import Annotated, Any

import pytest
from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph, add_messages

from langchain_rpm import RPMContext, RPMState, create_inference_graph
from langchain_rpm.errors import MissingStateKeysError, MissingUserIdError
from langchain_rpm.graphs.compose import NODE_READS, add_rpm_nodes, rpm_context
from langchain_rpm.graphs.state import check_host_state, with_rpm_state
from tests.support.agent_fakes import BASE_PROMPT, AgentState, ToolLoopModel, build_agent, movie_facts
from tests.unit.conftest import MOVIE_HISTORY

QUESTION = "A robot falls in love in space."


class State(AgentState, RPMState):
    """The agent's state with the RPM keys mixed in."""


def personalized_agent(rpm: Any, model: ToolLoopModel) -> StateGraph[Any, Any, Any, Any]:
    # The pre-existing agent, plus RPM in a few lines: the mixed-in state, the RPM nodes in front
    # of the agent, and the personalized context in its prompt.
    builder = build_agent(
        State, model, [movie_facts], entry=None, prompt=lambda state: BASE_PROMPT + "\n\n" + rpm_context(state)
    )
    add_rpm_nodes(builder, rpm, after=START, before="agent")
    return builder


def _final(out: dict[str, Any]) -> str:
    return out["messages"][-1].text


def _assert_no_warnings(caught: list[warnings.WarningMessage]) -> None:
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


def test_agent_answers_with_personal_context_sync(rpm):
    rpm.build_user("ada", MOVIE_HISTORY)
    expected = rpm.personalize("ada", QUESTION).answer  # what RPM answers standalone
    model = ToolLoopModel(plan={"movie_facts": "title"})
    graph = personalized_agent(rpm, model).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = graph.invoke({"messages": [HumanMessage(QUESTION)]}, config, context=RPMContext(user_id="ada"))
        second = graph.invoke(
            {"messages": [HumanMessage("Explosions and a chase.")]}, config, context=RPMContext(user_id="ada")
        )
        history = list(graph.get_state_history(config))
    _assert_no_warnings(caught)
    assert f"This user would answer: {expected}" in _final(out)
    assert "118 minutes" in _final(out)  # the agent's own tool loop still runs
    assert [m.type for m in out["messages"]] == ["human", "ai", "tool", "ai"]
    assert out["rpm_prediction"]["query"] == QUESTION
    # Second turn on the same thread: the query is the new last human message, the answer changes.
    assert second["rpm_prediction"]["query"] == "Explosions and a chase."
    assert f"This user would answer: {second['rpm_prediction']['answer']}" in _final(second)
    assert second["rpm_prediction"]["factors_used"] == ["Action"]
    assert len(second["messages"]) == 8
    assert len(history) > 5


async def test_agent_answers_with_personal_context_async(rpm):
    await rpm.abuild_user("ada", MOVIE_HISTORY)
    expected = (await rpm.apersonalize("ada", QUESTION)).answer
    model = ToolLoopModel(plan={"movie_facts": "title"})
    graph = personalized_agent(rpm, model).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1", "user_id": "ada"}}  # the configurable fallback
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = await graph.ainvoke({"messages": [HumanMessage(QUESTION)]}, config)
        state = await graph.aget_state(config)
    _assert_no_warnings(caught)
    assert f"This user would answer: {expected}" in _final(out)
    assert state.values["rpm_prediction"]["answer"] == expected
    assert state.values["rpm_examples"] and state.values["rpm_factors"]


def test_sqlite_checkpointer_round_trips_rpm_state_without_warnings(rpm, tmp_path):
    rpm.build_user("ada", MOVIE_HISTORY)
    model = ToolLoopModel()
    config = {"configurable": {"thread_id": "t"}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with SqliteSaver.from_conn_string(str(tmp_path / "cp.sqlite")) as saver:
            graph = personalized_agent(rpm, model).compile(checkpointer=saver)
            graph.invoke({"messages": [HumanMessage(QUESTION)]}, config, context=RPMContext(user_id="ada"))
        with SqliteSaver.from_conn_string(str(tmp_path / "cp.sqlite")) as saver:  # a fresh reader
            values = personalized_agent(rpm, model).compile(checkpointer=saver).get_state(config).values
    _assert_no_warnings(caught)
    assert values["rpm_prediction"]["answer"] == rpm.personalize("ada", QUESTION).answer
    assert isinstance(values["rpm_features"][0], dict)


def test_missing_state_keys_are_named_at_build_time(rpm):
    class Partial(MessagesState):
        rpm_features: list[dict[str, Any]]
        rpm_prediction: dict[str, Any]

    with pytest.raises(MissingStateKeysError, match=r"'Partial' does not declare rpm_factors, rpm_examples") as info:
        add_rpm_nodes(StateGraph(Partial), rpm)
    assert info.value.missing == ("rpm_factors", "rpm_examples")
    with pytest.raises(MissingStateKeysError, match="mix `RPMState` into your state"):
        add_rpm_nodes(StateGraph(AgentState), rpm)

    class NoQuery(RPMState):
        pass

    check_host_state(NoQuery)  # the standalone RPM state: rpm_query is its query key
    check_host_state(State)


def test_missing_user_id_fails_clearly_in_a_host_graph(rpm):
    rpm.build_user("ada", MOVIE_HISTORY)
    graph = personalized_agent(rpm, ToolLoopModel()).compile()
    with pytest.raises(MissingUserIdError, match=r"RPM needs a user id: pass `context=RPMContext\(user_id=...\)`"):
        graph.invoke({"messages": [HumanMessage(QUESTION)]})
    # A host context object of its own works, as long as it has a `user_id`.
    out = graph.invoke({"messages": [HumanMessage(QUESTION)]}, context={"user_id": "ada", "locale": "en"})
    assert out["rpm_prediction"]["user_id"] == "ada"


def test_each_node_reads_only_its_keys(rpm):
    class Wide(AgentState, RPMState):
        secret: str

    builder = StateGraph(Wide)
    names = add_rpm_nodes(builder, rpm, prefix="persona", after=START, before=END)
    assert names.first == "persona_extract" and names.last == "persona_generate"
    for stage, name in zip(("extract", "retrieve", "generate"), names, strict=True):
        schema = builder.nodes[name].input_schema
        assert set(typing.get_type_hints(schema)) == set(NODE_READS[stage])
    with pytest.raises(ValueError, match=r"already has node\(s\) \['persona_extract'"):
        add_rpm_nodes(builder, rpm, prefix="persona")


def test_typing_typeddict_state_gets_rpm_keys_via_helper(rpm):
    class Plain(typing.TypedDict):  # noqa: TID251  # a typing.TypedDict cannot subclass RPMState on Python < 3.13
        messages: Annotated[list[AnyMessage], add_messages]
        topic: str

    rpm.build_user("ada", MOVIE_HISTORY)
    state_schema = with_rpm_state(Plain)
    assert state_schema.__required_keys__ == {"messages", "topic"}
    builder = StateGraph(state_schema)
    builder.add_node("echo", lambda state: {"messages": [("ai", rpm_context(state))]})
    add_rpm_nodes(builder, rpm, after=START, before="echo")
    builder.add_edge("echo", END)
    out = builder.compile().invoke(
        {"messages": [HumanMessage(QUESTION)], "topic": "films"}, context=RPMContext(user_id="ada")
    )
    assert [m.type for m in out["messages"]] == ["human", "ai"]  # add_messages reducer kept
    assert f"This user would answer: {out['rpm_prediction']['answer']}" in out["messages"][-1].text


@pytest.mark.parametrize("use_async", [False, True])
async def test_compiled_inference_graph_works_as_a_subgraph(rpm, use_async):
    class Parent(MessagesState, RPMState):
        reply: str

    rpm.build_user("ada", MOVIE_HISTORY)
    parent = StateGraph(Parent)
    parent.add_node("rpm", create_inference_graph(rpm.components).compile())
    parent.add_node("reply", lambda state: {"reply": state["rpm_prediction"]["answer"]})
    parent.add_edge(START, "rpm")
    parent.add_edge("rpm", "reply")
    graph = parent.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "sub"}}
    payload = {"messages": [HumanMessage("hi")], "rpm_query": QUESTION}  # the subgraph sees rpm_* keys only
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if use_async:
            out = await graph.ainvoke(payload, config, context=RPMContext(user_id="ada"))
        else:
            out = graph.invoke(payload, config, context=RPMContext(user_id="ada"))
    _assert_no_warnings(caught)
    assert out["reply"] == rpm.personalize("ada", QUESTION).answer
    assert out["rpm_prediction"]["factors_used"] == ["Science themes", "Romance"]
