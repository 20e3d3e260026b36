"""Stage 2: factors by Propose-Assign-Select (DESIGN §2 step 2; GoalEx's method, re-implemented).

The pool is every feature of the history (exact duplicates, same name and context ignoring case,
count once: they would get the same prompt and the same answer). Each round:

1. *Propose*: a seeded random sample, ``sample_fraction`` of the *whole* pool in size, drawn from the
   still-uncovered features (App. C), goes to the LLM with the factors kept so far; it proposes ``num_candidates`` (L) one-word factors. Names are
   cleaned: generic labels, duplicates and factors already kept are dropped.
2. *Assign*: every uncovered feature is assigned to at most one candidate, or none (one call per
   feature, the paper; or ``assign_batch_size`` features per call).
3. *Select*: greedy maximum coverage keeps candidates (largest gain first, ties to the earlier one)
   until nothing new is covered or ``max_factors`` (P_max) factors are kept *in this round*.

Rounds repeat (at most ``max_rounds``, R_max) while fewer than ``coverage_target`` of the features are
covered (so up to P_max x R_max factors; ``max_total_factors`` caps the sum, a non-paper option).
Then the *residual pass* puts every leftover feature in its nearest kept factor (an LLM prompt, one
call per feature or ``residual_batch_size`` per call), so every history feature ends with exactly one
factor. If no factor was kept at all, everything goes to
:data:`~langchain_rpm.types.OTHER_FACTOR`.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from langchain_rpm._plans import CallLimiter, Plan
from langchain_rpm._recency import chronological, recency_weights
from langchain_rpm.prompts import (
    ASSIGN_FACTOR,
    ASSIGN_FACTORS,
    PROPOSE_FACTORS,
    RESIDUAL_FACTOR,
    RESIDUAL_FACTORS,
    FactorAssignment,
    FactorAssignments,
    ProposedFactors,
    ResidualAssignment,
    ResidualAssignments,
    render_candidates,
)
from langchain_rpm.prompts.schemas import is_word_name
from langchain_rpm.settings import RPMSettings
from langchain_rpm.stages.base import RPMStage, StructuredCaller, render_prompt
from langchain_rpm.stages.batches import feature_line, normalized, numbered_features, pass_call, pass_calls
from langchain_rpm.stages.statistics import factor_statistics
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import OTHER_FACTOR, Factor, Feature, HistoryItem

GENERIC_LABEL = re.compile(
    r"^(general|generic|other|others|misc|miscellaneous|various|none|unknown|factor|dimension|aspect|category|"
    r"feature|theme)s?(\s*\d+)?$",
    re.I,
)
"""Candidate names Propose must not use (the prompt says so; the code drops them if it does anyway)."""


class AggregationInput(BaseModel):
    """A user's history items and the features extracted for each (keyed by item id)."""

    items: list[HistoryItem]
    features: dict[str, list[Feature]]


class PASRound(BaseModel):
    """What one Propose-Assign-Select round did."""

    candidates: list[str] = Field(description="The cleaned candidates Propose returned.")
    kept: list[str] = Field(description="The candidates Select kept, in the order it picked them.")
    coverage: float = Field(description="Share of the features covered after the round.")


class AggregationResult(BaseModel):
    """The user's factors with statistics, every item's features with their one factor, and the PAS trace."""

    factors: list[Factor]
    features: dict[str, list[Feature]]
    rounds: list[PASRound] = Field(default_factory=list)
    residual: int = Field(default=0, description="Features the residual pass force-assigned.")


def closest_factor(feature: Feature, factors: Sequence[Factor], vocabularies: Sequence[set[str]] | None = None) -> str:
    """The factor ``feature`` is closest to, without an LLM call (soft assignment; residual fallback).

    Closest = most word stems (first five letters of words of 3+ letters) shared between the feature's
    name and context and the factor's name, description and members (``vocabularies``: :func:`factor_vocabularies`,
    computed once for many features); ties go to the factor with more support, then to the earlier one.

    Example:
        >>> factors = [Factor(name="Price", features=["low price"]), Factor(name="Shipping", features=["late delivery"])]
        >>> closest_factor(Feature(name="delivery speed", context="it was delivered late"), factors)
        'Shipping'
    """
    if len(factors) <= 1:
        return factors[0].name if factors else OTHER_FACTOR
    wanted = _stems(f"{feature.name} {feature.context}")
    stems = factor_vocabularies(factors) if vocabularies is None else vocabularies

    def score(pair: tuple[int, Factor]) -> tuple[int, int, int]:
        index, factor = pair
        support = factor.statistics.support if factor.statistics else 0
        return len(wanted & stems[index]), support, -index

    return max(enumerate(factors), key=score)[1].name


