"""The drift monitor's answer: one incremental Propose-Assign-Select round over the uncovered and recent features.

Given the stored examples of a user whose profile drifted (:mod:`langchain_rpm.drift`):

1. **the round**: the aggregator (:class:`~langchain_rpm.stages.clustering.FactorAggregator`, unchanged)
   runs over the *targets* only, the recent window's items and every item with a feature that fits
   no factor, so its calls scale with them, not with the history;
2. **merge** (:func:`merge_round`, no LLM): a factor is *retired* when nothing recent supports it
   (no window item has it, and the round did not find it again); the round's factors that take
   unfit features are *appended*, most members first, while the profile stays within
   ``max_factors``; unfit features and features of retired factors move (to the round's factor when
   kept, else to the closest factor, soft-assigned); fit features stay where they are;
3. **statistics** are recomputed exactly; **reasoning paths are rewritten only for items whose
   features changed factor**; the whole set is committed against the version read.

Example:
    >>> from langchain_rpm.types import Factor, Feature, ReasoningExample
    >>> def ex(i, *pairs):
    ...     feats = [Feature(name=n, factor=f, soft_assigned=s) for n, f, s in pairs]
    ...     return ReasoningExample(item_id=i, input="x", reasoning="r", answer="1", features=feats)
    >>> old = [Factor(name="Shipping"), Factor(name="Price")]
    >>> examples = [ex("1", ("late", "Shipping", False)), ex("2", ("cheap", "Price", False)),
    ...             ex("3", ("cheap", "Price", False), ("kiss", "Price", True))]
    >>> merged = merge_round(old, {"3": [Feature(name="cheap", factor="Price"), Feature(name="kiss", factor="Romance")]},
    ...                      examples, window_ids={"2", "3"}, cap=8)
    >>> merged.added, merged.retired, merged.changed
    (['Romance'], ['Shipping'], ['1', '3'])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig

from langchain_rpm._drift_types import DriftRecord
from langchain_rpm._plans import Plan, gather
from langchain_rpm._recency import chronological, recent_ids
from langchain_rpm.drift import measure_drift, unfit
from langchain_rpm.graphs._commit import profile_over
from langchain_rpm.graphs.state import BuildState
from langchain_rpm.stages import ReasoningInput
from langchain_rpm.stages._packing import packs
from langchain_rpm.stages.clustering import closest_factor
from langchain_rpm.stages.statistics import refresh_factors
from langchain_rpm.types import OTHER_FACTOR, Factor, Feature, HistoryItem, ReasoningExample, UserProfile
from langchain_rpm.usage import UsageTracker, with_tracker

if TYPE_CHECKING:
    from langchain_rpm.components import RPMComponents


@dataclass(frozen=True)
class MergedRound:
    """The profile after merging a round: factors, every example's new features, and what changed."""

    factors: list[Factor]
    features: dict[str, list[Feature]]
    added: list[str]
    retired: list[str]
    changed: list[str]


def targets(examples: Sequence[ReasoningExample], factors: Sequence[Factor], window: int) -> list[ReasoningExample]:
    """The items the round works on: the ``window`` newest and every item with an unfit feature (time order)."""
    ordered = chronological(examples)
    names = {f.name for f in factors}
    recent = set(recent_ids([ex.item_id for ex in ordered], window))
    return [ex for ex in ordered if ex.item_id in recent or any(unfit(f, names) for f in ex.features)]


def merge_round(
    factors: Sequence[Factor],
    round_features: Mapping[str, Sequence[Feature]],
    examples: Sequence[ReasoningExample],
    *,
    window_ids: Collection[str],
    cap: int,
) -> MergedRound:
    """Merge a round's assignment (``round_features``: the targets' features with the round's factors); no LLM."""
    names = [f.name for f in factors]
    canonical = {name.lower(): name for name in names}

    def found(feature: Feature) -> str:
        return canonical.get(feature.factor.lower(), feature.factor)

    fit_now = {f.factor for ex in examples if ex.item_id in window_ids for f in ex.features if not unfit(f, names)}
    round_names = {found(f) for feats in round_features.values() for f in feats}
    retired = [name for name in names if name not in fit_now and name not in round_names]
    if len(retired) == len(names):
        retired = []  # never retire every factor: keep the old set rather than none
    alive = [name for name in names if name not in retired]

    def moves(feature: Feature) -> bool:
        return unfit(feature, names) or feature.factor in retired

    takers: Counter[str] = Counter()
    for ex in examples:
        for old, proposed in zip(ex.features, round_features.get(ex.item_id, ()), strict=False):
            if moves(old) and found(proposed) not in names and found(proposed) != OTHER_FACTOR:
                takers[found(proposed)] += 1
    added = [name for name, _ in takers.most_common(max(0, cap - len(alive)))]
    final = [f for f in factors if f.name in alive] + [Factor(name=name) for name in added]
    features: dict[str, list[Feature]] = {}
    changed: list[str] = []
    for ex in examples:
        got = round_features.get(ex.item_id, ())
        feats = [
            _moved(old, got[i] if i < len(got) else None, final, found) if moves(old) else old
            for i, old in enumerate(ex.features)
        ]
        features[ex.item_id] = feats
        if [f.factors for f in feats] != [f.factors for f in ex.features]:
            changed.append(ex.item_id)
    return MergedRound(final, features, added, retired, changed)


