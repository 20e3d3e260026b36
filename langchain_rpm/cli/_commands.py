"""The commands that run the model: ``rpm build``, ``rpm add``, ``rpm ask`` (``rpm demo`` is in :mod:`.demo`).

Each first does every check that needs no model (rows, profiles, tasks, the store, the model
choice), then prints the line naming the model, starts it (the local server only now), and runs.

Example:
    >>> from langchain_rpm.tasks import LAMP2
    >>> invalid_reason(LAMP2, "a great film", None).startswith("task 'lamp2': 'a great film' is not one of")
    True
"""

from __future__ import annotations

import argparse
from typing import Any

from langchain_rpm._bulk_api import default_users_in_flight
from langchain_rpm.cli._building import BatchRun, Job, prepare, run_jobs, summarize, summary_lines
from langchain_rpm.cli._exits import BAD_INPUT, OK, InvalidAnswer, report
from langchain_rpm.cli._interrupts import run_async
from langchain_rpm.cli._output import Output
from langchain_rpm.cli._progress_lines import build_progress
from langchain_rpm.cli._session import StoreAccess, announcer, model_plan, running_model
from langchain_rpm.cli._task_choice import requested_task, task_for_profile
from langchain_rpm.cli._text import quoted
from langchain_rpm.cli.render import plain_console, print_prediction
from langchain_rpm.errors import ConfigurationError, InvalidAnswerError, UnknownUserError
from langchain_rpm.tasks import TaskKind, TaskSpec
from langchain_rpm.types import Prediction, UserProfile

STDERR = plain_console(stderr=True)


def _rpm_factory(args: argparse.Namespace, store: Any, choice: Any) -> Any:
    from langchain_rpm.rpm import RPM

    def make(task: TaskSpec, checkpointer: Any) -> RPM:
        return RPM(
            choice.llm,
            task=task,
            store=store,
            method=choice.method,
            max_concurrency=args.concurrency,
            k=args.k,
            checkpointer=checkpointer,
        )

    return make


async def _run_builds(
    args: argparse.Namespace,
    access: StoreAccess,
    choice: Any,
    jobs: list[Job],
    *,
    quiet: bool,
    batch: BatchRun | None = None,
) -> tuple[Any, dict[str, UserProfile | Exception]]:
    """Build ``jobs`` with progress (bars on a terminal, lines otherwise, none when ``quiet``); the store, results."""
    store = access.open(create=True)
    async with access.checkpointer() as checkpointer:
        with build_progress(STDERR, users=len(jobs), enabled=not quiet) as progress:
            results = await run_jobs(
                jobs,
                _rpm_factory(args, store, choice),
                checkpointer,
                users_in_flight=default_users_in_flight(args.concurrency),
                on_progress=progress.event,
                on_user_done=progress.user_done,
                batch=batch,
            )
    return store, results


def _batch_run(args: argparse.Namespace, access: StoreAccess, plan: Any) -> BatchRun | None:
    """``--batch-api``'s ledger and poll interval; refused (before anything starts) for a model that cannot batch."""
    if not getattr(args, "batch_api", False):
        return None
    if plan.kind != "openai":
        raise ConfigurationError(
            f"--batch-api needs an OpenAI model (the Batch API), not {plan.description}: give --model NAME "
            "with OPENAI_API_KEY (or --base-url of a server with the files and batches endpoints), or drop --batch-api"
        )
    from langchain_rpm.privacy import BATCH_FILE  # where forget looks for the ledger too

    return BatchRun(args.batch_state or access.state_folder() / BATCH_FILE, args.batch_poll)


def _report_problems(problems: list[tuple[str, str]], as_json: bool) -> None:
    for kind, line in problems:
        report(line, BAD_INPUT, as_json=as_json, kind=kind)


