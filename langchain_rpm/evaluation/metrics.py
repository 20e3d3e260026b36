"""Evaluation metrics, computed by the rules of LaMP's official evaluation script, on raw answer strings.

One entry point, :func:`compute_metrics`, picks the metrics from the task's answer kind:

========================  ==========================  =====================================
task kind                 metrics                     primary (see :func:`primary_metric`)
========================  ==========================  =====================================
classification (LaMP-2)   ``accuracy``, ``f1``        ``accuracy`` (higher is better)
rating (LaMP-3)           ``mae``, ``rmse``           ``mae`` (lower is better)
open-ended (LaMP-5)       ``rouge1``, ``rougeL``      ``rouge1`` (higher is better)
multiple choice (GOQA)    ``accuracy``                ``accuracy`` (higher is better)
========================  ==========================  =====================================

The metric never repairs an answer: turning a model's reply into one of the allowed answers is the
method's job (RPM's generator and every baseline run their reply through ``TaskSpec.check``). The
rules, as in LaMP-Benchmark/LaMP ``eval/evaluation.py``:

- **classification**: prediction and gold are compared *exactly* after ``.strip()``, by their index in
  the label list; a prediction outside the list gets index -1, so it is wrong for every label
  (``"Sci-Fi"`` does not match ``"sci-fi"``). ``f1`` is the macro average over *every* label of the
  list of ``2·TP / (2·TP + FP + FN)``, a label that occurs in neither golds nor predictions scoring 0
  (scikit-learn's ``f1_score(..., labels=range(len(labels)), average="macro")``).
- **rating**: a prediction is parsed with ``float(text.strip())``; only when that fails does it count
  as the end of the scale farther from the gold value (LaMP's 1 and 5 are the scale's min and max; on
  a tie, the max). So ``"3.5"`` is 0.5 off a gold 3, ``"6"`` is 1 off a gold 5, and ``"4 stars"`` is
  unparseable: against a gold 4 it counts as 1, 3 off. As with ``float``, ``"nan"`` and ``"inf"``
  parse, and make the mean NaN / infinite.
- **open-ended**: ROUGE-1 and ROUGE-L F-measure from ``rouge_score`` (``RougeScorer(["rouge1",
  "rougeL"])``, no stemming), scored ``score(gold, prediction)``. LaMP's Hugging Face ``evaluate``
  wrapper aggregates with a bootstrap and reports the "mid" (a resampled median of the mean); we
  report the plain **mean** over examples, which that mid estimates (they differ in the 3rd decimal
  at most on 100+ examples).
- **multiple choice** (GlobalOpinionQA, not part of LaMP): accuracy by exact match after ``.strip()``
  against the gold option text; an answer that is not exactly an option is wrong.

Example:
    >>> compute_metrics("lamp3", ["3.5", "4 stars", "6", " 2 ", "five"], ["3", "4", "5", "2", "1"])["mae"]
    1.7
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from langchain_rpm.tasks import TaskKind, TaskSpec, get_task

__all__ = ["compute_metrics", "in_answer_space", "primary_metric"]

_OUT_OF_LIST = -1
"""Index given to a classification prediction that is not in the label list (never a label index)."""


def primary_metric(task: TaskSpec | str) -> tuple[str, bool]:
    """The headline metric of a task: ``(name, higher_is_better)``.

    Example:
        >>> primary_metric("lamp3")
        ('mae', False)
    """
    kind = get_task(task).kind
    if kind is TaskKind.RATING:
        return "mae", False
    if kind is TaskKind.OPEN_ENDED:
        return "rouge1", True
    return "accuracy", True


def in_answer_space(task: TaskSpec | str, answer: str, options: Sequence[str] | None = None) -> bool:
    """Whether ``answer`` (stripped) is exactly one of the task's allowed answers; any non-empty text for text tasks.

    Example:
        >>> in_answer_space("lamp3", " 4 "), in_answer_space("lamp3", "4 stars"), in_answer_space("lamp3", "4.0")
        (True, False, False)
    """
    spec = get_task(task)
    text = (answer or "").strip()
    if spec.kind is TaskKind.OPEN_ENDED:
        return bool(text)
    return text in spec.answer_space(options)


def compute_metrics(
    task: TaskSpec | str,
    predictions: Sequence[str],
    golds: Sequence[str],
    options: Sequence[Sequence[str] | None] | None = None,
    *,
    use_stemmer: bool = False,
) -> dict[str, float]:
    """Score raw answer strings against gold answers by LaMP's rules (see the module docstring).

    Args:
        task: The task spec (or a preset name such as ``"lamp2"``).
        predictions: One answer string per example, as the method returned it.
        golds: One gold answer per example (a label, a rating such as ``"4"``, an option, a text).
        options: Per-example option lists (multiple choice): each gold must be one of its options.
        use_stemmer: ROUGE only: apply the Porter stemmer (LaMP does not).

    Returns:
        ``{"accuracy", "f1"}``, ``{"mae", "rmse"}``, ``{"rouge1", "rougeL"}`` or ``{"accuracy"}``.

    Raises:
        ValueError: no examples, mismatched lengths, or a gold answer that does not fit the task (a
            label outside the list, a rating that is no number, a gold that is not one of its options).
    """
    spec = get_task(task)
    preds = [_as_text(p, "prediction", i) for i, p in enumerate(predictions)]
    refs = [_as_text(g, "gold", i) for i, g in enumerate(golds)]
    if not preds:
        raise ValueError(f"task {spec.name!r}: cannot compute metrics over zero examples")
    if len(preds) != len(refs):
        raise ValueError(f"task {spec.name!r}: {len(preds)} predictions but {len(refs)} golds")
    if spec.kind is TaskKind.CLASSIFICATION:
        return _classification(spec, preds, refs)
    if spec.kind is TaskKind.RATING:
        return _rating(spec, preds, refs)
    if spec.kind is TaskKind.MULTIPLE_CHOICE:
        return _multiple_choice(spec, preds, refs, options)
    return _rouge(preds, refs, use_stemmer=use_stemmer)


def _as_text(value: Any, what: str, index: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} {index} must be a string, got {type(value).__name__}")
    return value.strip()


def _classification(spec: TaskSpec, preds: list[str], golds: list[str]) -> dict[str, float]:
    index = {label: i for i, label in enumerate(spec.labels)}
    gold_ids = []
    for i, gold in enumerate(golds):
        if gold not in index:
            raise ValueError(f"task {spec.name!r}: gold {i} ({gold!r}) is not in the label list {list(spec.labels)}")
        gold_ids.append(index[gold])
    y_true = np.asarray(gold_ids)
    y_pred = np.asarray([index.get(p, _OUT_OF_LIST) for p in preds])
    per_label = []
    for label in range(len(spec.labels)):
        tp = int(np.sum((y_pred == label) & (y_true == label)))
        fp = int(np.sum((y_pred == label) & (y_true != label)))
        fn = int(np.sum((y_pred != label) & (y_true == label)))
        denominator = 2 * tp + fp + fn
        per_label.append(2 * tp / denominator if denominator else 0.0)
    return {"accuracy": float(np.mean(y_true == y_pred)), "f1": float(np.mean(per_label))}


def _rating(spec: TaskSpec, preds: list[str], golds: list[str]) -> dict[str, float]:
    assert spec.scale is not None
    low, high = float(spec.scale[0]), float(spec.scale[1])
    errors = []
    for i, (pred, gold) in enumerate(zip(preds, golds, strict=True)):
        try:
            truth = float(gold)
        except ValueError:
            raise ValueError(f"task {spec.name!r}: gold {i} ({gold!r}) is not a number") from None
        try:
            value = float(pred)
        except ValueError:
            value = low if abs(low - truth) > abs(high - truth) else high
        errors.append(value - truth)
    err = np.asarray(errors)
    return {"mae": float(np.mean(np.abs(err))), "rmse": math.sqrt(float(np.mean(err**2)))}


def _multiple_choice(
    spec: TaskSpec, preds: list[str], golds: list[str], options: Sequence[Sequence[str] | None] | None
) -> dict[str, float]:
    if options is not None:
        if len(options) != len(golds):
            raise ValueError(f"task {spec.name!r}: {len(options)} option lists for {len(golds)} examples")
        for i, (gold, opts) in enumerate(zip(golds, options, strict=True)):
            if opts is not None and gold not in [o.strip() for o in opts]:
                raise ValueError(f"task {spec.name!r}: gold {i} ({gold!r}) is not one of its options {list(opts)}")
    hits = sum(pred == gold for pred, gold in zip(preds, golds, strict=True))
    return {"accuracy": hits / len(preds)}


@functools.lru_cache(maxsize=2)
def _scorer(use_stemmer: bool) -> Any:
    try:
        from rouge_score import rouge_scorer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("ROUGE metrics need the `rouge-score` package: pip install 'langchain-rpm[eval]'") from exc
    return rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=use_stemmer)


def _rouge(preds: list[str], golds: list[str], *, use_stemmer: bool) -> dict[str, float]:
    scorer = _scorer(use_stemmer)
    scores = [scorer.score(gold, pred) for pred, gold in zip(preds, golds, strict=True)]  # score(target, prediction)
    return {
        "rouge1": float(np.mean([s["rouge1"].fmeasure for s in scores])),
        "rougeL": float(np.mean([s["rougeL"].fmeasure for s in scores])),
    }
