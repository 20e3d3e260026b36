"""Factor statistics exactly as the paper's Eq. 1-4 (DESIGN §2 step 3): pure functions, no LLM.

An item *has* factor F when any of its features is assigned to F. With N history items:

- every task: ``support = coverage = #{i: i has F}`` (Eq. 2, a count);
- discrete tasks (labels, ratings, options), Eq. 1: ``propensity[y] = #{i has F, a_i = y} / support``;
  ratings also get the factor's mean answer and the user's overall mean; a multiple-choice answer counts
  by its position (``option A``...), since options differ from question to question; once the judge
  has run on multiple-choice items (the paper preset, App. E.5), they get the label-free statistics below;
- open-ended tasks: ``influence = #{i has F and some feature of F in i was judged influenced}`` (Eq. 3),
  ``polarity[e]`` = the share of evaluation ``e`` among every influenced feature of F over all items
  (Eq. 4, feature level). Until some feature is judged, ``influence`` and ``polarity`` stay ``None``.

With recency weights (``recency_half_life``, :mod:`langchain_rpm._recency`) each item counts by its
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

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from langchain_rpm._recency import chronological, recency_weights
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
    answers = {item.id: answer_key(task, item) for item in items}
    weight = {item.id: (weights or {}).get(item.id, 1.0) for item in items}
    labels = _label_space(task, items)
    overall = _mean([(answers[i.id], weight[i.id]) for i in items]) if task.kind is TaskKind.RATING else None
    judged = any(f.influenced is not None for item in items for f in features.get(item.id, ()))
    label_free = task.kind is TaskKind.OPEN_ENDED or (task.kind is TaskKind.MULTIPLE_CHOICE and judged)
    by_factor = _by_factor(items, features)
    stats: dict[str, FactorStatistics] = {}
    for name in factor_names:
        having = by_factor.get(name, {})
        entry = FactorStatistics(support=len(having), coverage=len(having), history_size=len(items))
        if weights is not None:
            entry.weighted_coverage = sum(weight[item_id] for item_id in having)
        if not label_free:
            entry = _discrete(entry, task, [(answers[i], weight[i]) for i in having], labels, overall)
        elif judged:
            entry = _open_ended(entry, having, weight, weighted=weights is not None)
        stats[name] = entry
    baseline = _baseline(task, [answers[item.id] for item in items], labels)
    return {name: entry.model_copy(update=baseline) for name, entry in stats.items()}


def _by_factor(
    items: Sequence[HistoryItem], features: Mapping[str, Sequence[Feature]]
) -> dict[str, dict[str, list[Feature]]]:
    """Factor name -> item id -> the item's features of that factor (items in order), in one pass over the features.

    Each feature's factors are read once, not once per factor of the profile (16-24 of them).
    """
    index: dict[str, dict[str, list[Feature]]] = defaultdict(dict)
    for item in items:
        for feature in features.get(item.id, ()):
            for name in feature.factors:
                index[name].setdefault(item.id, []).append(feature)
    return index


def _baseline(task: TaskSpec, answers: list[str], labels: list[str]) -> dict[str, object]:
    """What every factor's row is read against: the user's answer distribution, or the form of their texts."""
    if task.kind is TaskKind.OPEN_ENDED:
        return {"answer_style": answer_style(answers)}
    counts = Counter(answers)
    return {"overall_propensity": {label: counts.get(label, 0) / len(answers) for label in labels} if answers else {}}


def answer_style(texts: Sequence[str]) -> str:
    """One line on the typical length and form of open-ended answers (a title's words, colon, capitals).

    Example:
        >>> answer_style(["Sign Language Translation: A Keypoint Approach", "Curriculum Order Matters", "fast graphs"])
        'median 3 words (2-6); 1 of 3 with a colon; 2 of 3 in title case'
    """
    if not texts:
        return ""
    lengths = sorted(len(text.split()) for text in texts)
    colon = sum(":" in text for text in texts)
    titled = sum(all(w[0].isupper() for w in text.split() if len(w) > 3 and w[0].isalpha()) for text in texts)
    return (
        f"median {lengths[len(lengths) // 2]} words ({lengths[0]}-{lengths[-1]}); {colon} of {len(texts)} with a "
        f"colon; {titled} of {len(texts)} in title case"
    )


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


def answer_key(task: TaskSpec, item: HistoryItem) -> str:
    """The answer as the statistics count it: the label or rating; for multiple choice, the option's position.

    Options differ from question to question, so ``"Agree"`` and ``"Very important"`` never share a row:
    a multiple-choice answer counts as ``option A``, ``option B``... (surveys list options in scale order).

    Example:
        >>> from langchain_rpm.tasks import GLOBAL_OPINION_QA
        >>> answer_key(GLOBAL_OPINION_QA, HistoryItem(id="1", input="q", response="No", options=["Yes", "No"]))
        'option B'
    """
    answer = task.check(item.response, item.options).answer
    if task.kind is TaskKind.MULTIPLE_CHOICE and item.options and answer in item.options:
        return f"option {_letter(item.options.index(answer))}"
    return answer


def _letter(index: int) -> str:
    return chr(65 + index) if index < 26 else str(index + 1)


def _label_space(task: TaskSpec, items: Sequence[HistoryItem]) -> list[str]:
    if task.kind is TaskKind.MULTIPLE_CHOICE:
        most = max((len(item.options or []) for item in items), default=0)
        return [f"option {_letter(i)}" for i in range(most)]
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
    (:func:`~langchain_rpm._recency.recency_weights`) over the examples in time order.
    """
    items = [HistoryItem(id=ex.item_id, input=ex.input, response=ex.answer, options=ex.options) for ex in examples]
    features = {ex.item_id: ex.features for ex in examples}
    weights = None
    if half_life is not None:
        weights = recency_weights([ex.item_id for ex in chronological(examples)], half_life)
    stats = factor_statistics(task, items, features, [f.name for f in factors], weights)
    members: dict[str, dict[str, None]] = defaultdict(dict)  # factor -> member feature names, in order
    for example in examples:
        for feature in example.features:
            for name in feature.factors:
                members[name][feature.name] = None
    return [
        factor.model_copy(update={"statistics": stats[factor.name], "features": list(members.get(factor.name, {}))})
        for factor in factors
    ]
