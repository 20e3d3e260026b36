r"""The report's plots (PNG, matplotlib's Agg canvas: no global backend switch, safe in threads and notebooks).

- ``metric_by_method.png``: the primary metric per method, one panel per task; bars are the mean over
  runs with the runs' standard deviation as error bars, black diamonds the paper's number;
- ``metric_vs_cost.png``: the primary metric against total dollars per query (builds amortized).

Example:
    >>> import tempfile, pathlib
    >>> from langchain_rpm.evaluation.cost import CostSummary
    >>> from langchain_rpm.evaluation.report import EvalResults, MethodResult
    >>> row = MethodResult(task="lamp3", method="rpm", users=1, queries=1, metrics={"mae": 0.5},
    ...                    primary="mae", higher_is_better=False, cost=CostSummary())
    >>> results = EvalResults(model="m", tasks=["lamp3"], methods=["rpm"], results=[row])
    >>> path = plot_metric_by_method(results, pathlib.Path(tempfile.mkdtemp()) / "by_method.png")
    >>> path.read_bytes()[:4]
    b'\x89PNG'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_rpm.evaluation.paper import paper_score

if TYPE_CHECKING:
    from langchain_rpm.evaluation.report import EvalResults, MethodResult

__all__ = ["plot_metric_by_method", "plot_metric_vs_cost"]


def _figure(panels: int) -> tuple[Any, Any]:
    """An Agg figure and its row of axes."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'langchain-rpm[eval]'") from exc
    fig = Figure(figsize=(4.6 * panels, 4.4))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, panels, squeeze=False)[0]


def _rows(results: EvalResults, task: str) -> list[MethodResult]:
    return [r for m in results.methods if (r := results.get(task, m)) is not None and r.score is not None]


def _color(method: str) -> str:
    return "tab:red" if method == "rpm" else "tab:blue"


def plot_metric_by_method(results: EvalResults, path: str | Path) -> Path:
    """Bar chart of the primary metric per method (± std over runs), with the paper's values; returns the PNG path."""
    fig, axes = _figure(max(1, len(results.tasks)))
    for ax, task in zip(axes, results.tasks, strict=False):
        rows = _rows(results, task)
        xs = range(len(rows))
        errors = [r.metrics_std.get(r.primary, 0.0) for r in rows]
        ax.bar(xs, [r.score for r in rows], yerr=errors, capsize=3, color=[_color(r.method) for r in rows])
        paper = [(x, paper_score(r.method, task, r.primary)) for x, r in zip(xs, rows, strict=True)]
        marked = [(x, y) for x, y in paper if y is not None]
        if marked:
            ax.scatter(
                [x for x, _ in marked], [y for _, y in marked], marker="D", color="black", zorder=3, label="paper"
            )
            ax.legend(fontsize=7, loc="best")
        ax.set_xticks(list(xs), [r.method for r in rows], rotation=60, ha="right", fontsize=7)
        if rows:
            ax.set_ylabel(f"{rows[0].primary} ({'higher' if rows[0].higher_is_better else 'lower'} is better)")
        ax.set_title(task)
    fig.suptitle(f"Primary metric per method: {results.model} (bars) vs the paper (diamonds)")
    fig.tight_layout()
    return _save(fig, path)


def plot_metric_vs_cost(results: EvalResults, path: str | Path) -> Path:
    """Scatter of the primary metric against total $ per query (builds amortized), per task."""
    fig, axes = _figure(max(1, len(results.tasks)))
    for ax, task in zip(axes, results.tasks, strict=False):
        rows = _rows(results, task)
        points: dict[tuple[float, float], list[str]] = {}  # methods at (almost) the same point share a label
        span = max((r.cost.dollars_per_query_amortized for r in rows), default=0.0) or 1.0
        scores = [float(r.score or 0.0) for r in rows]
        y_span = (max(scores) - min(scores)) if scores else 0.0
        for r in rows:
            x, y = r.cost.dollars_per_query_amortized, float(r.score or 0.0)
            ax.scatter([x], [y], color=_color(r.method))
            key = next((p for p in points if abs(p[0] - x) < 0.03 * span and abs(p[1] - y) <= 0.03 * y_span), (x, y))
            points.setdefault(key, []).append(r.method)
        for (x, y), names in points.items():
            ax.annotate("\n".join(names), (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points", va="top")
        ax.margins(x=0.35, y=0.15)
        ax.set_xlabel("$ per query, builds amortized")
        if rows:
            ax.set_ylabel(rows[0].primary)
        ax.set_title(task)
    fig.suptitle(f"Metric vs cost: {results.model}")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png", dpi=110)
    return target
