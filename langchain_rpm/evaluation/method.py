"""The interface every evaluated method implements, the context methods are built from, and shared profiles.

A method is created per task by a :data:`MethodFactory` from a :class:`MethodContext` (model, task,
store, options), then the runner calls ``prepare_user`` once per user and ``predict`` per query. The
profile-based methods (RPM and its ablations) share one profile build per user through
:class:`SharedProfiles`, and the runner charges each of them its full cost.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm import LAMP3, RPMStore
    >>> from langchain_rpm.testing import demo_chat_model
    >>> ctx = MethodContext(demo_chat_model(), LAMP3,
    ...                     RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)), k=2)
    >>> ctx.profiles.rpm.task.name
    'lamp3'
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm.evaluation.cost import Spend
from langchain_rpm.evaluation.datasets import EvalQuery, EvalUser
from langchain_rpm.models import model_name
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.rpm import RPM
from langchain_rpm.stages.base import StructuredCaller
from langchain_rpm.store import RPMStore
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import UserProfile
from langchain_rpm.usage import UsageTracker

__all__ = ["Method", "MethodContext", "MethodFactory", "ProfileBuild", "SharedProfiles"]


@runtime_checkable
class Method(Protocol):
    """One way of answering a user's queries; the runner calls ``prepare_user`` once, then ``predict``.

    ``config`` carries the runner's :class:`~langchain_rpm.models.UsageTracker` callback: pass it to every
    model call so the cost is counted. ``prepare_user`` returns the :class:`Spend` of work done on the
    user's behalf *outside* ``config`` (a profile shared between methods), or ``None``.
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
    """A finished shared profile build: the history digest it was built from, and its cost."""

    digest: str
    spend: Spend


@dataclass
class MethodContext:
    """What methods are built from: the model, task, store and options of one task of a run.

    ``known_profiles`` and ``on_profile_built`` let a resumed run reuse profiles it already paid for.
    """

    llm: BaseChatModel
    task: TaskSpec
    store: RPMStore
    k: int = 4
    seed: int = 0
    structured_output: str | None = None
    max_retries: int = 2
    max_concurrency: int = 8
    rpm_options: dict[str, Any] = field(default_factory=dict)
    known_profiles: dict[str, ProfileBuild] = field(default_factory=dict)
    on_profile_built: Callable[[str, ProfileBuild], None] | None = None
    _profiles: SharedProfiles | None = field(default=None, init=False, repr=False)

    @property
    def profiles(self) -> SharedProfiles:
        """The shared RPM facade and profile builds (created on first use)."""
        if self._profiles is None:
            rpm = RPM(
                self.llm,
                self.task,
                store=self.store,
                max_concurrency=self.max_concurrency,
                method=self.structured_output,
                k=self.k,
                max_retries=self.max_retries,
                **self.rpm_options,
            )
            self._profiles = SharedProfiles(rpm, self.known_profiles, self.on_profile_built, self.rpm_options)
        return self._profiles

    def caller(self, schema: type[BaseModel]) -> StructuredCaller[Any]:
        """A structured caller for ``schema`` with the run's structured-output method and retries."""
        return StructuredCaller(self.llm, schema, method=self.structured_output, max_retries=self.max_retries)


MethodFactory = Callable[[MethodContext], Method]


class SharedProfiles:
    """Builds each user's RPM profile once per run (and once across resumed runs), for every method that needs it.

    A profile is reused when the ledger says it was built from the same history, model and prompt
    version and the store still holds it; otherwise it is (re)built. A failed build fails every
    method that waits on it, without paying twice.
    """

    def __init__(
        self,
        rpm: RPM,
        known: dict[str, ProfileBuild],
        on_built: Callable[[str, ProfileBuild], None] | None,
        options: dict[str, Any],
    ) -> None:
        self.rpm = rpm
        self._known = known
        self._on_built = on_built
        self._options = options
        self._builds: dict[str, asyncio.Future[tuple[UserProfile, Spend]]] = {}

    def digest(self, user: EvalUser) -> str:
        """What a profile depends on: history, task, model, prompt version, build options."""
        history = [item.model_dump() for item in user.history]
        options = sorted((key, repr(value)) for key, value in self._options.items())
        payload = json.dumps(
            [history, self.rpm.task.name, model_name(self.rpm.components.llm), PROMPT_VERSION, options], sort_keys=True
        )
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