def build(args: argparse.Namespace, out: Output) -> int:
    """``rpm build`` / ``rpm add``: everything is checked first; then each user is built or updated."""
    prepared = prepare(args)
    plan = model_plan(args)
    for note in prepared.notes:
        report(note, as_json=out.json, kind="note")
    if not prepared.jobs:
        out.data({"users": 0, "notes": prepared.notes}) if out.json else out.line("nothing to do: every row is stored")
        return OK
    access = prepared.access
    batch = _batch_run(args, access, plan)
    with running_model(plan, announcer(out.json), cache=access.cache(not args.no_cache)) as choice:
        run = _run_builds(args, access, choice, prepared.jobs, quiet=out.json, batch=batch)
        _store, results = run_async(run)
    summary = summarize(args.command, prepared.jobs, results)
    if batch is not None:
        summary["batch"] = batch.summary()
    head, problems = summary_lines(args.command, summary)
    out.data({**summary, "notes": prepared.notes}) if out.json else out.line(head)
    if batch is not None and not out.json:
        out.line(batch.line())
    _report_problems(problems, out.json)
    return BAD_INPUT if summary["failed_users"] else OK


def invalid_reason(task: TaskSpec, raw_answer: str, options: list[str] | None) -> str:
    """Why ``raw_answer`` does not fit ``task``."""
    try:
        task.normalize(raw_answer, options)
    except InvalidAnswerError as exc:
        return str(exc)
    return f"it does not fit task {task.name!r}"


def _ask_checks(args: argparse.Namespace) -> tuple[StoreAccess, UserProfile, TaskSpec]:
    if not args.query.strip():
        raise ConfigurationError(
            'the query is empty: give the text to answer, e.g. rpm ask ada "A robot falls in love."'
        )
    asked = requested_task(task=args.task, labels=args.labels, task_file=getattr(args, "task_file", None))
    access = StoreAccess(args)
    access.check(writes=not args.no_cache)
    store = access.open(create=False)
    profile = store.get_profile(args.user) if store is not None else None
    if profile is None:
        raise UnknownUserError(
            f"no profile for user {quoted(args.user)} in {access.label}: run `rpm build` first (users: `rpm users`)"
        )
    task = task_for_profile(profile, asked)
    if task.kind is TaskKind.MULTIPLE_CHOICE and not args.options:
        raise ConfigurationError(f"user {quoted(args.user)} has a multiple-choice task: give --options A B ...")
    if task.kind is not TaskKind.MULTIPLE_CHOICE and args.options:
        raise ConfigurationError(
            f"--options is for multiple-choice tasks; user {quoted(args.user)}'s task is {task.name}"
        )
    return access, profile, task


def ask(args: argparse.Namespace, out: Output) -> int:
    """``rpm ask USER QUERY``: the answer (exit 3 when it does not fit the task), ``--explain`` shows why."""
    access, _profile, task = _ask_checks(args)
    plan = model_plan(args)
    with running_model(plan, announcer(out.json), cache=access.cache(not args.no_cache)) as choice:
        store = access.open(create=False)

        async def go() -> Prediction:
            rpm = _rpm_factory(args, store, choice)(task, None)
            return await rpm.apersonalize(args.user, args.query, options=args.options)  # type: ignore[no-any-return]

        prediction = run_async(go())
    if out.json:
        out.data(prediction.model_dump(mode="json"))
    else:
        print_prediction(out.console, prediction, explain=args.explain)
    if not prediction.valid:
        reason = invalid_reason(task, prediction.raw_answer, args.options)
        raise InvalidAnswer(f"the model's answer {prediction.raw_answer!r} does not fit the task: {reason}")
    return OK


def evaluate(args: argparse.Namespace) -> int:
    """``rpm eval``: the evaluation harness, with the same model choice as every other command."""
    from contextlib import ExitStack

    from langchain_rpm.cli._model_choice import choose_chat_model
    from langchain_rpm.evaluation.cli import DEMO_MODEL, build_chat_model, run_eval

    with ExitStack() as stack:

        def model(parsed: argparse.Namespace) -> Any:
            if parsed.model == DEMO_MODEL:  # the harness's offline dry run
                return build_chat_model(parsed)
            choice = choose_chat_model(
                stack,
                model=parsed.model,
                base_url=parsed.base_url,
                method=parsed.structured_output,
                local=parsed.local,
            )
            parsed.structured_output = choice.method
            report(choice.description, as_json=False, kind="model")
            return choice.llm

        return run_eval(args, model_factory=model)
