"""The evaluation runner: methods x tasks, concurrent, resumable, with cost accounting and a report.

:func:`arun_evaluation` (or its sync twin :func:`run_evaluation`) loads each task's users, prepares
every (method, user) once and predicts every held-out query, users in parallel under an
``asyncio.Semaphore(max_concurrency)``, with a rich progress bar. Every finished unit is appended as
one JSON line to ``results_dir/predictions.jsonl`` (a :class:`LedgerRecord`, keyed by task, method,
user and query); a restarted run skips what is there, so an interrupted run continues without paying
twice (failed predictions are retried). At the end it writes ``results.json``, ``results.md`` and
the PNG plots (see :mod:`langchain_rpm.evaluation.report`).

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.testing import demo_chat_model
    >>> out = tempfile.mkdtemp()
    >>> results = run_evaluation(["lamp3"], ["zero_shot", "bm25"], demo_chat_model(), results_dir=out,
    ...                          embeddings=DeterministicFakeEmbedding(size=8), progress=False)
    >>> results.get("lamp3", "bm25").queries
    4
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from langchain_rpm.errors import RunMismatchError
from langchain_rpm.evaluation.baselines import resolve_methods
from langchain_rpm.evaluation.cost import Prices, Spend
from langchain_rpm.evaluation.datasets import EvalQuery, EvalUser, demo_dataset, load_goqa, load_lamp, split_users
from langchain_rpm.evaluation.ledger import Ledger, LedgerRecord
from langchain_rpm.evaluation.method import Method, MethodContext, MethodFactory, ProfileBuild
from langchain_rpm.evaluation.report import EvalResults, summarize, write_report
from langchain_rpm.models import model_name, resolve_chat_model
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.store import RPMStore, default_client
from langchain_rpm.tasks import get_task
from langchain_rpm.usage import UsageTracker

__all__ = ["Ledger", "LedgerRecord", "RunMismatchError", "arun_evaluation", "load_task_users", "run_evaluation"]

logger = logging.getLogger(__name__)

LEDGER_FILE = "predictions.jsonl"
RUN_FILE = "run.json"


# -- data -------------------------------------------------------------------------------------------------


def _lamp_candidates(root: Path, task: str, split: str) -> list[tuple[Path, Path]]:
    number = task.removeprefix("lamp")
    return [
        (root / task / f"{split}_questions.json", root / task / f"{split}_outputs.json"),
        (
            root / f"LaMP_{number}" / split / f"{split}_questions.json",
            root / f"LaMP_{number}" / split / f"{split}_outputs.json",
        ),
        (root / f"LaMP_{number}" / f"{split}_questions.json", root / f"LaMP_{number}" / f"{split}_outputs.json"),
        (root / f"{task}_questions.json", root / f"{task}_outputs.json"),
    ]


def load_task_users(
    task: str,
    data: str | os.PathLike[str] = "demo",
    *,
    split: str = "dev",
    questions: str | os.PathLike[str] | None = None,
    outputs: str | os.PathLike[str] | None = None,
    goqa_test: int = 10,
    seed: int = 0,
) -> list[EvalUser]:
    """Load one task's users from the demo data or a data folder (see ``docs/evaluation.md``).

    A LaMP task ``lampN`` is read from ``questions``/``outputs`` when given, else from the first
    pair that exists of ``DATA/lampN/{split}_questions.json`` (+ ``_outputs``),
    ``DATA/LaMP_N/{split}/{split}_questions.json`` (the download layout),
    ``DATA/LaMP_N/{split}_questions.json`` and ``DATA/lampN_questions.json`` (+ ``lampN_outputs.json``).
    GlobalOpinionQA is ``questions`` or ``DATA/goqa.json``; ``goqa_test`` questions per country are
    held out (seeded).

    Example:
        >>> len(load_task_users("lamp2"))
        4
    """
    name = get_task(task).name
    if str(data) == "demo" and questions is None:
        return demo_dataset(name)
    root = Path(data)
    if name == "goqa":
        path = Path(questions) if questions is not None else root / "goqa.json"
        if not path.exists():
            raise FileNotFoundError(f"GlobalOpinionQA file not found: {path} (pass --questions goqa=PATH)")
        return split_users(load_goqa(path), n_test=goqa_test, seed=seed)
    if name not in ("lamp2", "lamp3", "lamp5"):
        raise ValueError(f"no loader for task {name!r}; pass its users as a mapping instead")
    if questions is not None or outputs is not None:
        if questions is None or outputs is None:
            raise ValueError(f"{name}: give both a questions and an outputs file")
        return load_lamp(questions, outputs, name)
    candidates = _lamp_candidates(root, name, split)
    for q_path, o_path in candidates:
        if q_path.exists() and o_path.exists():
            return load_lamp(q_path, o_path, name)
    tried = "\n  ".join(f"{q} + {o.name}" for q, o in candidates)
    raise FileNotFoundError(f"{name}: no question/output files under {root}; looked for:\n  {tried}")


# -- the run ----------------------------------------------------------------------------------------------


class _Run:
    def __init__(self, ledger: Ledger, semaphore: asyncio.Semaphore, fail_fast: bool, advance: Any) -> None:
        self.ledger, self.semaphore, self.fail_fast, self.advance = ledger, semaphore, fail_fast, advance

    def _config(self, tracker: UsageTracker, task: str, method: str, user: str) -> RunnableConfig:
        return {"callbacks": [tracker], "tags": ["rpm-eval", method], "metadata": {"task": task, "user": user}}

    async def user(self, task: str, method: Method, user: EvalUser) -> None:
        pending = [q for q in user.queries if not self.ledger.done(task, method.name, user.user_id, q.id)]
        if not pending:
            return
        async with self.semaphore:
            try:
                await self._prepare(task, method, user)
            except Exception as exc:
                if self.fail_fast:
                    raise
                logger.warning("%s/%s: preparing user %s failed: %s", task, method.name, user.user_id, exc)
                for query in pending:
                    self._record(task, method.name, user.user_id, query, "", _describe(exc), Spend())
                return
            for query in pending:
                tracker, start, answer, error = UsageTracker(), time.perf_counter(), "", None
                try:
                    answer = await method.predict(user, query, self._config(tracker, task, method.name, user.user_id))
                except Exception as exc:
                    if self.fail_fast:
                        raise
                    error = _describe(exc)
                    logger.warning("%s/%s: query %s of %s failed: %s", task, method.name, query.id, user.user_id, exc)
                spend = Spend(usage=tracker.usage, seconds=time.perf_counter() - start)
                self._record(task, method.name, user.user_id, query, answer, error, spend)

    async def _prepare(self, task: str, method: Method, user: EvalUser) -> None:
        tracker, start = UsageTracker(), time.perf_counter()
        shared = await method.prepare_user(user, self._config(tracker, task, method.name, user.user_id))
        elapsed = time.perf_counter() - start
        if self.ledger.get("build", task, method.name, user.user_id) is None:
            spend = Spend(usage=tracker.usage, seconds=elapsed)
            if shared is not None:
                spend = Spend(usage=spend.usage + shared.usage, seconds=max(elapsed, shared.seconds))
            self.ledger.append(
                LedgerRecord(kind="build", task=task, method=method.name, user=user.user_id, spend=spend)
            )

    def _record(
        self, task: str, method: str, user: str, query: EvalQuery, answer: str, error: str | None, spend: Spend
    ) -> None:
        record = LedgerRecord(
            kind="prediction",
            task=task,
            method=method,
            user=user,
            query=query.id,
            prediction=answer,
            gold=query.gold,
            error=error,
            spend=spend,
        )
        self.ledger.append(record)
        self.advance(task)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


@contextmanager
def _progress(enabled: bool, totals: dict[str, tuple[int, int]]) -> Iterator[Any]:
    """A rich progress bar per task (``done/total`` predictions); yields ``advance(task)``."""
    if not enabled:
        yield lambda task: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console()
    if console.is_jupyter:
        try:
            import ipywidgets  # noqa: F401  (rich's live view in Jupyter needs it)
        except ImportError:
            console = Console(force_jupyter=False, force_terminal=False, force_interactive=False)  # final bars only
    columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        ids = {task: bar.add_task(task, total=total, completed=done) for task, (done, total) in totals.items()}
        yield lambda task: bar.advance(ids[task])


def _check_run(results_dir: Path, settings: dict[str, Any]) -> None:
    path = results_dir / RUN_FILE
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        changed = {k: (stored.get(k), v) for k, v in settings.items() if stored.get(k) != v}
        if changed:
            what = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise RunMismatchError(
                f"{results_dir} holds a run with other settings ({what}); resume with the same settings, "
                "or use another results_dir"
            )
    results_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


async def arun_evaluation(
    tasks: Sequence[str] | Mapping[str, Sequence[EvalUser]],
    methods: Sequence[str | MethodFactory] | str | None = None,
    llm: BaseChatModel | str | None = None,
    *,
    data: str | os.PathLike[str] | None = None,
    n_users: int | None = None,
    seed: int = 0,
    max_concurrency: int = 8,
    results_dir: str | os.PathLike[str] = "rpm-eval",
    store_path: str | os.PathLike[str] | None = None,
    embeddings: Embeddings | None = None,
    prices: Prices | None = None,
    k: int = 4,
    structured_output: str | None = None,
    max_retries: int = 2,
    goqa_test: int = 10,
    progress: bool = True,
    fail_fast: bool = False,
) -> EvalResults:
    """Evaluate ``methods`` on ``tasks`` with ``llm`` and write the report to ``results_dir``.

    Args:
        tasks: Task names (``lamp2``, ``lamp3``, ``lamp5``, ``goqa``) loaded from ``data``, or a
            mapping ``{task_name: users}`` of ready :class:`EvalUser` lists.
        methods: Method names (see :data:`~langchain_rpm.evaluation.baselines.METHODS`), custom
            factories, or ``None`` for all.
        llm: A chat model or a model name (default ``gpt-4o-mini``).
        data: ``"demo"`` (the shipped demo data, the default) or a data folder (see :func:`load_task_users`);
            with a mapping of users it is only recorded as the data's name.
        n_users: Users sampled per task (seeded); ``None`` keeps all.
        seed: Seeds user sampling, GOQA held-out questions and ``random_k``.
        max_concurrency: Users worked on at once (and LLM calls in flight inside one profile build).
        results_dir: Where the ledger, ``results.json``, ``results.md`` and plots go.
        store_path: The embedded Chroma store for profiles (default ``results_dir/store``).
        embeddings: Embeddings of the store and of ``dense`` (default: local MiniLM).
        prices: Token prices for the dollar columns (default gpt-4o-mini).
        k: Examples per prompt for every retrieval method and RPM.
        structured_output: ``json_schema``, ``function_calling`` or ``json_mode`` (``None``: provider default).
        max_retries: Retries of replies that fail the output schema.
        goqa_test: Held-out questions per country for GlobalOpinionQA files (not the demo).
        progress: Show a progress bar.
        fail_fast: Raise the first error instead of recording it as a failed (wrong) prediction.

    Raises:
        RunMismatchError: ``results_dir`` holds a run made with other settings.
    """
    chat = resolve_chat_model(llm)
    factories = resolve_methods(methods)
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    if isinstance(tasks, Mapping):
        loaded = {get_task(name).name: list(users) for name, users in tasks.items()}
    else:
        source = "demo" if data is None else data
        loaded = {get_task(t).name: load_task_users(t, source, goqa_test=goqa_test, seed=seed) for t in tasks}
    datasets = {
        name: split_users(users, n_users=n_users, n_test=goqa_test, seed=seed) for name, users in loaded.items()
    }
    if not datasets:
        raise ValueError("no tasks given")
    out = Path(results_dir)
    if embeddings is None:
        from langchain_rpm.embeddings import default_embeddings

        embeddings = default_embeddings()
    settings = {
        "model": model_name(chat),
        "embedding_model": _embedding_name(embeddings),
        "data": str(data) if data is not None else ("custom" if isinstance(tasks, Mapping) else "demo"),
        "n_users": n_users,
        "seed": seed,
        "k": k,
        "structured_output": structured_output,
        "goqa_test": goqa_test,
        "prompt_version": PROMPT_VERSION,
    }
    _check_run(out, settings)
    ledger = Ledger(out / LEDGER_FILE)
    client = default_client(Path(store_path) if store_path is not None else out / "store")

    def on_profile(task: str) -> Any:
        def record(user: str, build: ProfileBuild) -> None:
            ledger.append(LedgerRecord(kind="profile", task=task, user=user, digest=build.digest, spend=build.spend))

        return record

    plans: dict[str, list[Method]] = {}
    for task in datasets:
        store = RPMStore(client=client, embeddings=embeddings, namespace=f"eval_{task}")
        ctx = MethodContext(
            chat,
            get_task(task),
            store,
            k=k,
            seed=seed,
            structured_output=structured_output,
            max_retries=max_retries,
            max_concurrency=max_concurrency,
            known_profiles=ledger.profiles(task),
            on_profile_built=on_profile(task),
        )
        plans[task] = [factory(ctx) for factory in factories.values()]
        names = [m.name for m in plans[task]]
        if len(set(names)) != len(names):
            raise ValueError(f"method names must be unique, got {names}")

    totals = {}
    for task, users in datasets.items():
        keys = [(m.name, u.user_id, q.id) for m in plans[task] for u in users for q in u.queries]
        totals[task] = (sum(ledger.done(task, *key) for key in keys), len(keys))
    with _progress(progress, totals) as advance:
        run = _Run(ledger, asyncio.Semaphore(max_concurrency), fail_fast, advance)
        jobs = [run.user(task, m, u) for task, users in datasets.items() for u in users for m in plans[task]]
        await asyncio.gather(*jobs)

    method_names = {task: [m.name for m in plan] for task, plan in plans.items()}
    results = summarize(ledger, datasets, method_names, settings, prices or Prices())
    write_report(results, out)
    return results


def _embedding_name(embeddings: Embeddings) -> str:
    for attr in ("model_name", "model"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(embeddings).__name__


def run_evaluation(*args: Any, **kwargs: Any) -> EvalResults:
    """Sync twin of :func:`arun_evaluation` (same arguments); in a running event loop (Jupyter) it runs in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(arun_evaluation(*args, **kwargs))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, arun_evaluation(*args, **kwargs)).result()