def factor_vocabularies(factors: Sequence[Factor]) -> list[set[str]]:
    """Each factor's word stems (name, description, member features), as :func:`closest_factor` compares them."""
    return [_stems(" ".join([factor.name, factor.description, *factor.features])) for factor in factors]


def _stems(text: str) -> set[str]:
    return {word[:5] for word in re.findall(r"[a-z0-9]+", text.lower()) if len(word) >= 3}


def select_factors(assigned: Mapping[int, int], num_candidates: int, room: int) -> list[int]:
    """Greedy maximum coverage: candidate indices in the order picked, at most ``room`` of them.

    ``assigned`` maps a feature to its candidate. Each step picks the candidate that covers the most
    features not yet covered (ties: the lower index) and stops when none adds coverage.

    Example:
        >>> select_factors({0: 1, 1: 1, 2: 0, 3: 2, 4: 1, 5: 2}, num_candidates=3, room=2)
        [1, 2]
    """
    members = {c: {f for f, a in assigned.items() if a == c} for c in range(num_candidates)}
    remaining = set(assigned)
    chosen: list[int] = []
    while remaining and len(chosen) < room:
        best = max(range(num_candidates), key=lambda c: (len(members[c] & remaining), -c))
        gain = members[best] & remaining
        if not gain:
            break
        chosen.append(best)
        remaining -= gain
    return chosen


