"""Learning from new interactions off the response path: background tasks, threads, deferred nodes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langchain_rpm import RPM, RPMContext
from langchain_rpm.learning import (
    learned_item,
    pending_learning,
    rpm_learn_node,
    schedule_learning,
    schedule_learning_in_thread,
    wait_for_learning,
)
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import rpm_fake_model
from tests.unit.conftest import MOVIE_HISTORY

QUESTION = "Robots kiss in space."


@pytest.fixture
def slow(store) -> RPM:
    """Same store as ``rpm``, but every LLM call of its updates takes 0.08 s."""
    return RPM(rpm_fake_model(delay=0.08), task="lamp2", store=store)


async def test_answer_returns_before_the_background_update_finishes(rpm, slow, store):
    await rpm.abuild_user("ada", MOVIE_HISTORY)

    async def handle(question: str) -> tuple[str, asyncio.Task[Any]]:
        prediction = await rpm.apersonalize("ada", question)
        task = schedule_learning(slow, "ada", [{"input": question, "response": "romance"}])
        return prediction.answer, task

    answer, task = await handle(QUESTION)
    await asyncio.sleep(0.05)
    assert answer  # the caller has its answer ...
    assert not task.done() and task in pending_learning()  # ... while the update is still running
    assert store.get_profile("ada").version == 1
    profile = await task
    assert profile is not None and profile.version == 2 and profile.num_items == len(MOVIE_HISTORY) + 1
    assert store.get_profile("ada").version == 2
    assert task not in pending_learning()


async def test_updates_of_one_user_run_one_after_another(rpm, slow, store):
    await rpm.abuild_user("ada", MOVIE_HISTORY)
    first = schedule_learning(slow, "ada", [{"input": "A wedding kiss.", "response": "romance"}])
    second = schedule_learning(slow, "ada", [{"input": "A fist fight.", "response": "action"}])
    results = await asyncio.gather(first, second)
    assert [p.version for p in results] == [2, 3]
    assert store.get_profile("ada").num_items == len(MOVIE_HISTORY) + 2


async def test_bad_items_raise_now_and_failures_are_logged_not_raised(rpm, store, caplog):
    await rpm.abuild_user("ada", MOVIE_HISTORY)
    with pytest.raises(ValueError, match="response rejected"):  # outside LaMP-2's labels: refused in the caller
        schedule_learning(rpm, "ada", [{"input": "A new film.", "response": "not-a-tag"}])

    def broken(messages: Any, schema: Any) -> dict[str, Any]:
        raise RuntimeError("model down")

    down = RPM(FakeStructuredChatModel(responder=broken, max_retries=0), task="lamp2", store=store)
    caplog.set_level(logging.ERROR, logger="langchain_rpm.learning")
    assert await schedule_learning(down, "ada", [{"input": QUESTION, "response": "romance"}]) is None
    assert "learning for user 'ada' failed: BuildFailedError" in caplog.text and "model down" in caplog.text
    assert store.get_profile("ada").version == 1


async def test_a_new_user_gets_a_profile_built(rpm, store):
    profile = await schedule_learning(rpm, "newbie", [{"input": "Robots in space.", "response": "sci-fi"}])
    assert profile is not None and profile.version == 1 and profile.num_items == 1


def test_thread_variant_returns_before_the_update(rpm, slow, store):
    rpm.build_user("ada", MOVIE_HISTORY)
    answer = rpm.personalize("ada", QUESTION).answer
    future = schedule_learning_in_thread(slow, "ada", [learned_item(QUESTION, "romance")])
    assert answer and not future.done()
    profile = future.result(timeout=30)
    assert profile is not None and profile.version == 2
    # The same interaction again (same derived id) is a no-op: never counted twice, no LLM call.
    again = schedule_learning_in_thread(slow, "ada", [learned_item(QUESTION, "romance")]).result(timeout=30)
    assert again is not None and again.version == 2 and again.num_items == len(MOVIE_HISTORY) + 1


class ChatState(TypedDict, total=False):
    rpm_query: str
    answer: str
    rpm_response: str


def _graph(learner: RPM, *, background: bool = False) -> Any:
    builder = StateGraph(ChatState, context_schema=RPMContext)
    builder.add_node("respond", lambda state: {"answer": f"Noted: {state['rpm_query']}"})
    builder.add_node("learn", rpm_learn_node(learner, background=background), defer=True)
    builder.add_edge(START, "respond")
    builder.add_edge("respond", "learn")
    builder.add_edge("learn", END)
    return builder.compile()


@pytest.mark.parametrize("use_async", [False, True])
async def test_deferred_node_streams_the_answer_before_learning(rpm, slow, store, use_async):
    rpm.build_user("ada", MOVIE_HISTORY)
    graph = _graph(slow)
    payload = {"rpm_query": QUESTION, "rpm_response": "romance"}
    seen: list[tuple[str, int]] = []

    def record(chunk: dict[str, Any]) -> None:
        (node,) = chunk
        seen.append((node, store.get_profile("ada").version))

    if use_async:
        async for chunk in graph.astream(payload, stream_mode="updates", context=RPMContext("ada")):
            record(chunk)
    else:
        for chunk in graph.stream(payload, stream_mode="updates", context=RPMContext("ada")):
            record(chunk)
    assert seen == [("respond", 1), ("learn", 2)]  # the answer arrived before the profile changed


async def test_background_node_returns_before_the_update(rpm, slow, store):
    rpm.build_user("ada", MOVIE_HISTORY)
    out = await _graph(slow, background=True).ainvoke(
        {"rpm_query": QUESTION, "rpm_response": "romance"}, context=RPMContext("ada")
    )
    assert out["answer"] == f"Noted: {QUESTION}"
    assert store.get_profile("ada").version == 1 and pending_learning()
    await wait_for_learning()
    assert store.get_profile("ada").version == 2 and not pending_learning()


def test_background_node_in_a_sync_run_uses_a_thread(rpm, slow, store):
    rpm.build_user("ada", MOVIE_HISTORY)
    _graph(slow, background=True).invoke({"rpm_query": QUESTION, "rpm_response": "romance"}, context=RPMContext("ada"))
    (future,) = pending_learning()
    assert future.result(timeout=30).version == 2


def test_node_without_a_response_learns_nothing(rpm, llm, store):
    rpm.build_user("ada", MOVIE_HISTORY)
    llm.reset()
    out = _graph(rpm).invoke({"rpm_query": QUESTION}, context=RPMContext("ada"))
    assert out["answer"] and llm.call_count == 0 and store.get_profile("ada").version == 1
