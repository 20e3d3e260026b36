"""Bulk builds keep one concurrency bound across users, and one user's failure stops no other."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

from langchain_rpm import RPM, _bulk_api
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import rpm_responder
from tests.unit.conftest import MOVIE_HISTORY


class InFlightModel(FakeStructuredChatModel):
    """Records the most calls ever in flight at once."""

    def __init__(self, **kwargs):
        super().__init__(responder=rpm_responder, **kwargs)
        object.__setattr__(self, "_gauge", {"now": 0, "peak": 0, "lock": threading.Lock()})

    def _enter(self):
        gauge = self._gauge
        with gauge["lock"]:
            gauge["now"] += 1
            gauge["peak"] = max(gauge["peak"], gauge["now"])

    def _exit(self):
        with self._gauge["lock"]:
            self._gauge["now"] -= 1

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self._enter()
        try:
            time.sleep(0.01)
            return super()._generate(messages, stop, run_manager, **kwargs)
        finally:
            self._exit()

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        self._enter()
        try:
            await asyncio.sleep(0.01)
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        finally:
            self._exit()


def _histories(n_users):
    return {f"user-{i}": [{**item, "id": f"{item['id']}-{i}"} for item in MOVIE_HISTORY] for i in range(n_users)}


async def test_async_bulk_build_respects_one_bound_across_users(store):
    llm = InFlightModel()
    rpm = RPM(llm, task="lamp2", store=store, max_concurrency=3)
    results = await rpm.abuild_users(_histories(5))
    assert all(not isinstance(r, Exception) for r in results.values())
    assert llm._gauge["peak"] == 3  # full, and never above the bound
    assert llm.call_count == 5 * (2 * len(MOVIE_HISTORY) + 2)  # + 1 Propose and 1 Assign call per user
    assert store.list_users() == sorted(results)


def test_threaded_bulk_build_respects_the_bound_and_isolates_failures(store):
    llm = InFlightModel()
    rpm = RPM(llm, task="lamp2", store=store, max_concurrency=2)
    histories = _histories(3)
    histories["bad"] = [{"id": "x", "input": "A movie.", "response": "not a tag"}]
    results = rpm.build_users(histories)
    assert isinstance(results["bad"], ValueError)
    assert all(results[f"user-{i}"].num_items == len(MOVIE_HISTORY) for i in range(3))
    assert llm._gauge["peak"] <= 2
    assert "bad" not in store.list_users()


async def test_an_async_bulk_build_runs_two_users_per_llm_slot_by_default(store, monkeypatch):
    """Every user building holds its started calls (garbage the host's collector walks): 4 per slot were
    twice what keeps the slots busy. A user holds its place until its commit is queued (then it builds nothing)."""
    peaks = []

    class CountingGate(asyncio.Semaphore):
        def __init__(self, value):
            super().__init__(value)
            self.size, self.held = value, 0
            peaks.append(self)

        async def acquire(self):
            await super().acquire()
            self.held += 1
            self.peak = max(getattr(self, "peak", 0), self.held)
            return True

        def release(self):
            self.held -= 1
            super().release()

    monkeypatch.setattr(_bulk_api, "asyncio", SimpleNamespace(Semaphore=CountingGate, gather=asyncio.gather))
    rpm = RPM(InFlightModel(), task="lamp2", store=store, max_concurrency=2)
    results = await rpm.abuild_users(_histories(12))
    assert all(not isinstance(r, Exception) for r in results.values())
    assert [(gate.size, gate.peak) for gate in peaks] == [(4, 4)]  # 2 slots x 2 users: full, never above
