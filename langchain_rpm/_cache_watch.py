"""Which LLM-cache entries a structured call used, so a reply that fails validation is evicted, not served again.

LangChain stores a reply in the model's cache before the output parser sees it. A reply that then
fails its schema would come back from the cache on every retry of the build, failing the same way
forever. :class:`~langchain_rpm.stages.base.StructuredCaller` therefore watches each call
(:func:`watching`); a cache that cooperates reports each entry it answers or stores
(:func:`note_use`), and on a validation failure the caller evicts exactly those entries
(:func:`evict`). :class:`~langchain_rpm.cli._cache.SQLiteCache` cooperates; so does any cache with an
``evict(prompt, llm_string)`` method that calls :func:`note_use` in ``lookup`` and ``update``.

Example:
    >>> class Cache:
    ...     def __init__(self): self.entries = {("p", "m"): "bad reply"}
    ...     def lookup(self, prompt, llm): note_use(self, prompt, llm); return self.entries.get((prompt, llm))
    ...     def evict(self, prompt, llm): return int(self.entries.pop((prompt, llm), None) is not None)
    >>> cache = Cache()
    >>> with watching() as used:
    ...     cache.lookup("p", "m")
    'bad reply'
    >>> evict(used), cache.entries
    (1, {})
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from langchain_rpm._plans import Request

CacheUse = tuple[Any, str, str]
"""``(cache, prompt, llm_string)``: one entry a call was answered from or stored into."""

_USES: ContextVar[list[CacheUse] | None] = ContextVar("rpm_cache_uses", default=None)


@contextmanager
def watching(uses: list[CacheUse] | None = None) -> Iterator[list[CacheUse]]:
    """Collect (into ``uses``) the cache entries the calls made inside use, in threads and tasks they start too."""
    uses = [] if uses is None else uses
    token = _USES.set(uses)
    try:
        yield uses
    finally:
        _USES.reset(token)


def note_use(cache: Any, prompt: str, llm_string: str) -> None:
    """Called by a cache's ``lookup`` / ``update``: the watched call uses this entry."""
    uses = _USES.get()
    if uses is not None:
        uses.append((cache, prompt, llm_string))


def evict(uses: list[CacheUse]) -> int:
    """Remove every entry in ``uses`` from its cache; returns how many were removed."""
    unique = {(id(cache), prompt, llm_string): (cache, prompt, llm_string) for cache, prompt, llm_string in uses}
    uses.clear()
    return sum(int(cache.evict(prompt, llm_string) or 0) for cache, prompt, llm_string in unique.values())


@dataclass(frozen=True)
class Watched(Request):
    """A plan request whose cache uses are collected into ``uses`` (a plan cannot hold a context across a yield)."""

    request: Request
    uses: list[CacheUse] = field(default_factory=list)

    def run(self) -> Any:
        """Run the request, watching (as :func:`watching` does, without its context-manager objects)."""
        token = _USES.set(self.uses)
        try:
            return self.request.run()
        finally:
            _USES.reset(token)

    async def arun(self) -> Any:
        """Await the request, watching."""
        token = _USES.set(self.uses)
        try:
            return await self.request.arun()
        finally:
            _USES.reset(token)
