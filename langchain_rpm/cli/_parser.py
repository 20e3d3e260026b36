"""The argument parser of ``rpm``: commands, their help, and options that work on either side of the command.

Every shared option (``--store``, ``--task``, ``--model``, ``--json`` ...) is accepted before and
after the command: ``rpm --json ask ada "q"`` and ``rpm ask ada "q" --json`` are the same. A command
line that cannot be run gives one line (:class:`~langchain_rpm.cli._exits.UsageError`), never a
usage dump. This module imports nothing beyond the standard library, so ``rpm --help`` and
``rpm --version`` work even without the ``cli`` extra.

Example:
    >>> args = build_parser().parse_args(["ask", "ada", "A robot in love?", "--json", "--k", "2"])
    >>> args.command, args.json, args.k
    ('ask', True, 2)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from langchain_rpm._version import __version__
from langchain_rpm.cli._exits import EXIT_CODES_HELP, UsageError

PRESET_TASKS = ("lamp2", "lamp3", "lamp5", "goqa")
ROW_FORMAT = (
    "rows: one JSON object a line (.jsonl) or a JSON list (.json):\n"
    '  {"user_id": "ada", "input": "A robot falls in love.", "response": "sci-fi", "id": "m1"}\n'
    '  "id" is optional (default: derived from input and response); "options": ["...", ...] only for\n'
    "  multiple-choice tasks. A bad row stops the command with FILE:LINE and stores nothing."
)
MODEL_ORDER = (
    "model: --local (the bundled SmolLM2); else --model NAME (or $RPM_MODEL): 'provider:model' via "
    "init_chat_model, or an OpenAI model\n(needs OPENAI_API_KEY, or --base-url for an OpenAI-compatible server); "
    "else --base-url / $OPENAI_BASE_URL; else OPENAI_API_KEY\n(gpt-4o-mini); else the bundled local model when "
    "installed. An explicit model is never replaced by another one."
)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (:class:`UsageError`) instead of a usage dump and exit."""

    def error(self, message: str) -> NoReturn:
        """Raise :class:`UsageError` naming the command and where to look."""
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def positive_int(text: str) -> int:
    """An integer >= 1 (``--concurrency``, ``--k``, ``--users``).

    Example:
        >>> positive_int("3")
        3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A number > 0 (``--batch-poll``).

    Example:
        >>> positive_float("0.5")
        0.5
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {value}")
    return value


def store_location(text: str) -> Path | str:
    """A store folder, or a Postgres URL kept as it is (``postgres://`` / ``postgresql://``).

    Example:
        >>> store_location("postgresql://db.example/rpm"), store_location("~/rpm")
        ('postgresql://db.example/rpm', PosixPath('~/rpm'))
    """
    return text if text.startswith(POSTGRES_SCHEMES) else Path(text)


POSTGRES_SCHEMES = ("postgres://", "postgresql://")


def port(text: str) -> int:
    """A TCP port number."""
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (1-65535), got {value}")
    return value


DEFAULT_K = 3
"""Examples per query when ``--k`` is not given: ``RPMSettings().k``, the paper's K (a test pins them equal)."""

SHARED: list[tuple[tuple[str, ...], dict[str, Any], Any]] = [
    (("--store",), {"type": store_location, "metavar": "DIR|URL", "help": "store folder (default $RPM_STORE_PATH or ~/.langchain_rpm/store), or postgresql://... (LangGraph's PostgresStore)"}, None),
    (("--chroma-host",), {"metavar": "HOST", "help": "use a Chroma server (`chroma run`) instead of the embedded store"}, None),
    (("--chroma-port",), {"type": port, "metavar": "PORT", "help": "Chroma server port (default 8000)"}, 8000),
    (("--task",), {"metavar": "TASK", "help": f"{' | '.join(PRESET_TASKS)} (default: the user's stored task, else lamp2); with --labels, the custom task's name"}, None),
    (("--labels",), {"metavar": "A,B,...", "help": "comma-separated labels: a custom classification task"}, None),
    (("--task-file",), {"type": Path, "metavar": "FILE", "help": "a custom task: YAML or JSON with kind, labels/scale, instruction (docs/tasks.md)"}, None),
    (("--model",), {"metavar": "NAME", "help": "chat model: 'provider:model' (init_chat_model) or an OpenAI(-compatible) model name (default $RPM_MODEL, else gpt-4o-mini)"}, None),
    (("--base-url",), {"metavar": "URL", "help": "OpenAI-compatible endpoint: vLLM, Ollama, llama.cpp (default $OPENAI_BASE_URL)"}, None),
    (("--local",), {"action": "store_true", "help": "use the bundled local model (SmolLM2-135M via llama.cpp)"}, False),
    (("--structured-output",), {"choices": ["json_schema", "function_calling", "json_mode"], "help": "structured-output method (default: the provider's; function_calling for --local)"}, None),
    (("--concurrency",), {"type": positive_int, "metavar": "N", "help": "most LLM calls in flight (default 8)"}, 8),
    (("--k",), {"type": positive_int, "metavar": "N", "help": f"examples retrieved per query (default {DEFAULT_K}, the paper's K)"}, DEFAULT_K),
    (("--json",), {"action": "store_true", "help": "print JSON on stdout (errors as JSON on stderr)"}, False),
    (("--no-cache",), {"action": "store_true", "help": "do not cache LLM replies in the store folder"}, False),
]  # fmt: skip
"""``(flags, argparse options, default)`` of the options every command accepts, before or after it."""

EVAL_EXTRA = ("--local",)
"""Shared options ``rpm eval`` does not define itself (its own parser is the evaluation harness's)."""


def _add_shared(parser: argparse.ArgumentParser, *, with_defaults: bool, only: tuple[str, ...] = ()) -> None:
    """Add the shared options; a command's copies leave a value given before the command untouched."""
    group = parser.add_argument_group("options (before or after the command)")
    for flags, options, default in SHARED:
        if only and flags[0] not in only:
            continue
        try:
            group.add_argument(*flags, default=default if with_defaults else argparse.SUPPRESS, **options)
        except argparse.ArgumentError:  # the command defines this option itself (``rpm eval``)
            continue


COMMANDS: dict[str, tuple[str, str]] = {
    "build": (
        "build profiles: features, factors and reasoning paths for every user of a data file (or LaMP files)",
        f"{ROW_FORMAT}\n\n"
        "task: --task/--labels, else each user's stored task, else lamp2 (with --lamp: the gold file's task).\n"
        "A user who already has a profile is rebuilt when the file holds all their stored items; otherwise\n"
        "choose --replace (rebuild from this file alone) or --merge (keep the stored items, add the new rows).\n\n"
        "--batch-api sends every phase (extraction, each clustering step, reasoning) as one OpenAI batch for all\n"
        "users, at batch prices; a killed run started again with the same --batch-state resumes its batches.\n\n"
        "examples:\n  rpm build interactions.jsonl --task lamp2\n  rpm build --lamp questions.json outputs.json --task lamp3\n"
        "  rpm build reviews.jsonl --labels good,bad\n  rpm build answers.jsonl --task-file task.yaml\n  rpm build interactions.jsonl --batch-api --batch-poll 60",
    ),
    "ask": (
        "answer a query the way a user would, from their profile (2 LLM calls)",
        "The user's stored task decides the answer format (a multiple-choice task needs --options).\n"
        "Exit code 3: the model answered, but its answer does not fit the task (printed, marked invalid).\n\n"
        'examples:\n  rpm ask ada "A robot falls in love." --explain\n  rpm ask ada "Which?" --options "yes" "no" --json',
    ),
    "inspect": (
        "show a user's factors and statistics (no model needed)",
        "example:\n  rpm inspect ada\n  rpm inspect ada --json",
    ),
    "add": (
        "add new interactions of users who have a profile (LLM calls only for the new rows)",
        f"{ROW_FORMAT}\n\nEach row is checked against its user's stored task. Rows already stored (same id and\n"
        "content) are skipped; a stored id with other content is refused.\n\nexample:\n  rpm add new.jsonl",
    ),
    "users": ("list the users who have a profile (no model needed)", "example:\n  rpm users\n  rpm users --json"),
    "refresh": (
        "re-derive a stale profile (drifted, older prompts, another model), paying only for what changed",
        "--dry-run prints the plan and its most LLM calls (and tokens) without spending anything (docs/drift.md).\n\n"
        "examples:\n  rpm refresh ada --dry-run\n  rpm refresh ada",
    ),
    "forget": (
        "delete every copy of a user's data: examples, profile, build checkpoints, cached replies (no model needed)",
        "Also deletes the user's lines from the batch ledger (STORE/batch.sqlite, or --batch-state) and compacts\n"
        "every file; the report says what could not be removed here. With --item, only those items go (statistics\n"
        "updated, their text removed the same way).\n\nexample:\n  rpm forget ada\n  rpm forget ada --item 12 --item 31",
    ),
    "export": (
        "write one user (profile, factors, examples with their vectors, provenance) as one JSON document",
        "Moving a user to another store with `rpm import` costs no LLM call.\n\nexample:\n"
        "  rpm export ada -o ada.json\n  rpm export ada --store postgresql://localhost/rpm > ada.json",
    ),
    "import": (
        "store a user written by `rpm export` (no LLM call); a user already stored needs --replace",
        "A malformed file or another format version is one line and stores nothing.\n\nexample:\n"
        "  rpm import ada.json --store postgresql://localhost/rpm",
    ),
    "demo": (
        "build demo users from shipped data, then personalize their held-out queries",
        "The demo users live in their own folder, ~/.langchain_rpm/demo (or --store), apart from your own users;\n"
        "the demo ends with the `rpm --store ...` commands that inspect, ask and forget them.\n\n"
        "example:\n  rpm demo\n  rpm demo --demo-task lamp3 --users 1 --items 4 --local",
    ),
}


def _command(commands: Any, name: str) -> argparse.ArgumentParser:
    summary, epilog = COMMANDS[name]
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _add_commands(commands: Any) -> None:
    build = _command(commands, "build")
    build.add_argument("file", nargs="?", type=Path, help="the data file (.jsonl or .json rows)")
    build.add_argument(
        "--lamp", nargs=2, type=Path, metavar=("QUESTIONS", "OUTPUTS"), help="a LaMP question file and its gold file"
    )
    how = build.add_mutually_exclusive_group()
    how.add_argument("--replace", action="store_true", help="rebuild existing users from this file alone")
    how.add_argument("--merge", action="store_true", help="keep existing users' stored items and add the new rows")
    batch = build.add_argument_group("OpenAI Batch API (half price, results within 24 h; docs/batch.md)")
    batch.add_argument("--batch-api", action="store_true", help="send each build phase as one batch for all users")
    batch.add_argument(
        "--batch-poll", type=positive_float, default=30.0, metavar="SECONDS", help="between two polls (default 30)"
    )
    batch.add_argument(
        "--batch-state",
        type=Path,
        metavar="PATH",
        help="the batch ledger (default STORE/batch.sqlite); rerun to resume",
    )
    ask = _command(commands, "ask")
    ask.add_argument("user", help="the user id")
    ask.add_argument("query", help="the input to answer")
    ask.add_argument("--options", nargs="+", metavar="OPTION", help="the query's options (multiple-choice tasks)")
    ask.add_argument("--explain", action="store_true", help="show the features, factors and examples used")
    _command(commands, "inspect").add_argument("user", help="the user id")
    _command(commands, "add").add_argument("file", type=Path, help="the data file (.jsonl or .json rows)")
    _command(commands, "users")
    refresh = _command(commands, "refresh")
    refresh.add_argument("user", help="the user id")
    refresh.add_argument("--dry-run", action="store_true", help="print the plan and its cost, spend nothing")
    export = _command(commands, "export")
    export.add_argument("user", help="the user id")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the document here (default: stdout)")
    imported = _command(commands, "import")
    imported.add_argument("file", type=Path, help="a file written by `rpm export`")
    imported.add_argument("--replace", action="store_true", help="overwrite the user if the store already has them")
    forget = _command(commands, "forget")
    forget.add_argument("user", help="the user id")
    forget.add_argument(
        "--item", action="append", metavar="ID", help="remove only this history item (repeatable); no model call"
    )
    forget.add_argument("--batch-state", type=Path, metavar="PATH", help="a batch ledger besides STORE/batch.sqlite")
    demo = _command(commands, "demo")
    demo.add_argument("--demo-task", default="lamp2", choices=list(PRESET_TASKS), help="demo data (default lamp2)")
    demo.add_argument("--users", type=positive_int, default=2, metavar="N", help="demo users to build (default 2)")
    demo.add_argument("--items", type=positive_int, default=4, metavar="N", help="history items per user (default 4)")


EVAL_SUMMARY = "evaluate RPM and baselines on LaMP / GlobalOpinionQA (needs the eval extra)"


def build_parser(*, with_eval: bool = True) -> argparse.ArgumentParser:
    """The argument parser of ``rpm``.

    Args:
        with_eval: Attach the evaluation harness's own ``eval`` parser (it imports the harness, which
            takes a second); without it ``eval`` is only listed in the help.
    """
    parser = Parser(
        prog="rpm",
        description="Reasoning-level personalization (RPM, arXiv 2505.21082) for any LLM: build user profiles, "
        "then answer the way each user would.",
        epilog=f"{MODEL_ORDER}\n\n{EXIT_CODES_HELP}.\n\n`rpm COMMAND --help` shows a command's rows, defaults and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rpm (langchain-rpm) {__version__}")
    _add_shared(parser, with_defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    _add_commands(commands)
    for name in COMMANDS:
        _add_shared(commands.choices[name], with_defaults=False)
    if not with_eval:
        commands.add_parser("eval", help=EVAL_SUMMARY)
        return parser
    from langchain_rpm.evaluation.cli import add_eval_parser  # ImportError: the eval extra is missing

    _add_shared(add_eval_parser(commands), with_defaults=False, only=EVAL_EXTRA)
    return parser
