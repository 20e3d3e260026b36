"""Evaluation results: the :class:`EvalResults` model, the markdown table, and the PNG plots.

:func:`write_report` writes, into a results folder:

- ``results.json`` — :class:`EvalResults` (``EvalResults.model_validate_json`` reads it back);
- ``results.md`` — rows are methods, columns every task metric (↑ higher / ↓ lower is better),
  then the cost columns ($ per user build, $ per query, LLM calls per query, seconds per query),
  followed by the cost per task and the paper's reference numbers;
- ``metric_by_method.png`` — the primary metric per method, one panel per task;
- ``metric_vs_cost.png`` — primary metric against total $ per query (builds amortized), per task.

Example:
    >>> from langchain_rpm.evaluation.cost import CostSummary, Prices
    >>> row = MethodResult(task="lamp2", method="rpm", users=1, queries=1, metrics={"accuracy": 1.0, "f1": 0.5},
    ...                    primary="accuracy", higher_is_better=True, cost=CostSummary())
    >>> results = EvalResults(model="m", tasks=["lamp2"], methods=["rpm"], results=[row])
    >>> print(results.to_markdown().splitlines()[2])
    | method | lamp2 accuracy ↑ | lamp2 f1 ↑ | $/user build | $/query | calls/query | s/query |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from langchain_rpm.evaluation.cost import PAPER_COST, CostSummary, Prices, summarize_costs
from langchain_rpm.evaluation.datasets import EvalUser
from langchain_rpm.evaluation.metrics import compute_metrics, primary_metric
from langchain_rpm.tasks import get_task

if TYPE_CHECKING:
    from langchain_rpm.evaluation.ledger import Ledger

__all__ = [
    "PAPER_RESULTS",
    "EvalResults",
    "MethodResult",
    "plot_metric_by_method",
    "plot_metric_vs_cost",
    "write_report",
]

PAPER_RESULTS: dict[str, dict[str, float]] = {
    "zero_shot": {"lamp2": 0.430, "lamp3": 0.361, "lamp5": 0.446, "goqa": 0.562},
    "best prior method": {"lamp2": 0.526, "lamp3": 0.312, "lamp5": 0.466, "goqa": 0.820},
    "features_factors": {"lamp2": 0.465, "lamp3": 0.287, "goqa": 0.647},
    "features_factors_pairs": {"lamp2": 0.485, "lamp3": 0.274, "goqa": 0.755},
    "features_factors_pairs_cot": {"lamp2": 0.492, "lamp3": 0.385, "goqa": 0.735},
    "rpm": {"lamp2": 0.561, "lamp3": 0.259, "lamp5": 0.492, "goqa": 0.852},
}
"""The paper's GPT-4o-mini numbers (primary metric: LaMP-2 accuracy, LaMP-3 MAE, LaMP-5 ROUGE-1, GOQA accuracy)."""

_ARROW = {True: "↑", False: "↓"}
_LOWER_IS_BETTER = {"mae", "rmse"}


class MethodResult(BaseModel):
    """One method on one task: metrics over its predictions, error counts, and cost."""

    task: str
    method: str
    users: int
    queries: int = Field(description="Predictions scored (failed ones included, as wrong answers).")
    errors: int = Field(default=0, description="Predictions whose model call failed (scored as empty answers).")
    invalid: int = Field(default=0, description="Answers that do not fit the task spec (scored as wrong).")
    metrics: dict[str, float]
    primary: str
    higher_is_better: bool
    cost: CostSummary

    @property
    def score(self) -> float | None:
        """The primary metric, if any prediction was scored."""
        return self.metrics.get(self.primary)


