"""``rpm build`` and ``rpm add``: check every row and decide what each user needs, then build with the model.

:func:`prepare` does everything that needs no model (read and check the rows against each user's
task, compare them with what is stored, refuse what cannot be done), so a bad file never starts a
model; :func:`run_jobs` then builds (or updates) the users under one concurrency bound, and
:func:`summarize` reports built users, failed users and failed items (with their reasons).

Rebuilding a user who has a profile:

- the file holds every stored item (and maybe more): the user is rebuilt from the file;
- the file lacks some stored items: refused, unless ``--replace`` (rebuild from the file alone,
  dropping them) or ``--merge`` (keep the stored items, add the file's new rows; as ``rpm add``).

Example:
    >>> from langchain_rpm.tasks import LAMP3
    >>> from langchain_rpm.types import HistoryItem
    >>> job = Job("ada", LAMP3, "build", [HistoryItem(id="1", input="Late.", response="2")])
    >>> job.mode, len(job.items)
    ('build', 1)
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_rpm._history import HistoryChecker
from langchain_rpm.cli._files import check_rows, read_rows
from langchain_rpm.cli._session import StoreAccess
from langchain_rpm.cli._task_choice import DEFAULT_TASK, lamp_task, requested_task, task_for_profile
from langchain_rpm.cli._text import literal, one_line, quoted
from langchain_rpm.errors import ConfigurationError, InputFileError, UnknownUserError
from langchain_rpm.tasks import TaskSpec, get_task
from langchain_rpm.types import HistoryItem, ReasoningExample, UserProfile

Mode = Literal["build", "update"]


@dataclass
class Job:
    """One user's work: a build from ``items``, or an update that adds ``items`` to the stored profile."""

    user_id: str
    task: TaskSpec
    mode: Mode
    items: list[HistoryItem]


@dataclass
class Prepared:
    """Everything decided before the model starts: the jobs, and one note a line for the user."""

    access: StoreAccess
    jobs: list[Job]
    notes: list[str] = field(default_factory=list)


def _input_source(args: argparse.Namespace) -> None:
    if args.command == "build" and args.lamp and args.file:
        raise ConfigurationError(
            f"give either a data file ({args.file}) or --lamp QUESTIONS OUTPUTS, not both: they are two sources"
        )
    if args.command == "build" and not args.lamp and args.file is None:
        raise ConfigurationError("give a data file (rows of user_id, input, response) or --lamp QUESTIONS OUTPUTS")


def _lamp_histories(args: argparse.Namespace, asked: TaskSpec | None) -> tuple[TaskSpec, dict[str, HistoryChecker]]:
    from langchain_rpm.evaluation.datasets import load_lamp

    questions, golds = (Path(p) for p in args.lamp)
    task = asked or lamp_task(golds)
    checkers: dict[str, HistoryChecker] = {}
    for user in load_lamp(questions, golds, task):
        checker = checkers[user.user_id] = HistoryChecker(task)
        for item in user.history:
            checker.add(item, f"{questions}: user {quoted(user.user_id)}, profile item {quoted(item.id)}")
    return task, checkers


def prepare(args: argparse.Namespace) -> Prepared:
    """Read and check the rows, compare them with the store, and plan each user's job (no model)."""
    _input_source(args)
    asked = requested_task(task=args.task, labels=args.labels, task_file=getattr(args, "task_file", None))
    access = StoreAccess(args)
    access.check(writes=True)
    store = access.open(create=False)
    replace = bool(getattr(args, "replace", False))
    if getattr(args, "lamp", None):
        lamp, checkers = _lamp_histories(args, asked)
        asked = lamp
        known = set(store.list_users()) if store is not None else set()
        profiles = {user: store.get_profile(user) for user in checkers if user in known}
        for profile in profiles.values():
            if profile is not None:
                task_for_profile(profile, asked, may_change=replace)
    else:
        rows = read_rows(args.file)
        known = set(store.list_users()) if store is not None else set()
        profiles = {row.user_id: store.get_profile(row.user_id) for row in rows if row.user_id in known}
        if args.command == "add":
            _require_profiles(args.file, [row.user_id for row in rows], profiles)
        default = asked or get_task(DEFAULT_TASK)

        def task_for(user_id: str) -> TaskSpec:
            profile = profiles.get(user_id)
            return default if profile is None else task_for_profile(profile, asked, may_change=replace)

        checkers = check_rows(rows, task_for)
    prepared = Prepared(access, [])
    for user_id, checker in checkers.items():
        profile = profiles.get(user_id)
        stored = store.get_examples(user_id) if profile is not None else []
        job = _plan_user(args, user_id, checker, profile, stored, prepared.notes)
        if job is not None:
            prepared.jobs.append(job)
    return prepared


