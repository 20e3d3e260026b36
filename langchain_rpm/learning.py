"""Learning from new interactions off the response path.

Updating a profile costs two LLM calls per new item (factor-aware features and a reasoning path),
so it should never delay the answer a user is waiting for. Two ways:

- :func:`schedule_learning` (asyncio) / :func:`schedule_learning_in_thread` (threads): call them
  after you have returned the answer; the update runs in the background via
  ``RPM.aadd_interactions`` / ``RPM.add_interactions`` (or builds the profile when the user has none).
  The task/future is returned and also held in a module registry until it finishes, so it is never
  garbage-collected mid-flight; failures are logged (logger ``langchain_rpm.learning``), not raised.
  Updates of one user run one after another (a second update waits for the first; asyncio tasks
  queue per event loop, threads per user lock), so they never overwrite each other's statistics.
  Wait for them with :func:`wait_for_learning` (e.g. at shutdown).
- :func:`rpm_learn_node`: a LangGraph node for your own graph, added with ``defer=True`` after the
  node that produces the response. Streaming clients (``stream_mode="updates"``/``"messages"``) get
  the answer before the node starts; the run itself ends after the update, so it is durable
  (checkpointed, retried on resume). ``background=True`` instead schedules the update and returns at
  once, so even ``invoke`` returns before the update finishes (the process must stay alive).

New items without an ``id`` get a stable one derived from their text (``learned-<digest>``), and
items already stored are skipped, so recording the same (input, response) twice, retrying, or
resuming a run that crashed mid-update never counts an item twice.

Example:
    >>> learned_item("Great battery.", "5")["id"]
    'learned-d930fe1fdf029c01'
    >>> # after replying:  task = schedule_learning(rpm, "ada", [{"input": q, "response": "5"}])
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.runtime import get_runtime

from langchain_rpm.build_graph import validate_history
from langchain_rpm.context import resolve_user_id
from langchain_rpm.types import HistoryItem, ReasoningExample, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.facade import RPM

logger = logging.getLogger(__name__)

ItemLike = HistoryItem | Mapping[str, Any]

_PENDING: set[asyncio.Task[UserProfile | None] | Future[UserProfile | None]] = set()
_TAILS: dict[tuple[int, str], asyncio.Task[UserProfile | None]] = {}
_USER_LOCKS: dict[tuple[int, str], threading.Lock] = {}
_REGISTRY_LOCK = threading.Lock()
_EXECUTOR: ThreadPoolExecutor | None = None


def learned_item(
    input: str, response: str, *, id: str | None = None, options: Sequence[str] | None = None
) -> dict[str, Any]:
    """A history item for a new interaction; without ``id``, one derived from the text."""
    if id is None:
        digest = hashlib.sha256(f"{input}\x00{response}\x00{list(options or [])}".encode()).hexdigest()
        id = f"learned-{digest[:16]}"
    return {"id": id, "input": input, "response": response, "options": list(options) if options else None}


def _checked(rpm: RPM, items: Sequence[ItemLike]) -> list[HistoryItem]:
    """Parse ``items`` and check them against the task spec, so bad input fails in the caller."""
    return validate_history(rpm.task, _items(items))


def _items(items: Sequence[ItemLike]) -> list[HistoryItem]:
    out = []
    for item in items:
        if isinstance(item, HistoryItem):
            out.append(item)
            continue
        data = dict(item)
        if not data.get("id"):
            data = learned_item(str(data.get("input", "")), str(data.get("response", "")), options=data.get("options"))
        out.append(HistoryItem.model_validate(data))
    if not out:
        raise ValueError("nothing to learn: pass at least one (input, response) item")
    return out


def _key(rpm: RPM, user_id: str) -> tuple[int, str]:
    return (id(rpm.store), user_id)


def _log_failure(user_id: str, exc: BaseException) -> None:
    logger.error("RPM: learning for user %r failed: %s: %s", user_id, type(exc).__name__, exc, exc_info=exc)


def learn(rpm: RPM, user_id: str, items: Sequence[ItemLike], *, config: RunnableConfig | None = None) -> UserProfile:
    """Add ``items`` to ``user_id``'s profile now (build it if the user has none); blocks until done.

    Items already stored (same id) are skipped, so a retried or resumed update never counts them twice.
    """
    history = _items(items)
    with _user_lock(rpm, user_id):
        profile = rpm.store.get_profile(user_id)
        if profile is None:
            return rpm.build_user(user_id, history, config=config)
        fresh = _not_stored(history, rpm.store.get_examples(user_id))
        return rpm.add_interactions(user_id, fresh, config=config) if fresh else profile


async def alearn(
    rpm: RPM, user_id: str, items: Sequence[ItemLike], *, config: RunnableConfig | None = None
) -> UserProfile:
    """Async twin of :func:`learn`; unlike the schedulers it does not wait for the user's other updates."""
    history = _items(items)
    profile = await rpm.store.aget_profile(user_id)
    if profile is None:
        return await rpm.abuild_user(user_id, history, config=config)
    fresh = _not_stored(history, await rpm.store.aget_examples(user_id))
    return await rpm.aadd_interactions(user_id, fresh, config=config) if fresh else profile


