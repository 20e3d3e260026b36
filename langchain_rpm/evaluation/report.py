"""Evaluation results: the :class:`EvalResults` model, scoring the ledger, and the markdown report.

:func:`~langchain_rpm.evaluation.results_folder.write_report` writes, into a results folder:

- ``results.json``: :class:`EvalResults` (``EvalResults.model_validate_json`` reads it back);
- ``results.md``: per task, every method's metrics as the mean over the runs ± their standard
  deviation (sample std, ``ddof=1``; none with one run) beside the paper's number; then the cost per
  method (LLM calls, input / output tokens and dollars per user build and per query) beside the
  paper's Table 9 dollars; then failed or invalid answers and the run's deviations from the paper;
- the plots of :mod:`~langchain_rpm.evaluation.plots`.

Example:
    >>> from langchain_rpm.evaluation.cost import CostSummary
    >>> row = MethodResult(task="lamp2", method="rpm", users=1, queries=1, runs=1, metrics={"accuracy": 1.0},
    ...                    primary="accuracy", higher_is_better=True, cost=CostSummary())
    >>> results = EvalResults(model="m", tasks=["lamp2"], methods=["rpm"], results=[row])
    >>> print([line for line in results.to_markdown().splitlines() if line.startswith("| rpm")][0])
    | rpm | 1.000 | 0.561 |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from langchain_rpm.evaluation.cost import CostSummary, Prices, summarize_costs
from langchain_rpm.evaluation.files import DataFile
from langchain_rpm.evaluation.metrics import compute_metrics, in_answer_space, primary_metric
from langchain_rpm.evaluation.paper import PAPER_RESULTS, paper_score
from langchain_rpm.evaluation.users import EvalUser
from langchain_rpm.tasks import get_task

if TYPE_CHECKING:
    from langchain_rpm.evaluation.ledger import Ledger

__all__ = ["EvalResults", "MethodResult", "TaskSource", "summarize"]

_ARROW = {True: "↑", False: "↓"}
_LOWER_IS_BETTER = {"mae", "rmse"}


class MethodResult(BaseModel):
    """One method on one task: metrics (mean and std over runs), error counts, and cost."""

    task: str
    method: str
    users: int
    queries: int = Field(description="Predictions scored per run (failed ones included, as wrong answers).")
    runs: int = 1
    errors: int = Field(default=0, description="Predictions whose model call failed, over all runs.")
    invalid: int = Field(default=0, description="Answers outside the task's answer space, over all runs.")
    metrics: dict[str, float] = Field(description="Mean over the runs.")
    metrics_std: dict[str, float] = Field(default_factory=dict, description="Sample std over the runs (2+ runs).")
    per_run: list[dict[str, float]] = Field(default_factory=list)
    primary: str
    higher_is_better: bool
    cost: CostSummary

    @property
    def score(self) -> float | None:
        """The primary metric (mean over runs), if any prediction was scored."""
        return self.metrics.get(self.primary)


class TaskSource(BaseModel):
    """Where a task's users came from: a description and the files with their digests."""

    source: str = ""
    files: list[DataFile] = Field(default_factory=list)


class EvalResults(BaseModel):
    """Everything a run measured; ``results.json`` is this model as JSON."""

    schema_version: int = 2
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    model: str
    embedding_model: str = ""
    protocol: str = "lamp"
    preset: str = "default"
    seed: int = 0
    runs: int = 1
    n_users: int | None = None
    k: int = 3
    structured_output: str | None = None
    prices: Prices = Field(default_factory=Prices)
    tasks: list[str]
    methods: list[str]
    data: dict[str, TaskSource] = Field(default_factory=dict)
    results: list[MethodResult]

    def get(self, task: str, method: str) -> MethodResult | None:
        """The result of ``method`` on ``task``."""
        return next((r for r in self.results if r.task == task and r.method == method), None)

    def method_cost(self, method: str) -> CostSummary:
        """``method``'s cost summed over all tasks."""
        return sum((r.cost for r in self.results if r.method == method), CostSummary())

    def to_markdown(self) -> str:
        """The report: a table per task beside the paper, the cost table, failures and deviations."""
        lines = [
            f"Model `{self.model}`, embeddings `{self.embedding_model}`, preset `{self.preset}`, protocol "
            f"`{self.protocol}`, K={self.k}, {self.runs} run(s) from seed {self.seed}; prices "
            f"${self.prices.input_per_million:g} / ${self.prices.output_per_million:g} per 1M input / output tokens.",
        ]
        for task in self.tasks:
            lines += ["", *self._task_table(task)]
        lines += ["", *self._cost_table()]
        problems = [r for r in self.results if r.errors or r.invalid]
        if problems:
            lines += [
                "",
                "**Failed or invalid answers** (scored as wrong, over all runs): "
                + ", ".join(f"{r.task}/{r.method} {r.errors} failed, {r.invalid} invalid" for r in problems),
            ]
        lines += ["", *_deviations(self)]
        return "\n".join(lines) + "\n"

    def _task_table(self, task: str) -> list[str]:
        rows = [r for m in self.methods if (r := self.get(task, m)) is not None]
        names = list(dict.fromkeys(metric for r in rows for metric in r.metrics))
        users = rows[0].users if rows else 0
        queries = rows[0].queries if rows else 0
        head = ["method"]
        for metric in names:
            head += [f"{metric} {_ARROW[metric not in _LOWER_IS_BETTER]}", "paper"]
        lines = [f"**{task}** ({users} users, {queries} queries per run)", "", _row(head), _row(["---"] * len(head))]
        for r in rows:
            cells = [r.method]
            for metric in names:
                value, std = r.metrics.get(metric), r.metrics_std.get(metric)
                cells.append("–" if value is None else f"{value:.3f}" + (f" ± {std:.3f}" if std is not None else ""))
                paper = paper_score(r.method, task, metric)
                cells.append("–" if paper is None else f"{paper:.3f}")
            lines.append(_row(cells))
        return lines

    def _cost_table(self) -> list[str]:
        head = ["method", "calls/build", "tokens/build in / out", "$/user build", "paper $/build"]
        head += ["calls/query", "tokens/query in / out", "$/query", "paper $/query", "s/query"]
        lines = [
            "**Cost** (all tasks; a build is one user's preparation for one method, shared RPM builds charged "
            "in full to each method that uses them; paper: Table 9, GOQA)",
            "",
            _row(head),
            _row(["---"] * 10),
        ]
        for method in self.methods:
            cost = self.method_cost(method)
            paper = PAPER_RESULTS[method].cost if method in PAPER_RESULTS else None
            build_in, build_out = cost.tokens_per_build
            query_in, query_out = cost.tokens_per_query
            cells = [method, f"{cost.calls_per_build:.1f}", f"{build_in:,.0f} / {build_out:,.0f}"]
            cells += [_dollars(cost.dollars_per_build), "–" if paper is None else f"${paper[0]:g}"]
            cells += [f"{cost.calls_per_query:.1f}", f"{query_in:,.0f} / {query_out:,.0f}"]
            cells += [_dollars(cost.dollars_per_query), "–" if paper is None else f"${paper[1]:g}"]
            lines.append(_row([*cells, f"{cost.seconds_per_query:.2f}"]))
        return lines


