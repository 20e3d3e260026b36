"""The evaluation runner: methods x tasks x runs, concurrent, resumable, checked up front, with cost accounting.

:func:`arun_evaluation` (or its sync twin :func:`run_evaluation`):

1. loads each task's users (:func:`~langchain_rpm.evaluation.sources.load_task`, under the ``lamp``
   or the ``paper`` protocol) and validates **every** user of every task before anything is built;
2. compares the run record (settings, data files' digests, users) with the one already in
   ``results_dir`` and refuses on any difference (:mod:`~langchain_rpm.evaluation.manifest`);
3. for each of ``runs`` repetitions (seed ``seed + run``; a store namespace of its own, so every run
   builds its own profiles), prepares every (method, user) once and predicts every held-out query,
   users in parallel under ``max_concurrency``, with a rich progress bar;
4. appends each finished unit to ``results_dir/predictions.jsonl`` (a restarted run skips what is
   there; failed predictions are retried), then writes ``results.json``, ``results.md`` and the plots.

The runner scores the answer strings the methods return; normalising a model's reply to the task's
answer space is the method's job (every built-in method runs it through ``task.check``).

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.testing import demo_chat_model
    >>> out = tempfile.mkdtemp()
    >>> results = run_evaluation(["lamp3"], ["zero_shot", "rag"], demo_chat_model(), results_dir=out,
    ...                          embeddings=DeterministicFakeEmbedding(size=8), progress=False)
    >>> results.get("lamp3", "rag").queries
    4
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from langchain_rpm.evaluation.cost import Prices, Spend
from langchain_rpm.evaluation.datasets import split_users
from langchain_rpm.evaluation.ledger import Ledger, LedgerRecord
from langchain_rpm.evaluation.manifest import RunRecord, TaskRecord, check_and_record
from langchain_rpm.evaluation.method import Method, MethodContext, MethodFactory, ProfileBuild
from langchain_rpm.evaluation.methods import resolve_methods
from langchain_rpm.evaluation.report import EvalResults, TaskSource, summarize
from langchain_rpm.evaluation.results_folder import write_report
from langchain_rpm.evaluation.sources import Protocol, TaskData, load_task
from langchain_rpm.evaluation.users import EvalQuery, EvalUser, users_digest, validate_users
from langchain_rpm.models import model_name, resolve_chat_model
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.prompts.baselines import BASELINE_PROMPT_VERSION
from langchain_rpm.store import RPMStore, default_client
from langchain_rpm.tasks import get_task
from langchain_rpm.usage import UsageTracker

__all__ = ["LEDGER_FILE", "arun_evaluation", "run_evaluation"]

logger = logging.getLogger(__name__)

LEDGER_FILE = "predictions.jsonl"


class _Run:
    """One repetition's work: prepare and predict, recording each finished unit in the ledger."""

    def __init__(self, ledger: Ledger, run: int, semaphore: asyncio.Semaphore, fail_fast: bool, advance: Any) -> None:
        self.ledger, self.run, self.semaphore, self.fail_fast, self.advance = ledger, run, semaphore, fail_fast, advance

    def _config(self, tracker: UsageTracker, task: str, method: str, user: str) -> RunnableConfig:
        metadata = {"task": task, "user": user, "run": self.run}
        return {"callbacks": [tracker], "tags": ["rpm-eval", method], "metadata": metadata}

    async def user(self, task: str, method: Method, user: EvalUser) -> None:
        pending = [q for q in user.queries if not self.ledger.done(task, method.name, user.user_id, q.id, run=self.run)]
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
        if self.ledger.get("build", task, method.name, user.user_id, run=self.run) is None:
            spend = Spend(usage=tracker.usage, seconds=elapsed)
            if shared is not None:
                spend = Spend(usage=spend.usage + shared.usage, seconds=max(elapsed, shared.seconds))
            record = LedgerRecord(kind="build", run=self.run, task=task, method=method.name, user=user.user_id)
            self.ledger.append(record.model_copy(update={"spend": spend}))

    def _record(
        self, task: str, method: str, user: str, query: EvalQuery, answer: str, error: str | None, spend: Spend
    ) -> None:
        record = LedgerRecord(
            kind="prediction",
            run=self.run,
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
    """A rich progress bar per task (``done/total`` predictions over all runs); yields ``advance(task)``."""
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


def _datasets(
    tasks: Sequence[str] | Mapping[str, Sequence[EvalUser] | TaskData], load: dict[str, Any]
) -> dict[str, TaskData]:
    """Every task's users: loaded by name, or given (a list of users is sampled with ``n_users``)."""
    if not isinstance(tasks, Mapping):
        return {get_task(t).name: load_task(get_task(t).name, **load) for t in tasks}
    loaded = {}
    for name, given in tasks.items():
        task = get_task(name).name
        if isinstance(given, TaskData):
            loaded[task] = given
        else:
            users = split_users(list(given), n_users=load["n_users"], n_test=load["goqa_test"], seed=load["seed"])
            loaded[task] = TaskData(task, users, source="custom users")
    return loaded


def _embedding_name(embeddings: Embeddings) -> str:
    for attr in ("model_name", "model"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(embeddings).__name__


async def arun_evaluation(
    tasks: Sequence[str] | Mapping[str, Sequence[EvalUser] | TaskData],
    methods: Sequence[str | MethodFactory] | str | None = None,
    llm: BaseChatModel | str | None = None,
    *,
    data: str | os.PathLike[str] = "demo",
    protocol: Protocol = "lamp",
    preset: str = "default",
    runs: int = 1,
    n_users: int | None = None,
    seed: int = 0,
    max_concurrency: int = 8,
    results_dir: str | os.PathLike[str] = "rpm-eval",
    store_path: str | os.PathLike[str] | None = None,
    embeddings: Embeddings | None = None,
    prices: Prices | None = None,
    k: int = 3,
    structured_output: str | None = None,
    max_retries: int = 2,
    goqa_test: int = 10,
    rpm_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    fail_fast: bool = False,
) -> EvalResults:
    """Evaluate ``methods`` on ``tasks`` with ``llm`` and write the report to ``results_dir``.

    Args:
        tasks: Task names (``lamp2``, ``lamp3``, ``lamp5``, ``goqa``) loaded from ``data``, or a mapping
            ``{task_name: users or TaskData}`` (a plain list of users is sampled with ``n_users``).
        methods: Method or group names (see :mod:`~langchain_rpm.evaluation.methods`; default ``paper``),
            or custom factories.
        llm: A chat model or a model name (default ``gpt-4o-mini``).
        data: ``"demo"`` (the shipped demo data) or a data folder (layout: ``docs/evaluation.md``).
        protocol: ``"lamp"`` (LaMP's own queries) or ``"paper"`` (the paper's splits; needs the official files).
        preset: RPM's preset, ``"default"`` or ``"paper"`` (:mod:`langchain_rpm.settings`).
        runs: Repetitions, each with seed ``seed + run`` and its own profile builds; reports give mean ± std.
        n_users: Users sampled per task (seeded); ``None``: the protocol's count.
        seed: Seeds user sampling and splits (fixed across runs) and the first run's random choices.
        max_concurrency: Users worked on at once (and LLM calls in flight inside one profile build).
        results_dir: Where the run record, the ledger, ``results.json``, ``results.md`` and plots go.
        store_path: The embedded Chroma store for profiles (default ``results_dir/store``).
        embeddings: Embeddings of the store and of the query-key retrievers (default: local MiniLM).
        prices: Token prices for the dollar columns (default gpt-4o-mini).
        k: Examples per prompt for every method (the paper's K = 3).
        structured_output: ``json_schema``, ``function_calling`` or ``json_mode`` (``None``: provider default).
        max_retries: Retries of replies that fail the output schema.
        goqa_test: ``lamp`` protocol: held-out questions per country for GlobalOpinionQA files.
        rpm_options: Extra :class:`~langchain_rpm.settings.RPMSettings` overrides for RPM.
        progress: Show a progress bar.
        fail_fast: Raise the first error instead of recording it as a failed (wrong) prediction.

    Raises:
        DatasetError: a user of any task is unusable (nothing is built then).
        RunMismatchError: ``results_dir`` holds a run made from other data or settings.
    """
    chat = resolve_chat_model(llm)
    factories = resolve_methods(methods)
    if max_concurrency < 1 or runs < 1:
        raise ValueError(f"max_concurrency and runs must be at least 1, got {max_concurrency} and {runs}")
    load = {"data": data, "protocol": protocol, "n_users": n_users, "goqa_test": goqa_test, "seed": seed}
    datasets = _datasets(tasks, load)
    if not datasets:
        raise ValueError("no tasks given")
    for name, task_data in datasets.items():
        validate_users(name, task_data.users)
    if embeddings is None:
        from langchain_rpm.embeddings import default_embeddings

        embeddings = default_embeddings()
    settings: dict[str, Any] = {
        "model": model_name(chat),
        "embedding_model": _embedding_name(embeddings),
        "protocol": protocol,
        "preset": preset,
        "n_users": n_users,
        "seed": seed,
        "k": k,
        "structured_output": structured_output,
        "goqa_test": goqa_test,
        "prompt_version": PROMPT_VERSION,
        "baseline_prompt_version": BASELINE_PROMPT_VERSION,
        "rpm_options": {key: repr(value) for key, value in sorted((rpm_options or {}).items())},
    }  # what the results depend on; run.json keeps it and a resume must match it (manifest.py)
    out = Path(results_dir)
    check_and_record(out, RunRecord(settings=settings, tasks={n: _task_record(d) for n, d in datasets.items()}))
    ledger = Ledger(out / LEDGER_FILE)
    client = default_client(Path(store_path) if store_path is not None else out / "store")
    common: dict[str, Any] = {"k": k, "preset": preset, "structured_output": structured_output}
    common |= {"max_retries": max_retries, "max_concurrency": max_concurrency, "rpm_options": dict(rpm_options or {})}
    plans: dict[tuple[int, str], list[Method]] = {}
    for run in range(runs):
        for task in datasets:
            store = RPMStore(client=client, embeddings=embeddings, namespace=f"eval_{task}_r{run}")
            known: dict[str, Any] = {
                "known_profiles": ledger.profiles(task, run=run),
                "on_profile_built": _recorder(ledger, task, run),
            }
            ctx = MethodContext(chat, get_task(task), store, seed=seed + run, **known, **common)
            plans[run, task] = _methods(factories, ctx)
    totals = {task: _progress_of(ledger, task, d.users, plans, runs) for task, d in datasets.items()}
    semaphore = asyncio.Semaphore(max_concurrency)
    with _progress(progress, totals) as advance:
        for run in range(runs):
            worker = _Run(ledger, run, semaphore, fail_fast, advance)
            jobs = [worker.user(t, m, u) for t, d in datasets.items() for u in d.users for m in plans[run, t]]
            await asyncio.gather(*jobs)
    method_names = {task: [m.name for m in plans[0, task]] for task in datasets}
    users = {task: task_data.users for task, task_data in datasets.items()}
    sources = {task: TaskSource(source=d.source, files=d.files) for task, d in datasets.items()}
    results = summarize(ledger, users, method_names, settings, prices or Prices(), runs=runs, data=sources)
    write_report(results, out)
    return results


def _methods(factories: Mapping[str, MethodFactory], ctx: MethodContext) -> list[Method]:
    methods = [factory(ctx) for factory in factories.values()]
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique, got {names}")
    return methods


def _progress_of(
    ledger: Ledger, task: str, users: Sequence[EvalUser], plans: Mapping[tuple[int, str], list[Method]], runs: int
) -> tuple[int, int]:
    """``(done, total)`` predictions of ``task`` over every run and method."""
    keys = [(r, m.name, u.user_id, q.id) for r in range(runs) for m in plans[r, task] for u in users for q in u.queries]
    return sum(ledger.done(task, m, u, q, run=r) for r, m, u, q in keys), len(keys)


def _task_record(task_data: TaskData) -> TaskRecord:
    queries = sum(len(user.queries) for user in task_data.users)
    return TaskRecord(
        source=task_data.source,
        files=task_data.files,
        users=len(task_data.users),
        queries=queries,
        users_digest=users_digest(task_data.users),
    )


def _recorder(ledger: Ledger, task: str, run: int) -> Callable[[str, ProfileBuild], None]:
    def record(user: str, build: ProfileBuild) -> None:
        ledger.append(
            LedgerRecord(kind="profile", run=run, task=task, user=user, digest=build.digest, spend=build.spend)
        )

    return record


def run_evaluation(*args: Any, **kwargs: Any) -> EvalResults:
    """Sync twin of :func:`arun_evaluation` (same arguments); in a running event loop (Jupyter) it runs in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(arun_evaluation(*args, **kwargs))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, arun_evaluation(*args, **kwargs)).result()
