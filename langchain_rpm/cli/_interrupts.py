"""A Ctrl-C that Python could only print is kept, and the command raises it at its next check.

Python runs its ``SIGINT`` handler between two steps of whatever Python code runs. When that code is a callback
that cannot raise (a ``__del__``, a weakref callback, a C extension calling back into Python; seen in CI:
pydantic-core building a validator while a module was imported), the ``KeyboardInterrupt`` goes to
``sys.unraisablehook``, which prints "Exception ignored in ..." and goes on: the command ran to its end and
returned 0. While :func:`kept_interrupts` is active, such an interrupt is kept instead of printed, and
:func:`raise_kept_interrupt` raises it: the command calls it before its async work starts (:func:`run_async`),
after it ends, and before it returns.

Inside ``asyncio.run`` nothing is lost: its own ``SIGINT`` handler cancels the main task instead of raising.

Example:
    >>> with kept_interrupts():
    ...     run_async(asyncio.sleep(0, result="done"))
    'done'
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_kept = threading.Event()


@contextmanager
def kept_interrupts() -> Iterator[None]:
    """Keep a ``KeyboardInterrupt`` Python could only print; raise it when the block ends without an error."""
    printing = sys.unraisablehook

    def keep(info: Any) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt):
            _kept.set()
        else:
            printing(info)

    _kept.clear()
    sys.unraisablehook = keep
    try:
        yield
        raise_kept_interrupt()
    finally:
        if sys.unraisablehook is keep:
            sys.unraisablehook = printing


def raise_kept_interrupt() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C was kept since the last check."""
    if _kept.is_set():
        _kept.clear()
        raise KeyboardInterrupt


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)`` between two checks for a kept Ctrl-C (the coroutine is closed if it never starts)."""
    if _kept.is_set():
        coroutine.close()
    raise_kept_interrupt()
    result = asyncio.run(coroutine)
    raise_kept_interrupt()
    return result
