"""Rendering for the ``rpm`` command line: factor tables, predictions, progress bars (rich).

Example:
    >>> from langchain_rpm.types import Factor, FactorStatistics
    >>> from langchain_rpm.tasks import LAMP2
    >>> table = factor_table([Factor(name="Setting", statistics=FactorStatistics(support=2, coverage=2,
    ...                       history_size=4, propensity={"sci-fi": 1.0}))], LAMP2)
    >>> table.row_count
    1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import Factor, Prediction, ReasoningExample

STAGE_LABELS = {"extract": "features", "aggregate": "factors", "reason": "reasoning paths", "store": "stored"}


def factor_table(factors: Sequence[Factor], task: TaskSpec, *, title: str = "Factors") -> Table:
    """A table of factors with support, coverage and the strongest tendencies."""
    table = Table(title=title, show_lines=False)
    for column in ("factor", "items", "coverage", "tendency", "features"):
        table.add_column(column, overflow="fold")
    for factor in factors:
        stats = factor.statistics
        tendency = ""
        if stats is not None:
            if stats.propensity:
                best = sorted(stats.propensity.items(), key=lambda kv: -kv[1])[:3]
                tendency = ", ".join(f"{label} {p:.0%}" for label, p in best if p > 0)
            if stats.mean_rating is not None:
                tendency += f" (mean {stats.mean_rating:.2f})"
            if stats.influence is not None:
                polarity = stats.polarity or {}
                tendency = f"influenced {stats.influence}/{stats.coverage}, pos {polarity.get('pos', 0):.0%}"
        table.add_row(
            factor.name,
            str(stats.support if stats else "-"),
            f"{stats.share:.0%}" if stats else "-",
            tendency.strip(),
            "; ".join(factor.features[:4]) + (" …" if len(factor.features) > 4 else ""),
        )
    return table


def print_example(console: Console, example: ReasoningExample) -> None:
    """One reasoning-enhanced example."""
    console.print(f"[bold]Example {escape(example.item_id)}[/bold]: {escape(example.input)}")
    console.print("  features: " + escape("; ".join(f"{f.name} [{f.factor}]" for f in example.features)))
    console.print(f"  reasoning: {escape(example.reasoning)}")
    console.print(f"  answer: [green]{escape(example.answer)}[/green]")


def print_prediction(console: Console, prediction: Prediction, *, explain: bool) -> None:
    """The answer, and with ``explain`` the features, factors and examples behind it."""
    mark = "" if prediction.valid else f" [red](invalid model answer: {escape(repr(prediction.raw_answer))})[/red]"
    console.print(f"[bold]{escape(prediction.answer)}[/bold]{mark}")
    if explain:
        console.print(prediction.explain(), markup=False)


def prediction_table(rows: Sequence[tuple[str, str, Prediction, str]]) -> Table:
    """``(user, query, prediction, truth)`` rows side by side."""
    table = Table(title="Predictions on held-out queries")
    for column in ("user", "query", "predicted", "truth", ""):
        table.add_column(column, overflow="fold")
    for user, query, prediction, truth in rows:
        ok = "✓" if prediction.answer.strip().lower() == truth.strip().lower() else "✗"
        table.add_row(user, query[:80], prediction.answer, truth, ok)
    return table


class BuildProgress:
    """Rich progress bars fed by RPM's progress events, summed over users."""

    def __init__(self, console: Console, *, users: int) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._users = self._progress.add_task("users", total=users)
        self._bars: dict[str, Any] = {}
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}

    def __enter__(self) -> BuildProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def event(self, event: dict[str, Any]) -> None:
        """Handle one ``{"stage", "user_id", "done", "total"}`` event."""
        stage = event.get("stage", "")
        if stage not in STAGE_LABELS:
            return
        self._counts[(stage, event["user_id"])] = (int(event["done"]), int(event["total"]))
        done = sum(d for (s, _), (d, _t) in self._counts.items() if s == stage)
        total = sum(t for (s, _), (_d, t) in self._counts.items() if s == stage)
        if stage not in self._bars:
            self._bars[stage] = self._progress.add_task(STAGE_LABELS[stage], total=total)
        self._progress.update(self._bars[stage], completed=done, total=total)

    def user_done(self) -> None:
        """Advance the users bar."""
        self._progress.advance(self._users)
