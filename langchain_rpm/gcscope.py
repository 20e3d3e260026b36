"""Garbage collection scoped to profile builds: fewer collections while a build runs, restored after.

A build allocates many short-lived dicts and pydantic objects per LLM call. CPython's default
thresholds (700 allocations for the youngest generation) make it collect thousands of times per
build, and each older-generation pass walks the whole heap, which grows with the number of items
(measured in ``benchmarks/build.py``: 15-20 % of the build's CPU). While at least one build runs,
:func:`build_gc` freezes the objects that existed before (``gc.freeze()``: later passes skip them)
and raises the youngest generation's threshold; when the last build ends the thresholds are
restored and the frozen objects are collectable again. Reference cycles are still collected during
the build, only less often.

Example:
    >>> import gc
    >>> before = gc.get_threshold()
    >>> with build_gc():
    ...     gc.get_threshold()[0] >= BUILD_GEN0_THRESHOLD
    True
    >>> gc.get_threshold() == before
    True
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BUILD_GEN0_THRESHOLD = 50_000
"""Allocations between youngest-generation collections while a build runs (CPython's default: 700)."""

_lock = threading.Lock()
_active = 0
_saved: tuple[int, ...] = ()


@contextmanager
def build_gc() -> Iterator[None]:
    """Collect less often while the block runs; nested and concurrent blocks share one setting."""
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(_saved[0], BUILD_GEN0_THRESHOLD), *_saved[1:])
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
