"""Where a query's CPU goes, for ``benchmarks.query``: Chroma's own ``get`` calls and LangChain's two chat-model calls.

Baselines measured beside the query figures, in the same process and store:

- :func:`chroma_gets`: the raw ``collection.get`` calls a query's store read makes (profile + manifest from the
  profiles collection; the examples' embeddings and metadata by id), timed alone: Chroma's own part;
- :func:`model_calls`: the two chat-model calls of a query (extraction, generation) invoked bare, with the same
  messages and config: LangChain's own part of a call plus the fake model's (its responder's CPU excluded);
- :func:`embedding_hop`: the async query embedding's hand-off to a worker thread (its own CPU excluded);
- :func:`store_calls`: Chroma calls counted (not timed) for one query in each situation;
- :class:`Figures`: runs and records the query figures (whole batches, or each query after an untimed step).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from chromadb.api.models.Collection import Collection

from benchmarks.query_ab import CollectorTime
from langchain_rpm._plans import run
from langchain_rpm.personalization import Personalizer
from langchain_rpm.store._records import decode_manifest, manifest_id, profile_id, stored_texts, user_filter
from langchain_rpm.usage import UsageTracker, stage_config, with_tracker


def chroma_gets(rpm: Any, user: str, queries: int) -> dict[str, float]:
    """CPU ms per query of the raw Chroma ``get`` calls a full store read of ``user`` makes."""
    backend = rpm.store.backend
    profiles = run(backend.collection("profiles"))
    examples = run(backend.collection("examples", user, create=False))
    where, wanted = user_filter(user), [profile_id(user), manifest_id(user)]
    include = ["documents", "metadatas"]  # what the store's read asks (JSON in the document before 2026-12)
    ids = decode_manifest(stored_texts(profiles.get(ids=[wanted[1]], where=where, include=include))[wanted[1]])[0]
    out = {}
    for name, get in (
        ("profiles", lambda: profiles.get(ids=wanted, where=where, include=include)),
        ("examples", lambda: examples.get(ids=ids, where=where, include=["embeddings", "metadatas"])),
    ):
        get()
        start = time.process_time()
        for _ in range(queries):
            get()
        out[f"{name}_ms"] = round(1000 * (time.process_time() - start) / queries, 3)
    return out


def model_calls(rpm: Any, recorder: Any, query: str, queries: int) -> dict[str, float]:
    """CPU ms per query of the query's two chat-model calls invoked bare (sync, async), responder CPU excluded."""
    personalizer, config = Personalizer(rpm.components), with_tracker(None, UsageTracker())
    found = personalizer.invoke(user_id="ada", query=query)
    extractor, generator = rpm.components.query_extractor, rpm.components.generator
    request = extractor.coerce({"text": query, "options": None, "factors": found.factors})
    generation = generator.coerce(
        {"user_id": "ada", "query": query, "features": found.features, "factors": found.factors}
        | {"examples": found.examples}
    )
    calls = [
        (extractor.caller_for(request), extractor.prompt(request).to_messages(), "extract"),
        (generator.caller(None), generator.prompt(generation).to_messages(), "generate"),
    ]
    bare = [
        (caller._target, messages, stage_config(config, stage), caller._kwargs) for caller, messages, stage in calls
    ]

    def sync() -> None:
        for _ in range(queries):
            for model, messages, traced, kwargs in bare:
                model.invoke(messages, traced, **kwargs)

    async def many() -> None:
        for _ in range(queries):
            for model, messages, traced, kwargs in bare:
                await model.ainvoke(messages, traced, **kwargs)

    out = {}
    for name, go in (("sync_ms", sync), ("async_ms", lambda: asyncio.run(many()))):
        recorder.cpu = 0.0
        start = time.process_time()
        go()
        out[name] = round(1000 * (time.process_time() - start - recorder.cpu) / queries, 3)
    return out


def embedding_hop(embeddings: Any, texts: list[str], queries: int) -> float:
    """CPU ms per query of ``await embeddings.aembed_query(text)`` beyond the embedding's own (this thread's) CPU."""
    before = embeddings.cpu

    async def many() -> None:
        for i in range(queries):
            await embeddings.aembed_query(texts[i % len(texts)])

    start = time.process_time()
    asyncio.run(many())
    return round(1000 * (time.process_time() - start - (embeddings.cpu - before)) / queries, 3)


