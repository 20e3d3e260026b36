"""An interrupted profile build resumes from its SQLite checkpoint without paying finished items again."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from langchain_rpm import RPM, create_profile_build_graph
from langchain_rpm.errors import BuildFailedError
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import rpm_responder
from tests.unit.conftest import MOVIE_HISTORY

N = len(MOVIE_HISTORY)
INPUT = {"user_id": "ada", "history": MOVIE_HISTORY}
CONFIG = {"configurable": {"thread_id": "build-ada"}, "max_concurrency": 2}
CRASH_GRACE_SECONDS = 1.0


class SimulatedCrash(BaseException):
    """Like Ctrl-C: not an ``Exception``, so the per-item error handling does not swallow it."""


class CountingResponder:
    """``rpm_responder`` that records every paid call as (stage, input) and can crash after ``crash_after``."""

    def __init__(self, crash_after: int | None = None) -> None:
        self.crash_after = crash_after
        self.paid: list[tuple[str, str]] = []
        self.lost: list[tuple[str, str]] = []  # paid, but the run died before the result was used
        self._lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            crash = self.crash_after is not None and len(self.paid) >= self.crash_after
            if not crash:
                return self._answer(messages, schema)
        # A reply that reaches LangGraph after the crash has stopped the graph is dropped with it (LangGraph
        # saves the writes of the tasks that finished before the error): give the other call under way time
        # to be saved, as a real crash later in the call would, so that "paid once" counts exactly.
        time.sleep(CRASH_GRACE_SECONDS)
        raise SimulatedCrash(f"crash after {self.crash_after} calls")

    def _answer(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        reply = rpm_responder(messages, schema)
        props = schema.get("properties", {})
        pas = "factors" in props or "assignments" in props  # Propose, Assign (and the residual pass)
        stage = "extract" if "features" in props else "cluster" if pas else "reason"
        self.paid.append((stage, str(messages[-1].content).split("</input>")[0][-60:]))
        return reply

    def assert_each_item_paid_once(self) -> None:
        used = Counter(self.paid) - Counter(self.lost)
        assert max(used.values()) == 1, [call for call, n in used.items() if n > 1]
        assert Counter(stage for stage, _ in used.elements()) == {"extract": N, "cluster": 2, "reason": N}


class CrashAfterCalls(BaseCallbackHandler):
    """Raises :class:`SimulatedCrash` when a model call ends, once ``responder`` has answered ``limit`` calls.

    Async runs need this: langchain-core 1.8.3's ``agenerate`` turns a ``BaseException`` raised inside
    the model into an ``AttributeError`` (it tests ``isinstance(res, Exception)`` in one place and
    ``BaseException`` in another), which the per-item error handling would then record as a failure.
    """

    raise_error = True
    run_inline = True

    def __init__(self, responder: CountingResponder, limit: int) -> None:
        self.responder, self.limit = responder, limit

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        if self.limit and len(self.responder.paid) > self.limit:
            self.limit = 0
            self.responder.lost.append(self.responder.paid[-1])  # sequential run: the last call is this one
            raise SimulatedCrash(f"crash after {len(self.responder.paid)} calls")


@pytest.mark.parametrize("crash_after", [4, N + 2 + 2])  # mid-extraction, mid-reasoning
def test_sync_build_resumes_after_a_crash(store, tmp_path, crash_after):
    responder = CountingResponder(crash_after)
    parts = RPM(FakeStructuredChatModel(responder=responder), "lamp2", store=store).components
    with SqliteSaver.from_conn_string(str(tmp_path / "cp.sqlite")) as saver:
        graph = create_profile_build_graph(parts).compile(checkpointer=saver)
        with pytest.raises(SimulatedCrash):
            graph.invoke(INPUT, CONFIG)
        assert len(responder.paid) == crash_after and store.get_profile("ada") is None
        responder.crash_after = None
        out = graph.invoke(None, CONFIG)  # resume the interrupted thread
    assert out["profile"]["num_items"] == N and not out.get("failed")
    responder.assert_each_item_paid_once()  # 2N + 2 calls in all: nothing finished was paid twice


# LangGraph warns about the queued tasks a crashed async run never started; that is the crash, not a bug.
@pytest.mark.filterwarnings("ignore:coroutine 'arun_with_retry' was never awaited:RuntimeWarning")
@pytest.mark.parametrize("crash_after", [3, N + 2 + 2])
async def test_async_build_resumes_after_a_crash(store, tmp_path, crash_after):
    responder = CountingResponder()
    parts = RPM(FakeStructuredChatModel(responder=responder), "lamp2", store=store).components
    crashing = {**CONFIG, "max_concurrency": 1, "callbacks": [CrashAfterCalls(responder, crash_after)]}
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "cp.sqlite")) as saver:
        graph = create_profile_build_graph(parts).compile(checkpointer=saver)
        with pytest.raises(SimulatedCrash):
            await graph.ainvoke(INPUT, crashing)
        assert len(responder.paid) == crash_after + 1 and len(responder.lost) == 1
        gc.collect()  # the never-started tasks' warnings, here under this test's filter
        out = await graph.ainvoke(None, CONFIG)
    assert out["profile"]["num_items"] == N and not out.get("failed")
    responder.assert_each_item_paid_once()


def test_a_killed_process_resumes_in_another(store, tmp_path):
    """The build runs in a child process killed (``os._exit``) during its 5th LLM call; this process finishes it.

    A finished item is safe once LangGraph has written its result to the checkpointer, which a sync
    run does on its worker threads in the background: the dying call stops new calls, waits until
    SQLite holds every finished item's write, then kills the process mid-call.
    """
    marks, db = tmp_path / "child-calls.txt", tmp_path / "cp.sqlite"
    script = textwrap.dedent(
        f"""
        import os, sqlite3, threading, time
        from langgraph.checkpoint.sqlite import SqliteSaver
        from langchain_rpm import create_profile_build_graph, RPMStore
        from langchain_rpm.components import RPMComponents
        from langchain_rpm.testing import FakeStructuredChatModel
        from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder

        lock, state = threading.Lock(), {{"calls": 0, "finished": 0, "dying": False}}

        def saved():
            with sqlite3.connect({str(db)!r}) as con:
                query = "select count(distinct task_id) from writes where channel = 'features'"
                return con.execute(query).fetchone()[0]

        def responder(messages, schema):
            with lock:
                state["calls"] += 1
                first_to_die = not state["dying"] and state["calls"] == 5
                state["dying"] = state["dying"] or first_to_die
                if not state["dying"]:
                    state["finished"] += 1
                    with open({str(marks)!r}, "a") as out:
                        out.write("ok\\n")
                    return rpm_responder(messages, schema)
            if not first_to_die:
                time.sleep(120)  # a call started after the kill began: it never finishes
            deadline = time.time() + 60
            while saved() < state["finished"] and time.time() < deadline:
                time.sleep(0.02)
            os._exit(3)  # no cleanup, no exception handling: like a killed worker

        store = RPMStore({str(tmp_path / "child-store")!r}, embeddings=CountingEmbeddings())
        parts = RPMComponents.create(FakeStructuredChatModel(responder=responder), "lamp2", store=store)
        with SqliteSaver.from_conn_string({str(db)!r}) as saver:
            graph = create_profile_build_graph(parts).compile(checkpointer=saver)
            graph.invoke({INPUT!r}, {{"configurable": {{"thread_id": "build-ada"}}, "max_concurrency": 4}})
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert child.returncode == 3, child.stderr[-2000:]
    finished_in_child = len(marks.read_text().splitlines())
    assert finished_in_child == 4
    responder = CountingResponder()
    parts = RPM(FakeStructuredChatModel(responder=responder), "lamp2", store=store).components
    with SqliteSaver.from_conn_string(str(db)) as saver:
        out = create_profile_build_graph(parts).compile(checkpointer=saver).invoke(None, CONFIG)
    assert out["profile"]["num_items"] == N
    paid = Counter(stage for stage, _ in responder.paid)
    assert paid == {"extract": N - finished_in_child, "cluster": 2, "reason": N}  # 2N + 2 calls in both processes