class EvalResults(BaseModel):
    """Everything a run measured; ``results.json`` is this model as JSON."""

    schema_version: int = 1
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    model: str
    embedding_model: str = ""
    seed: int = 0
    n_users: int | None = None
    k: int = 4
    structured_output: str | None = None
    prices: Prices = Field(default_factory=Prices)
    tasks: list[str]
    methods: list[str]
    results: list[MethodResult]

    def get(self, task: str, method: str) -> MethodResult | None:
        """The result of ``method`` on ``task``."""
        return next((r for r in self.results if r.task == task and r.method == method), None)

    def method_cost(self, method: str) -> CostSummary:
        """``method``'s cost summed over all tasks."""
        return sum((r.cost for r in self.results if r.method == method), CostSummary())

    def to_markdown(self) -> str:
        """The report: the main table, the cost per task, and the paper's reference numbers."""
        columns = [(t, m) for t in self.tasks for m in self._metric_names(t)]
        head = ["method", *(f"{t} {m} {_ARROW[m not in _LOWER_IS_BETTER]}" for t, m in columns)]
        head += ["$/user build", "$/query", "calls/query", "s/query"]
        lines = [
            f"Model `{self.model}`, embeddings `{self.embedding_model}`, k={self.k}, seed={self.seed}; prices "
            f"${self.prices.input_per_million:g} / ${self.prices.output_per_million:g} per 1M input / output tokens.",
            "",
            _row(head),
            _row(["---"] * len(head)),
        ]
        for method in self.methods:
            cells = [method]
            for task, metric in columns:
                result = self.get(task, method)
                value = result.metrics.get(metric) if result else None
                cells.append("–" if value is None else f"{value:.3f}")
            cost = self.method_cost(method)
            cells += [
                _dollars(cost.dollars_per_build),
                _dollars(cost.dollars_per_query),
                f"{cost.calls_per_query:.1f}",
                f"{cost.seconds_per_query:.2f}",
            ]
            lines.append(_row(cells))
        lines += [
            "",
            "**Cost per task** (users built / queries; $ per user build / $ per query; calls per build / query)",
            "",
        ]
        lines += [_row(["method", *self.tasks]), _row(["---"] * (len(self.tasks) + 1))]
        for method in self.methods:
            cells = [method]
            for task in self.tasks:
                r = self.get(task, method)
                cells.append(
                    "–"
                    if r is None
                    else f"{r.cost.builds}/{r.cost.queries}; {_dollars(r.cost.dollars_per_build)} / "
                    f"{_dollars(r.cost.dollars_per_query)}; {r.cost.calls_per_build:.1f} / {r.cost.calls_per_query:.1f}"
                )
            lines.append(_row(cells))
        problems = [r for r in self.results if r.errors or r.invalid]
        if problems:
            lines += [
                "",
                "**Failed or invalid answers** (scored as wrong): "
                + ", ".join(f"{r.task}/{r.method} {r.errors} failed, {r.invalid} invalid" for r in problems),
            ]
        lines += ["", "**Paper, GPT-4o-mini** (primary metric; arXiv 2505.21082)", ""]
        lines += [_row(["method", *self.tasks]), _row(["---"] * (len(self.tasks) + 1))]
        for method, scores in PAPER_RESULTS.items():
            lines.append(_row([method, *(f"{scores[t]:.3f}" if t in scores else "–" for t in self.tasks)]))
        lines.append(
            f"\nPaper cost for RPM: ${PAPER_COST['dollars_per_build']} per user build, "
            f"${PAPER_COST['dollars_per_query']} per query."
        )
        return "\n".join(lines) + "\n"

    def _metric_names(self, task: str) -> list[str]:
        names: list[str] = []
        for r in self.results:
            if r.task == task:
                names += [m for m in r.metrics if m not in names]
        return names


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _dollars(value: float) -> str:
    return f"${value:.4f}" if value >= 0.0001 or value == 0 else f"${value:.2e}"


