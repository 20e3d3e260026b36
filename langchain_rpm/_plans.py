r"""Plans: an operation written once, as a generator of I/O requests, run by a sync or an async driver.

A *plan* is a generator that ``yield``\ s :class:`Request` objects (a model call, a Chroma call, an
embedding, a group of sub-plans to run concurrently) and receives each result back; its ``return``
value is the operation's result. :func:`run` performs the requests with blocking calls,
:func:`arun` with ``await``. The logic between the I/O (validation, retries, bookkeeping) therefore
exists once, and the sync and async entry points cannot drift apart. An exception raised by a
request is thrown into the plan at its ``yield``, so a plan handles errors with plain ``try``.

Example:
    >>> import asyncio
    >>> def double(x):
    ...     y = yield Call(lambda: x * 2)
    ...     return y + 1
    >>> run(double(20)), asyncio.run(arun(double(20)))
    (41, 41)
    >>> run(gather([double(1), double(2)]))
    [3, 5]
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig

from langchain_rpm._workers import WORKERS
from langchain_rpm.errors import ConfigurationError

T = TypeVar("T")


class Request(ABC):
    """One piece of I/O a plan needs; it knows how to perform itself blocking and awaiting."""

    @abstractmethod
    def run(self) -> Any:
        """Perform the request with blocking calls."""

    @abstractmethod
    async def arun(self) -> Any:
        """Perform the request on the running event loop."""


Plan: TypeAlias = Generator[Request, Any, T]
"""A generator that yields :class:`Request`\\ s and returns a ``T``."""


def run(plan: Plan[T]) -> T:
    """Run ``plan`` to completion with blocking I/O and return its result."""
    reply: Any = None
    error: Exception | None = None
    while True:
        try:
            request = plan.send(reply) if error is None else plan.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        try:
            reply, error = request.run(), None
        except Exception as exc:
            reply, error = None, exc
        except BaseException:  # Ctrl-C, cancellation: the plan's finally blocks run now (locks are released)
            plan.close()
            raise


async def arun(plan: Plan[T]) -> T:
    """Run ``plan`` to completion on the event loop and return its result."""
    reply: Any = None
    error: Exception | None = None
    while True:
        try:
            request = plan.send(reply) if error is None else plan.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        try:
            reply, error = await request.arun(), None
        except Exception as exc:
            reply, error = None, exc
        except BaseException:
            plan.close()
            raise


def value(result: T) -> Plan[T]:
    """A plan that does no I/O and returns ``result`` (for branches that need none).

    Example:
        >>> run(value(3))
        3
    """
    return result
    yield  # pragma: no cover - makes this function a generator


# -- requests ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call(Request):
    """Call ``fn(*args, **kwargs)``; async: ``await afn(...)`` when given, else ``fn`` in a worker thread.

    ``fn`` may also be a coroutine function (an async client's method): the async driver awaits it
    and the sync driver refuses it through ``on_sync``.
    """

    fn: Callable[..., Any]
    afn: Callable[..., Awaitable[Any]] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def run(self) -> Any:
        """Call ``fn`` on this thread."""
        return self.fn(*self.args, **self.kwargs)

    async def arun(self) -> Any:
        """Await ``afn`` (or ``fn`` itself when it is a coroutine function), else run ``fn`` in a thread."""
        if self.afn is not None:
            return await self.afn(*self.args, **self.kwargs)
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(*self.args, **self.kwargs)
        return await asyncio.to_thread(self.fn, *self.args, **self.kwargs)


@dataclass(frozen=True)
class Invoke(Request):
    """``runnable.invoke(input, config, **kwargs)``, or ``ainvoke`` on the event loop, holding a ``limiter`` slot."""

    runnable: Runnable[Any, Any]
    input: Any
    config: RunnableConfig | None = None
    limiter: CallLimiter | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def run(self) -> Any:
        """Invoke synchronously."""
        if self.limiter is None:
            return self.runnable.invoke(self.input, self.config, **self.kwargs)
        with self.limiter.hold():
            return self.runnable.invoke(self.input, self.config, **self.kwargs)

    async def arun(self) -> Any:
        """Invoke asynchronously; a slot another call waits for is handed over before the reply is processed.

        Replies that arrive together would otherwise be processed one after another (LangChain's callbacks,
        our parsing) while the calls waiting for their slots start only after the last one: each wave of
        calls would wait for the whole previous wave's CPU. Yielding :data:`HANDOVER_TURNS` loop turns
        lets the woken call reach its model request first.
        """
        if self.limiter is None:
            return await self.runnable.ainvoke(self.input, self.config, **self.kwargs)
        slots = self.limiter.ahold()
        async with slots:
            reply = await self.runnable.ainvoke(self.input, self.config, **self.kwargs)
            waited_for = slots.locked()  # no free slot: a call may be waiting for this one
        if waited_for:
            for _ in range(HANDOVER_TURNS):
                await asyncio.sleep(0)
        return reply


HANDOVER_TURNS = 2
"""Event-loop turns a finished call yields when its slot goes to a waiting call (see :meth:`Invoke.arun`)."""


@dataclass(frozen=True)
class Gather(Request):
    """Run several plans concurrently; the reply lists their results in order.

    With ``return_exceptions`` a plan's exception is its result (the others go on); else the first
    exception is raised once every plan has finished. Sync: at most ``max_workers`` of the process's
    reused worker threads (:mod:`langchain_rpm._workers`; context and callbacks propagate); async:
    ``asyncio.gather``. LLM concurrency stays bounded by
    the :class:`CallLimiter` the model requests hold, not by this.
    """

    plans: Sequence[Plan[Any]]
    return_exceptions: bool = False
    max_workers: int = 16

    def run(self) -> list[Any]:
        """Run the plans on worker threads (inline when there is only one)."""
        if len(self.plans) <= 1 or self.max_workers <= 1:
            return self._collect([_attempt(run, plan) for plan in self.plans])
        return self._collect(WORKERS.map(_run_attempt, self.plans, width=self.max_workers))

    async def arun(self) -> list[Any]:
        """Run the plans as concurrent tasks."""
        outcomes = await asyncio.gather(*(arun(plan) for plan in self.plans), return_exceptions=True)
        return self._collect(list(outcomes))

    def _collect(self, outcomes: list[Any]) -> list[Any]:
        for outcome in outcomes:  # Ctrl-C, cancellation and the like always propagate
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome
        if not self.return_exceptions:
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome
        return outcomes


@dataclass(frozen=True)
class Offload(Request):
    """Run a plan whose I/O is all blocking: inline (sync), or in one worker thread (async).

    An embedded Chroma store or a local embedding model has no async API; awaiting such a plan
    request by request would hand each call to a worker thread. Offloaded, the whole plan costs one
    hand-off.
    """

    plan: Plan[Any]

    def run(self) -> Any:
        """Run the plan on this thread."""
        return run(self.plan)

    async def arun(self) -> Any:
        """Run the plan in one worker thread (context variables propagate)."""
        return await asyncio.to_thread(run, self.plan)


def offloaded(plan: Plan[T]) -> Plan[T]:
    """A plan that runs ``plan`` as one :class:`Offload` request.

    Example:
        >>> def tick():
        ...     return (yield Call(lambda: 1))
        >>> asyncio.run(arun(offloaded(tick())))
        1
    """
    result: T = yield Offload(plan)
    return result


def _attempt(driver: Callable[[Plan[Any]], Any], plan: Plan[Any]) -> Any:
    try:
        return driver(plan)
    except Exception as exc:
        return exc


def _run_attempt(plan: Plan[Any]) -> Any:
    return _attempt(run, plan)


def gather(plans: Sequence[Plan[Any]], *, return_exceptions: bool = False) -> Plan[list[Any]]:
    """A plan that runs ``plans`` concurrently and returns their results (see :class:`Gather`)."""
    results: list[Any] = yield Gather(list(plans), return_exceptions=return_exceptions)
    return results


# -- the shared bound on model calls -----------------------------------------------------------------------
class CallLimiter:
    """Bounds the LLM calls in flight across every stage and user that share it (threads and asyncio).

    Example:
        >>> limiter = CallLimiter(4)
        >>> with limiter.hold():
        ...     pass
    """

    def __init__(self, limit: int) -> None:
        """Allow at most ``limit`` calls at once (``limit >= 1``)."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigurationError(f"max_concurrency must be an integer >= 1, got {limit!r}")
        self.limit = limit
        self._threads = threading.BoundedSemaphore(limit)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._last: tuple[weakref.ReferenceType[asyncio.AbstractEventLoop], asyncio.Semaphore] | None = None

    def hold(self) -> threading.BoundedSemaphore:
        """The threads' slots, to hold one: ``with limiter.hold(): ...`` (blocking threads wait)."""
        return self._threads

    def ahold(self) -> asyncio.Semaphore:
        """The running event loop's slots, to hold one: ``async with limiter.ahold(): ...``.

        Every model call passes here: the last loop's semaphore is found without a lookup (a weak
        dictionary builds a weak reference per lookup), and no context-manager object is made per call.
        """
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        with self._lock:
            semaphore = self._loops.get(loop)
            if semaphore is None:
                semaphore = self._loops[loop] = asyncio.Semaphore(self.limit)
            self._last = (weakref.ref(loop), semaphore)
        return semaphore
