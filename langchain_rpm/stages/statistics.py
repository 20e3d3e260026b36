"""Factor statistics exactly as the paper's Eq. 1-4 (DESIGN §2 step 3): pure functions, no LLM.

An item *has* factor F when any of its features is assigned to F. With N history items:

- every task: ``support = coverage = #{i: i has F}`` (Eq. 2, a count);
- discrete tasks (labels, ratings, options), Eq. 1: ``propensity[y] = #{i has F, a_i = y} / support``;
  ratings also get the factor's mean answer and the user's overall mean;
- open-ended tasks: ``influence = #{i has F and some feature of F in i was judged influenced}`` (Eq. 3),
  ``polarity[e]`` = the share of evaluation ``e`` among every influenced feature of F over all items
  (Eq. 4, feature level). Until some feature is judged, ``influence`` and ``polarity`` stay ``None``.

With recency weights (``recency_half_life``, :mod:`langchain_rpm.recency`) each item counts by its
weight instead of 1 in every share and mean; the counts stay counts, and ``weighted_coverage`` /
``weighted_influence`` give the weighted sums beside them.

Example:
    >>> from langchain_rpm.tasks import LAMP3
    >>> from langchain_rpm.types import Feature, HistoryItem
    >>> items = [HistoryItem(id="1", input="a", response="5"), HistoryItem(id="2", input="b", response="3")]
    >>> features = {"1": [Feature(name="x", factor="Quality")], "2": [Feature(name="y", factor="Quality")]}
    >>> stats = factor_statistics(LAMP3, items, features, ["Quality"])
    >>> stats["Quality"].coverage, stats["Quality"].mean_rating, stats["Quality"].propensity["5"]
    (2, 4.0, 0.5)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from langchain_rpm.recency import chronological, recency_weights
from langchain_rpm.tasks import TaskKind, TaskSpec
from langchain_rpm.types import Factor, FactorStatistics, Feature, HistoryItem, ReasoningExample

EVALUATIONS = ("pos", "neu", "neg")
"""The judge's evaluation labels, in the order the statistics table shows them."""


def factor_statistics(
    task: TaskSpec,
    items: Sequence[HistoryItem],
    features: Mapping[str, Sequence[Feature]],
    factor_names: Sequence[str],
    weights: Mapping[str, float] | None = None,
) -> dict[str, FactorStatistics]:
    """Statistics of every factor in ``factor_names`` over ``items``; ``features[item.id]`` are the item's features.

    ``weights``: each item's recency weight (missing ids weigh 1); ``None`` gives the paper's unweighted figures.
    """
    answers = {item.id: task.check(item.response, item.options).answer for item in items}
    weight = {item.id: (weights or {}).get(item.id, 1.0) for item in items}
    labels = _label_space(task, items)
    overall = _mean([(answers[i.id], weight[i.id]) for i in items]) if task.kind is TaskKind.RATING else None
    judged = any(f.influenced is not None for item in items for f in features.get(item.id, ()))
    stats: dict[str, FactorStatistics] = {}
    for name in factor_names:
        having = {item.id: [f for f in features.get(item.id, ()) if name in f.factors] for item in items}
        having = {item_id: feats for item_id, feats in having.items() if feats}
        entry = FactorStatistics(support=len(having), coverage=len(having), history_size=len(items))
        if weights is not None:
            entry.weighted_coverage = sum(weight[item_id] for item_id in having)
        if task.is_discrete:
            entry = _discrete(entry, task, [(answers[i], weight[i]) for i in having], labels, overall)
        elif judged:
            entry = _open_ended(entry, having, weight, weighted=weights is not None)
        stats[name] = entry
    return stats


def _discrete(
    entry: FactorStatistics, task: TaskSpec, answers: list[tuple[str, float]], labels: list[str], overall: float | None
) -> FactorStatistics:
    """Eq. 1 (and, for ratings, the factor's mean next to the user's overall mean); answers with their weights."""
    counts: dict[str, float] = defaultdict(float)
    for answer, weight in answers:
        counts[answer] += weight
    total = sum(weight for _, weight in answers)
    update: dict[str, object] = {
        "propensity": {label: counts.get(label, 0) / total for label in labels} if answers else {}
    }
    if task.kind is TaskKind.RATING:
        update |= {"mean_rating": _mean(answers), "overall_mean_rating": overall}
    return entry.model_copy(update=update)


def _open_ended(
    entry: FactorStatistics, having: Mapping[str, Sequence[Feature]], weight: Mapping[str, float], *, weighted: bool
) -> FactorStatistics:
    """Eq. 3 (items with an influenced feature of F) and Eq. 4 (pos/neu/neg shares of those features)."""
    influenced = [(f, weight[item_id]) for item_id, feats in having.items() for f in feats if f.influenced]
    hit = [item_id for item_id, feats in having.items() if any(f.influenced for f in feats)]
    counts: dict[str, float] = defaultdict(float)
    for feature, w in influenced:
        counts[feature.evaluation or "neu"] += w
    total = sum(w for _, w in influenced)
    polarity = {label: (counts.get(label, 0) / total if total else 0.0) for label in EVALUATIONS}
    update: dict[str, object] = {"influence": len(hit), "influenced_features": len(influenced), "polarity": polarity}
    if weighted:
        update["weighted_influence"] = sum(weight[item_id] for item_id in hit)
    return entry.model_copy(update=update)


def _label_space(task: TaskSpec, items: Sequence[HistoryItem]) -> list[str]:
    if task.kind is TaskKind.MULTIPLE_CHOICE:
        seen: dict[str, None] = {}
        for item in items:
            for option in item.options or []:
                seen.setdefault(option, None)
        return list(seen)
    return task.answer_space()


def _mean(answers: Sequence[tuple[str, float]]) -> float | None:
    """The weighted mean of the numeric answers (``(answer, weight)`` pairs), ``None`` if there are none."""
    values = []
    for answer, weight in answers:
        try:
            values.append((float(answer), weight))
        except ValueError:
            continue
    total = sum(weight for _, weight in values)
    return sum(value * weight for value, weight in values) / total if values and total else None


def refresh_factors(
    task: TaskSpec,
    factors: Sequence[Factor],
    examples: Sequence[ReasoningExample],
    *,
    half_life: float | None = None,
) -> list[Factor]:
    """Every factor's statistics and member feature names, recomputed from the stored examples (no LLM calls).

    Used after a build (over the items that made it into the profile) and after incremental
    updates, so statistics are always exact for what is stored. ``half_life``: recency weights
    (:func:`~langchain_rpm.recency.recency_weights`) over the examples in time order.
    """
    items = [HistoryItem(id=ex.item_id, input=ex.input, response=ex.answer, options=ex.options) for ex in examples]
    features = {ex.item_id: ex.features for ex in examples}
    weights = None
    if half_life is not None:
        weights = recency_weights([ex.item_id for ex in chronological(examples)], half_life)
    stats = factor_statistics(task, items, features, [f.name for f in factors], weights)
    refreshed = []
    for factor in factors:
        members = [f.name for ex in examples for f in ex.features if factor.name in f.factors]
        names = list(dict.fromkeys(members))
        refreshed.append(factor.model_copy(update={"statistics": stats[factor.name], "features": names}))
    return refreshed
