"""Learning from new interactions off the response path: the executor, and deferred graph nodes."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langchain_rpm import RPM, RPMContext
from langchain_rpm.agents.learning import LearningExecutor, rpm_learn_node
from langchain_rpm.errors import ConfigurationError, InvalidHistoryError
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
    with LearningExecutor(slow) as learner:
        prediction = await rpm.apersonalize("ada", QUESTION)
        future = await learner.asubmit("ada", [{"input": QUESTION, "response": "romance"}])
        await asyncio.sleep(0.05)
        assert prediction.answer  # the caller has its answer ...
        assert not future.done() and learner.pending == 1  # ... while the update is still running
        assert store.get_profile("ada").version == 1
        profile = await future
    assert profile is not None and profile.version == 2 and profile.num_items == len(MOVIE_HISTORY) + 1
    assert store.get_profile("ada").version == 2 and learner.pending == 0


def test_updates_of_one_user_run_one_after_another(rpm, slow, store):
    rpm.build_user("ada", MOVIE_HISTORY)
    with LearningExecutor(slow, max_workers=4) as learner:
        first = learner.submit("ada", [{"input": "A wedding kiss.", "response": "romance"}])
        second = learner.submit("ada", [{"input": "A fist fight.", "response": "action"}])
        results = [first.result(timeout=30), second.result(timeout=30)]
    assert [p.version for p in results] == [2, 3]
    assert store.get_profile("ada").num_items == len(MOVIE_HISTORY) + 2
    assert learner._queues == {}  # nothing kept per user once its updates are done


def test_bad_items_raise_now_and_failures_are_logged_not_raised(rpm, store, caplog):
    rpm.build_user("ada", MOVIE_HISTORY)
    learner = LearningExecutor(rpm)
    with pytest.raises(InvalidHistoryError, match="response"):  # outside LaMP-2's labels: refused in the caller
        learner.submit("ada", [{"input": "A new film.", "response": "not-a-tag"}])

    def broken(messages: Any, schema: Any) -> dict[str, Any]:
        raise RuntimeError("model down")

    down = RPM(FakeStructuredChatModel(responder=broken), task="lamp2", store=store, max_retries=0)
    caplog.set_level(logging.WARNING, logger="langchain_rpm.agents.learning")
    with LearningExecutor(down) as failing:
        assert failing.submit("ada", [{"input": QUESTION, "response": "romance"}]).result(timeout=30) is None
    assert "learning for user 'ada' failed: BuildFailedError" in caplog.text and "model down" in caplog.text
    assert store.get_profile("ada").version == 1
    learner.shutdown()
    with pytest.raises(ConfigurationError, match="shut down"):
        learner.submit("ada", [{"input": QUESTION, "response": "romance"}])


def test_a_new_user_gets_a_profile_built(rpm, store):
    with LearningExecutor(rpm) as learner:
        profile = learner.submit("newbie", [{"input": "Robots in space.", "response": "sci-fi"}]).result(timeout=30)
    assert profile is not None and profile.version == 1 and profile.num_items == 1


def test_the_same_interaction_twice_is_learned_once(rpm, slow, store):
    rpm.build_user("ada", MOVIE_HISTORY)
    with LearningExecutor(slow) as learner:
        assert learner.submit("ada", [{"input": QUESTION, "response": "romance"}]).result(timeout=30).version == 2
        # The same interaction again (same derived id) is a no-op: never counted twice, no LLM call.
        again = learner.submit("ada", [{"input": QUESTION, "response": "romance"}]).result(timeout=30)
    assert again is not None and again.version == 2 and again.num_items == len(MOVIE_HISTORY) + 1


class ChatState(TypedDict, total=False):
    rpm_query: str
    answer: str
    rpm_response: str


def _graph(learner: RPM, *, executor: LearningExecutor | None = None) -> Any:
    builder = StateGraph(ChatState, context_schema=RPMContext)
    builder.add_node("respond", lambda state: {"answer": f"Noted: {state['rpm_query']}"})
    builder.add_node("learn", rpm_learn_node(learner, executor=executor), defer=True)
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


@pytest.mark.parametrize("use_async", [False, True])
async def test_node_with_an_executor_returns_before_the_update(rpm, slow, store, use_async):
    rpm.build_user("ada", MOVIE_HISTORY)
    payload = {"rpm_query": QUESTION, "rpm_response": "romance"}
    with LearningExecutor(slow) as learner:
        graph = _graph(slow, executor=learner)
        if use_async:
            out = await graph.ainvoke(payload, context=RPMContext("ada"))
        else:
            out = graph.invoke(payload, context=RPMContext("ada"))
        assert out["answer"] == f"Noted: {QUESTION}"
        assert store.get_profile("ada").version == 1 and learner.pending == 1
        started = time.monotonic()
        await learner.aflush() if use_async else learner.flush()
        assert time.monotonic() - started < 30
    assert store.get_profile("ada").version == 2 and learner.pending == 0


def test_node_without_a_response_learns_nothing(rpm, llm, store):
    rpm.build_user("ada", MOVIE_HISTORY)
    llm.reset()
    out = _graph(rpm).invoke({"rpm_query": QUESTION}, context=RPMContext("ada"))
    assert out["answer"] and llm.call_count == 0 and store.get_profile("ada").version == 1
