r"""Rendering for the ``rpm`` command line: factor tables, predictions, progress bars (rich).

User and model text is printed literally: it goes into rich ``Text`` objects (never parsed as
markup, so ``[red]x[/red]`` or ``[/]`` in a user id or a factor name shows as written), and
characters a terminal would act on (ANSI escapes, other control and format characters) are shown
as escapes (``\x1b``) by :func:`literal`.

Example:
    >>> from langchain_rpm.types import Factor, FactorStatistics
    >>> from langchain_rpm.tasks import LAMP2
    >>> table = factor_table([Factor(name="[/]Setting", statistics=FactorStatistics(support=2, coverage=2,
    ...                       history_size=4, propensity={"sci-fi": 1.0}))], LAMP2)
    >>> table.row_count
    1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from langchain_rpm.cli._text import literal, quoted
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import Factor, FactorStatistics, Prediction, ReasoningExample, UserProfile

STAGE_LABELS = {"extract": "features", "aggregate": "factors", "reason": "reasoning paths", "store": "stored"}


StageCounts = dict[tuple[str, str], tuple[int, int]]
"""Progress per ``(stage, user_id)``: ``(done, total)``."""


def stage_progress(counts: StageCounts, event: dict[str, Any]) -> tuple[str, int, int] | None:
    """Record a progress event in ``counts``; the stage's ``(label, done, total)`` over all users, or ``None``.

    Example:
        >>> counts = {}
        >>> stage_progress(counts, {"stage": "extract", "user_id": "a", "done": 1, "total": 3})
        ('features', 1, 3)
        >>> stage_progress(counts, {"stage": "extract", "user_id": "b", "done": 2, "total": 2})
        ('features', 3, 5)
    """
    stage = event.get("stage", "")
    if stage not in STAGE_LABELS:
        return None
    counts[(stage, event["user_id"])] = (int(event["done"]), int(event["total"]))
    done = sum(d for (s, _), (d, _t) in counts.items() if s == stage)
    total = sum(t for (s, _), (_d, t) in counts.items() if s == stage)
    return STAGE_LABELS[stage], done, total


BATCH_STATUS = {"validating": "submitted"}
"""How a batch's provider status is shown where it differs (the others as they are: in_progress, completed ...)."""


def plain(text: object, style: str = "", *, newlines: bool = False) -> Text:
    """A rich ``Text`` of ``text`` printed literally (no markup, no emoji codes, no control characters)."""
    return Text(literal(text, newlines=newlines), style=style)


def plain_console(*, stderr: bool = False) -> Console:
    """A console that never interprets the strings it prints (markup, emoji codes, highlighting are off)."""
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


def _tendency(stats: FactorStatistics | None) -> str:
    if stats is None:
        return ""
    tendency = ""
    if stats.propensity:
        best = sorted(stats.propensity.items(), key=lambda kv: -kv[1])[:3]
        tendency = ", ".join(f"{label} {p:.0%}" for label, p in best if p > 0)
    if stats.mean_rating is not None:
        tendency += f" (mean {stats.mean_rating:.2f})"
    if stats.influence is not None:
        polarity = stats.polarity or {}
        tendency = f"influenced {stats.influence}/{stats.coverage}, pos {polarity.get('pos', 0):.0%}"
    return tendency.strip()


def factor_table(factors: Sequence[Factor], task: TaskSpec, *, title: str = "Factors") -> Table:
    """A table of factors with support, coverage and the strongest tendencies (``task`` names the answers)."""
    table = Table(title=plain(title), show_lines=False)
    for column in ("factor", "items", "coverage", "tendency", "features"):
        table.add_column(column, overflow="fold")
    for factor in factors:
        stats = factor.statistics
        features = "; ".join(factor.features[:4]) + (" …" if len(factor.features) > 4 else "")
        table.add_row(
            plain(factor.name),
            (
                f"{stats.support} (weighted {stats.weighted_coverage:.1f})"
                if stats.weighted_coverage is not None
                else str(stats.support)
            )
            if stats
            else "-",
            f"{stats.share:.0%}" if stats else "-",
            plain(_tendency(stats)),
            plain(features),
        )
    return table