class FactorAggregator(RPMStage[AggregationInput, AggregationResult]):
    """Builds a user's factors from their features by Propose-Assign-Select, and computes the statistics.

    Args:
        llm: Any chat model with structured output.
        task: The task spec (frames the prompts; decides which statistics apply).
        settings: The PAS numbers and batching (``num_candidates``, ``max_factors`` per round,
            ``max_total_factors``, ``max_rounds``,
            ``sample_fraction``, ``coverage_target``, ``seed``, ``assign_batch_size``,
            ``residual_batch_size``); default: the default preset.
        method: Structured-output method.
        max_retries: Retries for replies that fail the schema.
        limiter: Shared bound on concurrent LLM calls.

    Example:
        >>> from langchain_rpm import LAMP3
        >>> from langchain_rpm.testing import demo_chat_model
        >>> from langchain_rpm.types import HistoryItem, Feature
        >>> aggregator = FactorAggregator(demo_chat_model(), LAMP3)
        >>> result = aggregator.invoke({
        ...     "items": [HistoryItem(id="1", input="Arrived late.", response="2")],
        ...     "features": {"1": [Feature(name="delivery", context="arrived late")]},
        ... })
        >>> [(f.name, f.statistics.coverage) for f in result.factors], result.rounds[0].coverage
        ([('Shipping', 1)], 1.0)
    """

    input_model = AggregationInput
    output_type = AggregationResult

    def __init__(
        self,
        llm: BaseChatModel,
        task: TaskSpec,
        *,
        settings: RPMSettings | None = None,
        method: str | None = None,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
    ) -> None:
        """Configure Propose-Assign-Select."""
        self.task = task
        self.settings = settings or RPMSettings.for_preset("default")
        options: dict[str, Any] = {"method": method, "max_retries": max_retries, "limiter": limiter}
        self.proposer = StructuredCaller(llm, ProposedFactors, stage="propose", **options)
        single = self.settings.assign_batch_size == 1
        self.assigner = StructuredCaller(
            llm, FactorAssignment if single else FactorAssignments, stage="assign", **options
        )
        single = self.settings.residual_batch_size == 1
        self.residual = StructuredCaller(
            llm, ResidualAssignment if single else ResidualAssignments, stage="residual", **options
        )

    def _frame(self) -> dict[str, str]:
        task = self.task
        return {"domain": task.domain_text, "input_description": task.input_description, "subject": task.subject}

    def plan(self, input: AggregationInput, config: RunnableConfig) -> Plan[AggregationResult]:
        """Rounds of Propose-Assign-Select, then the residual pass, then the statistics."""
        pool = _unique(input.features)
        factor_of: dict[int, str] = {}
        kept: list[str] = []
        rounds: list[PASRound] = []
        for number in range(self.settings.max_rounds):
            uncovered = [i for i in range(len(pool)) if i not in factor_of]
            covered_enough = len(factor_of) >= self.settings.coverage_target * len(pool)
            room = self._room(len(kept))
            if not uncovered or covered_enough or room < 1:
                break
            sample = self._sample(uncovered, len(pool), number)
            candidates = yield from self._propose([pool[i] for i in sample], kept, config)
            assigned = (yield from self._assign(pool, uncovered, candidates, config)) if candidates else {}
            chosen = [candidates[c] for c in select_factors(assigned, len(candidates), room)]
            factor_of.update({i: candidates[c] for i, c in assigned.items() if candidates[c] in chosen})
            kept += chosen
            rounds.append(PASRound(candidates=candidates, kept=chosen, coverage=len(factor_of) / len(pool)))
        leftover = [i for i in range(len(pool)) if i not in factor_of]
        if leftover and not kept:
            kept = [OTHER_FACTOR]
            factor_of.update(dict.fromkeys(leftover, OTHER_FACTOR))
        elif leftover:
            factor_of.update((yield from self._residual(pool, leftover, kept, factor_of, config)))
        return self._finish(input, pool, factor_of, kept, rounds, residual=len(leftover))

    def _room(self, kept: int) -> int:
        """How many factors this round's Select may keep: P_max, less when ``max_total_factors`` is near."""
        total = self.settings.max_total_factors
        return self.settings.max_factors if total is None else min(self.settings.max_factors, total - kept)

    def _sample(self, uncovered: list[int], pool_size: int, number: int) -> list[int]:
        """Round ``number``'s seeded Propose sample: ``sample_fraction`` of the whole pool, from the uncovered.

        Sorted, so the prompt does not depend on draw order.
        """
        size = min(len(uncovered), max(1, math.ceil(self.settings.sample_fraction * pool_size)))
        return sorted(random.Random(f"{self.settings.seed}:{number}").sample(uncovered, size))

    def _propose(self, sample: list[Feature], kept: list[str], config: RunnableConfig) -> Plan[list[str]]:
        prompt = render_prompt(
            PROPOSE_FACTORS,
            **self._frame(),
            num_candidates=self.settings.num_candidates,
            kept_factors=", ".join(kept) or "(none yet)",
            features="\n".join(feature_line(f) for f in sample),
        )
        reply = yield from self.proposer.plan(prompt, config)
        return clean_candidates(reply.factors, kept, self.settings.num_candidates)

    def _assign(
        self, pool: list[Feature], uncovered: list[int], candidates: list[str], config: RunnableConfig
    ) -> Plan[dict[int, int]]:
        """Feature -> candidate index for the uncovered features that fit one (the others are left out)."""
        numbers = yield from self._pass(
            self.assigner, pool, uncovered, self.settings.assign_batch_size, config, ("candidates", candidates, None)
        )
        return {i: n - 1 for i, n in numbers.items() if 1 <= n <= len(candidates)}

    def _residual(
        self,
        pool: list[Feature],
        leftover: list[int],
        kept: list[str],
        factor_of: dict[int, str],
        config: RunnableConfig,
    ) -> Plan[dict[int, str]]:
        """Every leftover feature -> its nearest kept factor (the LLM's pick; a bad number -> :func:`closest_factor`)."""
        factors = [Factor(name=n, features=_members(pool, factor_of, n)) for n in kept]
        members = {f.name: f.features for f in factors}
        numbers = yield from self._pass(
            self.residual, pool, leftover, self.settings.residual_batch_size, config, ("factors", kept, members)
        )
        return {
            i: kept[numbers[i] - 1] if 1 <= numbers.get(i, 0) <= len(kept) else closest_factor(pool[i], factors)
            for i in leftover
        }

    def _pass(
        self,
        caller: StructuredCaller[Any],
        pool: list[Feature],
        indices: list[int],
        size: int,
        config: RunnableConfig,
        listing: tuple[str, list[str], Mapping[str, Sequence[str]] | None],
    ) -> Plan[dict[int, int]]:
        """One Assign or residual pass over ``indices``: one feature per call (``size`` 1) or ``size`` per call.

        ``listing`` is the prompt variable, the names and the members of the candidates (or kept factors).
        Batched prompts list features as ``F1``... and candidates as ``C1``...; a feature a batched reply
        leaves out is asked again once, in a batch of the missing. The calls run concurrently; the result
        maps a feature to the number its reply gave. A failed call gives none; only when every call
        fails is the first error raised (the model is not answering).
        """
        key, names, members = listing
        template = (RESIDUAL_FACTOR if caller is self.residual else ASSIGN_FACTOR) if size == 1 else None
        listed = {**self._frame(), key: render_candidates(names, members, prefix="" if template else "C")}
        if template is not None:
            render = [partial(render_prompt, template, **listed, feature=feature_line(pool[i])) for i in indices]
            replies = yield from pass_calls([pass_call(caller, prompt, config) for prompt in render])
            return {i: r for i, r in zip(indices, replies, strict=True) if not isinstance(r, Exception)}
        batched = RESIDUAL_FACTORS if caller is self.residual else ASSIGN_FACTORS
        numbers: dict[int, int] = {}
        for _ in range(2):  # the first pass, then the features its replies left out
            missing = [i for i in indices if i not in numbers]
            batches = [missing[s : s + size] for s in range(0, len(missing), size)]
            render = [partial(render_prompt, batched, **listed, features=numbered_features(pool, b)) for b in batches]
            plans = [pass_call(caller, prompt, config, (pool, b)) for prompt, b in zip(render, batches, strict=True)]
            for found in (yield from pass_calls(plans)):
                numbers.update(found if isinstance(found, dict) else {})
            if len(numbers) == len(indices):
                break
        return numbers

    def _finish(
        self,
        input: AggregationInput,
        pool: list[Feature],
        factor_of: dict[int, str],
        kept: list[str],
        rounds: list[PASRound],
        *,
        residual: int,
    ) -> AggregationResult:
        index = {_key(f): i for i, f in enumerate(pool)}
        features = {
            item_id: [
                f.model_copy(update={"factor": factor_of[index[_key(f)]], "extra_factors": (), "soft_assigned": False})
                for f in feats
            ]
            for item_id, feats in input.features.items()
        }
        half_life = self.settings.recency_half_life  # recency weights (langchain_rpm._recency), None: the paper
        weights = recency_weights([i.id for i in chronological(input.items)], half_life) if half_life else None
        stats = factor_statistics(self.task, input.items, features, kept, weights)
        factors = [
            Factor(name=name, features=_members(pool, factor_of, name), statistics=stats[name])
            for name in sorted(kept, key=lambda n: -stats[n].support)
        ]
        return AggregationResult(factors=factors, features=features, rounds=rounds, residual=residual)


