"""Learning from new interactions off the response path: :class:`LearningExecutor` and a graph node.

Updating a profile costs two LLM calls per new item (factor-aware features and a reasoning path),
so it should never delay the answer a user is waiting for. :class:`LearningExecutor` runs updates
on its own worker threads: ``submit`` returns at once with a future, updates of one user run one
after another (so they never overwrite each other's statistics), ``flush`` waits for what is
queued, ``shutdown`` (or leaving the ``with`` block) drains and stops it. Failures are logged
(logger ``langchain_rpm.agents.learning``) and the future's result is ``None``.

:func:`rpm_learn_node` is a LangGraph node for your own graph, added with ``defer=True`` after the
node that produces the response: it learns inline (durable: checkpointed, retried on resume) or,
given an executor, hands the update to it and returns at once.

Items without an ``id`` get a stable one derived from their text, and items already stored are
skipped, so recording the same (input, response) twice, retrying, or resuming a crashed run never
counts an item twice.

Example:
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm(user=None)  # the offline demo model and a temporary store
    >>> with LearningExecutor(rpm) as learner:
    ...     future = learner.submit("ada", [{"input": "Great battery.", "response": "5"}])
    >>> future.result().num_items
    1
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.runtime import get_runtime

from langchain_rpm._history import check_user_id, validate_history
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.graphs.internal import internal_config
from langchain_rpm.graphs.state import resolve_user_id
from langchain_rpm.types import HistoryItem, ReasoningExample, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.rpm import RPM

logger = logging.getLogger(__name__)

ItemLike = HistoryItem | Mapping[str, Any]


def _not_stored(history: list[HistoryItem], stored: Sequence[ReasoningExample]) -> list[HistoryItem]:
    """The items not stored yet: learning the same item twice (a retry, a resumed run) is a no-op."""
    known = {example.item_id for example in stored}
    return [item for item in history if item.id not in known]


def learn(rpm: RPM, user_id: str, items: Sequence[ItemLike], *, config: RunnableConfig | None = None) -> UserProfile:
    """Add ``items`` to ``user_id``'s profile now (or build it when the user has none)."""
    history = validate_history(rpm.task, items)
    profile = rpm.store.get_profile(user_id)
    if profile is None:
        return rpm.build_user(user_id, history, config=config)
    fresh = _not_stored(history, rpm.store.get_examples(user_id))
    return rpm.add_interactions(user_id, fresh, config=config) if fresh else profile


async def alearn(
    rpm: RPM, user_id: str, items: Sequence[ItemLike], *, config: RunnableConfig | None = None
) -> UserProfile:
    """Async :func:`learn`."""
    history = validate_history(rpm.task, items)
    profile = await rpm.store.aget_profile(user_id)
    if profile is None:
        return await rpm.abuild_user(user_id, history, config=config)
    fresh = _not_stored(history, await rpm.store.aget_examples(user_id))
    return await rpm.aadd_interactions(user_id, fresh, config=config) if fresh else profile


