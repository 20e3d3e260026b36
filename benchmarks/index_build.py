"""What an in-process Chroma ``add`` costs the event loop, and what a cheaper vector index saves and loses.

Run: ``python -m benchmarks.index_build`` (writes ``benchmarks/results/index_build.{json,md}``; ``--help``).

Two measurements, each in fresh embedded folders:

- *The stall*: ``--adds`` adds of ``--size`` records (384 dimensions; metadata as our example records carry,
  about 2 KB of JSON), each from a worker thread as the async store does, while a 1 ms ticker runs on the event
  loop. The ticker's lateness during an add is the time the loop could not run; the thread's own CPU shows
  how little of it is Python. A ``time.sleep`` of the same wall in a worker thread is the baseline: the loop
  keeps running through it.
- *The index*: the same adds into collections made with hnswlib's (``ef_construction``, ``ef_search``) at
  Chroma's defaults (100, 100), ours since round 8 (40, 400: ``store/_handles.EMBEDDED_INDEX``), and the
  cheaper build alone (40, 100), then the filtered top 8 of a user with ``--big`` examples among them
  against exact ranking, and its query time: on clustered vectors (as sentence embeddings are) and on
  uniform random ones (the index's worst case).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import chromadb
import numpy as np

from benchmarks.ingest import _records
from benchmarks.overhead import machine
from langchain_rpm.store._handles import EMBEDDED_INDEX

RESULTS = Path(__file__).parent / "results"
DIMENSION, K = 384, 8
SETTINGS = ((100, 100), (EMBEDDED_INDEX["ef_construction"], EMBEDDED_INDEX["ef_search"]), (40, 100))
"""(ef_construction, ef_search): Chroma's defaults, ours, and our build with Chroma's search."""


def _vectors(n: int, clustered: bool, rng: np.random.Generator) -> np.ndarray:
    if clustered:
        centres = rng.normal(size=(200, DIMENSION))
        vectors = centres[rng.integers(0, 200, n)] + 0.6 * rng.normal(size=(n, DIMENSION))
    else:
        vectors = rng.normal(size=(n, DIMENSION))
    return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def _collection(ef_construction: int, ef_search: int) -> Any:
    client = chromadb.PersistentClient(tempfile.mkdtemp(), settings=chromadb.Settings(anonymized_telemetry=False))
    hnsw = {"space": "cosine", "ef_construction": ef_construction, "ef_search": ef_search}
    return client.create_collection("examples", embedding_function=None, configuration={"hnsw": hnsw})


def _batch(vectors: np.ndarray, start: int, size: int, big: int) -> dict[str, Any]:
    """Records shaped as ours (``benchmarks.ingest``'s users: 20 examples each) with the given vectors."""
    rows = range(start, min(start + size, len(vectors)))
    metadatas = [
        meta for user in range(start // 20, (rows.stop + 19) // 20) for meta in _records(user, 20)["metadatas"]
    ]
    first = start - 20 * (start // 20)
    metadatas = metadatas[first : first + len(rows)]
    for row, meta in zip(rows, metadatas, strict=True):
        meta["user_id"] = "big" if row < big else f"u{row // 20}"
    return {
        "ids": [str(row) for row in rows],
        "embeddings": vectors[start : start + size].tolist(),
        "metadatas": metadatas,
    }


async def _ticked(work: Any) -> tuple[float, float]:
    """(wall, ticker lateness) of ``work`` run in a worker thread, in seconds."""
    late: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            late.append(time.perf_counter() - start - 0.001)

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.01)
    late.clear()
    start = time.perf_counter()
    await asyncio.to_thread(work)
    wall = time.perf_counter() - start
    running = False
    await task
    return wall, sum(late)


def stall(adds: int, size: int) -> list[dict[str, float]]:
    """Per add: its wall, the loop's lateness, the calling thread's CPU; then a sleep of the same wall."""
    vectors = _vectors(adds * size, True, np.random.default_rng(0))
    collection = _collection(*SETTINGS[1])
    rows = []
    for n in range(adds):
        records = _batch(vectors, n * size, size, 0)
        cpu: list[float] = []

        def add(records: dict[str, Any] = records, cpu: list[float] = cpu) -> None:
            start = time.thread_time()
            collection.add(**records)
            cpu.append(time.thread_time() - start)

        wall, late = asyncio.run(_ticked(add))
        _, slept_late = asyncio.run(_ticked(lambda wall=wall: time.sleep(wall)))
        rows.append(
            {
                "stored": n * size,
                "add_wall_ms": round(1000 * wall, 1),
                "thread_cpu_ms": round(1000 * cpu[0], 1),
                "loop_late_ms": round(1000 * late, 1),
                "sleep_loop_late_ms": round(1000 * slept_late, 1),
            }
        )
    return rows


def index(adds: int, size: int, big: int, queries: int) -> list[dict[str, Any]]:
    """Add wall, filtered recall@8 and query time per setting, clustered and uniform vectors."""
    rows = []
    for clustered in (True, False):
        rng = np.random.default_rng(1)
        vectors = _vectors(adds * size, clustered, rng)
        asked = _vectors(queries, clustered, rng)
        truth = [set(np.argsort(-(vectors[:big] @ query))[:K].tolist()) for query in asked]
        for ef_construction, ef_search in SETTINGS:
            collection = _collection(ef_construction, ef_search)
            walls = []
            for n in range(adds):
                records = _batch(vectors, n * size, size, big)
                start = time.perf_counter()
                collection.add(**records)
                walls.append(time.perf_counter() - start)
            recalls = []
            start = time.perf_counter()
            for query, want in zip(asked, truth, strict=True):
                got = collection.query(query_embeddings=[query.tolist()], n_results=K, where={"user_id": "big"})
                recalls.append(len(want & {int(i) for i in got["ids"][0]}) / K)
            rows.append(
                {
                    "vectors": "clustered" if clustered else "uniform",
                    "ef_construction": ef_construction,
                    "ef_search": ef_search,
                    "add_wall_s": round(sum(walls), 2),
                    "query_ms": round(1000 * (time.perf_counter() - start) / queries, 1),
                    "recall_at_8": round(statistics.mean(recalls), 4),
                    "worst_query": min(recalls),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adds", type=int, default=16, help="adds per collection")
    parser.add_argument("--size", type=int, default=1000, help="records per add")
    parser.add_argument("--big", type=int, default=6000, help="examples of the user whose searches are checked")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    info = machine()
    stalls, indexes = stall(args.adds, args.size), index(args.adds, args.size, args.big, args.queries)
    info["load_average_at_end"] = machine()["load_average_at_start"]
    result = {"machine": info, "args": {k: v for k, v in vars(args).items() if k != "out"}}
    result |= {"stall": stalls, "index": indexes}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "index_build.json").write_text(json.dumps(result, indent=2) + "\n")
    base = {
        row["vectors"]: row["add_wall_s"]
        for row in indexes
        if (row["ef_construction"], row["ef_search"]) == SETTINGS[0]
    }
    lines = [
        "# An in-process Chroma add: the event loop's stall, and the vector index's build",
        "",
        f"Command: `python -m benchmarks.index_build --adds {args.adds} --size {args.size} --big {args.big}`;"
        f" load average {info['load_average_at_start']} -> {info['load_average_at_end']}.",
        "",
        "| stored records | add wall ms | calling thread CPU ms | event loop late ms | a sleep of that wall: loop late ms |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {r['stored']} | {r['add_wall_ms']} | {r['thread_cpu_ms']} | {r['loop_late_ms']} | {r['sleep_loop_late_ms']} |"
            for r in stalls
        ),
        "",
        f"| vectors | ef_construction, ef_search | {args.adds} adds, wall s | vs Chroma's defaults"
        f" | filtered recall@8 of a {args.big}-example user | worst query | query ms |",
        "|---|---|---:|---:|---:|---:|---:|",
        *(
            f"| {r['vectors']} | {r['ef_construction']}, {r['ef_search']} | {r['add_wall_s']}"
            f" | {r['add_wall_s'] / base[r['vectors']]:.2f}x | {r['recall_at_8']} | {r['worst_query']} | {r['query_ms']} |"
            for r in indexes
        ),
        "",
    ]
    (args.out / "index_build.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
