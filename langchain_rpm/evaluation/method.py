"""The interface every evaluated method implements, the context methods are built from, and what they share.

A method is created per task and run by a :data:`MethodFactory` from a :class:`MethodContext` (model,
task, store, preset, options), then the runner calls ``prepare_user`` once per user and ``predict`` per
query. The profile-based methods (RPM and its ablations) share one profile build per user and run
through :class:`SharedProfiles`, and the runner charges each of them its full cost; the methods that
retrieve by the raw query share one :class:`DenseIndex` of each user's history (embeddings only, no
LLM calls).

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm import LAMP3, RPMStore
    >>> from langchain_rpm.testing import demo_chat_model
    >>> ctx = MethodContext(demo_chat_model(), LAMP3,
    ...                     RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> ctx.profiles.rpm.task.name, ctx.k
    ('lamp3', 3)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm.evaluation.cost import Spend
from langchain_rpm.evaluation.users import EvalQuery, EvalUser
from langchain_rpm.models import model_name
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.rpm import RPM
from langchain_rpm.settings import RPMSettings
from langchain_rpm.stages.base import StructuredCaller
from langchain_rpm.store import RPMStore
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import UserProfile
from langchain_rpm.usage import UsageTracker

__all__ = [
    "DenseIndex",
    "LexicalIndex",
    "Method",
    "MethodContext",
    "MethodFactory",
    "ProfileBuild",
    "SharedProfiles",
    "top_k",
]


@runtime_checkable
class Method(Protocol):
    """One way of answering a user's queries; the runner calls ``prepare_user`` once, then ``predict``.

    ``config`` carries the runner's :class:`~langchain_rpm.usage.UsageTracker` callback: pass it to every
    model call so the cost is counted. ``prepare_user`` returns the :class:`Spend` of work done on the
    user's behalf *outside* ``config`` (a profile shared between methods), or ``None``. ``predict``
    returns the final answer string, already normalised to the task (the metric scores it as is).
    """

    name: str

    async def prepare_user(self, user: EvalUser, config: RunnableConfig | None = None) -> Spend | None:
        """Get ready for ``user`` (build a profile, an index, or nothing)."""
        ...

    async def predict(self, user: EvalUser, query: EvalQuery, config: RunnableConfig | None = None) -> str:
        """The final answer to one held-out query."""
        ...


@dataclass
class ProfileBuild:
    """A finished shared profile build: the digest of what it was built from, and its cost."""

    digest: str
    spend: Spend


def top_k(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` highest scores, ties broken by position (deterministic).

    Example:
        >>> top_k([0.1, 0.9, 0.9, 0.5], 2)
        [1, 2]
    """
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


