"""The last step of a profile build: store the examples and a profile whose statistics describe them.

A build (or a re-clustered update) replaces the user's whole set; an update under the re-clustering
threshold adds its items. The write runs under the user's lock (:meth:`RPMStore.commit_plan
<langchain_rpm.store.RPMStore.commit_plan>`), and the profile is computed there, over exactly what
is then stored, whatever other writers committed in the meantime:

- an added update keeps every factor of the profile stored *now* (another writer may have
  re-clustered since this update read its base), besides its own;
- a re-clustered update was computed from the version it read (its base): it commits only if that
  version is still the stored one; if another writer committed in between, the examples that writer
  added are merged in (their features go to the closest of the new factors, soft-assigned, no LLM
  call) and the commit is retried against the version now stored. A user forgotten in between stays
  forgotten (:class:`~langchain_rpm.errors.ConcurrentWriteError`).

A build embeds its examples while its reasoning calls run (:func:`embed_ahead`,
:mod:`~langchain_rpm.store._ahead`), so the commit embeds only the last few.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig

from langchain_rpm._plans import Plan
from langchain_rpm.drift import observe
from langchain_rpm.errors import ConcurrentWriteError
from langchain_rpm.graphs._progress import emit
from langchain_rpm.graphs.state import REQUEST_KEY, BuildRequest, BuildState, add_usage
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.stages.clustering import closest_factor
from langchain_rpm.stages.statistics import refresh_factors
from langchain_rpm.store._ahead import EmbedAhead, Embedded, embed_ahead_plan
from langchain_rpm.store._commit_queue import queue_for
from langchain_rpm.types import Factor, FailedItem, ReasoningExample, Usage, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.components import RPMComponents

COMMIT_ATTEMPTS = 3
"""Tries of a re-clustered update's commit while other writers keep committing for the same user."""


def embedded_ahead(components: RPMComponents, key: str, config: RunnableConfig) -> EmbedAhead | None:
    """This run's :class:`EmbedAhead` (carried by the request the facade validated); none in a group commit."""
    given = (config.get("configurable") or {}).get(REQUEST_KEY)
    if isinstance(given, BuildRequest) and given.key == key and queue_for(components.store) is None:
        return given.embedded_ahead
    return None


def embed_ahead(components: RPMComponents, ahead: EmbedAhead | None, examples: list[Any]) -> Plan[None]:
    """Embed the reasoning stage's finished ``examples`` ahead of the commit (failed items are exceptions)."""
    done = [example for example in examples if isinstance(example, ReasoningExample)]
    if ahead is not None and done:
        yield from embed_ahead_plan(components.store.backend, ahead, done)


def commit_build_plan(components: RPMComponents, state: BuildState, config: RunnableConfig) -> Plan[dict[str, Any]]:
    """:func:`finalize_plan` with the vectors this run embedded ahead."""
    ahead = embedded_ahead(components, state["build_key"], config)
    try:
        return (yield from finalize_plan(components, state, dict(ahead.embedded) if ahead is not None else None))
    finally:
        if ahead is not None:
            ahead.clear()


def finalize_plan(
    components: RPMComponents, state: BuildState, ahead: Mapping[str, Embedded] | None = None
) -> Plan[dict[str, Any]]:
    """Write the build's examples and profile; the state update holding the stored profile.

    ``ahead``: examples embedded ahead of this commit, by item id (not embedded again where unchanged).
    """
    store = components.store
    new = [ReasoningExample.model_validate(e) for e in (state.get("examples") or {}).values()]
    replace = state.get("mode") != "update" or bool(state.get("reclustered"))
    if replace:  # a build (or a re-clustered update) stores the whole history anew
        new = [ReasoningExample.model_validate(e) for e in (state.get("stored") or {}).values()] + new
    emit("store", state["user_id"], 0, len(new))
    base = state.get("base_profile") if replace else None
    expected = int(base["version"]) if base else None

    def make_profile(examples: list[ReasoningExample], previous: UserProfile | None) -> UserProfile:
        return profile_over(components, state, examples, previous)

    for attempt in range(COMMIT_ATTEMPTS):
        try:
            profile = yield from store.commit_plan(
                state["user_id"],
                new,
                replace=replace,
                make_profile=make_profile,
                expected_version=expected,
                ahead=ahead,
            )
            break
        except ConcurrentWriteError:
            if expected is None or attempt == COMMIT_ATTEMPTS - 1:
                raise
            current = yield from store.profile_plan(state["user_id"])
            if current is None:  # forgotten meanwhile: never bring the user back
                raise
            stored = yield from store.examples_plan(state["user_id"])
            new, expected = _merged(state, new, stored), current.version
    emit("store", profile.user_id, len(new), len(new))
    return {"profile": profile.model_dump(mode="json")}


def _merged(state: BuildState, ours: list[ReasoningExample], stored: list[ReasoningExample]) -> list[ReasoningExample]:
    """``ours`` plus the stored examples of items we do not have, their features fitted to our factors."""
    factors = [Factor.model_validate(f) for f in state.get("factors") or []]
    names = {f.name for f in factors}
    have = {ex.item_id for ex in ours}
    theirs = []
    for example in stored:
        if example.item_id in have:
            continue
        features = [
            f
            if f.factor in names
            else f.model_copy(update={"factor": closest_factor(f, factors), "soft_assigned": True})
            for f in example.features
        ]
        theirs.append(example.model_copy(update={"features": features}))
    return ours + theirs


def profile_over(
    components: RPMComponents, state: BuildState, examples: list[ReasoningExample], previous: UserProfile | None
) -> UserProfile:
    """The profile over ``examples`` (everything stored once the write is done), with exact statistics."""
    task = components.task
    factors = [Factor.model_validate(f) for f in state.get("factors") or []]
    done = set(state.get("examples") or {})
    failed = [FailedItem.model_validate(v) for k, v in (state.get("failed") or {}).items() if k not in done]
    unfit = 0
    if state.get("mode") == "update" and not state.get("reclustered") and previous is not None:
        known = {f.name for f in factors}  # another writer may have committed factors this update never saw
        factors += [f for f in previous.factors if f.name not in known]
        new = [ReasoningExample.model_validate(e) for e in (state.get("examples") or {}).values()]
        unfit = previous.unfit_features + sum(1 for e in new for f in e.features if f.soft_assigned)
    cost = add_usage(previous.cost.model_dump() if previous else None, state.get("usage"))  # all builds, updates
    settings = components.settings
    profile = UserProfile(
        user_id=state["user_id"],
        task=task.name,
        task_spec=task,
        preset=components.settings.preset,
        factors=refresh_factors(task, factors, examples, half_life=settings.recency_half_life),
        num_items=len(examples),
        num_features=sum(len(e.features) for e in examples),
        model=components.build_model_name,
        embedding_model=components.store.embedding_model,
        prompt_version=PROMPT_VERSION,
        version=(previous.version + 1) if previous else 1,
        created_at=previous.created_at if previous else datetime.now(UTC),
        failed_items=failed,
        unfit_features=unfit,
        cost=Usage.model_validate(cost),
    )
    new_ids = set(state.get("examples") or {}) if state.get("mode") == "update" else None
    reclustered = bool(state.get("reclustered"))
    return observe(settings, task, profile, examples, previous, new_ids=new_ids, reclustered=reclustered)
