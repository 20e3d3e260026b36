"""``RPM``: the facade for people who do not want to touch graphs.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm import RPM, RPMStore
    >>> from langchain_rpm.testing import demo_chat_model
    >>> rpm = RPM(demo_chat_model(), task="lamp3", preset="paper",
    ...           store=RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> profile = rpm.build_user("ada", [{"id": "1", "input": "Arrived broken.", "response": "1"},
    ...                                  {"id": "2", "input": "Sturdy and fast.", "response": "5"}])
    >>> profile.num_items
    2
    >>> prediction = rpm.personalize("ada", "Broke after a week.")
    >>> prediction.answer, prediction.usage.llm_calls
    ('1', 2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore
from langgraph.types import StateSnapshot, StreamMode

from langchain_rpm._bulk_api import BulkBuildMixin
from langchain_rpm._corrections_api import CorrectionsMixin
from langchain_rpm._history import check_user_id
from langchain_rpm._plans import arun, run
from langchain_rpm._refresh_api import RefreshAPI
from langchain_rpm.components import RPMComponents
from langchain_rpm.graphs._progress import consume_chunk
from langchain_rpm.graphs._windows import graph_tasks
from langchain_rpm.graphs.build import create_profile_build_graph
from langchain_rpm.graphs.inference import create_inference_graph, query_input
from langchain_rpm.graphs.state import REQUEST_KEY, BuildRequest, BuildState
from langchain_rpm.personalization import Personalizer
from langchain_rpm.privacy import ForgetReport, aforget_user, data_owner, forget_user, owner_tag
from langchain_rpm.store import RPMStore
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import HistoryItem, Prediction, UserProfile
from langchain_rpm.usage import UsageTracker, with_tracker

HistoryLike = Sequence[HistoryItem | Mapping[str, Any]]
ProgressCallback = Callable[[dict[str, Any]], None]
"""Receives each progress event: ``{"stage", "user_id", "done", "total"}``."""


class RPM(BulkBuildMixin, RefreshAPI, CorrectionsMixin):
    """Build user profiles and personalize queries in two calls, sync or async.

    Args:
        llm: A chat model, a ``"provider:model"`` string or a model name (default ``gpt-4o-mini``).
        task: A :class:`TaskSpec` or a preset name (``lamp2``, ``lamp3``, ``lamp5``, ``goqa``).
        store: The example store (default: embedded Chroma with local embeddings).
        preset: ``"default"`` (the paper's method with named cost deviations) or ``"paper"``
            (the published method exactly); see :mod:`langchain_rpm.settings`.
        build_model: A different (cheaper) model for profile builds; ``llm`` answers queries.
        checkpointer: A LangGraph checkpointer; with one, an interrupted build resumes where it stopped.
        max_concurrency: Most LLM calls in flight at once, across every stage and user.
        method: Structured-output method (``"function_calling"`` for local llama.cpp servers).
        **settings: Overrides of :class:`~langchain_rpm.settings.RPMSettings` (``k=``, ``pack_size=``, ...).

    Example:
        >>> import tempfile
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> from langchain_rpm.testing import demo_chat_model
        >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
        >>> rpm = RPM(demo_chat_model(), task="lamp2", store=store)  # RPM("gpt-4o-mini", ...) with a key
        >>> rpm.build_user("bo", [{"input": "Robots rebel on a space station.", "response": "sci-fi"}]).num_items
        1
        >>> rpm.personalize("bo", "Aliens land on a space station.").answer
        'sci-fi'
    """

    def __init__(
        self,
        llm: BaseChatModel | str | None = None,
        task: TaskSpec | str = "lamp2",
        *,
        store: RPMStore | BaseStore | None = None,
        preset: str = "default",
        build_model: BaseChatModel | str | None = None,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        max_concurrency: int = 8,
        method: str | None = None,
        **settings: Any,
    ) -> None:
        """Configure the components and compile both graphs."""
        self.components = RPMComponents.create(
            llm,
            task,
            store=store,
            preset=preset,
            build_model=build_model,
            method=method,
            max_concurrency=max_concurrency,
            **settings,
        )
        self.max_concurrency = max_concurrency
        window = 1 if checkpointer is not None else max_concurrency  # nothing to resume: fewer, larger tasks
        self._graph_tasks = graph_tasks(max_concurrency, window)
        self.build_graph = create_profile_build_graph(self.components, packs_per_task=window).compile(checkpointer)
        self.inference_graph = create_inference_graph(self.components, on_unknown_user="raise").compile()

    @property
    def store(self) -> RPMStore:
        """The example store."""
        return self.components.store

    @property
    def task(self) -> TaskSpec:
        """The task spec."""
        return self.components.task

    # -- build -------------------------------------------------------------------------------------------
    def _request(
        self, user_id: str, history: HistoryLike, config: RunnableConfig | None, mode: Literal["build", "update"]
    ) -> tuple[BuildState, RunnableConfig, str]:
        """Validate everything, then the graph input, its run config and the request's build key."""
        request = BuildRequest.validate(self.task, user_id, mode, history)
        user_id, key, items = request.user_id, request.key, [item.model_dump() for item in request.items]
        payload: BuildState = {"user_id": user_id, "mode": mode, "history": items}
        # Graph tasks start about two LLM bounds' worth of packs (the shared limiter enforces the bound);
        # LangGraph's sync stream also needs a spare worker for itself (``graph_tasks``).
        # Checkpoints carry the user's tag, so forget() finds their threads whatever the thread id.
        base: RunnableConfig = {
            "max_concurrency": self._graph_tasks,
            "metadata": {"rpm_user": owner_tag(user_id)},
        }
        merged = merge_configs(base, config)
        thread = {"thread_id": f"rpm-build-{key[:24]}"}
        merged["configurable"] = {**thread, **merged.get("configurable", {}), REQUEST_KEY: request}
        return payload, merged, key

    @property
    def _durability(self) -> Literal["sync"] | None:
        # With a checkpointer, persist each step before the next one starts (resume loses less).
        return "sync" if self.build_graph.checkpointer is not None else None

    def _resume_plan(
        self, snapshot: StateSnapshot | None, payload: BuildState, key: str
    ) -> tuple[UserProfile | None, BuildState | None]:
        """``(profile, None)`` when this exact build already finished; else ``(None, input)`` (``None``: resume)."""
        if snapshot is None or snapshot.values.get("build_key") != key:
            return None, payload  # never run on this thread, or the thread holds another request
        if snapshot.next:  # interrupted: resume. A failed step (item tasks catch their items' errors, so an
            # error there is an interruption) would fail alike on every replay: start over; prepare keeps results
            failed = any(t.error and t.name not in ("extract_items", "reason_items") for t in snapshot.tasks)
            return (None, payload) if failed else (None, None)
        profile = snapshot.values.get("profile")
        if not profile or profile.get("failed_items"):
            return None, payload  # finished with failed items: run again (only those are retried)
        return UserProfile.model_validate(profile), None

    @staticmethod
    def _finished(done: UserProfile, stored: UserProfile | None) -> bool:
        return stored is not None and stored.version == done.version

    def _run_build(
        self, payload: BuildState, config: RunnableConfig, key: str, on_progress: ProgressCallback | None
    ) -> UserProfile:
        with data_owner(payload["user_id"]):  # replies record whose data they hold
            return self._stream_build(payload, config, key, on_progress)

    def _stream_build(
        self, payload: BuildState, config: RunnableConfig, key: str, on_progress: ProgressCallback | None
    ) -> UserProfile:
        snapshot = self.build_graph.get_state(config) if self.build_graph.checkpointer is not None else None
        done, stream_input = self._resume_plan(snapshot, payload, key)
        if done is not None:
            if self._finished(done, self.store.get_profile(done.user_id)):
                return done
            stream_input = payload
        state: dict[str, Any] = {}
        modes: list[StreamMode] = ["custom", "values"]
        limit = config.get("max_concurrency")
        if limit is not None and limit < 2:  # the sync stream holds one worker: 1 would leave none for tasks
            config = {**config, "max_concurrency": 2}
        for mode, chunk in self.build_graph.stream(
            stream_input, config, stream_mode=modes, durability=self._durability
        ):
            state = consume_chunk(mode, chunk, state, on_progress)
        return UserProfile.model_validate(state["profile"])

    async def _arun_build(
        self, payload: BuildState, config: RunnableConfig, key: str, on_progress: ProgressCallback | None
    ) -> UserProfile:
        with data_owner(payload["user_id"]):
            return await self._astream_build(payload, config, key, on_progress)

    async def _astream_build(
        self, payload: BuildState, config: RunnableConfig, key: str, on_progress: ProgressCallback | None
    ) -> UserProfile:
        snapshot = await self.build_graph.aget_state(config) if self.build_graph.checkpointer is not None else None
        done, stream_input = self._resume_plan(snapshot, payload, key)
        if done is not None:
            if self._finished(done, await self.store.aget_profile(done.user_id)):
                return done
            stream_input = payload
        state: dict[str, Any] = {}
        modes: list[StreamMode] = ["custom", "values"]
        stream = self.build_graph.astream(stream_input, config, stream_mode=modes, durability=self._durability)
        async for mode, chunk in stream:
            state = consume_chunk(mode, chunk, state, on_progress)
        return UserProfile.model_validate(state["profile"])

    def build_user(
        self,
        user_id: str,
        history: HistoryLike,
        *,
        config: RunnableConfig | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> UserProfile:
        """Build (or rebuild) ``user_id``'s profile from their whole history and store it.

        Items that fail are listed in ``profile.failed_items``; re-running the same build with a
        checkpointer retries only those.
        """
        return self._run_build(*self._request(user_id, history, config, "build"), on_progress)

    async def abuild_user(
        self,
        user_id: str,
        history: HistoryLike,
        *,
        config: RunnableConfig | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> UserProfile:
        """Async :meth:`build_user`."""
        return await self._arun_build(*self._request(user_id, history, config, "build"), on_progress)

    def add_interactions(
        self,
        user_id: str,
        items: HistoryLike,
        *,
        config: RunnableConfig | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> UserProfile:
        """Add new (input, response) items to a stored profile, paying LLM calls only for them.

        New items get factor-aware features against the stored factors and a reasoning path each;
        statistics are recomputed exactly without LLM calls. Factors are re-clustered from all
        features only when the share of features that fit no factor passes ``recluster_threshold``
        (``drift="on"``: the drift monitor's incremental round instead, ``docs/drift.md``).
        """
        return self._after_update(self._run_build(*self._request(user_id, items, config, "update"), on_progress))

    async def aadd_interactions(
        self,
        user_id: str,
        items: HistoryLike,
        *,
        config: RunnableConfig | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> UserProfile:
        """Async :meth:`add_interactions`."""
        return await self._aafter_update(
            await self._arun_build(*self._request(user_id, items, config, "update"), on_progress)
        )

    # -- personalize -------------------------------------------------------------------------------------
    def personalize(
        self, user_id: str, query: str, *, options: Sequence[str] | None = None, config: RunnableConfig | None = None
    ) -> Prediction:
        """Answer ``query`` as ``user_id`` would (``.explain()``); direct: no graph (``inference_graph`` streams)."""
        tracker, inputs = UsageTracker(), query_input(query, options)
        with data_owner(user_id):
            plan = Personalizer(self.components).predict_plan(
                check_user_id(user_id), inputs["rpm_query"], inputs["rpm_options"], with_tracker(config, tracker)
            )
            return run(plan).model_copy(update={"usage": tracker.usage})

    async def apersonalize(
        self, user_id: str, query: str, *, options: Sequence[str] | None = None, config: RunnableConfig | None = None
    ) -> Prediction:
        """Async :meth:`personalize`."""
        tracker, inputs = UsageTracker(), query_input(query, options)
        with data_owner(user_id):
            plan = Personalizer(self.components).predict_plan(
                check_user_id(user_id), inputs["rpm_query"], inputs["rpm_options"], with_tracker(config, tracker)
            )
            return (await arun(plan)).model_copy(update={"usage": tracker.usage})

    def warm_up(self) -> float:
        """Load the embedding model and open the store now, not in the first query; seconds spent.

        Example:
            >>> from langchain_rpm.testing import demo_rpm
            >>> demo_rpm().warm_up() >= 0
            True
        """
        return Personalizer(self.components).warm_up()

    async def awarm_up(self) -> float:
        """Async :meth:`warm_up`."""
        return await Personalizer(self.components).awarm_up()

    # -- users -------------------------------------------------------------------------------------------
    def profile(self, user_id: str) -> UserProfile | None:
        """The stored profile of ``user_id``, or ``None``."""
        return self.store.get_profile(user_id)

    def users(self) -> list[str]:
        """All users with a stored profile."""
        return self.store.list_users()

    def forget(self, user_id: str) -> ForgetReport:
        """Delete every copy of ``user_id``'s data: examples, profile, build checkpoints, cached LLM replies.

        Then compacts Chroma's files (embedded store). The report says what was removed and what could
        not be (see :func:`langchain_rpm.privacy.forget_user`); its ``examples_removed`` is what this
        method used to return.

        Example:
            >>> from langchain_rpm.testing import demo_rpm
            >>> rpm = demo_rpm()
            >>> rpm.forget("ada").examples_removed, rpm.profile("ada")
            (3, None)
        """
        return forget_user(user_id, self.store, checkpointer=self._saver(), caches=self._caches())

    async def aforget(self, user_id: str) -> ForgetReport:
        """Async :meth:`forget` (async store clients, ``AsyncSqliteSaver``)."""
        return await aforget_user(user_id, self.store, checkpointer=self._saver(), caches=self._caches())

    def _saver(self) -> BaseCheckpointSaver[Any] | None:
        import langchain_rpm.batch.ledger  # noqa: F401  (for forget: registers the purge of batch ledgers)

        saver = self.build_graph.checkpointer
        return saver if isinstance(saver, BaseCheckpointSaver) else None

    def _caches(self) -> list[Any]:
        """The LLM caches this facade's models write to (their own, and LangChain's global one)."""
        from langchain_core.globals import get_llm_cache

        found = [getattr(model, "cache", None) for model in (self.components.llm, self.components.build_llm)]
        return [cache for cache in [*found, get_llm_cache()] if cache is not None and not isinstance(cache, bool)]
