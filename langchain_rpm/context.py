"""Run context for RPM nodes: which user a run is for, and progress events on the custom stream.

The user id comes from LangGraph 1.x run context (``context=RPMContext(user_id=...)`` with
``context_schema``), falling back to ``config["configurable"]["user_id"]``.

Example:
    >>> resolve_user_id(RPMContext(user_id="ada"), {})
    'ada'
    >>> resolve_user_id(None, {"configurable": {"user_id": "bob"}})
    'bob'
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig


@dataclass
class RPMContext:
    """Run context of RPM graphs: the user the run personalizes for."""

    user_id: str


class MissingUserIdError(ValueError):
    """No user id in the run context nor in ``config["configurable"]``."""


def resolve_user_id(context: Any, config: RunnableConfig | Mapping[str, Any] | None) -> str:
    """The user id of a run: ``context.user_id`` (object or dict), else ``configurable.user_id``."""
    candidate = context.get("user_id") if isinstance(context, Mapping) else getattr(context, "user_id", None)
    if not candidate and config:
        candidate = (config.get("configurable") or {}).get("user_id")
    if not isinstance(candidate, str) or not candidate:
        raise MissingUserIdError(
            "RPM needs a user id: pass `context=RPMContext(user_id=...)` (or a context object/dict with a "
            "`user_id`) to invoke/stream, or `config={'configurable': {'user_id': ...}}`."
        )
    return candidate


class ProgressCounter:
    """Thread-safe ``done/total`` counters per (user, stage), shared by a graph's parallel item tasks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], list[int]] = {}

    def start(self, user_id: str, stage: str, total: int, done: int = 0) -> None:
        with self._lock:
            self._counts[(user_id, stage)] = [done, total]

    def advance(self, user_id: str, stage: str) -> tuple[int, int]:
        with self._lock:
            entry = self._counts.setdefault((user_id, stage), [0, 0])
            entry[0] += 1
            entry[1] = max(entry[1], entry[0])
            return entry[0], entry[1]


def progress_event(stage: str, user_id: str, done: int, total: int, **extra: Any) -> dict[str, Any]:
    """The payload of one custom-stream progress event."""
    return {"type": "rpm_progress", "stage": stage, "user_id": user_id, "done": done, "total": total, **extra}
