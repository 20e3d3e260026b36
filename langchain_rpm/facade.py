"""``RPM``: the small facade for people who do not want to touch graphs.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm import RPM, RPMStore
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> rpm = RPM(FakeStructuredChatModel(), task="lamp3",
    ...           store=RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> profile = rpm.build_user("ada", [{"id": "1", "input": "Arrived broken.", "response": "1"},
    ...                                  {"id": "2", "input": "Sturdy and fast.", "response": "5"}])
    >>> profile.num_items
    2
    >>> prediction = rpm.personalize("ada", "Solid build, slow shipping.")
    >>> prediction.usage.llm_calls
    2
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import StateSnapshot

from langchain_rpm.build_graph import ProfileBuildState, create_profile_build_graph, validate_history
from langchain_rpm.components import RPMComponents
from langchain_rpm.context import RPMContext
from langchain_rpm.inference_graph import RPMState, create_inference_graph
from langchain_rpm.llm import UsageTracker
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.store import RPMStore
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import HistoryItem, Prediction, UserProfile

HistoryLike = Sequence[HistoryItem | dict[str, Any]]
ProgressCallback = Callable[[dict[str, Any]], None]
"""Receives each progress event: ``{"stage", "user_id", "done", "total"}``."""


class RPM:
    """Build user profiles and personalize queries in two calls, sync or async.

    Args:
        llm: A chat model or a model name (default ``gpt-4o-mini`` via ``ChatOpenAI``).
        task: A :class:`TaskSpec` or a preset name (``lamp2``, ``lamp3``, ``lamp5``, ``goqa``).
        store: The example store (default: embedded Chroma with local embeddings).
        checkpointer: A LangGraph checkpointer; with one, an interrupted build resumes where it stopped.
        max_concurrency: Most LLM calls in flight at once.
        recluster_threshold: Share of a profile's features that may fit no factor before
            :meth:`add_interactions` re-clusters the factors.
        **options: Passed to :meth:`RPMComponents.create` (``method``, ``k``, ``chunk_size``,
            ``pack_size`` — history items per extraction and reasoning call, default 1, ...).
    """

    def __init__(
        self,
        llm: BaseChatModel | str | None = None,
        task: TaskSpec | str = "lamp2",
        *,
        store: RPMStore | None = None,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        max_concurrency: int = 8,
        recluster_threshold: float = 0.3,
        **options: Any,
    ) -> None:
        self.components = RPMComponents.create(llm, task, store=store, max_concurrency=max_concurrency, **options)
        self.max_concurrency = max_concurrency
        graph = create_profile_build_graph(self.components, recluster_threshold=recluster_threshold)
        self.build_graph = graph.compile(checkpointer=checkpointer)
        self.inference_graph = create_inference_graph(self.components).compile()

    @property
    def store(self) -> RPMStore:
        """The example store."""
        return self.components.store

    @property
    def task(self) -> TaskSpec:
        """The task spec."""
        return self.components.task

    # -- build -------------------------------------------------------------------------------------------
    def _build_request(
        self, user_id: str, history: HistoryLike, config: RunnableConfig | None, mode: str
    ) -> tuple[ProfileBuildState, RunnableConfig]:
        """Validate the items, then the graph input and the run config of a build or an update."""
        items = validate_history(self.task, history)
        return _build_input(user_id, items, mode), self._build_config(user_id, items, config, kind=mode)

    def _build_config(
        self, user_id: str, items: list[HistoryItem], config: RunnableConfig | None, *, kind: str = "build"
    ) -> RunnableConfig:
        """Run config whose thread id is a digest of the inputs: re-running the same build resumes it."""
        payload = json.dumps([item.model_dump() for item in items], sort_keys=True)
        key = f"{kind}\x00{user_id}\x00{self.task.name}\x00{PROMPT_VERSION}\x00{payload}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        # Graph tasks may exceed the LLM bound (the shared limiter enforces that); LangGraph's sync stream
        # also needs a spare worker for itself, so max_concurrency=1 must not reach the graph as 1.
        merged: dict[str, Any] = {"max_concurrency": 2 * self.max_concurrency + 1, **(config or {})}
        merged["configurable"] = {"thread_id": f"rpm-build-{digest[:24]}", **merged.get("configurable", {})}
        return merged  # type: ignore[return-value]

    def build_user(
        self,
        user_id: str,
        history: HistoryLike,
        *,
        config: RunnableConfig | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> UserProfile:
        """Build (or rebuild) ``user_id``'s profile from their history and store it.

        Items that fail are listed in ``profile.failed_items``; re-running the same build with a
        checkpointer retries only those.
        """
        return self._run_build(*self._build_request(user_id, history, config, "build"), on_progress)

    async def abuild_user(
        self,
        user_id: str,
        history: HistoryLike,
        *,
        config: RunnableConfig | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> UserProfile:
        """Async twin of :meth:`build_user`."""
        return await self._arun_build(*self._build_request(user_id, history, config, "build"), on_progress)

    @property
    def _durability(self) -> Literal["sync"] | None:
        # With a checkpointer, persist each step before the next one starts (resume loses less).
        return "sync" if self.build_graph.checkpointer is not None else None

    def _snapshot(self, config: RunnableConfig) -> StateSnapshot | None:
        return self.build_graph.get_state(config) if self.build_graph.checkpointer is not None else None

    async def _asnapshot(self, config: RunnableConfig) -> StateSnapshot | None:
        return await self.build_graph.aget_state(config) if self.build_graph.checkpointer is not None else None

    def _plan(
        self, snapshot: StateSnapshot | None, payload: ProfileBuildState
    ) -> tuple[UserProfile | None, ProfileBuildState | None]:
        """``(profile, _)`` when this exact build already finished and is still what is stored; else the
        input to stream: ``None`` resumes an interrupted run (its finished items keep their results)."""
        if snapshot is None:
            return None, payload
        if snapshot.next:
            return None, None
        profile = snapshot.values.get("profile")
        if not profile or profile.get("failed_items"):
            return None, payload  # never run, or finished with failed items: run again (only those are retried)
        done = UserProfile.model_validate(profile)
        stored = self.store.get_profile(done.user_id)
        return (done, None) if stored is not None and stored.version == done.version else (None, payload)

    def _run_build(
        self, payload: ProfileBuildState, config: RunnableConfig, on_progress: ProgressCallback | None
    ) -> UserProfile:
        """Run, resume, or skip (when already finished) one build, forwarding progress events."""
        finished, stream_input = self._plan(self._snapshot(config), payload)
        if finished is not None:
            return finished
        state: dict[str, Any] = {}
        chunks = self.build_graph.stream(
            stream_input, config, stream_mode=["custom", "values"], durability=self._durability
        )
        for mode, chunk in chunks:
            if mode == "values":
                state = cast(dict[str, Any], chunk)
            elif on_progress is not None:
                on_progress(cast(dict[str, Any], chunk))
        return UserProfile.model_validate(state["profile"])

    async def _arun_build(
        self, payload: ProfileBuildState, config: RunnableConfig, on_progress: ProgressCallback | None
    ) -> UserProfile:
        finished, stream_input = self._plan(await self._asnapshot(config), payload)
        if finished is not None:
            return finished
        state: dict[str, Any] = {}
        chunks = self.build_graph.astream(
            stream_input, config, stream_mode=["custom", "values"], durability=self._durability
        )
        async for mode, chunk in chunks:
            if mode == "values":
                state = cast(dict[str, Any], chunk)
            elif on_progress is not None:
                on_progress(cast(dict[str, Any], chunk))
        return UserProfile.model_validate(state["profile"])

    def build_users(
        self, histories: Mapping[str, HistoryLike], *, config: RunnableConfig | None = None
    ) -> dict[str, UserProfile | Exception]:
        """Build many users with threads; LLM calls stay within ``max_concurrency`` across all users.

        Returns each user's profile, or the exception that stopped that user (others go on).
        """
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures = {
                uid: pool.submit(self.build_user, uid, history, config=config) for uid, history in histories.items()
            }
            return {uid: _result_or_error(future) for uid, future in futures.items()}

    async def abuild_users(
        self,
        histories: Mapping[str, HistoryLike],
        *,
        config: RunnableConfig | None = None,
        users_in_flight: int | None = None,
    ) -> dict[str, UserProfile | Exception]:
        """Async bulk build: users overlap (one user's reasoning paths run while another's features are
        extracted), and the shared limiter keeps LLM calls within ``max_concurrency`` across them.

        Args:
            histories: ``{user_id: history}``.
            users_in_flight: Users built at once (default ``4 * max_concurrency``), bounding memory.
        """
        gate = asyncio.Semaphore(users_in_flight or 4 * self.max_concurrency)

        async def one(user_id: str, history: HistoryLike) -> UserProfile | Exception:
            async with gate:
                try:
                    return await self.abuild_user(user_id, history, config=config)
                except Exception as exc:
                    return exc

        results = await asyncio.gather(*(one(uid, history) for uid, history in histories.items()))
        return dict(zip(histories, results, strict=True))

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
        features only when the share of features that fit no factor passes the threshold.
        """
        return self._run_build(*self._build_request(user_id, items, config, "update"), on_progress)

    async def aadd_interactions(
        self,
        user_id: str,
        items: HistoryLike,
        *,
        config: RunnableConfig | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> UserProfile:
        """Async twin of :meth:`add_interactions`."""
        return await self._arun_build(*self._build_request(user_id, items, config, "update"), on_progress)

    # -- personalize -------------------------------------------------------------------------------------
    def personalize(
        self, user_id: str, query: str, *, options: Sequence[str] | None = None, config: RunnableConfig | None = None
    ) -> Prediction:
        """Answer ``query`` the way ``user_id`` would; the prediction explains itself (``.explain()``)."""
        tracker = UsageTracker()
        state = self.inference_graph.invoke(
            _query_input(query, options), _with_tracker(config, tracker), context=RPMContext(user_id=user_id)
        )
        return _prediction(state, tracker)

    async def apersonalize(
        self, user_id: str, query: str, *, options: Sequence[str] | None = None, config: RunnableConfig | None = None
    ) -> Prediction:
        """Async twin of :meth:`personalize`."""
        tracker = UsageTracker()
        state = await self.inference_graph.ainvoke(
            _query_input(query, options), _with_tracker(config, tracker), context=RPMContext(user_id=user_id)
        )
        return _prediction(state, tracker)

    # -- users -------------------------------------------------------------------------------------------
    def profile(self, user_id: str) -> UserProfile | None:
        """The stored profile of ``user_id``, or ``None``."""
        return self.store.get_profile(user_id)

    def users(self) -> list[str]:
        """All users with a stored profile."""
        return self.store.list_users()

    def forget(self, user_id: str) -> int:
        """Delete ``user_id``'s examples and profile; returns the number of examples removed."""
        return self.store.delete_user(user_id)

    @staticmethod
    def explain(prediction: Prediction) -> str:
        """Which factors and examples drove ``prediction``, and why."""
        return prediction.explain()


def _result_or_error(future: Future[UserProfile]) -> UserProfile | Exception:
    try:
        return future.result()
    except Exception as exc:
        return exc


def _build_input(user_id: str, items: list[HistoryItem], mode: str = "build") -> ProfileBuildState:
    return {"user_id": user_id, "mode": mode, "history": [item.model_dump() for item in items]}  # type: ignore[typeddict-item]


def _query_input(query: str, options: Sequence[str] | None) -> RPMState:
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query must be a non-empty string")
    return {"rpm_query": query, "rpm_options": list(options) if options else None}


def _with_tracker(config: RunnableConfig | None, tracker: UsageTracker) -> RunnableConfig:
    merged: dict[str, Any] = dict(config or {})
    callbacks = merged.get("callbacks")
    if callbacks is None:
        merged["callbacks"] = [tracker]
    elif isinstance(callbacks, list):
        merged["callbacks"] = [*callbacks, tracker]
    else:  # a callback manager
        callbacks = callbacks.copy()
        callbacks.add_handler(tracker, inherit=True)
        merged["callbacks"] = callbacks
    return merged  # type: ignore[return-value]


def _prediction(state: dict[str, Any], tracker: UsageTracker) -> Prediction:
    prediction = Prediction.model_validate(state["rpm_prediction"])
    return prediction.model_copy(update={"usage": tracker.usage})
