"""How a profile build groups its items into graph tasks: packs, windows of packs, and tasks at once.

A *pack* is the items of one LLM call (``pack_size``); a *window* is the packs of one ``extract_items`` /
``reason_items`` graph task, which run concurrently inside it. :func:`graph_tasks` bounds how many such
tasks LangGraph runs at once, so a phase starts about two LLM bounds' worth of packs, not all of them.

Example:
    >>> [[len(pack) for pack in window] for window in windows(list(range(7)), pack_size=2, window=2)]
    [[2, 2], [2, 1]]
    >>> graph_tasks(16, 16), graph_tasks(16, 1), graph_tasks(1, 1)
    (3, 33, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_rpm._plans import CallLimiter, Plan, Request, arun, run
from langchain_rpm.stages._packing import packs

T = TypeVar("T")

STARTED_PER_SLOT = 2
"""Packs started at once per LLM slot, across every build sharing the slots (see :func:`started`)."""


def windows(items: list[Any], pack_size: int, window: int) -> list[list[list[Any]]]:
    """``items`` in packs of ``pack_size``, the packs in windows of ``window`` (one graph task each)."""
    all_packs = packs(items, pack_size)
    return [all_packs[i : i + window] for i in range(0, len(all_packs), window)]


def graph_tasks(max_concurrency: int, packs_per_task: int) -> int:
    """How many build-graph tasks to run at once so that about ``2 * max_concurrency`` packs are started.

    A started pack has its prompt rendered and its call waiting for the limiter; more of them would only
    wait, holding memory the garbage collector walks over and over. One more task is kept for LangGraph's
    sync stream, which holds a worker itself.
    """
    return max(2, -(-2 * max_concurrency // packs_per_task)) + 1


@dataclass(frozen=True)
class _Started(Request):
    plan: Plan[Any]
    gate: CallLimiter

    def run(self) -> Any:
        with self.gate.hold():
            return run(self.plan)

    async def arun(self) -> Any:
        async with self.gate.ahold():
            return await arun(self.plan)


def started(plan: Plan[T], gate: CallLimiter) -> Plan[T]:
    """``plan`` (one pack's calls) started only when it holds one of ``gate``'s slots.

    A started pack renders its prompt and makes its call's objects, then waits for an LLM slot. In a bulk
    build every user in flight starts its whole window at once, so hundreds of packs waited, for seconds,
    holding all that: long enough to be promoted to the collector's oldest generation. A pack not yet
    started holds only its plan.
    """
    result: T = yield _Started(plan, gate)
    return result
