"""The ``rpm`` command line: build profiles, ask personalized questions, inspect, update, forget, demo.

Run ``rpm --help`` or ``rpm COMMAND --help``. The chat model comes from flags and environment
(see :mod:`langchain_rpm.cli.model_choice`): with no API key and no base URL the embedded local LLM is
started for the duration of the command and always stopped on exit.

Example:
    >>> build_parser().parse_args(["ask", "ada", "A robot in love?"]).command
    'ask'
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console

from langchain_rpm.cli.cache import SQLiteCache
from langchain_rpm.cli.files import read_interactions
from langchain_rpm.cli.model_choice import choose_chat_model
from langchain_rpm.cli.render import BuildProgress, factor_table, prediction_table, print_example, print_prediction
from langchain_rpm.errors import RPMError, UnknownUserError
from langchain_rpm.rpm import RPM
from langchain_rpm.store import DEFAULT_STORE_PATH, RPMStore
from langchain_rpm.tasks import TaskSpec, get_task
from langchain_rpm.types import HistoryItem, UserProfile

STDERR = Console(stderr=True, highlight=False)
"""Progress, status and errors go to stderr, so ``--json`` output on stdout stays parseable."""

EXPECTED_ERRORS = (RPMError, FileNotFoundError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``rpm``."""
    parser = argparse.ArgumentParser(prog="rpm", description="Reasoning-level personalization (RPM) for any LLM.")
    parser.add_argument(
        "--store", type=Path, default=None, help=f"embedded store folder (default {DEFAULT_STORE_PATH})"
    )
    parser.add_argument("--chroma-host", help="use a Chroma server at this host instead of the embedded store")
    parser.add_argument("--chroma-port", type=int, default=8000, help="Chroma server port (default 8000)")
    parser.add_argument("--task", help="lamp2 | lamp3 | lamp5 | goqa (default: the user's profile, else lamp2)")
    parser.add_argument("--labels", help="comma-separated labels: a custom classification task")
    parser.add_argument("--model", help="chat model name (default gpt-4o-mini, or $RPM_MODEL)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL)")
    parser.add_argument("--local", action="store_true", help="force the embedded local LLM (SmolLM2 via llama.cpp)")
    parser.add_argument(
        "--structured-output", choices=["json_schema", "function_calling", "json_mode"], help="structured-output method"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="most LLM calls in flight (default 8)")
    parser.add_argument("--k", type=int, default=4, help="examples retrieved per query (default 4)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--no-cache", action="store_true", help="do not cache LLM replies in the store folder")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="build profiles from a JSON/JSONL file or LaMP files")
    build.add_argument("file", nargs="?", type=Path, help="rows of {user_id, input, response[, id, options]}")
    build.add_argument(
        "--lamp", nargs=2, type=Path, metavar=("QUESTIONS", "OUTPUTS"), help="LaMP question + gold files"
    )
    ask = commands.add_parser("ask", help="a personalized answer for a user and a query")
    ask.add_argument("user")
    ask.add_argument("query")
    ask.add_argument("--options", nargs="+", help="the query's options (multiple choice)")
    ask.add_argument("--explain", action="store_true", help="show the factors and examples used")
    inspect = commands.add_parser("inspect", help="a user's factors and statistics")
    inspect.add_argument("user")
    add = commands.add_parser("add", help="add new interactions from a file, updating the profiles")
    add.add_argument("file", type=Path)
    commands.add_parser("users", help="list users with a profile")
    forget = commands.add_parser("forget", help="delete a user's examples and profile")
    forget.add_argument("user")
    demo = commands.add_parser("demo", help="build demo users, then personalize held-out queries")
    demo.add_argument("--demo-task", default="lamp2", choices=["lamp2", "lamp3", "lamp5", "goqa"])
    demo.add_argument("--users", type=int, default=2, help="demo users to build (default 2)")
    try:
        from langchain_rpm.evaluation.cli import add_eval_parser
    except ImportError:  # the eval extra is not installed
        pass
    else:
        add_eval_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rpm``; returns the exit status."""
    from langchain_rpm.cli.local_llm import install_signal_handlers

    install_signal_handlers()
    args = build_parser().parse_args(argv)
    console = Console(stderr=False, highlight=False)
    try:
        if args.command == "eval":
            return _eval(args)
        if args.command in ("users", "forget", "inspect"):
            return _offline_command(args, console)
        return asyncio.run(_model_command(args, console))
    except EXPECTED_ERRORS as exc:
        STDERR.print(f"error: {exc}", markup=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        STDERR.print("interrupted")
        return 130


def _eval(args: argparse.Namespace) -> int:
    """``rpm eval``: the evaluation harness, with the same model choice as every other command."""
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
                local=parsed.local or None,
            )
            parsed.structured_output = choice.method
            STDERR.print(f"[dim]model: {choice.description}[/dim]")
            return choice.llm

        return run_eval(args, model_factory=model)


# -- commands that need no model ---------------------------------------------------------------------------
def _store(args: argparse.Namespace) -> RPMStore:
    """The embedded store (or a Chroma server); the demo keeps its users in their own namespace."""
    namespace = "rpm_demo" if args.command == "demo" else "rpm"
    if args.chroma_host:
        return RPMStore.from_server(args.chroma_host, args.chroma_port, namespace=namespace)
    return RPMStore(args.store, namespace=namespace)


def _task(args: argparse.Namespace, profile: UserProfile | None = None) -> TaskSpec:
    if args.labels:
        labels = [label.strip() for label in args.labels.split(",") if label.strip()]
        return TaskSpec.classification(
            args.task or "custom", labels, instruction="Choose the label this user would give."
        )
    return get_task(args.task or (profile.task if profile else "lamp2"))


def _emit(args: argparse.Namespace, console: Console, data: Any) -> None:
    console.print_json(json.dumps(data, default=str)) if args.json else console.print(data)


def _offline_command(args: argparse.Namespace, console: Console) -> int:
    store = _store(args)
    if args.command == "users":
        users = store.list_users()
        _emit(args, console, users if args.json else "\n".join(users) or "(no users)")
        return 0
    profile = store.get_profile(args.user)
    if profile is None:
        raise UnknownUserError(f"no profile for user {args.user!r} in {args.store or DEFAULT_STORE_PATH}")
    if args.command == "forget":
        removed = store.delete_user(args.user)
        _emit(
            args,
            console,
            {"user": args.user, "examples_removed": removed}
            if args.json
            else f"forgot {args.user!r} ({removed} examples)",
        )
        return 0
    if args.json:
        _emit(args, console, profile.model_dump(mode="json"))
    else:
        console.print(
            f"user {profile.user_id!r}: {profile.num_items} items, task {profile.task}, version {profile.version}, model {profile.model}"
        )
        console.print(factor_table(profile.factors, _task(args, profile)))
    return 0


# -- commands that need the model --------------------------------------------------------------------------
async def _model_command(args: argparse.Namespace, console: Console) -> int:
    store = _store(args)
    histories: dict[str, list[HistoryItem]] = {}
    profile = None
    if args.command in ("build", "add"):
        histories = _read_rows(args)  # parse and validate everything before touching the store
    elif args.command == "ask":
        profile = store.get_profile(args.user)
        if profile is None:
            raise UnknownUserError(f"no profile for user {args.user!r}: run `rpm build` first (users: `rpm users`)")
    if args.command == "add":
        missing = [user for user in histories if store.get_profile(user) is None]
        if missing:
            raise UnknownUserError(f"{args.file}: no profile for user(s) {missing[:5]}: `rpm build` them first")
    with ExitStack() as stack:
        choice = choose_chat_model(
            stack,
            model=args.model,
            base_url=args.base_url,
            method=args.structured_output,
            local=args.local or None,
            cache=None if args.no_cache else SQLiteCache(_state_folder(args) / "llm_cache.sqlite"),
        )
        STDERR.print(f"[dim]model: {choice.description}[/dim]")
        async with AsyncExitStack() as astack:
            checkpointer = await astack.enter_async_context(_checkpointer(args))
            rpm = RPM(
                choice.llm,
                task=get_task(args.demo_task) if args.command == "demo" else _task(args, profile),
                store=store,
                method=choice.method,
                max_concurrency=args.concurrency,
                k=args.k,
                checkpointer=checkpointer,
            )
            if args.command == "ask":
                prediction = await rpm.apersonalize(args.user, args.query, options=args.options)
                if args.json:
                    _emit(args, console, prediction.model_dump(mode="json"))
                else:
                    print_prediction(console, prediction, explain=args.explain)
                return 0
            if args.command == "demo":
                return await _demo(args, rpm, console)
            return await _build_many(args, rpm, histories, console)
    return 0


def _read_rows(args: argparse.Namespace) -> dict[str, list[HistoryItem]]:
    if getattr(args, "lamp", None):
        from langchain_rpm.evaluation.datasets import load_lamp

        return {user.user_id: user.history for user in load_lamp(args.lamp[0], args.lamp[1], _task(args))}
    if args.file is None:
        raise ValueError("give a data file (rows of user_id, input, response) or --lamp QUESTIONS OUTPUTS")
    return read_interactions(args.file, _task(args))


def _state_folder(args: argparse.Namespace) -> Path:
    """Where build checkpoints and the LLM cache live: the store folder (also in Chroma server mode)."""
    folder = Path(args.store or DEFAULT_STORE_PATH)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _checkpointer(args: argparse.Namespace) -> Any:
    """A SQLite checkpointer: an interrupted build resumes where it stopped."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    return AsyncSqliteSaver.from_conn_string(str(_state_folder(args) / "checkpoints.sqlite"))


