"""Progress of a profile build: ``done/total`` per stage, shared by the build's parallel item tasks.

Events go to LangGraph's custom stream (``stream_mode="custom"``) as
:func:`~langchain_rpm.graphs.state.progress_event` payloads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

from langgraph.config import get_stream_writer

from langchain_rpm.graphs.state import progress_event


def emit(stage: str, user_id: str, done: int, total: int, **extra: Any) -> None:
    """Write one progress event to the run's custom stream."""
    get_stream_writer()(progress_event(stage, user_id, done, total, **extra))


class BuildProgress:
    """``done/total`` per (build, stage), shared by a build's parallel item tasks; dropped when it ends."""

    def __init__(self) -> None:
        """No stage started yet."""
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], list[int]] = {}

    def start(self, key: str, stage: str, total: int, done: int = 0) -> None:
        """(Re)start ``stage`` of build ``key`` at ``done/total``."""
        with self._lock:
            self._counts[(key, stage)] = [done, total]

    def advance(self, key: str, stage: str, count: int) -> tuple[int, int]:
        """Count ``count`` more items done; the new ``(done, total)``."""
        with self._lock:
            entry = self._counts.setdefault((key, stage), [0, 0])
            entry[0] += count
            entry[1] = max(entry[1], entry[0])
            return entry[0], entry[1]

    def finish(self, key: str) -> None:
        """Forget build ``key``."""
        with self._lock:
            for entry in [k for k in self._counts if k[0] == key]:
                del self._counts[entry]


def consume_chunk(
    mode: str, chunk: Any, state: dict[str, Any], on_progress: Callable[[dict[str, Any]], None] | None
) -> dict[str, Any]:
    """One streamed chunk of a build: a new state (``values``) or a progress event (``custom``)."""
    if mode == "values":
        return cast(dict[str, Any], chunk)
    if on_progress is not None:
        on_progress(cast(dict[str, Any], chunk))
    return state