def profile_summary(profile: UserProfile, task: str) -> Text:
    """One line: the user, items, task (as described by the caller), version and model of a profile."""
    return plain(
        f"user {quoted(profile.user_id)}: {profile.num_items} items, task {task}, "
        f"version {profile.version}, model {profile.model or '?'}"
    )


def print_example(console: Console, example: ReasoningExample) -> None:
    """One reasoning-enhanced example."""
    console.print(Text.assemble(("Example ", "bold"), plain(example.item_id, "bold"), ": ", plain(example.input)))
    console.print(Text("  features: ") + plain("; ".join(f"{f.name} [{f.factor}]" for f in example.features)))
    console.print(Text("  reasoning: ") + plain(example.reasoning, newlines=True))
    console.print(Text("  answer: ") + plain(example.answer, "green"))


def print_prediction(console: Console, prediction: Prediction, *, explain: bool) -> None:
    """The answer (marked when invalid), and with ``explain`` the features, factors and examples behind it."""
    line = plain(prediction.answer, "bold")
    if not prediction.valid:
        line += plain(f" (invalid model answer: {prediction.raw_answer!r})", "red")
    console.print(line)
    if explain:
        console.print(plain(prediction.explain(), newlines=True))


def prediction_table(rows: Sequence[tuple[str, str, Prediction, str]]) -> Table:
    """``(user, query, prediction, truth)`` rows side by side."""
    table = Table(title="Predictions on held-out queries")
    for column in ("user", "query", "predicted", "truth", ""):
        table.add_column(column, overflow="fold")
    for user, query, prediction, truth in rows:
        ok = "✓" if prediction.answer.strip().lower() == truth.strip().lower() else "✗"
        table.add_row(plain(user), plain(query[:80]), plain(prediction.answer), plain(truth), ok)
    return table


class BuildProgress:
    """Rich progress bars fed by RPM's progress events, summed over users."""

    def __init__(self, console: Console, *, users: int, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self._users = self._progress.add_task("users", total=users)
        self._bars: dict[str, Any] = {}
        self._counts: StageCounts = {}
        self._batches: dict[str, int] = {}

    def __enter__(self) -> BuildProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def event(self, event: dict[str, Any]) -> None:
        """Handle one ``{"stage", "user_id", "done", "total"}`` event (or a batch's, see :meth:`batch`)."""
        stage = event.get("stage", "")
        if stage == "batch":
            self.batch(event)
        progress = stage_progress(self._counts, event)
        if progress is None:
            return
        label, done, total = progress
        if stage not in self._bars:
            self._bars[stage] = self._progress.add_task(label, total=total)
        self._progress.update(self._bars[stage], completed=done, total=total)

    def batch(self, event: dict[str, Any]) -> None:
        """One bar per batch: its state (submitted, validating, in_progress, completed, expired, failed ...), lines done.

        Batch events come from the coordinator's threads (rich's progress is thread-safe).
        """
        key = f"batch:{event.get('batch_id') or len(self._batches)}"  # a refused batch has no id
        total = int(event.get("total") or event.get("failed") or 0)
        done = int(event.get("completed") or 0)
        failed = int(event.get("failed") or 0)
        status = BATCH_STATUS.get(str(event.get("status")), str(event.get("status")))
        label = f"batch {self._batches.setdefault(key, len(self._batches) + 1)} {status}"
        label += f" ({failed} failed)" if failed else ""
        if key not in self._bars:
            self._bars[key] = self._progress.add_task(label, total=total or None)
        self._progress.update(self._bars[key], description=label, completed=done, total=total or None)

    def user_done(self) -> None:
        """Advance the users bar."""
        self._progress.advance(self._users)
