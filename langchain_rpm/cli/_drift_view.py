"""``rpm refresh USER [--dry-run]``, and the drift part of ``rpm inspect``: the recent window and the monitor's log.

Example:
    >>> from langchain_rpm._drift_types import DriftRecord
    >>> drift_lines([DriftRecord(trigger="update", new_items=2, window=12, unfit_share=0.1,
    ...                          crossed=["Shipping: answers changed (Holm p = 0.004 <= 0.01)"], action="reported")])[1]
    '  update +2 items: window 12, unfit 0.10; Shipping: answers changed (Holm p = 0.004 <= 0.01) -> reported'
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from langchain_rpm._drift_types import DriftRecord
from langchain_rpm.cli._exits import OK
from langchain_rpm.cli._interrupts import run_async
from langchain_rpm.cli._output import Output, stored_profile
from langchain_rpm.cli._session import StoreAccess, announcer, model_plan, running_model
from langchain_rpm.cli._task_choice import requested_task, task_for_profile
from langchain_rpm.cli._text import literal
from langchain_rpm.cli.render import plain
from langchain_rpm.types import UserProfile

SHOWN_RECORDS = 10
"""``rpm inspect`` shows the newest drift records, at most this many (``--json`` has them all)."""


def recent_table(profile: UserProfile) -> Table | None:
    """The recent-window view: each factor's count and answer shares over the newest items (``None``: no view)."""
    recent = profile.recent
    if recent is None or not recent.statistics:
        return None
    since = f" since {recent.since:%Y-%m-%d}" if recent.since else ""
    table = Table(title=plain(f"Recent window: the {recent.items} newest items{since}"))
    for column in ("factor", "items", "answers"):
        table.add_column(column, overflow="fold")
    for name, row in recent.statistics.items():
        shares = "; ".join(
            f"{label} {value:.0%}" if label != "mean" else f"mean {value:.2f}"
            for label, value in row.items()
            if label != "count"
        )
        table.add_row(plain(name), str(int(row.get("count", 0))), plain(shares or "-"))
    return table


def drift_lines(records: Sequence[DriftRecord], limit: int = SHOWN_RECORDS) -> list[str]:
    """The drift monitor's newest decisions, one line each (what was measured, what crossed, what it did)."""
    if not records:
        return []
    lines = [f"Drift monitor ({len(records)} decisions, newest last):"]
    for record in records[-limit:]:
        crossed = "; ".join(record.crossed) or "nothing crossed"
        line = (
            f"  {record.trigger} +{record.new_items} items: window {record.window}, unfit {record.unfit_share:.2f}; "
            f"{crossed} -> {record.action}"
        )
        changes = [f"added {', '.join(record.added_factors)}"] if record.added_factors else []
        changes += [f"retired {', '.join(record.retired_factors)}"] if record.retired_factors else []
        changes += [f"{len(record.rewritten_items)} paths rewritten"] if record.rewritten_items else []
        if record.action in ("incremental", "rebuild"):
            changes.append(f"{record.calls} LLM calls")
        lines.append(literal(line + (f" ({', '.join(changes)})" if changes else "")))
    return lines


def print_drift(out: Output, profile: UserProfile) -> None:
    """The recent window and the drift log of ``rpm inspect`` (nothing when the monitor is off)."""
    table = recent_table(profile)
    if table is not None:
        out.console.print(table)
    for line in drift_lines(profile.drift):
        out.line(line)


def refresh(args: argparse.Namespace, out: Output) -> int:
    """``rpm refresh USER``: re-derive a stale profile paying only for what changed; ``--dry-run``: the plan only."""
    from langchain_rpm.rpm import RPM

    access = StoreAccess(args)
    access.check(writes=not args.dry_run)
    profile = stored_profile(access, access.open(create=False), args.user)
    task = task_for_profile(profile, requested_task(task=args.task, labels=args.labels))
    with running_model(model_plan(args), announcer(out.json), cache=access.cache(not args.no_cache)) as choice:
        store = access.open(create=False)
        rpm = RPM(
            choice.llm,
            task=task,
            store=store,
            preset=profile.preset or "default",
            method=choice.method,
            max_concurrency=args.concurrency,
        )
        plan = rpm.plan_refresh(args.user)
        if not out.json:
            for line in plan.lines():
                out.line(literal(line))
        report: Any = None
        if not args.dry_run and plan.action != "none":
            report = run_async(rpm.arefresh(args.user))
    if out.json:
        out.data({"plan": plan.model_dump(), "calls": report.calls if report else 0, "dry_run": args.dry_run})
    elif report is not None:
        out.line(f"done: {report.calls} LLM calls paid; profile version {report.profile.version}")
    return OK