def _require_profiles(file: Path, users: list[str], profiles: dict[str, UserProfile | None]) -> None:
    missing = list(dict.fromkeys(user for user in users if profiles.get(user) is None))
    if missing:
        names = ", ".join(quoted(user) for user in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise UnknownUserError(f"{file}: no profile for user(s) {names}: `rpm build` them first (then `rpm add`)")


def _same(task: TaskSpec, item: HistoryItem, example: ReasoningExample) -> bool:
    answer = task.check(item.response, item.options).answer
    return (example.input, example.answer, example.options or None) == (item.input, answer, item.options or None)


def _plan_user(
    args: argparse.Namespace,
    user_id: str,
    checker: HistoryChecker,
    profile: UserProfile | None,
    stored: list[ReasoningExample],
    notes: list[str],
) -> Job | None:
    """The job for one user, or ``None`` when there is nothing to do; refuses what would lose items silently."""
    items, task, who = checker.items, checker.task, quoted(user_id)
    if profile is None:
        return Job(user_id, task, "build", items)
    by_id = {example.item_id: example for example in stored}
    missing = sorted(set(by_id) - {item.id for item in items})
    if args.command == "add" or getattr(args, "merge", False):
        new = []
        for item in items:
            example = by_id.get(item.id)
            if example is None:
                new.append(item)
            elif not _same(task, item, example):
                raise InputFileError(
                    f"{checker.where(item.id)}: item id {quoted(item.id)} is already stored for user {who} with "
                    "another input or response: give the row a new id, or rebuild with `rpm build FILE --replace`"
                )
        if len(new) < len(items):
            notes.append(f"user {who}: {len(items) - len(new)} row(s) already stored, skipped")
        return Job(user_id, task, "update", new) if new else None
    if missing and not args.replace:
        raise InputFileError(
            f"user {who} has {len(by_id)} stored items and {args.file or args.lamp[0]} lacks {len(missing)} of them "
            f"(e.g. {quoted(missing[0])}): add --replace to rebuild from this file alone (dropping them), or "
            "--merge to keep them and add the new rows"
        )
    if missing:
        notes.append(f"user {who}: rebuilt from {len(items)} rows; {len(missing)} stored item(s) dropped (--replace)")
    return Job(user_id, task, "build", items)


# -- running -------------------------------------------------------------------------------------------------
RPMFactory = Callable[[TaskSpec, Any], Any]
"""``(task, checkpointer) -> RPM``: the facade for one task group, sharing the model and the store."""


@dataclass
class BatchRun:
    """``rpm build --batch-api``: the ledger, the poll interval, and what each run cost (filled by :func:`run_jobs`)."""

    state: Path
    poll_interval: float
    usage: list[Any] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Batches, lines, online fallbacks and dollars at batch prices (and at list prices), over every run."""
        from langchain_rpm.batch import BatchUsage

        total = BatchUsage()
        for usage in self.usage:
            total = total + usage
        return {**total.model_dump(), "cost_usd": total.dollars(), "list_cost_usd": total.list_dollars()}

    def line(self) -> str:
        """One line: what went through batches and what it cost."""
        s = self.summary()
        return (
            f"batch API: {s['batches']} batch(es), {s['lines']} lines, {s['replayed']} replayed from "
            f"{self.state}, {s['online']} online; cost ${s['cost_usd']:.6f} at batch prices "
            f"(${s['list_cost_usd']:.6f} at list prices)"
        )


async def _run_batched(
    rpm: Any, group: list[Job], batch: BatchRun, on_progress: Callable[[dict[str, Any]], None]
) -> dict[str, UserProfile | Exception]:
    """One task group through the Batch API: its builds, then its updates, each phase one batch for all users."""
    from langchain_rpm.batch import BatchBuilder

    results: dict[str, UserProfile | Exception] = {}
    for mode in ("build", "update"):
        jobs = {job.user_id: job.items for job in group if job.mode == mode}
        if jobs:
            builder = BatchBuilder(rpm, batch.state, poll_interval=batch.poll_interval, on_progress=on_progress)
            results.update(await builder.abuild_users(jobs, mode=mode))
            batch.usage.append(builder.usage)
    return results


async def run_jobs(
    jobs: list[Job],
    make_rpm: RPMFactory,
    checkpointer: Any,
    *,
    users_in_flight: int,
    on_progress: Callable[[dict[str, Any]], None],
    on_user_done: Callable[[], None],
    batch: BatchRun | None = None,
) -> dict[str, UserProfile | Exception]:
    """Build (or update) every job; users of one task share one RPM (and its call bound), task after task.

    With ``batch``, each task group goes through the Batch API (:class:`~langchain_rpm.batch.BatchBuilder`).
    """
    results: dict[str, UserProfile | Exception] = {}
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.task.model_dump_json(), []).append(job)
    for group in groups.values():
        rpm = make_rpm(group[0].task, checkpointer)
        if batch is not None:
            results.update(await _run_batched(rpm, group, batch, on_progress))
            for _ in group:
                on_user_done()
            continue
        gate = asyncio.Semaphore(users_in_flight)

        async def one(job: Job, rpm: Any = rpm, gate: asyncio.Semaphore = gate) -> None:
            async with gate:
                try:
                    if job.mode == "update":
                        results[job.user_id] = await rpm.aadd_interactions(
                            job.user_id, job.items, on_progress=on_progress
                        )
                    else:
                        results[job.user_id] = await rpm.abuild_user(job.user_id, job.items, on_progress=on_progress)
                except Exception as exc:
                    results[job.user_id] = exc
                on_user_done()

        await asyncio.gather(*(one(job) for job in group))
    return results


def summarize(command: str, jobs: list[Job], results: dict[str, UserProfile | Exception]) -> dict[str, Any]:
    """What happened, as JSON-like data: users built, failed users and failed items with their reasons."""
    from langchain_rpm.cli._exits import describe

    failed = {user: describe(result) for user, result in results.items() if isinstance(result, Exception)}
    return {
        "users": len(jobs),
        "built" if command != "add" else "updated": len(jobs) - len(failed),
        "failed_users": failed,
        "failed_items": {
            user: [item.model_dump() for item in result.failed_items]
            for user, result in results.items()
            if isinstance(result, UserProfile) and result.failed_items
        },
    }


def summary_lines(command: str, summary: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """The summary line (stdout), and ``(kind, line)`` for each failed user (error) or item (warning)."""
    verb = "updated" if command == "add" else "built"
    head = f"{summary[verb]}/{summary['users']} users {verb}"
    problems = [
        ("error", message if message.startswith(f"user {quoted(user)}") else f"user {quoted(user)}: {message}")
        for user, message in summary["failed_users"].items()
    ]
    for user, items in summary["failed_items"].items():
        reasons = "; ".join(
            f"{literal(item['item_id'])} ({item['stage']}: {one_line(item['error'], 160)})" for item in items[:5]
        )
        more = f"; and {len(items) - 5} more" if len(items) > 5 else ""
        problems.append(
            (
                "warning",
                f"user {quoted(user)}: {len(items)} item(s) failed and were left out: {reasons}{more} "
                "(run the same command again to retry them)",
            )
        )
    return head, problems
