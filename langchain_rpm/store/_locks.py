"""One writer per user at a time: in a process (threads and asyncio tasks), across processes and across clients.

Three coordinators, chosen by the store's client (:func:`~langchain_rpm.store._leases.coordinator_for`):

- **embedded** (a ``PersistentClient`` folder): an embedded Chroma keeps its vector index in memory, so two
  processes writing one folder corrupt each other's view (DESIGN §4). One writer *process* at a time holds
  ``<folder>/rpm-write.lock`` (``filelock``); inside the process one writer at a time holds the store's
  writer lock. Every write then replaces ``<folder>/rpm-write-token``; a client that sees a token it did not
  write reopens Chroma (:class:`EmbeddedFolder`), so readers in other processes notice others' writes.
- **lease** (a Chroma server, Chroma Cloud, or any other client): a per-user lease record in the
  ``{namespace}_leases`` collection. Chroma's ``add`` keeps the first record of an id and ignores later ones,
  so concurrent ``add`` + read-back elects exactly one owner; a lease expires after ``lease_ttl`` seconds
  (a crashed writer does not block forever), and the owner checks it still holds the lease right before the
  switch to the new version. Expiry uses the clients' wall clocks: keep them in sync.
- **local** (an in-memory ``EphemeralClient``): the per-user in-process lock only.

Waiting writers give up after ``lock_timeout`` seconds with :class:`~langchain_rpm.errors.StoreLockTimeout`.
The per-user lock map holds an entry only while someone holds or waits for it.

Example:
    >>> from langchain_rpm._plans import run
    >>> locks = KeyedLocks()
    >>> held = run(locks.acquire("ada", timeout=1.0))
    >>> locks.size()
    1
    >>> locks.release(held)
    >>> locks.size()
    0
"""

from __future__ import annotations

import asyncio
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from filelock import FileLock, Timeout

from langchain_rpm._plans import Plan, Request
from langchain_rpm.errors import StoreLockTimeout
from langchain_rpm.store._folder import LOCK_FILE, EmbeddedFolder
from langchain_rpm.store._write_window import Switched, WriteWindow

T = TypeVar("T")
_POLL_START, _POLL_MAX = 0.002, 0.1


@dataclass(frozen=True)
class Wait(Request):
    """Sleep ``seconds`` (``asyncio.sleep`` on the event loop)."""

    seconds: float

    def run(self) -> None:
        """Sleep on this thread."""
        time.sleep(self.seconds)

    async def arun(self) -> None:
        """Sleep without blocking the loop."""
        await asyncio.sleep(self.seconds)


@dataclass(frozen=True)
class TryUntil(Request):
    """Call ``attempt()`` (non-blocking, returns success) until it succeeds or ``timeout`` seconds pass.

    Sync: ``blocking(timeout)`` when given (a real blocking wait), else polling. Async: polling with
    ``asyncio.sleep``, so a cancelled task never acquires a lock that nobody would release.
    """

    attempt: Callable[[], bool]
    timeout: float
    blocking: Callable[[float], bool] | None = None

    def run(self) -> bool:
        """Wait on this thread."""
        if self.blocking is not None:
            return self.blocking(self.timeout)
        deadline, delay = time.monotonic() + self.timeout, _POLL_START
        while not self.attempt():
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(2 * delay, _POLL_MAX)
        return True

    async def arun(self) -> bool:
        """Wait on the event loop."""
        deadline, delay = time.monotonic() + self.timeout, _POLL_START
        while not self.attempt():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(2 * delay, _POLL_MAX)
        return True


def _wait_for_lock(lock: threading.Lock, timeout: float) -> TryUntil:
    return TryUntil(lambda: lock.acquire(blocking=False), timeout, lambda t: lock.acquire(timeout=max(t, 0.0)))