def _moved(old: Feature, new: Feature | None, final: Sequence[Factor], found: Any) -> Feature:
    """The feature on the round's factor when that one is kept, else on the closest kept factor (soft)."""
    kept = {f.name for f in final}
    if new is not None and found(new) in kept:
        return old.model_copy(update={"factor": found(new), "extra_factors": (), "soft_assigned": False})
    closest = closest_factor(old, list(final))
    return old.model_copy(update={"factor": closest, "extra_factors": (), "soft_assigned": True})


def incremental_plan(
    components: RPMComponents, user_id: str, config: RunnableConfig | None = None, *, trigger: str = "update"
) -> Plan[UserProfile]:
    """Run the round on the stored profile of ``user_id``, rewrite what changed, commit; the new profile."""
    store, settings, task = components.store, components.settings, components.task
    profile = yield from store.profile_plan(user_id)
    if profile is None:
        from langchain_rpm.personalization import require_profile

        profile = require_profile(profile, user_id)
    examples = yield from store.examples_plan(user_id)
    sink = UsageTracker()
    tracked = with_tracker(config, sink)
    chosen = targets(examples, profile.factors, settings.drift_window)
    aggregator = components.aggregator
    request = aggregator.coerce(
        {"items": [_item(ex) for ex in chosen], "features": {ex.item_id: ex.features for ex in chosen}}
    )
    result = yield from aggregator.plan(request, tracked)
    window = set(recent_ids([ex.item_id for ex in chronological(examples)], settings.drift_window))
    merged = merge_round(profile.factors, result.features, examples, window_ids=window, cap=settings.max_factors)
    updated = [ex.model_copy(update={"features": merged.features[ex.item_id]}) for ex in examples]
    factors = refresh_factors(task, merged.factors, updated, half_life=settings.recency_half_life)
    rewritten = yield from _rewrite(components, updated, set(merged.changed), factors, tracked)
    record = _record(profile, components, examples, trigger)
    record = record.model_copy(
        update={
            "action": "incremental",
            "added_factors": merged.added,
            "retired_factors": merged.retired,
            "rewritten_items": sorted(rewritten),
            "calls": sink.usage.llm_calls,
        }
    )
    final = [rewritten.get(ex.item_id, ex) for ex in updated]
    return (yield from _commit(components, profile, final, factors, sink, record))


def _item(example: ReasoningExample) -> HistoryItem:
    return HistoryItem(
        id=example.item_id, input=example.input, response=example.answer, options=example.options, time=example.time
    )


def _rewrite(
    components: RPMComponents,
    examples: Sequence[ReasoningExample],
    changed: set[str],
    factors: list[Factor],
    config: RunnableConfig,
) -> Plan[dict[str, ReasoningExample]]:
    """New reasoning paths for the ``changed`` items, in packs; an item whose call fails keeps its old path."""
    requests = [
        ReasoningInput(item=_item(ex), features=ex.features, factors=factors)
        for ex in examples
        if ex.item_id in changed
    ]
    groups = packs(requests, components.settings.pack_size)
    outcomes = yield from gather([components.reasoner.pack_plan(group, config) for group in groups])
    done: dict[str, ReasoningExample] = {}
    for group, results in zip(groups, outcomes, strict=True):
        for request, result in zip(group, results, strict=True):
            if isinstance(result, ReasoningExample):
                done[request.item.id] = result.model_copy(update={"time": request.item.time})
    return done


def _record(
    profile: UserProfile, components: RPMComponents, examples: Sequence[ReasoningExample], trigger: str
) -> DriftRecord:
    """The measurement the round answers: the scheduled one of the update, else a fresh one (a refresh)."""
    if profile.drift and profile.drift[-1].action == "scheduled":
        return profile.drift[-1].model_copy(update={"trigger": trigger})
    measured = measure_drift(components.task, profile.factors, examples, (), components.settings, profile.drift)
    return measured.model_copy(update={"trigger": trigger})


def _commit(
    components: RPMComponents,
    profile: UserProfile,
    examples: list[ReasoningExample],
    factors: list[Factor],
    sink: UsageTracker,
    record: DriftRecord,
) -> Plan[UserProfile]:
    """Store the re-derived set and its profile, against the version read (a concurrent write raises)."""
    state: BuildState = {
        "user_id": profile.user_id,
        "mode": "build",
        "factors": [f.model_dump() for f in factors],
        "failed": {f.item_id: f.model_dump() for f in profile.failed_items},
        "usage": sink.usage.model_dump(),
    }
    history = list(profile.drift)
    if history and history[-1].action == "scheduled":
        history.pop()

    def make_profile(stored: list[ReasoningExample], previous: UserProfile | None) -> UserProfile:
        made = profile_over(components, state, stored, previous)
        return made.model_copy(update={"drift": [*history, record]})

    return (
        yield from components.store.commit_plan(
            profile.user_id, examples, replace=True, make_profile=make_profile, expected_version=profile.version
        )
    )
