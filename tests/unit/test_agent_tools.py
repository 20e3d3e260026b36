"""The RPM agent tool in a pre-existing agent's tool loop: user from ToolRuntime, sync and async."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from langchain_rpm import RPMContext
from langchain_rpm.agents.tools import create_rpm_tool
from langchain_rpm.components import RPMComponents
from langchain_rpm.errors import MissingUserIdError
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.agent_fakes import AgentState, ToolLoopModel, build_agent, movie_facts
from tests.support.rpm_fakes import rpm_responder
from tests.unit.conftest import MOVIE_HISTORY

QUESTION = "A robot falls in love in space."


def _agent(tool: Any, *, checkpointer: Any = None) -> Any:
    model = ToolLoopModel(plan={tool.name: "query", "movie_facts": "title"})
    return build_agent(AgentState, model, [movie_facts, tool]).compile(checkpointer=checkpointer)


def _tool_message(out: dict[str, Any], name: str) -> ToolMessage:
    return next(m for m in out["messages"] if isinstance(m, ToolMessage) and m.name == name)


@pytest.mark.parametrize("use_async", [False, True])
async def test_agent_calls_the_answer_tool_and_uses_it(rpm, use_async):
    rpm.build_user("ada", MOVIE_HISTORY)
    expected = rpm.personalize("ada", QUESTION)
    graph = _agent(create_rpm_tool(rpm), checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    payload = {"messages": [HumanMessage(QUESTION)]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if use_async:
            out = await graph.ainvoke(payload, config, context=RPMContext(user_id="ada"))
            await graph.aget_state(config)
        else:
            out = graph.invoke(payload, config, context=RPMContext(user_id="ada"))
            graph.get_state(config)
    assert [str(w.message) for w in caught] == []
    message = _tool_message(out, "personalize_for_user")
    assert message.content.startswith(f"This user would answer: {expected.answer}\nTheir reasoning: ")
    assert message.artifact["answer"] == expected.answer
    assert message.artifact["factors_used"] == expected.factors_used
    assert message.artifact["example_ids"] == expected.example_ids
    assert f"This user would answer: {expected.answer}" in out["messages"][-1].text  # reached the final answer


def test_user_id_falls_back_to_configurable_and_is_required(rpm):
    rpm.build_user("ada", MOVIE_HISTORY)
    graph = _agent(create_rpm_tool(rpm))
    out = graph.invoke({"messages": [HumanMessage(QUESTION)]}, {"configurable": {"user_id": "ada"}})
    assert _tool_message(out, "personalize_for_user").artifact["user_id"] == "ada"
    with pytest.raises(MissingUserIdError, match="needs the user"):
        graph.invoke({"messages": [HumanMessage(QUESTION)]})


def test_unknown_user_gets_a_readable_no_profile_message(rpm):
    graph = _agent(create_rpm_tool(rpm))
    out = graph.invoke({"messages": [HumanMessage(QUESTION)]}, context=RPMContext(user_id="ghost"))
    message = _tool_message(out, "personalize_for_user")
    assert message.status == "success" and message.artifact is None
    assert message.content.startswith("No personalization for this user yet")


@pytest.mark.parametrize(("retrieval", "llm_calls"), [("query", 0), ("features", 1)])
def test_examples_mode_retrieves_reasoning_examples(rpm, llm, retrieval, llm_calls):
    rpm.build_user("ada", MOVIE_HISTORY)
    llm.reset()
    tool = create_rpm_tool(rpm, mode="examples", retrieval=retrieval, k=2)
    assert tool.name == "user_reasoning_examples"
    out = _agent(tool).invoke({"messages": [HumanMessage(QUESTION)]}, context=RPMContext(user_id="ada"))
    message = _tool_message(out, tool.name)
    assert llm.call_count == llm_calls
    assert len(message.artifact) == 2
    ids = {item["id"] for item in MOVIE_HISTORY}
    assert {hit["example"]["item_id"] for hit in message.artifact} <= ids
    assert message.content.startswith("How this user reasoned on similar past inputs")
    assert "<example>" in message.content and "Reasoning: " in message.content


async def test_ainvoke_uses_the_async_path(rpm, store):
    class AsyncOnly(FakeStructuredChatModel):
        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the sync model path was used")

    rpm.build_user("ada", MOVIE_HISTORY)
    parts = RPMComponents.create(AsyncOnly(responder=rpm_responder), "lamp2", store=store, k=3)
    graph = _agent(create_rpm_tool(parts, name="how_would_they_answer"))
    out = await graph.ainvoke({"messages": [HumanMessage(QUESTION)]}, context=RPMContext(user_id="ada"))
    assert _tool_message(out, "how_would_they_answer").artifact["answer"] == rpm.personalize("ada", QUESTION).answer


def test_bad_options_are_rejected(rpm):
    with pytest.raises(ValueError, match="mode must be"):
        create_rpm_tool(rpm, mode="chat")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retrieval must be"):
        create_rpm_tool(rpm, retrieval="bm25")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected an RPM or RPMComponents"):
        create_rpm_tool("not rpm")  # type: ignore[arg-type]
