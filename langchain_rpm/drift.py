"""The drift monitor: how well a user's newest items fit their factors, measured without LLM calls.

Each update (``add_interactions``) measures, over the ``drift_window`` newest items (time order,
:mod:`langchain_rpm._recency`):

- the **unfit share**: features of the window that fit no factor (soft-assigned to the closest one,
  or in ``Other``) over all the window's features; crossed when above ``recluster_threshold``;
- per factor (discrete tasks), the **answers** of the window's items that have it against the older
  items that have it: labels and options as a 2 x k table under the Freeman-Halton exact test,
  ratings under the exact permutation test of the means (:mod:`langchain_rpm._exact_test`), Holm-corrected
  over the factors; crossed when an adjusted p-value
  is at most ``drift_alpha``. After the monitor acted, "older" starts at the window it acted on, so a
  change it already adapted to is not detected again and again.

The result is a :class:`~langchain_rpm._drift_types.DriftRecord`; :mod:`langchain_rpm._refresh` acts on it.

Example:
    >>> from langchain_rpm.settings import RPMSettings
    >>> from langchain_rpm.tasks import LAMP3
    >>> from langchain_rpm.types import Factor, Feature, ReasoningExample
    >>> def ex(i, answer):
    ...     return ReasoningExample(item_id=str(i), input="x", reasoning="", answer=answer,
    ...                             features=[Feature(name="late delivery", factor="Shipping")])
    >>> examples = [ex(i, "1") for i in range(8)] + [ex(i, "5") for i in range(8, 14)]
    >>> settings = RPMSettings.for_preset("default", drift_window=6)
    >>> record = measure_drift(LAMP3, [Factor(name="Shipping")], examples, {"13"}, settings)
    >>> record.crossed
    ['Shipping: answers changed (Holm p = 0.00033 <= 0.01)']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

from langchain_rpm._drift_types import ACTED, DriftRecord, FactorShift, RecentWindow
from langchain_rpm._exact_test import ExactResult, fisher_freeman_halton, holm, permutation_mean_test
from langchain_rpm._recency import chronological, recent_ids
from langchain_rpm.settings import RPMSettings
from langchain_rpm.stages.statistics import factor_statistics
from langchain_rpm.tasks import TaskKind, TaskSpec
from langchain_rpm.types import OTHER_FACTOR, Factor, Feature, HistoryItem, ReasoningExample, UserProfile


def unfit(feature: Feature, names: Collection[str]) -> bool:
    """True when the feature fits none of the factors ``names`` (soft-assigned, ``Other`` or unknown)."""
    return feature.soft_assigned or feature.factor not in names or feature.factor == OTHER_FACTOR


def unfit_share(examples: Sequence[ReasoningExample], names: Collection[str]) -> float:
    """Share of the examples' features that fit no factor (0 when they have none).

    Example:
        >>> unfit_share([ReasoningExample(item_id="1", input="x", reasoning="", answer="1",
        ...     features=[Feature(name="a", factor="Price"), Feature(name="b", factor="Price", soft_assigned=True)])],
        ...     ["Price"])
        0.5
    """
    features = [f for ex in examples for f in ex.features]
    return sum(unfit(f, names) for f in features) / len(features) if features else 0.0


def baseline_start(ordered: Sequence[ReasoningExample], history: Sequence[DriftRecord]) -> int:
    """Position of the first item of the regime the monitor last adapted to (0 when it never acted)."""
    positions = {ex.item_id: i for i, ex in enumerate(ordered)}
    for record in reversed(history):
        if record.action in ACTED and record.window_start in positions:
            return positions[record.window_start]
    return 0


def measure_drift(
    task: TaskSpec,
    factors: Sequence[Factor],
    examples: Sequence[ReasoningExample],
    new_ids: Collection[str],
    settings: RPMSettings,
    history: Sequence[DriftRecord] = (),
) -> DriftRecord:
    """One measurement over the stored ``examples`` (``new_ids``: the update's items); see the module doc."""
    ordered = chronological(examples)
    window_ids = set(recent_ids([ex.item_id for ex in ordered], settings.drift_window))
    window = [ex for ex in ordered if ex.item_id in window_ids]
    names = {f.name for f in factors}
    record = DriftRecord(
        new_items=len(new_ids),
        window=len(window),
        unfit_share=round(unfit_share(window, names), 4),
        new_unfit_share=round(unfit_share([ex for ex in ordered if ex.item_id in new_ids], names), 4),
        window_start=window[0].item_id if window else None,
    )
    crossed = []
    if record.unfit_share > settings.recluster_threshold:
        crossed.append(f"unfit share {record.unfit_share:.2f} > {settings.recluster_threshold:.2f} (recent window)")
    rest = [ex for ex in ordered[baseline_start(ordered, history) :] if ex.item_id not in window_ids]
    if task.is_discrete and rest:
        ordinal = task.kind is TaskKind.RATING
        record.shifts = answer_shifts(factors, window, rest, settings.seed, ordinal=ordinal)
        crossed += [
            f"{s.factor}: answers changed (Holm p = {s.adjusted_p:.2g} <= {settings.drift_alpha:g})"
            for s in record.shifts
            if s.adjusted_p <= settings.drift_alpha
        ]
    record.crossed = crossed
    return record


def answer_shifts(
    factors: Sequence[Factor],
    window: Sequence[ReasoningExample],
    rest: Sequence[ReasoningExample],
    seed: int = 0,
    *,
    ordinal: bool = False,
) -> list[FactorShift]:
    """Each factor's answers in ``window`` against ``rest`` (items that have it), tested, Holm-adjusted.

    ``ordinal`` (ratings): the exact permutation test of the means; else Freeman-Halton on the labels.
    """
    rows = []
    for factor in factors:
        recent = Counter(ex.answer for ex in window if _has(ex, factor.name))
        older = Counter(ex.answer for ex in rest if _has(ex, factor.name))
        if recent and older:
            rows.append((factor.name, dict(recent), dict(older), _test(recent, older, ordinal, seed)))
    adjusted = holm([result.p_value for *_, result in rows])
    return [
        FactorShift(factor=name, recent=recent, rest=older, p_value=result.p_value, adjusted_p=p, method=result.method)
        for (name, recent, older, result), p in zip(rows, adjusted, strict=True)
    ]


def _test(recent: Counter[str], older: Counter[str], ordinal: bool, seed: int) -> ExactResult:
    if ordinal:
        return permutation_mean_test(
            [float(a) for a, n in recent.items() for _ in range(n)],
            [float(a) for a, n in older.items() for _ in range(n)],
            seed=seed,
        )
    labels = sorted(set(recent) | set(older))
    return fisher_freeman_halton([[recent[a] for a in labels], [older[a] for a in labels]], seed=seed)


def _has(example: ReasoningExample, factor: str) -> bool:
    return any(factor in f.factors for f in example.features)


def recent_window(
    task: TaskSpec, factors: Sequence[Factor], examples: Sequence[ReasoningExample], size: int
) -> RecentWindow:
    """Every factor's count and answer shares (ratings: mean) over the ``size`` newest examples.

    Example:
        >>> from langchain_rpm.tasks import LAMP2
        >>> examples = [ReasoningExample(item_id=str(i), input="x", reasoning="", answer=a,
        ...                              features=[Feature(name="robots", factor="Science")])
        ...             for i, a in enumerate(["comedy", "sci-fi", "sci-fi", "action"])]
        >>> recent_window(LAMP2, [Factor(name="Science")], examples, 3).statistics
        {'Science': {'count': 3.0, 'action': 0.3333, 'sci-fi': 0.6667}}
    """
    window = chronological(examples)[-size:] if size > 0 else []
    items = [HistoryItem(id=ex.item_id, input=ex.input, response=ex.answer, options=ex.options) for ex in window]
    stats = factor_statistics(task, items, {ex.item_id: ex.features for ex in window}, [f.name for f in factors])
    view: dict[str, dict[str, float]] = {}
    for name, entry in stats.items():
        row: dict[str, float] = {"count": float(entry.coverage)}
        if entry.mean_rating is not None:
            row["mean"] = round(entry.mean_rating, 4)
        row |= {label: round(p, 4) for label, p in sorted(entry.propensity.items()) if p > 0}
        view[name] = row
    return RecentWindow(items=len(window), since=window[0].time if window else None, statistics=view)


MAX_RECORDS = 50
"""Most drift records a profile keeps (the oldest are dropped)."""


def observe(
    settings: RPMSettings,
    task: TaskSpec,
    profile: UserProfile,
    examples: Sequence[ReasoningExample],
    previous: UserProfile | None,
    *,
    new_ids: Collection[str] | None,
    reclustered: bool = False,
) -> UserProfile:
    """``profile`` with its recent window and, for an update (``new_ids``), the monitor's record added.

    ``drift="off"`` leaves the profile as the paper has it (no window, no measurement).
    """
    history = list(previous.drift) if previous is not None else []
    if settings.drift == "off":
        return profile.model_copy(update={"drift": history})
    recent = recent_window(task, profile.factors, examples, settings.drift_window)
    if new_ids is not None:
        record = measure_drift(task, profile.factors, examples, new_ids, settings, history)
        if reclustered:
            record.action = "reclustered"
        elif record.drifted:
            record.action = "scheduled" if settings.drift == "on" else "reported"
        history = [*history, record][-MAX_RECORDS:]
    return profile.model_copy(update={"recent": recent, "drift": history})
