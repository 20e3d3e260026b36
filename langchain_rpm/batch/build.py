"""Bulk profile builds through the OpenAI Batch API: all users build at once, each phase goes out as one batch.

:class:`BatchBuilder` runs every user's ordinary build graph concurrently with a batching copy of
the facade's build model (:class:`~langchain_rpm.batch.model.BatchChatOpenAI`); the coordinator
sends the requests of a phase as one batch once every build is waiting on one. Nothing about the
graph is special-cased, so whatever steps the build has, each becomes a batch for all users, and the
stored state is what an online build stores for the same replies. Queries stay online.

Example:
    >>> import tempfile, pathlib
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_openai import ChatOpenAI
    >>> from langchain_rpm import RPM, RPMStore
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rpm = RPM(ChatOpenAI(model="gpt-4o-mini", api_key="unused"), task="lamp2",
    ...           store=RPMStore(folder / "store", embeddings=DeterministicFakeEmbedding(size=8)))
    >>> builder = BatchBuilder(rpm, folder / "batch.sqlite", poll_interval=60)
    >>> builder.settings.poll_interval, builder.usage is None
    (60, True)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, cast

from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI

from langchain_rpm.batch._coordinator import BatchCoordinator
from langchain_rpm.batch._cost import BatchUsage
from langchain_rpm.batch._jobs import BatchSettings
from langchain_rpm.batch.model import _NO_RESPONSES_API, BatchChatOpenAI
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.privacy import DEFAULT_BATCH_STATE
from langchain_rpm.store._commit_queue import group_commits
from langchain_rpm.types import HistoryItem, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.components import RPMComponents

T = TypeVar("T")
HistoryLike = Sequence[HistoryItem | Mapping[str, Any]]


class Facade(Protocol):
    """What the batch builder needs of the ``RPM`` facade (this layer sits below it and does not import it)."""

    components: RPMComponents
    build_graph: Any

    async def abuild_user(
        self,
        user_id: str,
        history: HistoryLike,
        /,
        *,
        config: RunnableConfig | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> UserProfile:
        """Build one user's profile."""
        ...

    async def aadd_interactions(
        self,
        user_id: str,
        items: HistoryLike,
        /,
        *,
        config: RunnableConfig | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> UserProfile:
        """Add items to a stored profile."""
        ...


DEFAULT_STATE = DEFAULT_BATCH_STATE
"""Where the batch ledger lives unless told otherwise."""

UNBOUNDED_CALLS = 1_000_000
"""The batched facade's bound on calls in flight: calls waiting on a batch must not hold the others back."""


class BatchBuilder:
    """Builds many users' profiles through the Batch API, at batch prices, resumable from its ledger.

    Args:
        rpm: The facade whose model, task, store, settings and checkpointer the builds use; its build
            model must be a ``langchain_openai.ChatOpenAI``.
        state: The ledger file. Re-running with the same file after a crash polls the batches the
            crashed run created and replays their replies instead of paying again.
        settings: :class:`~langchain_rpm.batch._jobs.BatchSettings`; or give its fields as ``**options``
            (``poll_interval=``, ``timeout=``, ``collect_window=``, ...).
        on_progress: Receives the builds' events and the batches' ``{"stage": "batch", ...}`` events.
        online_concurrency: Most fallback calls (expired or failed lines) in flight at once.
    """

    def __init__(
        self,
        rpm: Facade,
        state: str | Path = DEFAULT_STATE,
        *,
        settings: BatchSettings | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        online_concurrency: int = 8,
        **options: Any,
    ) -> None:
        """Check the model and the settings (nothing is sent before a build)."""
        if settings is not None and options:
            raise ConfigurationError("give BatchBuilder either settings= or its fields as keywords, not both")
        model = rpm.components.build_llm
        if not isinstance(model, ChatOpenAI):
            raise ConfigurationError(
                f"batch_api needs an OpenAI chat model (langchain_openai.ChatOpenAI) to build with, "
                f"got {type(model).__name__}: pass build_model= or use the online build"
            )
        if model._use_responses_api({}):
            raise ConfigurationError(_NO_RESPONSES_API)
        self.rpm = rpm
        self.model = model
        self.state = Path(state).expanduser()
        self.settings = settings or BatchSettings(**options)
        self.on_progress = on_progress
        self.online_concurrency = online_concurrency
        self.usage: BatchUsage | None = None
        """What the last run sent, resumed, replayed and paid (``None`` before a run)."""

    async def abuild_users(
        self,
        histories: Mapping[str, HistoryLike],
        *,
        config: RunnableConfig | None = None,
        users_in_flight: int | None = None,
        mode: Literal["build", "update"] = "build",
    ) -> dict[str, UserProfile | Exception]:
        """Build every user concurrently; returns each user's profile or the exception that stopped it.

        Args:
            histories: ``{user_id: history}``.
            config: Run config for every build.
            users_in_flight: Users built at once (default: all of them, so each phase is one batch).
            mode: ``"build"`` (``RPM.abuild_user``) or ``"update"`` (``RPM.aadd_interactions``: new items
                added to stored profiles).
        """
        coordinator = await asyncio.to_thread(  # opens the ledger; may look up a batch a crashed run created
            BatchCoordinator, self.model.root_client, self.state, settings=self.settings, on_progress=self._emit
        )
        try:
            model = BatchChatOpenAI.from_model(self.model, coordinator, online_concurrency=self.online_concurrency)
            facade = batched_facade(self.rpm, model)
            gate = asyncio.Semaphore(users_in_flight or max(1, len(histories)))

            async def one(user_id: str, history: HistoryLike) -> UserProfile | Exception:
                async with gate:
                    with coordinator.track(user_id), queue.building():
                        try:
                            run = facade.abuild_user if mode == "build" else facade.aadd_interactions
                            return await run(user_id, history, config=config, on_progress=self._emit)
                        except Exception as exc:
                            return exc

            with group_commits(facade.components.store) as queue:  # users finishing together share writes
                results = await asyncio.gather(*(one(user_id, history) for user_id, history in histories.items()))
        finally:
            await asyncio.to_thread(coordinator.close)
            self.usage = coordinator.usage
        self._emit({"stage": "batch_cost", "cost_usd": self.usage.dollars(), **self.usage.model_dump()})
        return dict(zip(histories, results, strict=True))

    def build_users(
        self,
        histories: Mapping[str, HistoryLike],
        *,
        config: RunnableConfig | None = None,
        users_in_flight: int | None = None,
        mode: Literal["build", "update"] = "build",
    ) -> dict[str, UserProfile | Exception]:
        """Blocking :meth:`abuild_users` (runs its own event loop, on a worker thread if one is running)."""
        return run_blocking(self.abuild_users(histories, config=config, users_in_flight=users_in_flight, mode=mode))

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_progress is not None:
            self.on_progress(event)


def batch_builder(
    rpm: Facade,
    batch_api: bool,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    *,
    batch_state: str | Path | None = None,
    **options: Any,
) -> BatchBuilder:
    """The builder behind ``RPM.build_users(..., batch_api=True)`` / ``abuild_users``.

    Args:
        rpm: The facade.
        batch_api: Must be true: batch options without it are refused (they would be ignored).
        on_progress: Receives the builds' and the batches' events.
        batch_state: The ledger file (default :data:`DEFAULT_STATE`).
        **options: :class:`BatchBuilder` options (``online_concurrency=``, ``settings=``) and
            :class:`~langchain_rpm.batch._jobs.BatchSettings` fields (``poll_interval=``, ``timeout=``, ...).

    Example:
        >>> from langchain_rpm.testing import demo_rpm
        >>> batch_builder(demo_rpm(user=None), False, poll_interval=5)
        Traceback (most recent call last):
        ...
        langchain_rpm.errors.ConfigurationError: batch options ['poll_interval'] need batch_api=True
    """
    if not batch_api:
        given = sorted([*options, *(["batch_state"] if batch_state is not None else [])])
        raise ConfigurationError(f"batch options {given} need batch_api=True")
    state = DEFAULT_STATE if batch_state is None else batch_state
    return BatchBuilder(rpm, state, on_progress=on_progress, **options)


def batched_facade(rpm: Facade, model: BatchChatOpenAI) -> Facade:
    """A copy of ``rpm`` that builds with ``model`` and does not bound the calls waiting on batches."""
    parts = rpm.components
    caller = getattr(parts.extractor, "caller", None)
    checkpointer = rpm.build_graph.checkpointer
    facade: Any = type(rpm)  # the facade's own class: this module does not import it
    copy = facade(
        parts.llm,
        parts.task,
        store=parts.store,
        preset=parts.settings.preset,
        build_model=model,
        checkpointer=cast(Any, checkpointer) or None,
        max_concurrency=UNBOUNDED_CALLS,
        method=getattr(caller, "method", None),
        **parts.settings.model_dump(exclude={"preset"}),
    )
    return cast(Facade, copy)


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from sync code, on a worker thread when a loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