@contextlib.contextmanager
def counted_chroma_calls() -> Iterator[Counter[str]]:
    """Counts ``get`` and ``query`` calls on every Chroma collection while the block runs."""
    counts: Counter[str] = Counter()
    originals = {name: getattr(Collection, name) for name in ("get", "query")}

    def counting(name: str) -> Callable[..., Any]:
        def wrapper(self: Collection, *args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return originals[name](self, *args, **kwargs)

        return wrapper

    try:
        for name in originals:
            setattr(Collection, name, counting(name))
        yield counts
    finally:
        for name, original in originals.items():
            setattr(Collection, name, original)


def store_calls(query: Callable[[], Any], before: Callable[[], Any] | None = None) -> int:
    """Chroma calls made by ``query()`` (after an uncounted ``before()``)."""
    if before is not None:
        before()
    with counted_chroma_calls() as counts:
        query()
    return sum(counts.values())


class Figures:
    """Runs and records the query figures: ``(CPU, model and embedding CPU, model calls)`` per query, by name.

    ``batch`` times a run of ``queries`` queries as a whole; ``each_after`` times each query alone after an
    untimed step (another user's write), sync or async. ``medians()`` picks, per figure, the round with the
    median of ours (CPU minus the model's and the embedding's).
    """

    def __init__(self, rpm: Any, recorder: Any, timed: Any, queries: int, texts: list[str]) -> None:
        self.rpm, self.recorder, self.timed, self.queries, self.texts = rpm, recorder, timed, queries, texts
        self.model = rpm.components.llm
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.collector = CollectorTime()  # garbage collections: counted inside the timed spans only (marks)
        self.collector.on = True

    def _mark(self) -> tuple[float, float, float, int, float]:
        return time.process_time(), self.recorder.cpu, self.timed.cpu, self.model.call_count, self.collector.spent

    def _record(self, name: str, spent: list[float]) -> None:
        cpu, model, embedding, calls, collections = (x / self.queries for x in spent)
        self.runs.setdefault(name, []).append(
            {
                "cpu_ms_per_query": round(1000 * cpu, 3),
                "model_ms": round(1000 * model, 3),
                "embedding_ms": round(1000 * embedding, 3),
                "ours_ms": round(1000 * (cpu - model - embedding), 3),
                "calls_per_query": round(calls, 2),
                "gc_ms": round(1000 * collections, 3),  # part of ours: the collector's CPU inside the queries
            }
        )

    def _add(self, spent: list[float], mark: tuple[float, float, float, int, float]) -> None:
        for index, (now, then) in enumerate(zip(self._mark(), mark, strict=True)):
            spent[index] += now - then

    def batch(self, name: str, go: Callable[[], Any]) -> None:
        """Time ``go()`` (all the queries) as a whole."""
        spent = [0.0] * 5
        mark = self._mark()
        go()
        self._add(spent, mark)
        self._record(name, spent)

    def each_after(self, name: str, before: Callable[[], Any], user: str = "ada") -> None:
        """Blocking queries of ``user``, each timed alone after an untimed ``before()``."""
        spent = [0.0] * 5
        for i in range(self.queries):
            before()
            mark = self._mark()
            self.rpm.personalize(user, self.texts[i % len(self.texts)])
            self._add(spent, mark)
        self._record(name, spent)

    def aeach_after(self, name: str, before: Callable[[], Any], user: str = "ada") -> None:
        """Async queries of ``user`` in one ``asyncio.run``, each timed alone after an untimed, awaited ``before()``."""
        spent = [0.0] * 5

        async def go() -> None:
            for i in range(self.queries):
                await before()
                mark = self._mark()
                await self.rpm.apersonalize(user, self.texts[i % len(self.texts)])
                self._add(spent, mark)

        asyncio.run(go())
        self._record(name, spent)

    def medians(self) -> dict[str, Any]:
        """Per figure: the round with the median of ours, and every round's ours."""
        out = {}
        for name, runs in self.runs.items():
            out[name] = sorted(runs, key=lambda r: r["ours_ms"])[len(runs) // 2]
            out[name]["rounds_ours_ms"] = [r["ours_ms"] for r in runs]
        return out


SITUATIONS = (
    ("", "a repeated query"),
    ("other_write_", "after another user's write"),
    ("own_write_", "after the own write"),
)


def issue_figures(c: dict[str, Any], mode: str) -> dict[str, float]:
    """Issue 21's figure per situation: our CPU per query minus the two chat-model calls invoked bare and, async,
    the query embedding's thread hop (the embedding's own CPU is already out of ``ours_ms``), all from this run."""
    bare = c["model_calls_bare"][f"{mode}_ms"] + (c["embedding_hop_ms"] if mode == "async" else 0.0)
    return {label: round(c[f"{prefix}{mode}"]["ours_ms"] - bare, 3) for prefix, label in SITUATIONS}


def issue_row(c: dict[str, Any], mode: str) -> tuple[str, str, str, str, str]:
    """The table row of :func:`issue_figures` (the rows above it keep the model calls' LangChain part in)."""
    figures = issue_figures(c, mode)
    bare = c["model_calls_bare"][f"{mode}_ms"]
    minus = f"the two bare chat-model calls ({bare:.2f} ms)" + (
        f" and the embedding's thread hop ({c['embedding_hop_ms']:.2f} ms)" if mode == "async" else ""
    )
    repeated = figures["a repeated query"]
    return (
        f"**issue 21's figure** ({mode}): our CPU per query beyond the model calls and the query embedding",
        f"{repeated:.2f} ms (a repeated query)",
        "; ".join(f"{label}: {value:.2f} ms" for label, value in list(figures.items())[1:])
        + f" (each row's 'our CPU' above minus {minus}, same run)",
        "",
        f"<= 2 ms: {'met' if repeated <= 2 else '**not met**'} (repeated)",
    )