def _deviations(results: EvalResults) -> list[str]:
    notes = [
        "**Read with care.** The paper's numbers are gpt-4o-mini on its protocol (3 runs; K=3; Contriever).",
        f"- Embeddings here: `{results.embedding_model}`"
        + (" (the paper uses Contriever)." if "contriever" not in results.embedding_model.lower() else "."),
        "- ROUGE is the mean over examples; LaMP's script reports a bootstrap mid of the same scores.",
    ]
    if results.protocol != "paper":
        notes.append("- Protocol `lamp` (LaMP's own queries), not the paper's splits: compare shapes, not digits.")
    if results.runs < 3:
        notes.append(f"- {results.runs} run(s); the paper averages 3 (pass --runs 3).")
    return notes


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _dollars(value: float) -> str:
    return f"${value:.4f}" if value >= 0.0001 or value == 0 else f"${value:.2e}"


def _score_run(
    ledger: Ledger, task: str, method: str, users: Sequence[EvalUser], run: int
) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """One run's predictions of ``method`` on ``task``: metrics and counts, build and query spends."""
    spec = get_task(task)
    preds, golds, options, spends, builds = [], [], [], [], []
    errors = invalid = 0
    for user in users:
        build = ledger.get("build", task, method, user.user_id, run=run)
        if build is not None:
            builds.append(build.spend)
        for query in user.queries:
            record = ledger.get("prediction", task, method, user.user_id, query.id, run=run)
            if record is None:
                continue
            preds.append(record.prediction)
            golds.append(query.gold)
            options.append(query.options)
            spends.append(record.spend)
            errors += record.error is not None
            invalid += not in_answer_space(spec, record.prediction, query.options)
    metrics = compute_metrics(spec, preds, golds, options) if preds else {}
    return {"metrics": metrics, "queries": len(preds), "errors": errors, "invalid": invalid}, builds, spends


def summarize(
    ledger: Ledger,
    datasets: Mapping[str, Sequence[EvalUser]],
    methods: Mapping[str, Sequence[str]],
    settings: Mapping[str, Any],
    prices: Prices,
    *,
    runs: int = 1,
    data: Mapping[str, TaskSource] | None = None,
) -> EvalResults:
    """Score the ledger's predictions of ``datasets``' users, run by run, into :class:`EvalResults`."""
    rows = []
    for task, users in datasets.items():
        primary, higher = primary_metric(task)
        for method in methods[task]:
            scored = [_score_run(ledger, task, method, users, run) for run in range(runs)]
            per_run = [s[0]["metrics"] for s in scored if s[0]["metrics"]]
            names = list(per_run[0]) if per_run else []
            rows.append(
                MethodResult(
                    task=task,
                    method=method,
                    users=len(users),
                    queries=max((s[0]["queries"] for s in scored), default=0),
                    runs=len(per_run),
                    errors=sum(s[0]["errors"] for s in scored),
                    invalid=sum(s[0]["invalid"] for s in scored),
                    metrics={m: float(np.mean([r[m] for r in per_run])) for m in names},
                    metrics_std={m: float(np.std([r[m] for r in per_run], ddof=1)) for m in names}
                    if len(per_run) > 1
                    else {},
                    per_run=per_run,
                    primary=primary,
                    higher_is_better=higher,
                    cost=summarize_costs([b for s in scored for b in s[1]], [q for s in scored for q in s[2]], prices),
                )
            )
    return EvalResults(
        model=str(settings["model"]),
        embedding_model=str(settings["embedding_model"]),
        protocol=str(settings["protocol"]),
        preset=str(settings["preset"]),
        seed=int(settings["seed"]),
        runs=runs,
        n_users=settings["n_users"],
        k=int(settings["k"]),
        structured_output=settings["structured_output"],
        prices=prices,
        tasks=list(datasets),
        methods=list(dict.fromkeys(m for names in methods.values() for m in names)),
        data=dict(data or {}),
        results=rows,
    )