def test_facade_rerun_resumes_after_a_crash(store, tmp_path):
    responder = CountingResponder(crash_after=4)
    with SqliteSaver.from_conn_string(str(tmp_path / "cp.sqlite")) as saver:
        rpm = RPM(FakeStructuredChatModel(responder=responder), "lamp2", store=store, checkpointer=saver)
        with pytest.raises(SimulatedCrash):  # one task at a time: no other item's paid call is lost with the crash
            rpm.build_user("ada", MOVIE_HISTORY, config={"max_concurrency": 1})
        responder.crash_after = None
        profile = rpm.build_user("ada", MOVIE_HISTORY)  # same user and history -> same thread: resumed
    assert profile.num_items == N
    responder.assert_each_item_paid_once()


@pytest.mark.filterwarnings("ignore:coroutine 'arun_with_retry' was never awaited:RuntimeWarning")
async def test_facade_async_rerun_resumes_after_a_crash(store, tmp_path):
    responder = CountingResponder()
    crash = {"max_concurrency": 1, "callbacks": [CrashAfterCalls(responder, N + 2)]}
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "cp.sqlite")) as saver:
        rpm = RPM(FakeStructuredChatModel(responder=responder), "lamp2", store=store, checkpointer=saver)
        with pytest.raises(SimulatedCrash):
            await rpm.abuild_user("ada", MOVIE_HISTORY, config=crash)
        gc.collect()
        profile = await rpm.abuild_user("ada", MOVIE_HISTORY)
    assert profile.num_items == N
    responder.assert_each_item_paid_once()


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_failed_build_starts_over_instead_of_replaying_the_failure(store, tmp_path, use_async):
    """A build that failed (every extraction failed, so the factor step raised) is not replayed forever.

    On main the thread's pending failed step was resumed on every later call and failed the same way
    (its state had no features), so the user could never be built on that checkpointer again.
    """
    down = {"extraction": True}

    def responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        if down["extraction"] and schema.get("title") == "ExtractedFeatures":
            raise ConnectionError("provider down")
        return rpm_responder(messages, schema)

    model = FakeStructuredChatModel(responder=responder)
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "cp.sqlite")) as saver:
        rpm = RPM(model, "lamp2", store=store, checkpointer=saver)
        build = (lambda: rpm.abuild_user("ada", MOVIE_HISTORY)) if use_async else None
        with pytest.raises(BuildFailedError, match="no history item could be processed"):
            await build() if build else await asyncio.to_thread(rpm.build_user, "ada", MOVIE_HISTORY)
        down["extraction"] = False
        profile = await build() if build else await asyncio.to_thread(rpm.build_user, "ada", MOVIE_HISTORY)
    assert profile.num_items == N and not profile.failed_items


@pytest.mark.timeout(120)
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_build_with_max_concurrency_one_in_its_config_finishes(store, use_async):
    """``config={"max_concurrency": 1}`` reached LangGraph as 1: its sync stream took the only worker and hung."""
    rpm = RPM(FakeStructuredChatModel(responder=rpm_responder), "lamp2", store=store)
    config = {"max_concurrency": 1}
    build = rpm.abuild_user("ada", MOVIE_HISTORY, config=config) if use_async else None
    profile = await build if build else await asyncio.to_thread(rpm.build_user, "ada", MOVIE_HISTORY, config=config)
    assert profile.num_items == N
