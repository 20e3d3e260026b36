r"""Command line of the evaluation harness: ``rpm eval`` (via :func:`add_eval_parser`) or ``python -m langchain_rpm.evaluation``.

Example:
    >>> parser = build_parser()
    >>> args = parser.parse_args(["--tasks", "lamp2,goqa", "--users", "2", "--model", "demo"])
    >>> args.tasks, args.users, args.model
    ('lamp2,goqa', 2, 'demo')

Offline smoke run on the demo data with the deterministic demo model::

    python -m langchain_rpm.evaluation --model demo --out /tmp/rpm-eval

The paper's protocol on the official files, 3 runs (see ``docs/evaluation.md``)::

    rpm eval --protocol paper --preset paper --runs 3 --data ~/data/rpm --model gpt-4o-mini --out runs/paper
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from langchain_rpm.errors import ConfigurationError, DatasetError
from langchain_rpm.evaluation.cost import Prices
from langchain_rpm.evaluation.methods import ALL_METHODS, METHOD_GROUPS
from langchain_rpm.evaluation.sources import PROTOCOLS
from langchain_rpm.settings import PRESETS

if TYPE_CHECKING:
    from langchain_rpm.evaluation.report import EvalResults
    from langchain_rpm.evaluation.sources import TaskData

__all__ = ["add_eval_parser", "build_chat_model", "build_embeddings", "build_parser", "main", "run_eval"]

DEFAULT_TASKS = "lamp2,lamp3,lamp5,goqa"
DEMO_MODEL = "demo"
"""``--model demo``: the offline deterministic stand-in model (numbers measure plumbing only)."""


SHARED_OPTIONS: dict[str, Any] = {
    "concurrency": 8,
    "store": None,
    "model": "gpt-4o-mini",
    "base_url": None,
    "structured_output": None,
}
"""Options a parent CLI may also define globally (``rpm --model X eval``), with their defaults.

