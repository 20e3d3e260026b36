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

from typing import Any

from langchain_rpm.stages._packing import packs


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