def _not_stored(history: list[HistoryItem], stored: Sequence[ReasoningExample]) -> list[HistoryItem]:
    """The items not stored yet: learning the same item twice (a retry, a resumed run) is a no-op."""
    known = {example.item_id for example in stored}
    return [item for item in history if item.id not in known]


def _user_lock(rpm: RPM, user_id: str) -> threading.Lock:
    with _REGISTRY_LOCK:
        return _USER_LOCKS.setdefault(_key(rpm, user_id), threading.Lock())


def _enqueue(
    rpm: RPM,
    user_id: str,
    history: list[HistoryItem],
    *,
    config: RunnableConfig | None,
    swallow: bool,
    context: contextvars.Context,
) -> asyncio.Task[UserProfile | None]:
    """Run :func:`alearn` in a task after the user's previous update on this loop; register it."""
    loop = asyncio.get_running_loop()
    key = _key(rpm, user_id)
    previous = _TAILS.get(key)
    if previous is not None and (previous.done() or previous.get_loop() is not loop):
        previous = None

    async def run() -> UserProfile | None:
        if previous is not None:
            await asyncio.wait([previous])  # one update of a user at a time; its outcome does not matter
        try:
            return await alearn(rpm, user_id, history, config=config)
        except Exception as exc:
            if not swallow:
                raise
            _log_failure(user_id, exc)
            return None

    task = loop.create_task(run(), name=f"rpm-learning-{user_id}", context=context)
    with _REGISTRY_LOCK:
        _PENDING.add(task)
    _TAILS[key] = task

    def finished(done: asyncio.Task[UserProfile | None]) -> None:
        with _REGISTRY_LOCK:
            _PENDING.discard(done)
        if _TAILS.get(key) is done:
            del _TAILS[key]

    task.add_done_callback(finished)
    return task


def schedule_learning(
    rpm: RPM, user_id: str, items: Sequence[ItemLike], *, config: RunnableConfig | None = None
) -> asyncio.Task[UserProfile | None]:
    """Update ``user_id``'s profile with ``items`` in a background asyncio task; returns the task.

    Call it after the answer is on its way: the task runs ``RPM.aadd_interactions`` (or
    ``abuild_user`` for a user without a profile) concurrently with whatever you do next. Its
    result is the new profile, or ``None`` when the update failed (the error is logged). Items that
    do not fit the task (a label outside the list, a duplicate id) raise ``ValueError`` here, before
    anything is scheduled. Needs a running event loop.

    Example:
        >>> # reply = await rpm.apersonalize("ada", question); send(reply)
        >>> # schedule_learning(rpm, "ada", [{"input": question, "response": user_rating}])
    """
    history = _checked(rpm, items)  # bad items raise here, in the caller
    # A fresh context: the update is not a child of the run that scheduled it (no inherited
    # callbacks or graph config), since that run may be long finished when it executes.
    return _enqueue(rpm, user_id, history, config=config, swallow=True, context=contextvars.Context())