class KeyedLocks:
    """One mutex per key for threads and asyncio tasks; an entry lives only while it is held or awaited."""

    def __init__(self) -> None:
        """An empty map."""
        self._mutex = threading.Lock()
        self._entries: dict[Hashable, list[Any]] = {}  # key -> [lock, holders and waiters]

    def acquire(self, key: Hashable, *, timeout: float) -> Plan[Hashable]:
        """A plan that holds ``key``'s lock (``StoreLockTimeout`` after ``timeout``); returns the key."""
        with self._mutex:
            entry = self._entries.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            got = yield _wait_for_lock(entry[0], timeout)
        except BaseException:
            self._leave(key)
            raise
        if not got:
            self._leave(key)
            raise StoreLockTimeout(f"another writer held the lock for {timeout:g} s; retry, or raise lock_timeout")
        return key

    def release(self, key: Hashable) -> None:
        """Release ``key``'s lock (drops the entry when nobody else holds or waits)."""
        with self._mutex:
            self._entries[key][0].release()
        self._leave(key)

    def _leave(self, key: Hashable) -> None:
        with self._mutex:
            entry = self._entries[key]
            entry[1] -= 1
            if entry[1] == 0:
                del self._entries[key]

    def size(self) -> int:
        """Keys currently held or awaited."""
        with self._mutex:
            return len(self._entries)


USER_LOCKS = KeyedLocks()
"""The process's per-user write locks, shared by every store on the same backend."""


# -- coordinators --------------------------------------------------------------------------------------------
@dataclass
class Held:
    """What a writer holds; ``release`` gives it back."""

    user_id: str
    keys: list[Hashable] = field(default_factory=list)
    owner: str = ""
    touches: frozenset[str] | None = None  # set by a write that finished: the only users it changed
    window: WriteWindow | None = None  # an embedded folder's commits during the write
    switched: list[Switched] = field(default_factory=list)  # what the write made current, per user


class Coordinator(ABC):
    """How writes of one user are serialised on one backend."""

    kind: str

    def __init__(self, timeout: float) -> None:
        """Wait at most ``timeout`` seconds for the lock."""
        self.timeout = timeout

    @abstractmethod
    def acquire(self, user_id: str) -> Plan[Held]:
        """Hold the user's write lock."""

    @abstractmethod
    def release(self, held: Held) -> Plan[None]:
        """Give the lock back."""

    def abandon(self, held: Held) -> None:
        """Give back what needs no I/O (the plan was closed mid-write); a lease then expires by itself."""
        for key in reversed(held.keys):
            USER_LOCKS.release(key)
        held.keys.clear()

    def verify(self, held: Held) -> Plan[None]:
        """Raise :class:`ConcurrentWriteError` if the lock was lost (checked right before the switch)."""
        return None
        yield  # pragma: no cover - a plan without I/O

    def locked_many(self, user_ids: list[str], body: Callable[[list[Held]], Plan[T]]) -> Plan[T]:
        """Run ``body(held)`` holding the write locks of every user (taken in sorted order: no deadlock)."""
        return locked_each(self, sorted(set(user_ids)), body)

    def locked(self, user_id: str, body: Callable[[Held], Plan[T]]) -> Plan[T]:
        """Run ``body(held)`` while holding the user's write lock; release it however ``body`` ends."""
        held = yield from self.acquire(user_id)
        try:
            result = yield from body(held)
        except GeneratorExit:
            self.abandon(held)
            raise
        except BaseException:
            yield from self.release(held)
            raise
        yield from self.release(held)
        return result


def locked_each(
    coordinator: Coordinator, users: list[str], body: Callable[[list[Held]], Plan[T]], held: list[Held] | None = None
) -> Plan[T]:
    """Hold every user's lock, taken one by one in ``users``' (sorted) order, while ``body`` runs."""
    held = held if held is not None else []
    if len(held) == len(users):
        return (yield from body(held))
    return (
        yield from coordinator.locked(users[len(held)], lambda one: locked_each(coordinator, users, body, [*held, one]))
    )