def _unit(matrix: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class DenseIndex:
    """Cosine retrieval over each user's history *inputs* with the store's embeddings (the paper's RAG key q')."""

    def __init__(self, store: RPMStore) -> None:
        """Embed with ``store.embeddings``; each user's history is embedded once, on first use."""
        self.embeddings = store.embeddings
        self._vectors: dict[str, asyncio.Future[np.ndarray[Any, Any]]] = {}

    async def _history(self, user: EvalUser) -> np.ndarray[Any, Any]:
        vectors = await self.embeddings.aembed_documents([item.input for item in user.history])
        return _unit(np.asarray(vectors, dtype=np.float64))

    async def ranked(self, user: EvalUser, text: str, k: int) -> list[tuple[int, float]]:
        """``(position in user.history, cosine)`` of the ``k`` inputs nearest to ``text``, best first."""
        if user.user_id not in self._vectors:
            self._vectors[user.user_id] = asyncio.ensure_future(self._history(user))
        matrix = await asyncio.shield(self._vectors[user.user_id])
        vector = _unit(np.asarray([await self.embeddings.aembed_query(text)], dtype=np.float64))[0]
        scores = (matrix @ vector).tolist()
        return [(i, float(scores[i])) for i in top_k(scores, k)]

    async def search(self, user: EvalUser, text: str, k: int) -> list[int]:
        """Positions in ``user.history`` of the ``k`` inputs nearest to ``text``, best first."""
        return [position for position, _ in await self.ranked(user, text, k)]


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class LexicalIndex:
    """BM25 (``rank_bm25.BM25Okapi``) over each user's history *inputs*, against the query text (Table 3's BM25 key).

    Example:
        >>> from langchain_rpm.types import HistoryItem
        >>> user = EvalUser(user_id="u", task="lamp3", history=[
        ...     HistoryItem(id="a", input="The kettle broke.", response="1"),
        ...     HistoryItem(id="b", input="Lovely soft towels.", response="5"),
        ...     HistoryItem(id="c", input="A loud fan.", response="2")])
        >>> LexicalIndex().search(user, "soft towels again", 2)
        [1, 0]
    """

    def __init__(self) -> None:
        """Each user's history is indexed once, on first use."""
        self._indexes: dict[str, Any] = {}

    def ranked(self, user: EvalUser, text: str) -> list[tuple[int, float]]:
        """``(position in user.history, BM25 score)`` of every item, best match to ``text`` first (ties: history order)."""
        if user.user_id not in self._indexes:
            try:
                from rank_bm25 import BM25Okapi
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError("BM25 retrieval needs `rank-bm25`: pip install 'langchain-rpm[eval]'") from exc
            corpus = [_tokens(item.input) for item in user.history]
            self._indexes[user.user_id] = BM25Okapi(corpus) if any(corpus) else None
        index = self._indexes[user.user_id]
        scores = [0.0] * len(user.history) if index is None else [float(x) for x in index.get_scores(_tokens(text))]
        return [(i, scores[i]) for i in top_k(scores, len(scores))]

    def search(self, user: EvalUser, text: str, k: int) -> list[int]:
        """Positions in ``user.history`` of the ``k`` best BM25 matches to ``text``."""
        return [position for position, _ in self.ranked(user, text)[:k]]


@dataclass
class MethodContext:
    """What methods are built from: the model, task, store and options of one task in one run.

    ``seed`` is the run's seed (random examples, and RPM's own seeded steps where its settings have a
    ``seed``); ``known_profiles`` and ``on_profile_built`` let a resumed run reuse profiles it already paid for.
    """

    llm: BaseChatModel
    task: TaskSpec
    store: RPMStore
    k: int = 3
    seed: int = 0
    preset: str = "default"
    structured_output: str | None = None
    max_retries: int = 2
    max_concurrency: int = 8
    rpm_options: dict[str, Any] = field(default_factory=dict)
    known_profiles: dict[str, ProfileBuild] = field(default_factory=dict)
    on_profile_built: Callable[[str, ProfileBuild], None] | None = None
    _profiles: SharedProfiles | None = field(default=None, init=False, repr=False)
    _index: DenseIndex | None = field(default=None, init=False, repr=False)
    _lexical: LexicalIndex | None = field(default=None, init=False, repr=False)

    @property
    def profiles(self) -> SharedProfiles:
        """The shared RPM facade and profile builds (created on first use)."""
        if self._profiles is None:
            options = dict(self.rpm_options)
            if "seed" in RPMSettings.model_fields:  # seeded steps of the method follow the run's seed
                options.setdefault("seed", self.seed)
            rpm = RPM(
                self.llm,
                self.task,
                store=self.store,
                preset=self.preset,
                max_concurrency=self.max_concurrency,
                method=self.structured_output,
                k=self.k,
                **options,
            )
            self._profiles = SharedProfiles(rpm, self.known_profiles, self.on_profile_built, options)
        return self._profiles

    @property
    def dense(self) -> DenseIndex:
        """The shared index of the users' history inputs."""
        if self._index is None:
            self._index = DenseIndex(self.store)
        return self._index

    @property
    def lexical(self) -> LexicalIndex:
        """The shared BM25 index of the users' history inputs."""
        if self._lexical is None:
            self._lexical = LexicalIndex()
        return self._lexical

    def caller(self, schema: type[BaseModel], stage: str = "other") -> StructuredCaller[Any]:
        """A structured caller for ``schema`` with the run's structured-output method and retries."""
        return StructuredCaller(
            self.llm, schema, stage=stage, method=self.structured_output, max_retries=self.max_retries
        )


MethodFactory = Callable[[MethodContext], Method]


class SharedProfiles:
    """Builds each user's RPM profile once per run (and once across resumed runs), for every method that needs it.

    A profile is reused when the ledger says it was built from the same history, task, model, preset,
    prompt version and options, and the store still holds it; otherwise it is (re)built. A failed build
    fails every method that waits on it, without paying twice.
    """

    def __init__(
        self,
        rpm: RPM,
        known: dict[str, ProfileBuild],
        on_built: Callable[[str, ProfileBuild], None] | None,
        options: dict[str, Any],
    ) -> None:
        """Build with ``rpm``; ``known`` are earlier builds, ``on_built`` records new ones."""
        self.rpm = rpm
        self._known = known
        self._on_built = on_built
        self._options = options
        self._builds: dict[str, asyncio.Future[tuple[UserProfile, Spend]]] = {}

    def digest(self, user: EvalUser) -> str:
        """What a profile depends on: history, task, model, preset, prompt version, build options."""
        history = [item.model_dump() for item in user.history]
        options = sorted((key, repr(value)) for key, value in self._options.items())
        settings = self.rpm.components.settings.model_dump(mode="json")
        llm = model_name(self.rpm.components.llm)
        payload = json.dumps([history, self.rpm.task.name, llm, PROMPT_VERSION, settings, options], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    async def ensure(self, user: EvalUser) -> tuple[UserProfile, Spend]:
        """The user's profile and what building it cost (built now, or earlier in this or a previous run)."""
        if user.user_id not in self._builds:
            self._builds[user.user_id] = asyncio.ensure_future(self._build(user))
        return await asyncio.shield(self._builds[user.user_id])

    async def _build(self, user: EvalUser) -> tuple[UserProfile, Spend]:
        digest = self.digest(user)
        known = self._known.get(user.user_id)
        if known is not None and known.digest == digest:
            stored = await self.rpm.store.aget_profile(user.user_id)
            if stored is not None:
                return stored, known.spend
        tracker, start = UsageTracker(), time.perf_counter()
        profile = await self.rpm.abuild_user(user.user_id, user.history, config={"callbacks": [tracker]})
        spend = Spend(usage=tracker.usage, seconds=time.perf_counter() - start)
        record = ProfileBuild(digest=digest, spend=spend)
        self._known[user.user_id] = record
        if self._on_built is not None:
            self._on_built(user.user_id, record)
        return profile, spend
