"""Group commit for users finishing at different times: their writes join a queue and go in groups.

While :func:`group_commits` is active (a bulk build, a batch-API build, an import of many users), a
user's commit (:meth:`RPMStore.commit_plan <langchain_rpm.store.RPMStore.commit_plan>`) joins the
store's :class:`CommitQueue` instead of writing alone. A group is written when ``enough`` users are
pending or the oldest has waited ``linger`` seconds, by whichever waiting writer finds no group being
written: everything pending as one group commit (:func:`~langchain_rpm.store._writes.group_commit_plan`:
max-size upserts, each user still copy-on-write, atomic and under their own lock); writers arriving
meanwhile go together in the next group. Users of a bulk build finish a few per second, each write
alone would cost three Chroma writes, so a short linger turns them into one group commit of many users;
the wait holds no LLM slot (the user's calls are done). Each writer gets its own user's result or
error; a writer cancelled while waiting is withdrawn, and the group of a writer cancelled while
writing goes back to the queue for the others to write.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.store import RPMStore
    >>> from langchain_rpm.store._writes import UserWrite
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
    >>> with group_commits(store, linger=0.0) as queue:
    ...     result = run(queue_for(store).commit_plan(UserWrite("ada", [])))
    >>> result.ids, queue.group_sizes
    ([], [1])
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from langchain_rpm._plans import Plan, Request
from langchain_rpm.store._backend import Backend, HasBackend, backend_of
from langchain_rpm.store._writes import UserWrite, WriteResult, group_commit_plan

MAX_USERS = 128
"""Most users in one group commit (bounds how long a group holds its users' locks)."""
LINGER = 1.0
"""Seconds the oldest pending write may wait for others before its group is written."""
ENOUGH = 32
"""Pending users that are written at once, without waiting for the linger."""

_QUEUES: ContextVar[tuple[CommitQueue, ...]] = ContextVar("langchain_rpm_commit_queues", default=())
_ON_QUEUED: ContextVar[Callable[[], None] | None] = ContextVar("langchain_rpm_on_queued", default=None)


@dataclass(eq=False)
class _Entry:
    write: UserWrite
    result: WriteResult | Exception | None = None
    done: bool = False
    since: float = field(default_factory=time.monotonic)
    wakers: list[Callable[[], None]] = field(default_factory=list)


class CommitQueue:
    """Pending user writes of one store, written as group commits by whichever writer is free."""

    def __init__(
        self, backend: Backend, *, max_users: int = MAX_USERS, linger: float = LINGER, enough: int = ENOUGH
    ) -> None:
        """A queue for ``backend``'s writes; at most ``max_users`` users per group (see the module)."""
        self.backend = backend
        self.max_users, self.linger, self.enough = max_users, linger, enough
        self.group_sizes: list[int] = []
        """Users in each group commit written, in order (what coalescing achieved)."""
        self._lock = threading.Lock()
        self._pending: list[_Entry] = []
        self._writing = False
        self._building = 0

    @contextmanager
    def building(self, on_queued: Callable[[], None] | None = None) -> Iterator[None]:
        """Count one user's build in flight while the block runs.

        When every build in flight waits in the queue (the end of a bulk build, or every worker done),
        the group is written without lingering: nobody else will join it. ``on_queued`` is called once,
        when the build's commit joins the queue (an async bulk build lets the next user start there:
        a queued commit holds no LLM slot).
        """
        with self._lock:
            self._building += 1
        token = _ON_QUEUED.set(on_queued)
        try:
            yield
        finally:
            _ON_QUEUED.reset(token)
            with self._lock:
                self._building -= 1
                wakers = self._take_wakers() if self._wait_for() == 0.0 else []
            for waker in wakers:
                waker()

    def commit_plan(self, write: UserWrite) -> Plan[WriteResult]:
        """Commit ``write`` in the next group; its user's result, or its user's error raised."""
        entry = _Entry(write)
        with self._lock:
            self._pending.append(entry)
            wakers = self._take_wakers() if self._wait_for() == 0.0 else []
        for waker in wakers:  # due now: a lingering writer writes the group
            waker()
        on_queued = _ON_QUEUED.get()
        if on_queued is not None:
            _ON_QUEUED.set(None)
            on_queued()
        try:
            while not entry.done:
                group = self._claim()
                if group is None:
                    yield _Wait(self, entry)
                    continue
                try:
                    results = yield from group_commit_plan(self.backend, [one.write for one in group])
                except Exception as exc:  # a shared write failed: every user of the group is told
                    results = [exc] * len(group)
                except BaseException:  # cancelled while writing: the others' writes go back to the queue
                    self._finish(group, None)
                    raise
                self._finish(group, results)
        finally:
            if not entry.done:
                self._withdraw(entry)
        if isinstance(entry.result, Exception):
            raise entry.result
        assert entry.result is not None
        return entry.result

    def _wait_for(self) -> float | None:
        """Seconds until the pending writes are due (0: now; ``None``: a group is being written). Under the lock."""
        if self._writing or not self._pending:
            return None
        if len(self._pending) >= self.enough or 0 < self._building <= len(self._pending):
            return 0.0  # enough users, or every build in flight is waiting here: nobody else will come
        return max(0.0, self._pending[0].since + self.linger - time.monotonic())

    def _take_wakers(self) -> list[Callable[[], None]]:
        wakers = [waker for entry in self._pending for waker in entry.wakers]
        for entry in self._pending:
            entry.wakers.clear()
        return wakers

    def _claim(self) -> list[_Entry] | None:
        """Take the pending writes (one per user, oldest first) when due and no group is being written."""
        with self._lock:
            if self._wait_for() != 0.0:
                return None
            group: list[_Entry] = []
            users: set[str] = set()
            for entry in self._pending:
                if entry.write.user_id not in users and len(group) < self.max_users:
                    group.append(entry)
                    users.add(entry.write.user_id)
            self._pending = [entry for entry in self._pending if entry not in group]
            self._writing = True
            self.group_sizes.append(len(group))
            return group

    def _finish(self, group: list[_Entry], results: list[WriteResult | Exception] | None) -> None:
        """Hand out the results (``None``: requeue the group) and wake every waiting writer."""
        with self._lock:
            if results is None:
                self._pending[:0] = group
            else:
                for entry, result in zip(group, results, strict=True):
                    entry.result, entry.done = result, True
            self._writing = False
            wakers = [waker for entry in [*group, *self._pending] for waker in entry.wakers]
            for entry in [*group, *self._pending]:
                entry.wakers.clear()
        for waker in wakers:
            waker()

    def _withdraw(self, entry: _Entry) -> None:
        with self._lock:
            if entry in self._pending:
                self._pending.remove(entry)

    def _register(self, entry: _Entry, waker: Callable[[], None]) -> tuple[bool, float | None]:
        """Register ``waker`` unless the entry is done or its group is due (then: claim now).

        Returns whether it was registered and the seconds to wait at most (``None``: until woken).
        """
        with self._lock:
            wait = None if entry.done else self._wait_for()
            if entry.done or wait == 0.0:
                return False, None
            entry.wakers.append(waker)
            return True, wait


@dataclass(frozen=True)
class _Wait(Request):
    """Wait until the writer's entry is done or the group being written is finished."""

    queue: CommitQueue
    entry: _Entry

    def run(self) -> None:
        event = threading.Event()
        registered, timeout = self.queue._register(self.entry, event.set)
        if registered:
            event.wait(timeout)

    async def arun(self) -> None:
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not woken.done():
                woken.set_result(None)

        def wake() -> None:
            loop.call_soon_threadsafe(settle)

        registered, timeout = self.queue._register(self.entry, wake)
        if registered:
            await asyncio.wait({woken}, timeout=timeout)


@contextmanager
def group_commits(
    store: Backend | HasBackend, *, max_users: int = MAX_USERS, linger: float = LINGER, enough: int = ENOUGH
) -> Iterator[CommitQueue]:
    """Within this block (and the threads and tasks started from it), ``store``'s commits go in groups."""
    queue = CommitQueue(backend_of(store), max_users=max_users, linger=linger, enough=enough)
    token = _QUEUES.set((*_QUEUES.get(), queue))
    try:
        yield queue
    finally:
        _QUEUES.reset(token)


def queue_for(store: Backend | HasBackend) -> CommitQueue | None:
    """The active commit queue of ``store``, if a :func:`group_commits` block is running here."""
    backend: Any = backend_of(store)
    for queue in reversed(_QUEUES.get()):
        if queue.backend is backend:
            return queue
    return None