class LearningExecutor:
    """Runs profile updates in the background, one user's updates in order.

    Args:
        rpm: The facade whose profiles are updated.
        max_workers: Users updated at once (LLM calls stay within the facade's ``max_concurrency``).

    Example:
        >>> # learner = LearningExecutor(rpm)
        >>> # reply = rpm.personalize("ada", question); send(reply)
        >>> # learner.submit("ada", [{"input": question, "response": rating}])
    """

    def __init__(self, rpm: RPM, *, max_workers: int = 4) -> None:
        """Start no threads until the first :meth:`submit`."""
        if max_workers < 1:
            raise ConfigurationError(f"max_workers must be >= 1, got {max_workers}")
        self.rpm = rpm
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpm-learning")
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Callable[[], None]]] = {}  # per user; a key exists only while busy
        self._pending: set[Future[UserProfile | None]] = set()
        self._closed = False

    def submit(
        self, user_id: str, items: Sequence[ItemLike], *, config: RunnableConfig | None = None
    ) -> Future[UserProfile | None]:
        """Queue an update of ``user_id`` with ``items``; bad items raise here, before anything is queued."""
        user_id = check_user_id(user_id)
        history = validate_history(self.rpm.task, items)
        future: Future[UserProfile | None] = Future()

        def job() -> None:
            try:
                future.set_result(learn(self.rpm, user_id, history, config=config))
            except Exception as exc:
                logger.warning("learning for user %r failed: %s: %s", user_id, type(exc).__name__, exc)
                future.set_result(None)
            finally:
                self._next(user_id)

        with self._lock:
            if self._closed:
                raise ConfigurationError("this LearningExecutor was shut down; create a new one")
            self._pending.add(future)
            future.add_done_callback(self._done)
            queue = self._queues.get(user_id)
            if queue is not None:  # the user's previous update is still running: run after it
                queue.append(job)
                return future
            self._queues[user_id] = deque()
        self._pool.submit(job)
        return future

    async def asubmit(
        self, user_id: str, items: Sequence[ItemLike], *, config: RunnableConfig | None = None
    ) -> asyncio.Future[UserProfile | None]:
        """:meth:`submit` from async code; the returned future can be awaited."""
        return asyncio.wrap_future(self.submit(user_id, items, config=config))

    def _next(self, user_id: str) -> None:
        with self._lock:
            queue = self._queues.get(user_id)
            if not queue:
                self._queues.pop(user_id, None)
                return
            job = queue.popleft()
        self._pool.submit(job)

    def _done(self, future: Future[UserProfile | None]) -> None:
        with self._lock:
            self._pending.discard(future)

    @property
    def pending(self) -> int:
        """Updates queued or running."""
        with self._lock:
            return len(self._pending)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every update submitted so far has finished (or ``timeout`` seconds passed)."""
        with self._lock:
            waiting = list(self._pending)
        wait(waiting, timeout=timeout)

    async def aflush(self) -> None:
        """Async :meth:`flush`."""
        with self._lock:
            waiting = [asyncio.wrap_future(f) for f in self._pending]
        if waiting:
            await asyncio.wait(waiting)

    def shutdown(self, *, wait: bool = True) -> None:
        """Refuse new updates; with ``wait``, finish the queued ones first."""
        with self._lock:
            self._closed = True
        if wait:
            self.flush()
        self._pool.shutdown(wait=wait)

    def __enter__(self) -> LearningExecutor:
        """Use as a context manager: leaving it drains and shuts down."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Drain and shut down."""
        self.shutdown(wait=True)


def rpm_learn_node(
    rpm: RPM,
    *,
    input_key: str = "rpm_query",
    response_key: str = "rpm_response",
    executor: LearningExecutor | None = None,
) -> RunnableLambda[Any, dict[str, Any]]:
    """A graph node that adds ``(state[input_key], state[response_key])`` to the run's user's profile.

    Add it with ``builder.add_node("learn", rpm_learn_node(rpm), defer=True)`` after the node that
    produces the response: clients streaming the run see the response before it starts. It does
    nothing when either key is empty, and writes no state. With ``executor`` the update is handed
    to it and the node returns at once (the process must stay alive until it finishes).

    Example:
        >>> # builder.add_node("learn", rpm_learn_node(rpm, response_key="user_answer"), defer=True)
    """

    def item(state: Mapping[str, Any]) -> list[dict[str, Any]]:
        text, response = state.get(input_key), state.get(response_key)
        if not text or response is None or response == "":
            return []
        return [{"input": str(text), "response": response, "options": state.get("rpm_options")}]

    def user(config: RunnableConfig) -> str:
        return resolve_user_id(get_runtime().context, config)

    def node(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        if items := item(state):
            if executor is not None:
                executor.submit(user(config), items)
            else:
                learn(rpm, user(config), items, config=internal_config())
        return {}

    async def anode(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        if items := item(state):
            if executor is not None:
                executor.submit(user(config), items)
            else:
                await alearn(rpm, user(config), items, config=internal_config())
        return {}

    return RunnableLambda(node, afunc=anode, name="rpm_learn")