class LocalCoordinator(Coordinator):
    """In-process serialisation per user (an ``EphemeralClient`` lives in one process)."""

    kind = "local"

    def __init__(self, timeout: float, scope: str) -> None:
        """Locks keyed by ``scope`` and the user."""
        super().__init__(timeout)
        self.scope = scope

    def acquire(self, user_id: str) -> Plan[Held]:
        """Hold the in-process per-user lock."""
        key = yield from USER_LOCKS.acquire((self.scope, user_id), timeout=self.timeout)
        return Held(user_id, [key])

    def release(self, held: Held) -> Plan[None]:
        """Release it."""
        self.abandon(held)
        return None
        yield  # pragma: no cover - a plan without I/O


class EmbeddedCoordinator(Coordinator):
    """One writer process per folder (file lock), one writer per process (writer lock)."""

    kind = "embedded"

    def __init__(self, timeout: float, folder: EmbeddedFolder) -> None:
        """Coordinate writes to ``folder``."""
        super().__init__(timeout)
        self.folder = folder

    def acquire(self, user_id: str) -> Plan[Held]:
        """Hold the writer lock, then the folder's file lock; reopen Chroma if another process wrote."""
        started = time.monotonic()
        if not (yield _wait_for_lock(self.folder.writer, self.timeout)):
            raise self._timeout(user_id, "another writer in this process")
        try:
            lock = self.folder.file_lock
            left = max(0.0, self.timeout - (time.monotonic() - started))
            if not (yield TryUntil(lambda: _try_file_lock(lock, 0), left, lambda t: _try_file_lock(lock, t))):
                raise self._timeout(user_id, "another process")
            self.folder.refresh()
        except BaseException:
            if self.folder.file_lock.is_locked:
                self.folder.file_lock.release()
            self.folder.writer.release()
            raise
        return Held(user_id)

    def locked(self, user_id: str, body: Callable[[Held], Plan[T]]) -> Plan[T]:
        """As :meth:`Coordinator.locked`, the write's commits accounted for (:class:`WriteWindow`)."""
        return super().locked(user_id, lambda held: self._watched(held, body))

    def _watched(self, held: Held, body: Callable[[Held], Plan[T]]) -> Plan[T]:
        held.window = WriteWindow(self.folder)
        return (yield from held.window.watched(body(held)))

    def locked_many(self, user_ids: list[str], body: Callable[[list[Held]], Plan[T]]) -> Plan[T]:
        """One writer per folder: the folder's lock covers every user at once."""
        return self.locked("(several users)", lambda held: body([held]))

    def _timeout(self, user_id: str, who: str) -> StoreLockTimeout:
        return StoreLockTimeout(
            f"user {user_id!r}: {who} held the write lock of the embedded store {self.folder.folder} for more "
            f"than {self.timeout:g} s (lock file {self.folder.folder / LOCK_FILE}); retry later, pass a larger "
            "RPMStore(lock_timeout=...), or use a Chroma server (`chroma run`) for many writers"
        )

    def release(self, held: Held) -> Plan[None]:
        """Announce the write, then release both locks."""
        self.abandon(held)
        return None
        yield  # pragma: no cover - a plan without I/O

    def abandon(self, held: Held) -> None:
        """Announce and release (no I/O through Chroma is needed); tell the query caches what a write explained."""
        try:
            self.folder.announce_write()
            window = held.window
            if held.touches is not None and window is not None and window.explained:
                self.folder.explain(window.before, window.last, held.touches, held.switched)
        finally:
            self.folder.file_lock.release()
            self.folder.writer.release()


def _try_file_lock(lock: FileLock, timeout: float) -> bool:
    try:
        lock.acquire(timeout=timeout, blocking=timeout > 0)
    except Timeout:
        return False
    return True


def reopen_plan(folder: EmbeddedFolder, timeout: float) -> Plan[None]:
    """Reopen an embedded folder's Chroma for a reader, once no writer of this process is mid-write."""
    if not (yield _wait_for_lock(folder.writer, timeout)):
        raise StoreLockTimeout(f"a writer held {folder.folder}'s write lock for more than {timeout:g} s; retry")
    try:
        folder.reopen()
    finally:
        folder.writer.release()
