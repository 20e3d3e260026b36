"""The sync driver's reused worker threads (``langchain_rpm._workers``): counted thread starts, never timings.

A sync ``Gather`` used to start a thread pool per call; now its plans run on the process's idle workers.
The guards count thread starts (a sync build, gathers in a row); the other tests hold what the pools
gave: the ``max_workers`` bound, results and errors in order, context propagation, nested gathers that
cannot deadlock, an interrupted caller that starts nothing more and returns only after its running
plans, idle workers that exit, and a forked child that starts its own.
"""

from __future__ import annotations

import contextvars
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from langchain_rpm import LAMP2, RPM, RPMStore, _workers
from langchain_rpm._plans import Call, Plan, gather, run
from langchain_rpm._workers import Workers
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder

HISTORY = [
    {"id": f"i{i}", "input": f"A film about robots number {i} in space.", "response": LAMP2.labels[i % 3]}
    for i in range(24)
]


@pytest.fixture
def thread_starts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts every ``threading.Thread.start`` from now on."""
    count = [0]
    start = threading.Thread.start

    def counted(self: threading.Thread) -> None:
        count[0] += 1
        start(self)

    monkeypatch.setattr(threading.Thread, "start", counted)
    yield count


def waiting_at(barrier: threading.Barrier, value: Any = None) -> Plan[Any]:
    """A plan that returns ``value`` once every party of ``barrier`` has arrived (so they all run at once)."""
    yield Call(lambda: barrier.wait(timeout=20))
    return value


def test_sync_gathers_in_a_row_reuse_their_worker_threads(thread_starts):
    for round_ in range(3):
        barrier = threading.Barrier(8)  # the 8 plans of a gather must run at once: 8 workers
        assert run(gather([waiting_at(barrier, (round_, i)) for i in range(8)])) == [(round_, i) for i in range(8)]
    assert thread_starts[0] <= 8  # main: 24 (a pool of 8 new threads per gather)


def test_a_sync_build_starts_its_worker_threads_once_not_per_window(tmp_path, thread_starts):
    model = FakeStructuredChatModel(responder=rpm_responder, delay=0.01)  # a window's calls overlap
    rpm = RPM(model, "lamp2", store=RPMStore(tmp_path / "store", embeddings=CountingEmbeddings()), max_concurrency=4)
    rpm.build_user("warm", HISTORY[:2])
    thread_starts[0] = 0
    profile = rpm.build_user("u", HISTORY)
    assert profile.num_items == len(HISTORY)
    # 12 windows of 4 packs in two phases, at most 3 at once: main started a pool per window (48 threads)
    assert thread_starts[0] <= 20


def test_a_gather_runs_at_most_max_workers_plans_at_once():
    slots = threading.BoundedSemaphore(5)  # a sixth task at once would find no slot
    together = threading.Barrier(5)  # and five at once, every round, or the barrier breaks

    def task(i: int) -> int:
        if not slots.acquire(blocking=False):
            raise AssertionError("more than 5 tasks ran at once")
        try:
            together.wait(timeout=20)
        finally:
            slots.release()
        return i

    assert _workers.WORKERS.map(task, list(range(40)), width=5) == list(range(40))


def test_results_and_errors_come_back_in_order_and_the_first_error_is_raised():
    def plan(i: int) -> Plan[int]:
        value = yield Call(lambda: i)
        if value % 3 == 1:
            raise ValueError(f"bad {value}")
        return value

    outcomes = run(gather([plan(i) for i in range(6)], return_exceptions=True))
    assert [o if isinstance(o, int) else str(o) for o in outcomes] == [0, "bad 1", 2, 3, "bad 4", 5]
    with pytest.raises(ValueError, match="bad 1"):
        run(gather([plan(i) for i in range(6)]))


def test_plans_see_the_callers_context_variables():
    user = contextvars.ContextVar("user", default="nobody")
    user.set("ada")

    def plan() -> Plan[str]:
        return (yield Call(user.get))

    assert run(gather([plan() for _ in range(5)])) == ["ada"] * 5


def test_nested_sync_gathers_never_wait_for_each_others_workers():
    barrier = threading.Barrier(32)  # 16 outer plans at once, each with 2 inner plans waiting together

    def outer(i: int) -> Plan[list[int]]:
        return (yield from gather([waiting_at(barrier, 2 * i), waiting_at(barrier, 2 * i + 1)]))

    results = run(gather([outer(i) for i in range(16)]))
    assert [x for pair in results for x in pair] == list(range(32))


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_an_interrupted_caller_starts_no_further_plan_and_returns_after_the_running_one():
    started: list[int] = []
    finished: list[int] = []

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    def task(i: int) -> int:
        started.append(i)
        if i == 0:
            os.kill(os.getpid(), signal.SIGUSR1)  # the caller, waiting for the workers, is interrupted now
            time.sleep(0.2)
        finished.append(i)
        return i

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            Workers().map(task, [0, 1, 2], width=1)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert started == finished  # the running task ended before the caller raised
    assert started in ([0], [0, 1])  # at most the task the worker had already taken


def test_an_idle_worker_exits_after_its_idle_time(monkeypatch):
    monkeypatch.setattr(_workers, "IDLE_SECONDS", 0.05)
    workers = Workers()
    names: list[threading.Thread] = []
    assert workers.map(lambda _: names.append(threading.current_thread()), [1, 2, 3], width=3) == [None] * 3
    for thread in names:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in names)
    assert workers.map(lambda x: x + 1, [1], width=1) == [2]  # and a later task starts a new one


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")  # Python 3.12+ warns on fork with threads
def test_a_forked_child_runs_gathers_on_its_own_workers():
    barrier = threading.Barrier(4)
    assert run(gather([waiting_at(barrier, i) for i in range(4)])) == [0, 1, 2, 3]  # idle workers now exist
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's own exit code is the assertion
        signal.alarm(20)  # a child handing work to its parent's (absent) threads would hang: fail instead
        ok = False
        try:
            again = threading.Barrier(4)
            ok = run(gather([waiting_at(again, i) for i in range(4)])) == [0, 1, 2, 3]
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