def schedule_learning_in_thread(
    rpm: RPM,
    user_id: str,
    items: Sequence[ItemLike],
    *,
    config: RunnableConfig | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> Future[UserProfile | None]:
    """Sync twin of :func:`schedule_learning`: the update runs on a worker thread; returns its future.

    Example:
        >>> # future = schedule_learning_in_thread(rpm, "ada", [{"input": q, "response": "5"}])
    """
    history = _checked(rpm, items)

    def run() -> UserProfile | None:
        try:
            return learn(rpm, user_id, history, config=config)
        except Exception as exc:
            _log_failure(user_id, exc)
            return None

    future = (executor or _default_executor()).submit(run)
    with _REGISTRY_LOCK:
        _PENDING.add(future)

    def finished(done: Future[UserProfile | None]) -> None:
        with _REGISTRY_LOCK:
            _PENDING.discard(done)

    future.add_done_callback(finished)
    return future


def _default_executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    with _REGISTRY_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rpm-learning")
        return _EXECUTOR


def pending_learning() -> list[asyncio.Task[UserProfile | None] | Future[UserProfile | None]]:
    """Background updates not finished yet."""
    with _REGISTRY_LOCK:
        return list(_PENDING)


async def wait_for_learning() -> None:
    """Wait until every background update (tasks of this loop and thread futures) has finished.

    Example:
        >>> asyncio.run(wait_for_learning())
    """
    loop = asyncio.get_running_loop()
    while True:
        waiting: list[Any] = []
        for job in pending_learning():
            if isinstance(job, Future):
                waiting.append(asyncio.wrap_future(job))
            elif job.get_loop() is loop:
                waiting.append(job)
        if not waiting:
            return
        await asyncio.wait(waiting)


def rpm_learn_node(
    rpm: RPM,
    *,
    input_key: str = "rpm_query",
    response_key: str = "rpm_response",
    background: bool = False,
) -> RunnableLambda[Any, dict[str, Any]]:
    """A graph node that adds ``(state[input_key], state[response_key])`` to the run's user's profile.

    Add it with ``builder.add_node("learn", rpm_learn_node(rpm), defer=True)`` after the node that
    produces the response: clients streaming the run see the response before it starts. It does
    nothing when either key is empty, and writes no state. The user id comes from the run context,
    else ``config["configurable"]["user_id"]``. ``background=True`` schedules the update
    (:func:`schedule_learning` / :func:`schedule_learning_in_thread`) and returns immediately.

    The keys must be declared in the host state (``input_key`` may be any text key; the state
    of the learn node's input is read, never written).

    Example:
        >>> # builder.add_node("learn", rpm_learn_node(rpm, response_key="user_answer"), defer=True)
        >>> # builder.add_edge("respond", "learn")
    """

    def _item(state: Mapping[str, Any]) -> dict[str, Any] | None:
        text, response = state.get(input_key), state.get(response_key)
        if not text or response is None or response == "":
            return None
        return learned_item(str(text), str(response), options=state.get("rpm_options"))

    def _user(config: RunnableConfig) -> str:
        return resolve_user_id(get_runtime().context, config)

    def node(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        item = _item(state)
        if item is None:
            return {}
        user_id = _user(config)
        if background:
            schedule_learning_in_thread(rpm, user_id, [item])
        else:
            learn(rpm, user_id, [item])
        return {}

    async def anode(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        item = _item(state)
        if item is None:
            return {}
        user_id = _user(config)
        if background:
            schedule_learning(rpm, user_id, [item])
        else:  # queued behind the user's other updates; traced under this run
            history = _items([item])
            await _enqueue(rpm, user_id, history, config=None, swallow=False, context=contextvars.copy_context())
        return {}

    return RunnableLambda(node, afunc=anode, name="rpm_learn")
