"""The offline demo model as an agent's own model: one tool call per turn, then an answer that ends the run."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent

from langchain_rpm import RPMContext
from langchain_rpm.agents.tools import create_rpm_tool
from langchain_rpm.testing import demo_chat_model, demo_rpm

LIMIT = {"recursion_limit": 12}  # the old model looped until LangGraph's limit: fail fast instead of 10,000 steps


@pytest.fixture(scope="module")
def rpm():  # type: ignore[no-untyped-def]
    return demo_rpm()


def _check_turn(messages: list) -> None:  # type: ignore[type-arg]
    kinds = [m.type for m in messages]
    assert kinds == ["human", "ai", "tool", "ai"]
    assert messages[1].tool_calls[0]["name"] == "personalize_for_user"
    assert messages[1].tool_calls[0]["args"] == {"query": "Broke in a day."}
    assert messages[2].text.startswith("This user would answer: 1")
    assert not messages[3].tool_calls and "This user would answer: 1" in messages[3].text


def test_create_agent_with_the_demo_model_and_the_rpm_tool_ends(rpm) -> None:  # type: ignore[no-untyped-def]
    agent = create_agent(demo_chat_model(), tools=[create_rpm_tool(rpm)], context_schema=RPMContext)
    out = agent.invoke({"messages": [("human", "Broke in a day.")]}, LIMIT, context=RPMContext(user_id="ada"))
    _check_turn(out["messages"])


async def test_async_agent_ends_and_a_second_turn_calls_the_tool_again(rpm) -> None:  # type: ignore[no-untyped-def]
    agent = create_agent(demo_chat_model(), tools=[create_rpm_tool(rpm)], context_schema=RPMContext)
    first = await agent.ainvoke({"messages": [("human", "Broke in a day.")]}, LIMIT, context=RPMContext("ada"))
    _check_turn(first["messages"])
    history = [*first["messages"], ("human", "Sturdy build.")]
    second = await agent.ainvoke({"messages": history}, LIMIT, context=RPMContext("ada"))
    assert [m.type for m in second["messages"][4:]] == ["human", "ai", "tool", "ai"]


def test_structured_calls_of_rpm_stages_are_unchanged() -> None:
    rpm = demo_rpm("lamp2", user=None)
    rpm.build_user("bo", [{"input": "Robots rebel on a space station.", "response": "sci-fi"}])
    assert rpm.personalize("bo", "Aliens land on a space station.").answer == "sci-fi"
