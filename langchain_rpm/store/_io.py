"""Chroma calls as plan requests: awaited on an async client, run (or refused) on a sync one.

Example:
    >>> from langchain_rpm._plans import run
    >>> class Collection:
    ...     def count(self):
    ...         return 3
    >>> def count():
    ...     return (yield call(Collection(), "count"))
    >>> run(count())
    3
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from langchain_rpm._plans import Call
from langchain_rpm.errors import AsyncClientError


@dataclass(frozen=True)
class ChromaCall(Call):
    """A :class:`~langchain_rpm._plans.Call` of a Chroma method, named (what a write's commits are checked by)."""

    method: str = ""


def call(target: Any, method: str, kwargs: dict[str, Any] | None = None) -> Call:
    """A Chroma client or collection call (awaited on an async client, in a worker thread on a sync one).

    On an async client the sync driver gets a coroutine it cannot run; it is refused with a clear error.
    """
    function = getattr(target, method)
    if inspect.iscoroutinefunction(function):
        return ChromaCall(_sync_only(type(target).__name__, method), afn=function, kwargs=kwargs or {}, method=method)
    return ChromaCall(function, kwargs=kwargs or {}, method=method)


def _sync_only(owner: str, method: str) -> Any:
    def refuse(**kwargs: Any) -> Any:
        raise AsyncClientError(
            f"{owner}.{method} is async, but it was called from sync code: use the async methods "
            "(ainvoke, apersonalize, abuild_user, store.a...) with an AsyncHttpClient store, or a sync client"
        )

    return refuse


def is_stale_index_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an embedded Chroma reading ids its in-memory index has not loaded yet."""
    return "Error finding id" in str(exc)
