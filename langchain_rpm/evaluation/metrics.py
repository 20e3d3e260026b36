"""Evaluation metrics, computed the way the LaMP benchmark computes them.

One entry point, :func:`compute_metrics`, picks the metrics from the task's answer kind:

========================  ==========================  =====================================
task kind                 metrics                     primary (see :func:`primary_metric`)
========================  ==========================  =====================================
classification (LaMP-2)   ``accuracy``, ``f1``        ``accuracy`` (higher is better)
rating (LaMP-3)           ``mae``, ``rmse``           ``mae`` (lower is better)
open-ended (LaMP-5)       ``rouge1``, ``rougeL``      ``rouge1`` (higher is better)
multiple choice (GOQA)    ``accuracy``                ``accuracy`` (higher is better)
========================  ==========================  =====================================

What each metric compares (predictions are the *final* answer strings, e.g. ``Prediction.answer``
after :meth:`~langchain_rpm.tasks.TaskSpec.check`; the metrics do not repair them):

- **classification**: prediction and gold are compared *exactly* after ``.strip()``, as LaMP's
  evaluator does (``"Sci-Fi"`` does not match ``"sci-fi"``; run answers through ``task.check`` first
  if you want lenient matching). A prediction outside ``task.labels`` is wrong. ``f1`` is
  scikit-learn's ``f1_score(golds, preds, labels=task.labels, average="macro")``: the mean over
  *every* label of the list of ``2·TP / (2·TP + FP + FN)``, where a label that occurs in neither
  golds nor predictions scores 0 (sklearn's ``zero_division`` default) — so on a small sample the
  macro-F1 is pulled down by the labels it never sees, exactly as in LaMP.
- **rating**: predictions are parsed with :meth:`TaskSpec.normalize` semantics (``"4 stars"`` -> 4).
  A prediction that yields no integer on the scale counts as whichever end of the scale is
  farther from the gold value (LaMP's rule, with 1 and 5 generalised to the scale's min and max;
  on a tie, the max). Unlike LaMP, an out-of-scale number such as ``"7"`` or ``"4.5"`` is
  treated as unparseable rather than used as is.
- **open-ended**: ROUGE-1 and ROUGE-L F-measure from the ``rouge_score`` package
  (``RougeScorer(["rouge1", "rougeL"])``, no stemming, as LaMP's Hugging Face ``evaluate``
  wrapper), averaged over examples (that wrapper reports the bootstrap median of the mean, which
  is within noise of it; pass ``use_stemmer=True`` for stemmed scores).
  An empty prediction scores 0.
- **multiple choice**: the prediction is normalized with ``task.normalize(pred, options)`` (the
  option text in any case/spacing, or its letter ``"B"`` / ``"(B)"``); a prediction that is no
  option is wrong.

Example:
    >>> from langchain_rpm.tasks import LAMP3
    >>> compute_metrics(LAMP3, ["4 stars", "5"], ["5", "5"])
    {'mae': 0.5, 'rmse': 0.7071067811865476}
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from langchain_rpm.errors import InvalidAnswerError
from langchain_rpm.tasks import TaskKind, TaskSpec, get_task

__all__ = ["compute_metrics", "primary_metric"]

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


def compute_metrics(
    task: TaskSpec | str,
    predictions: Sequence[str],
    golds: Sequence[str],
    options: Sequence[Sequence[str] | None] | None = None,
    *,
    use_stemmer: bool = False,
) -> dict[str, float]:
    """Score final answers against gold answers, as LaMP does (see the module docstring).

    Args:
        task: The task spec (or a preset name such as ``"lamp2"``).
        predictions: One final answer string per example.
        golds: One gold answer per example (a label, a rating such as ``"4"``, an option, a text).
        options: Per-example option lists; required for multiple-choice tasks, ignored otherwise.
        use_stemmer: ROUGE only: apply the Porter stemmer before matching tokens.

    Returns:
        ``{"accuracy", "f1"}``, ``{"mae", "rmse"}``, ``{"rouge1", "rougeL"}`` or ``{"accuracy"}``.

    Raises:
        ValueError: no examples, mismatched lengths, missing options, or a gold answer that does
            not fit the task (a label outside the list, a rating off the scale, a gold that is no option).
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
        if options is None or len(options) != len(preds):
            got = "no options" if options is None else f"{len(options)} option lists"
            raise ValueError(f"task {spec.name!r}: multiple choice needs one option list per example; got {got}")
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
    accuracy = float(np.mean(y_true == y_pred))
    per_label = []
    for label in range(len(spec.labels)):
        tp = int(np.sum((y_pred == label) & (y_true == label)))
        fp = int(np.sum((y_pred == label) & (y_true != label)))
        fn = int(np.sum((y_pred != label) & (y_true == label)))
        denominator = 2 * tp + fp + fn
        per_label.append(2 * tp / denominator if denominator else 0.0)
    return {"accuracy": accuracy, "f1": float(np.mean(per_label))}


def _rating(spec: TaskSpec, preds: list[str], golds: list[str]) -> dict[str, float]:
    assert spec.scale is not None
    low, high = spec.scale
    errors = []
    for i, (pred, gold) in enumerate(zip(preds, golds, strict=True)):
        try:
            truth = float(spec.normalize(gold))
        except InvalidAnswerError:
            raise ValueError(f"task {spec.name!r}: gold {i} ({gold!r}) is not a rating in {low}..{high}") from None
        try:
            value = float(spec.normalize(pred))
        except InvalidAnswerError:
            value = float(low) if abs(low - truth) > abs(high - truth) else float(high)
        errors.append(value - truth)
    err = np.asarray(errors)
    return {"mae": float(np.mean(np.abs(err))), "rmse": math.sqrt(float(np.mean(err**2)))}


def _multiple_choice(
    spec: TaskSpec, preds: list[str], golds: list[str], options: Sequence[Sequence[str] | None]
) -> dict[str, float]:
    hits = 0
    for i, (pred, gold, opts) in enumerate(zip(preds, golds, options, strict=True)):
        if not opts:
            raise ValueError(f"task {spec.name!r}: example {i} has no options")
        try:
            truth = spec.normalize(gold, list(opts))
        except InvalidAnswerError:
            raise ValueError(
                f"task {spec.name!r}: gold {i} ({gold!r}) is not one of its options {list(opts)}"
            ) from None
        with contextlib.suppress(InvalidAnswerError):  # a prediction that is no option is wrong
            hits += spec.normalize(pred, list(opts)) == truth
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
    rouge1, rouge_l = [], []
    for pred, gold in zip(preds, golds, strict=True):
        if not pred:
            rouge1.append(0.0)
            rouge_l.append(0.0)
            continue
        scores = scorer.score(gold, pred)  # score(target, prediction)
        rouge1.append(scores["rouge1"].fmeasure)
        rouge_l.append(scores["rougeL"].fmeasure)
    return {"rouge1": float(np.mean(rouge1)), "rougeL": float(np.mean(rouge_l))}
