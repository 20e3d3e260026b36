"""The facade's part for many users at once: ``build_users`` / ``abuild_users``.

:class:`BulkBuildMixin` is one of :class:`~langchain_rpm.RPM`'s bases. Users are built concurrently
(threads, or asyncio tasks) while every LLM call stays within the facade's one ``max_concurrency``
bound; ``batch_api=True`` sends each build phase of all users through the OpenAI Batch API instead.
The users' store writes go in group commits (:mod:`~langchain_rpm.store._commit_queue`): users who
finish close together are written together, each still atomic on their own.

Example:
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm(user=None)
    >>> built = rpm.build_users({"ada": [{"input": "Broke at once.", "response": "1"}],
    ...                          "bo": [{"input": "Works well.", "response": "5"}]})
    >>> sorted((user, profile.num_items) for user, profile in built.items())
    [('ada', 1), ('bo', 1)]
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

from langchain_core.runnables import RunnableConfig

from langchain_rpm.store._commit_queue import group_commits
from langchain_rpm.types import HistoryItem, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.batch.build import Facade
    from langchain_rpm.store import RPMStore

BULK_LINGER = 10.0
"""Seconds a queued commit of an async bulk build may wait for others (its user no longer holds a slot of
``users_in_flight``, so waiting idles nothing): fewer, larger group commits, each an event-loop stall."""
USERS_IN_FLIGHT_PER_SLOT = 2
"""An async bulk build's users at once per LLM slot (``max_concurrency``): enough ready calls to keep every slot
busy through each user's narrow phases (Propose, Assign), and no more. Every user in flight holds its items'
started calls, which the host's garbage collector walks on every full collection: 300 users, 100 ms/call, 16
slots, 4 users per slot against 2: 316-319k against 250-251k tracked objects at the peak (``perf_notes.md``)."""
HistoryLike = Sequence[HistoryItem | Mapping[str, Any]]
ProgressCallback = Callable[[dict[str, Any]], None]


class BulkBuildMixin:
    """``build_users`` / ``abuild_users`` of the :class:`~langchain_rpm.RPM` facade."""

    max_concurrency: int
    build_user: Callable[..., UserProfile]
    abuild_user: Callable[..., Awaitable[UserProfile]]

    def build_users(
        self,
        histories: Mapping[str, HistoryLike],
        *,
        config: RunnableConfig | None = None,
        on_progress: ProgressCallback | None = None,
        batch_api: bool = False,
        **batch: Any,
    ) -> dict[str, UserProfile | Exception]:
        """Build many users with threads; LLM calls stay within ``max_concurrency`` across all users.

        Returns each user's profile, or the exception that stopped that user (others go on).
        ``batch_api=True``: through the OpenAI Batch API at half price (``docs/batch.md``), with
        ``batch_state=`` (the ledger) and the options of :func:`~langchain_rpm.batch.build.batch_builder`.
        """
        if batch_api or batch:
            from langchain_rpm.batch.build import batch_builder

            return batch_builder(cast("Facade", self), batch_api, on_progress, **batch).build_users(
                histories, config=config
            )

        def one(user_id: str, history: HistoryLike) -> UserProfile | Exception:
            with queue.building():
                try:
                    return self.build_user(user_id, history, config=config, on_progress=on_progress)
                except Exception as exc:
                    return exc

        with group_commits(self.store) as queue, ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures = {
                uid: pool.submit(contextvars.copy_context().run, one, uid, items) for uid, items in histories.items()
            }
        return {uid: future.result() for uid, future in futures.items()}

    @property
    def store(self) -> RPMStore:
        """The example store (the facade's)."""
        raise NotImplementedError  # pragma: no cover - RPM defines it

    async def abuild_users(
        self,
        histories: Mapping[str, HistoryLike],
        *,
        config: RunnableConfig | None = None,
        users_in_flight: int | None = None,
        on_progress: ProgressCallback | None = None,
        batch_api: bool = False,
        **batch: Any,
    ) -> dict[str, UserProfile | Exception]:
        """Async :meth:`build_users`; ``users_in_flight`` users at once (default :func:`default_users_in_flight`)."""
        if batch_api or batch:
            from langchain_rpm.batch.build import batch_builder

            builder = batch_builder(cast("Facade", self), batch_api, on_progress, **batch)
            return await builder.abuild_users(histories, config=config, users_in_flight=users_in_flight)
        gate = asyncio.Semaphore(users_in_flight or default_users_in_flight(self.max_concurrency))

        async def one(user_id: str, history: HistoryLike) -> UserProfile | Exception:
            leave = _once(gate.release)  # when the commit is queued: the next user starts building
            with queue.building(on_queued=leave):  # every user counts from the start: a group is due early
                await gate.acquire()  # only when every user left waits in the queue
                try:
                    return await self.abuild_user(user_id, history, config=config, on_progress=on_progress)
                except Exception as exc:
                    return exc
                finally:
                    leave()

        with group_commits(self.store, linger=BULK_LINGER) as queue:
            results = await asyncio.gather(*(one(uid, history) for uid, history in histories.items()))
        return dict(zip(histories, results, strict=True))


def default_users_in_flight(max_concurrency: int) -> int:
    """Users an async bulk build runs at once by default (:data:`USERS_IN_FLIGHT_PER_SLOT` per LLM slot).

    Example:
        >>> default_users_in_flight(16)
        32
    """
    return USERS_IN_FLIGHT_PER_SLOT * max_concurrency


def _once(action: Callable[[], None]) -> Callable[[], None]:
    """``action``, run on the first call only."""
    done = False

    def once() -> None:
        nonlocal done
        if not done:
            done = True
            action()

    return once
