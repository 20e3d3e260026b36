"""Factor statistics exactly as DESIGN §2 defines them (pure functions, no LLM).

Discrete tasks: support ``n_F``, coverage ``n_F / N`` and propensity ``P(y | F) = #{i: a_i = y, F in G_i} / n_F``
for every label ``y`` (plus the mean for ratings). Open-ended tasks: support and coverage here, and
influence/polarity averaged from the LLM's per-item judgments (:func:`apply_judgments`).

Example:
    >>> from langchain_rpm.tasks import LAMP3
    >>> from langchain_rpm.types import HistoryItem
    >>> items = [HistoryItem(id="1", input="a", response="5"), HistoryItem(id="2", input="b", response="3")]
    >>> stats = factor_statistics(LAMP3, items, {"1": {"Quality"}, "2": {"Quality"}}, ["Quality"])
    >>> stats["Quality"].mean_rating
    4.0
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from langchain_rpm.tasks import TaskKind, TaskSpec
from langchain_rpm.types import Factor, FactorStatistics, FeatureJudgment, HistoryItem, ReasoningExample


def factor_statistics(
    task: TaskSpec,
    items: Sequence[HistoryItem],
    item_factors: Mapping[str, set[str]],
    factor_names: Sequence[str],
) -> dict[str, FactorStatistics]:
    """Statistics of every factor over ``items``; ``item_factors[item.id]`` is the set of factors it has."""
    total = len(items)
    answers = {item.id: task.check(item.response, item.options).answer for item in items}
    labels = _label_space(task, items)
    stats: dict[str, FactorStatistics] = {}
    for name in factor_names:
        members = [item.id for item in items if name in item_factors.get(item.id, set())]
        support = len(members)
        entry = FactorStatistics(support=support, coverage=support / total if total else 0.0)
        if task.is_discrete and support:
            counts: dict[str, int] = defaultdict(int)
            for item_id in members:
                counts[answers[item_id]] += 1
            entry.propensity = {label: counts.get(label, 0) / support for label in labels}
            if task.kind is TaskKind.RATING:
                values = [float(answers[i]) for i in members if _is_number(answers[i])]
                entry.mean_rating = sum(values) / len(values) if values else None
        stats[name] = entry
    return stats


def apply_judgments(
    stats: Mapping[str, FactorStatistics],
    judgments: Mapping[str, Sequence[FeatureJudgment]],
    factor_of: Mapping[str, Mapping[str, str]],
) -> dict[str, FactorStatistics]:
    """Per-feature judgments into each factor's statistics (open-ended tasks).

    ``factor_of[item_id][feature]`` is the factor of a feature of an item. Influence is the share of
    the factor's judged features that influenced the answer; polarity is ``(pos - neg) / influenced``.
    """
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # judged, influenced, pos - neg
    for item_id, item_judgments in judgments.items():
        for judgment in item_judgments:
            name = factor_of.get(item_id, {}).get(judgment.feature.strip().lower())
            if name is not None and name in stats:
                acc = sums[name]
                acc[0] += 1
                if judgment.influenced:
                    acc[1] += 1
                    acc[2] += {"pos": 1, "neg": -1}.get(judgment.evaluation or "neu", 0)
    updated = {}
    for name, entry in stats.items():
        judged, influenced, balance = sums.get(name, [0.0, 0.0, 0.0])
        updated[name] = entry.model_copy(
            update={
                "influence": influenced / judged if judged else None,
                "polarity": balance / influenced if influenced else None,
            }
        )
    return updated


def _label_space(task: TaskSpec, items: Sequence[HistoryItem]) -> list[str]:
    if task.kind is TaskKind.MULTIPLE_CHOICE:
        seen: dict[str, None] = {}
        for item in items:
            for option in item.options or []:
                seen.setdefault(option, None)
        return list(seen)
    return task.answer_space()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def refresh_factors(task: TaskSpec, factors: Sequence[Factor], examples: Sequence[ReasoningExample]) -> list[Factor]:
    """Recompute every factor's statistics from the stored examples (no LLM calls).

    Used after a build (over the items that made it into the profile) and after incremental
    updates, so statistics are always exact for what is stored.
    """
    items = [HistoryItem(id=ex.item_id, input=ex.input, response=ex.answer, options=ex.options) for ex in examples]
    item_factors = {ex.item_id: {f.factor for f in ex.features} for ex in examples}
    stats = factor_statistics(task, items, item_factors, [f.name for f in factors])
    if task.kind is TaskKind.OPEN_ENDED:
        factor_of = {ex.item_id: {f.name.strip().lower(): f.factor for f in ex.features} for ex in examples}
        stats = apply_judgments(stats, {ex.item_id: ex.judgments for ex in examples}, factor_of)
    return [f.model_copy(update={"statistics": stats[f.name]}) for f in factors]