def _figure(panels: int) -> tuple[Any, Any]:
    """A pyplot-free Agg figure (no global backend switch, safe in threads and notebooks) and its axes row."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'langchain-rpm[eval]'") from exc
    fig = Figure(figsize=(4.2 * panels, 4.2))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, panels, squeeze=False)[0]


def plot_metric_by_method(results: EvalResults, path: str | Path) -> Path:
    """Bar chart of the primary metric per method, one panel per task; returns the PNG path."""
    fig, axes = _figure(len(results.tasks))
    for ax, task in zip(axes, results.tasks, strict=True):
        rows = [r for m in results.methods if (r := results.get(task, m)) is not None and r.score is not None]
        colors = ["tab:red" if r.method == "rpm" else "tab:blue" for r in rows]
        ax.bar(range(len(rows)), [r.score for r in rows], color=colors)
        ax.set_xticks(range(len(rows)), [r.method for r in rows], rotation=60, ha="right", fontsize=8)
        if rows:
            ax.set_ylabel(f"{rows[0].primary} ({'higher' if rows[0].higher_is_better else 'lower'} is better)")
        ax.set_title(task)
    fig.suptitle(f"Primary metric per method — {results.model}")
    fig.tight_layout()
    return _save(fig, path)


def plot_metric_vs_cost(results: EvalResults, path: str | Path) -> Path:
    """Scatter of the primary metric against total $ per query (builds amortized), per task."""
    fig, axes = _figure(len(results.tasks))
    for ax, task in zip(axes, results.tasks, strict=True):
        rows = [r for m in results.methods if (r := results.get(task, m)) is not None and r.score is not None]
        points: dict[tuple[float, float], list[str]] = {}  # methods at (almost) the same point share a label
        span = max((r.cost.dollars_per_query_amortized for r in rows), default=0.0) or 1.0
        scores = [float(r.score or 0.0) for r in rows]
        y_span = (max(scores) - min(scores)) if scores else 0.0
        for r in rows:
            x, y = r.cost.dollars_per_query_amortized, float(r.score or 0.0)
            ax.scatter([x], [y], color="tab:red" if r.method == "rpm" else "tab:blue")
            key = next((p for p in points if abs(p[0] - x) < 0.03 * span and abs(p[1] - y) <= 0.03 * y_span), (x, y))
            points.setdefault(key, []).append(r.method)
        for (x, y), names in points.items():
            ax.annotate("\n".join(names), (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points", va="top")
        ax.margins(x=0.35, y=0.15)
        ax.set_xlabel("$ per query, builds amortized")
        if rows:
            ax.set_ylabel(rows[0].primary)
        ax.set_title(task)
    fig.suptitle(f"Metric vs cost — {results.model}")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png", dpi=110)
    return target


def summarize(
    ledger: Ledger,
    datasets: Mapping[str, Sequence[EvalUser]],
    methods: Mapping[str, Sequence[str]],
    settings: Mapping[str, Any],
    prices: Prices,
) -> EvalResults:
    """Score the ledger's predictions of ``datasets``' users and sum their costs into :class:`EvalResults`.

    ``methods`` lists the method names per task; ``settings`` are the run's recorded settings.
    """
    rows = []
    for task, users in datasets.items():
        spec = get_task(task)
        primary, higher = primary_metric(spec)
        for method in methods[task]:
            preds, golds, options, spends, builds = [], [], [], [], []
            errors = invalid = 0
            for user in users:
                build = ledger.get("build", task, method, user.user_id)
                if build is not None:
                    builds.append(build.spend)
                for query in user.queries:
                    record = ledger.get("prediction", task, method, user.user_id, query.id)
                    if record is None:
                        continue
                    preds.append(record.prediction)
                    golds.append(query.gold)
                    options.append(query.options)
                    spends.append(record.spend)
                    errors += record.error is not None
                    invalid += not spec.check(record.prediction, query.options).valid
            rows.append(
                MethodResult(
                    task=task,
                    method=method,
                    users=len(users),
                    queries=len(preds),
                    errors=errors,
                    invalid=invalid,
                    metrics=compute_metrics(spec, preds, golds, options) if preds else {},
                    primary=primary,
                    higher_is_better=higher,
                    cost=summarize_costs(builds, spends, prices),
                )
            )
    return EvalResults(
        created_at=datetime.now(UTC),
        model=str(settings["model"]),
        embedding_model=str(settings["embedding_model"]),
        seed=int(settings["seed"]),
        n_users=settings["n_users"],
        k=int(settings["k"]),
        structured_output=settings["structured_output"],
        prices=prices,
        tasks=list(datasets),
        methods=list(dict.fromkeys(m for names in methods.values() for m in names)),
        results=rows,
    )


def write_report(results: EvalResults, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and both plots into ``out_dir``; returns their paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md"}
    paths["json"].write_text(results.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text("# RPM evaluation\n\n" + results.to_markdown(), encoding="utf-8")
    paths["metric_by_method"] = plot_metric_by_method(results, out / "metric_by_method.png")
    paths["metric_vs_cost"] = plot_metric_vs_cost(results, out / "metric_vs_cost.png")
    return paths