async def _build_many(
    args: argparse.Namespace, rpm: RPM, histories: dict[str, list[HistoryItem]], console: Console
) -> int:
    """Build (or update, for ``add``) every user with progress bars; report failures."""
    results: dict[str, UserProfile | Exception] = {}
    gate = asyncio.Semaphore(4 * args.concurrency)
    with BuildProgress(STDERR, users=len(histories)) as progress:

        async def one(user_id: str, items: list[HistoryItem]) -> None:
            async with gate:
                try:
                    if args.command == "add":
                        results[user_id] = await rpm.aadd_interactions(user_id, items, on_progress=progress.event)
                    else:
                        results[user_id] = await rpm.abuild_user(user_id, items, on_progress=progress.event)
                except Exception as exc:
                    results[user_id] = exc
                progress.user_done()

        await asyncio.gather(*(one(user, items) for user, items in histories.items()))
    failed = {user: str(r) for user, r in results.items() if isinstance(r, Exception)}
    summary: dict[str, Any] = {
        "users": len(histories),
        "built": len(histories) - len(failed),
        "failed_users": failed,
        "failed_items": {
            user: [f.model_dump() for f in r.failed_items]
            for user, r in results.items()
            if isinstance(r, UserProfile) and r.failed_items
        },
    }
    if args.json:
        _emit(args, console, summary)
    else:
        console.print(f"{summary['built']}/{summary['users']} users {'updated' if args.command == 'add' else 'built'}")
        for user, error in failed.items():
            console.print(f"{user}: {error}", markup=False, style="red")
        for user, items in summary["failed_items"].items():
            failed_ids = "; ".join(i["item_id"] for i in items)
            console.print(f"{user}: {len(items)} item(s) failed: {failed_ids}", markup=False, style="yellow")
    return 1 if failed else 0


async def _demo(args: argparse.Namespace, rpm: RPM, console: Console) -> int:
    """Build demo users, show a profile and a reasoning path, and predict held-out queries."""
    from langchain_rpm.evaluation.datasets import demo_dataset

    users = demo_dataset(args.demo_task)[: args.users]
    console.rule(f"RPM demo: {len(users)} {args.demo_task} users")
    args_for_build = argparse.Namespace(**{**vars(args), "command": "build", "json": False})
    await _build_many(args_for_build, rpm, {u.user_id: u.history for u in users}, console)
    first = rpm.store.get_profile(users[0].user_id)
    if first is not None:
        console.print(factor_table(first.factors, rpm.task, title=f"Factors of {first.user_id}"))
        examples = rpm.store.get_examples(first.user_id)
        if examples:
            console.print("A reasoning path from the history:")
            print_example(console, examples[0])
    rows = []
    for user in users:
        for query in user.queries:
            prediction = await rpm.apersonalize(user.user_id, query.input, options=query.options)
            rows.append((user.user_id, query.input, prediction, query.gold))
    console.print(prediction_table(rows))
    if rows:
        console.print("Why the first answer:")
        console.print(rows[0][2].explain(), markup=False)
    return 0