``--k`` is not among them: the evaluation runs every method at the paper's K = 3 unless ``eval --k N``
says otherwise (a parent's own default for its other commands does not apply)."""


def _add_arguments(parser: argparse.ArgumentParser, *, inherit: bool = False) -> None:
    """Add every flag; with ``inherit`` the :data:`SHARED_OPTIONS` default to the parent parser's values."""

    def add(*flags: str, **kwargs: Any) -> None:
        dest = flags[0].lstrip("-").replace("-", "_")
        if dest in SHARED_OPTIONS:
            kwargs["default"] = argparse.SUPPRESS if inherit else SHARED_OPTIONS[dest]
        parser.add_argument(*flags, **kwargs)

    add("--tasks", default=DEFAULT_TASKS, help=f"comma-separated tasks (default: {DEFAULT_TASKS})")
    add(
        "--methods",
        default="paper",
        help=f"comma-separated methods or groups {list(METHOD_GROUPS)} (default: paper): " + ", ".join(ALL_METHODS),
    )
    add(
        "--protocol",
        default="lamp",
        choices=list(PROTOCOLS),
        help="'lamp': LaMP's own queries; 'paper': the paper's splits from the official files (default: lamp)",
    )
    add("--preset", default="default", choices=sorted(PRESETS), help="RPM's preset (default: default)")
    add("--runs", type=int, default=1, help="repetitions, seeds SEED..SEED+RUNS-1; mean and std (paper: 3)")
    add("--data", default="demo", help="'demo' (shipped demo data) or a data folder (layout: docs/evaluation.md)")
    add("--split", default="dev", help="LaMP split whose files to read from --data (default: dev)")
    add("--questions", action="append", default=[], metavar="TASK=PATH", help="a task's question file (repeatable)")
    add("--outputs", action="append", default=[], metavar="TASK=PATH", help="a LaMP task's gold file (repeatable)")
    add("--users", type=int, default=None, help="users sampled per task (default: the protocol's; lamp: all)")
    add("--goqa-test", type=int, default=10, help="lamp protocol: held-out questions per GOQA country (default: 10)")
    add("--seed", type=int, default=0, help="seed of user sampling, splits and the first run's random choices")
    add("--concurrency", type=int, help="users worked on at once (default: 8)")
    add("--k", type=int, default=3, help="examples per prompt for every method (default: 3, the paper's K)")
    add(
        "--out",
        default="rpm-eval-results",
        help="results folder; rerunning with it resumes (default: rpm-eval-results)",
    )
    add("--store", help="profile store folder (default: OUT/store)")
    add(
        "--embeddings",
        help="embeddings as 'provider:model' through LangChain's init_embeddings, e.g. "
        "huggingface:facebook/contriever (the paper's retriever; needs `langchain` and the provider's package); "
        "default: the local MiniLM",
    )
    add("--model", help="chat model name, 'provider:model', or 'demo' (default: gpt-4o-mini)")
    add("--base-url", help="OpenAI-compatible server URL (vLLM, Ollama, llama.cpp)")
    add(
        "--structured-output",
        choices=["function_calling", "json_schema", "json_mode"],
        help="structured-output method (local llama.cpp servers need function_calling)",
    )
    add("--price-in", type=float, default=0.15, help="$ per 1M input tokens (default: 0.15, gpt-4o-mini)")
    add("--price-out", type=float, default=0.60, help="$ per 1M output tokens (default: 0.60, gpt-4o-mini)")
    add("--no-progress", action="store_true", help="hide the progress bar")
    add("--fail-fast", action="store_true", help="stop at the first failed call instead of scoring it as wrong")


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``eval`` sub-command to an ``argparse`` subparsers object; its handler is ``args.func``.

    The options a parent parser may define globally (:data:`SHARED_OPTIONS`: ``--model``, ``--base-url``,
    ``--structured-output``, ``--concurrency``, ``--store``) keep the parent's value unless given after
    ``eval``, so ``rpm --model X eval`` and ``rpm eval --model X`` both work. ``--k`` is the evaluation's
    own (default 3): give it after ``eval``.

    Example:
        >>> root = argparse.ArgumentParser(prog="rpm")
        >>> sub = root.add_subparsers(dest="command")
        >>> _ = add_eval_parser(sub)
        >>> root.parse_args(["eval", "--model", "demo"]).func is run_eval
        True
    """
    parser = subparsers.add_parser(
        "eval",
        help="evaluate RPM and baselines on LaMP / GlobalOpinionQA",
        description="Evaluate methods x tasks; writes predictions.jsonl, results.json, results.md and plots.",
    )
    _add_arguments(parser, inherit=True)
    parser.set_defaults(func=run_eval)
    return cast(argparse.ArgumentParser, parser)


def build_parser() -> argparse.ArgumentParser:
    """The standalone parser of ``python -m langchain_rpm.evaluation``."""
    parser = argparse.ArgumentParser(
        prog="python -m langchain_rpm.evaluation",
        description="Evaluate RPM, baselines and ablations on LaMP / GlobalOpinionQA (guide: docs/evaluation.md).",
    )
    _add_arguments(parser)
    return parser


def build_embeddings(spec: str) -> Embeddings:
    """The embeddings ``--embeddings provider:model`` names, through ``langchain.embeddings.init_embeddings``.

    Example:
        >>> build_embeddings("no-provider")
        Traceback (most recent call last):
        ...
        ValueError: --embeddings expects provider:model (e.g. huggingface:facebook/contriever), got 'no-provider'
    """
    if ":" not in spec:
        raise ValueError(f"--embeddings expects provider:model (e.g. huggingface:facebook/contriever), got {spec!r}")
    try:
        from langchain.embeddings import init_embeddings
    except ImportError as exc:
        raise ImportError("--embeddings needs `langchain`: pip install 'langchain-rpm[agents]'") from exc
    try:
        return init_embeddings(spec)
    except (ImportError, ValueError) as exc:  # LangChain's messages span lines; the CLI prints one
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise type(exc)(f"--embeddings {spec}: {first}") from None


def build_chat_model(args: argparse.Namespace) -> BaseChatModel:
    """The chat model ``--model`` / ``--base-url`` ask for, through the package's one resolver.

    With ``--base-url`` the name is a model on that OpenAI-compatible server, colons included
    (``llama3:8b``); without it, :func:`~langchain_rpm.models.resolve_chat_model` reads
    ``provider:model`` names too.
    """
    from langchain_rpm.models import resolve_chat_model

    name = args.model or "gpt-4o-mini"
    if name == DEMO_MODEL:
        from langchain_rpm.testing import demo_chat_model

        return demo_chat_model()
    if args.base_url and not name.startswith("openai:"):
        name = f"openai:{name}"
    return resolve_chat_model(name, base_url=args.base_url or None)


def _per_task(values: Sequence[str], flag: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for value in values:
        task, sep, path = value.partition("=")
        if not sep or not task or not path:
            raise ValueError(f"{flag} expects TASK=PATH, got {value!r}")
        parsed[task.strip().lower()] = path
    return parsed


class _ModelError(RuntimeError):
    pass


def _chat_model(args: argparse.Namespace, factory: Callable[[argparse.Namespace], BaseChatModel]) -> BaseChatModel:
    try:
        return factory(args)
    except Exception as exc:
        raise _ModelError(
            f"could not create the chat model {args.model!r}: {exc}\n(set OPENAI_API_KEY, pass --base-url for a "
            "local OpenAI-compatible server, or use --model demo for an offline dry run)"
        ) from exc


def run_eval(
    args: argparse.Namespace,
    *,
    llm: BaseChatModel | None = None,
    embeddings: Embeddings | None = None,
    model_factory: Callable[[argparse.Namespace], BaseChatModel] | None = None,
) -> int:
    """Run the evaluation ``args`` describe, print the table, and return an exit code.

    Args:
        args: Parsed arguments of :func:`add_eval_parser` / :func:`build_parser`.
        llm: Use this chat model instead of building one (tests).
        embeddings: Use these embeddings instead of the local MiniLM model (tests).
        model_factory: Builds the chat model from ``args`` (default :func:`build_chat_model`); it may
            set ``args.structured_output`` (e.g. ``function_calling`` for a local server), which is read after it.

    Returns:
        0 on success, 1 when every prediction failed, 2 on a usage or data error.
    """
    from langchain_rpm.errors import RunMismatchError
    from langchain_rpm.evaluation.runner import run_evaluation

    for name, default in SHARED_OPTIONS.items():  # a parent CLI may leave them unset (None)
        if getattr(args, name, None) is None and name not in ("model", "base_url"):  # None: the factory's choice
            setattr(args, name, default)
        elif not hasattr(args, name):
            setattr(args, name, None)
    try:
        data = _load_data(args)
        if embeddings is None and getattr(args, "embeddings", None):
            embeddings = build_embeddings(args.embeddings)
        chat = llm if llm is not None else _chat_model(args, model_factory or build_chat_model)
        results = run_evaluation(
            data,
            args.methods,
            chat,
            data=args.data,
            protocol=args.protocol,
            preset=args.preset,
            runs=args.runs,
            n_users=args.users,
            seed=args.seed,
            max_concurrency=args.concurrency,
            results_dir=args.out,
            store_path=args.store,
            embeddings=embeddings,
            prices=Prices(input_per_million=args.price_in, output_per_million=args.price_out),
            k=args.k,
            structured_output=args.structured_output,
            goqa_test=args.goqa_test,
            progress=not args.no_progress,
            fail_fast=args.fail_fast,
        )
    except (
        ConfigurationError,
        DatasetError,
        FileNotFoundError,
        RunMismatchError,
        ValueError,
        ImportError,
        _ModelError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _summary(results, Path(args.out))


def _load_data(args: argparse.Namespace) -> dict[str, TaskData]:
    """Every task's :class:`~langchain_rpm.evaluation.sources.TaskData`, validated file by file."""
    from langchain_rpm.evaluation.sources import load_task

    questions, outputs = _per_task(args.questions, "--questions"), _per_task(args.outputs, "--outputs")
    options = {"protocol": args.protocol, "split": args.split, "n_users": args.users, "seed": args.seed}
    return {
        task: load_task(
            task,
            args.data,
            questions=questions.get(task),
            outputs=outputs.get(task),
            goqa_test=args.goqa_test,
            **options,
        )
        for task in (t.strip() for t in args.tasks.split(",") if t.strip())
    }


def _summary(results: EvalResults, out: Path) -> int:
    """Print the report and what was written; 1 when every prediction failed, else 0."""
    print(results.to_markdown())
    print(f"Wrote {out / 'results.md'}, {out / 'results.json'}, plots and the ledger {out / 'predictions.jsonl'}.")
    scored = sum(r.cost.queries for r in results.results)
    failed = sum(r.errors for r in results.results)
    if failed:
        print(
            f"warning: {failed} of {scored} predictions failed (scored as wrong); rerun to retry them.", file=sys.stderr
        )
    return 1 if scored and failed == scored else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m langchain_rpm.evaluation``."""
    return run_eval(build_parser().parse_args(argv))
