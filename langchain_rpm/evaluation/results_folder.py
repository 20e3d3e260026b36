"""A run's results folder: ``results.json``, ``results.md`` and the plots, written from :class:`EvalResults`.

It sits above :mod:`~langchain_rpm.evaluation.report` (the results and their markdown) and
:mod:`~langchain_rpm.evaluation.plots` (the figures), so neither of those imports the other's user.

Example:
    >>> import tempfile
    >>> from langchain_rpm.evaluation.cost import CostSummary
    >>> from langchain_rpm.evaluation.report import EvalResults, MethodResult
    >>> row = MethodResult(task="lamp2", method="rpm", users=1, queries=1, runs=1, metrics={"accuracy": 1.0},
    ...                    primary="accuracy", higher_is_better=True, cost=CostSummary())
    >>> paths = write_report(EvalResults(model="m", tasks=["lamp2"], methods=["rpm"], results=[row]), tempfile.mkdtemp())
    >>> sorted(paths)
    ['json', 'markdown', 'metric_by_method', 'metric_vs_cost']
"""

from __future__ import annotations

from pathlib import Path

from langchain_rpm.evaluation.plots import plot_metric_by_method, plot_metric_vs_cost
from langchain_rpm.evaluation.report import EvalResults

__all__ = ["write_report"]


def write_report(results: EvalResults, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and the plots into ``out_dir``; returns their paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md"}
    paths["json"].write_text(results.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text("# RPM evaluation\n\n" + results.to_markdown(), encoding="utf-8")
    paths["metric_by_method"] = plot_metric_by_method(results, out / "metric_by_method.png")
    paths["metric_vs_cost"] = plot_metric_vs_cost(results, out / "metric_vs_cost.png")
    return paths