def clean_candidates(raw: Sequence[str], kept: Sequence[str], limit: int) -> list[str]:
    """Propose's names, whitespace collapsed, without non-words, generic labels, duplicates or factors already kept.

    Example:
        >>> clean_candidates([" Price ", "price", "General", "Quality", "Misc 2", "][", "Shipping"], ["Quality"], 16)
        ['Price', 'Shipping']
    """
    seen = {name.lower() for name in kept}
    names: list[str] = []
    for name in raw:
        name = " ".join(name.strip(" .,;:-*\"'").split())
        if is_word_name(name) and not GENERIC_LABEL.match(name) and name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names[:limit]


def _key(feature: Feature) -> tuple[str, str]:
    return normalized(feature.name), normalized(feature.context)


def _unique(features: Mapping[str, Sequence[Feature]]) -> list[Feature]:
    """The feature pool: every feature once (same name and context, ignoring case, is the same feature)."""
    pool: dict[tuple[str, str], Feature] = {}
    for feats in features.values():
        for feature in feats:
            key = _key(feature)
            if key not in pool:  # a feature with nothing but name and context is its own entry: no copy
                bare = all(getattr(feature, field) == empty for field, empty in _UNSET.items())
                pool[key] = feature if bare else Feature(name=feature.name, context=feature.context)
    return list(pool.values())


_UNSET = Feature(name="").model_dump(exclude={"name", "context"})
"""A feature's fields besides name and context, at their defaults (factor, extra factors, verdicts)."""


def _members(pool: list[Feature], factor_of: Mapping[int, str], name: str) -> list[str]:
    return list(dict.fromkeys(pool[i].name for i in sorted(factor_of) if factor_of[i] == name))
