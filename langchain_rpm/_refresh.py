"""Is a stored profile stale, and what would re-deriving it cost? The plan ``RPM.refresh`` follows (no LLM).

A profile is stale when it was built with another prompt version or another build model (then every
model-made part changed: a **rebuild** from the stored items, paying extraction, clustering and
reasoning again; one prompt version covers every prompt, so nothing finer can be kept), or when the
drift monitor finds it drifted (:mod:`langchain_rpm.drift`; then an **incremental** round,
:mod:`langchain_rpm._drift_round`, paying only for the recent and uncovered items). The plan lists the
calls by stage as upper bounds (without leak-guard retries) and the tokens they would take at this
profile's own average per call, so ``rpm refresh --dry-run`` prints the cost before spending it.

Example:
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm()
    >>> rpm.plan_refresh("ada").action
    'none'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from langchain_rpm._drift_round import targets
from langchain_rpm._recency import chronological, recent_ids
from langchain_rpm.drift import measure_drift, unfit
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.types import ReasoningExample, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.components import RPMComponents


class RefreshPlan(BaseModel):
    """What a refresh of one user would do, why, and at most how many LLM calls (and tokens) it would pay."""

    user_id: str
    action: Literal["none", "incremental", "rebuild"]
    reasons: list[str] = Field(default_factory=list)
    items: int = Field(description="Items in the stored profile.")
    work_items: int = Field(default=0, description="Items the action re-derives (all for a rebuild).")
    calls: dict[str, int] = Field(default_factory=dict, description="Upper bound of LLM calls by stage.")
    tokens: int | None = Field(default=None, description="Estimate at this profile's average tokens per call.")

    @property
    def total_calls(self) -> int:
        """The upper bound of all calls."""
        return sum(self.calls.values())

    def lines(self) -> list[str]:
        """The plan in words, as ``rpm refresh --dry-run`` prints it."""
        head = f"user {self.user_id}: {self.action}"
        if self.action == "none":
            return [f"{head} (the profile is current)"]
        out = [head + f" over {self.work_items} of {self.items} items", *[f"  because {r}" for r in self.reasons]]
        stages = ", ".join(f"{stage} {n}" for stage, n in self.calls.items() if n)
        out.append(f"  at most {self.total_calls} LLM calls ({stages or 'none'})")
        if self.tokens is not None:
            out.append(f"  about {self.tokens} tokens at this profile's own average per call")
        return out


def plan_refresh(components: RPMComponents, profile: UserProfile, examples: Sequence[ReasoningExample]) -> RefreshPlan:
    """The refresh plan of a stored profile and its examples (see the module doc)."""
    reasons = []
    if profile.prompt_version and profile.prompt_version != PROMPT_VERSION:
        reasons.append(f"built with prompt version {profile.prompt_version}, now {PROMPT_VERSION}")
    if profile.model and profile.model != components.build_model_name:
        reasons.append(f"built with model {profile.model}, now {components.build_model_name}")
    if reasons:
        calls = _rebuild_calls(components, profile, examples)
        action: Literal["none", "incremental", "rebuild"] = "rebuild"
        work = len(examples)
    else:
        scheduled = bool(profile.drift) and profile.drift[-1].action == "scheduled"
        record = measure_drift(components.task, profile.factors, examples, (), components.settings, profile.drift)
        reasons = list(profile.drift[-1].crossed) if scheduled else record.crossed
        if not reasons:
            return RefreshPlan(user_id=profile.user_id, action="none", items=len(examples))
        action = "incremental"
        chosen = targets(examples, profile.factors, components.settings.drift_window)
        calls = _round_calls(components, chosen, _rewrite_bound(profile, examples, components, chosen))
        work = len(chosen)
    return RefreshPlan(
        user_id=profile.user_id,
        action=action,
        reasons=reasons,
        items=len(examples),
        work_items=work,
        calls=calls,
        tokens=_tokens(profile, calls),
    )


def _features(examples: Sequence[ReasoningExample]) -> int:
    return len({(f.name.lower(), f.context.lower()) for ex in examples for f in ex.features})


def _clustering_calls(components: RPMComponents, features: int) -> dict[str, int]:
    s = components.settings
    return {
        "propose": s.max_rounds,
        "assign": s.max_rounds * math.ceil(features / s.assign_batch_size),
        "residual": math.ceil(features / s.residual_batch_size),
    }


def _round_calls(components: RPMComponents, chosen: Sequence[ReasoningExample], rewrites: int) -> dict[str, int]:
    calls = _clustering_calls(components, _features(chosen))
    return calls | {"reason": math.ceil(rewrites / components.settings.pack_size)}


def _rewrite_bound(
    profile: UserProfile,
    examples: Sequence[ReasoningExample],
    components: RPMComponents,
    chosen: Sequence[ReasoningExample],
) -> int:
    """Items that may change factor: the targets, and every item of a factor the window does not support."""
    names = {f.name for f in profile.factors}
    window = set(recent_ids([ex.item_id for ex in chronological(examples)], components.settings.drift_window))
    fit = {f.factor for ex in examples if ex.item_id in window for f in ex.features if not unfit(f, names)}
    weak = names - fit
    touched = {ex.item_id for ex in chosen} | {
        ex.item_id for ex in examples if any(f.factor in weak for f in ex.features)
    }
    return len(touched)


def _rebuild_calls(
    components: RPMComponents, profile: UserProfile, examples: Sequence[ReasoningExample]
) -> dict[str, int]:
    packs = math.ceil(len(examples) / components.settings.pack_size)
    calls = {"extract": packs, "judge": len(examples) if components.separate_judge else 0}
    return calls | _clustering_calls(components, profile.num_features) | {"reason": packs}


def _tokens(profile: UserProfile, calls: dict[str, int]) -> int | None:
    """Calls times this profile's recorded average tokens per call of each stage (``None`` without a record)."""
    spent = profile.cost.by_stage
    known = {stage: usage for stage, usage in spent.items() if usage.llm_calls}
    if not known:
        return None
    overall = sum(u.input_tokens + u.output_tokens for u in known.values()) / sum(u.llm_calls for u in known.values())
    total = 0.0
    for stage, n in calls.items():
        usage = known.get(stage)
        per_call = (usage.input_tokens + usage.output_tokens) / usage.llm_calls if usage else overall
        total += n * per_call
    return round(total)
