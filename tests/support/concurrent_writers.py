"""Many writers adding items for one user at once, and an audit of what the store then holds.

Used by the concurrency tests and by ``python -m benchmarks.reliability``. Writers are threads, asyncio
tasks or processes (``python -m tests.support.concurrent_writers ...``, one JSON line on stdout), each adding
its own items one ``add_interactions`` call at a time and reporting the items it wrote, or the refusal it got.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from langchain_rpm import RPM, RPMStore
from langchain_rpm.errors import StoreLockTimeout
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model

ROOT = Path(__file__).resolve().parents[2]
BASE = [  # every later item's keywords fit these factors, so no update re-clusters
    {"id": "base-1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
    {"id": "base-2", "input": "A wedding turns into a love story.", "response": "romance"},
    {"id": "base-3", "input": "A car chase ends in a fist fight.", "response": "action"},
]
TOPICS = [
    ("Robots and aliens meet in space", "sci-fi"),
    ("A kiss at a wedding, a love story", "romance"),
    ("Explosions and a car chase", "action"),
]


def items(writer: str, count: int) -> list[dict[str, str]]:
    """``count`` items of one writer, with ids no other writer uses."""
    return [
        {"id": f"{writer}-{i:03d}", "input": f"{TOPICS[i % 3][0]} ({writer} #{i}).", "response": TOPICS[i % 3][1]}
        for i in range(count)
    ]


def make_rpm(store: RPMStore) -> RPM:
    """The facade every writer uses: the deterministic fake model, no checkpointer."""
    return RPM(rpm_fake_model(), task="lamp2", store=store, max_concurrency=2)


def write(rpm: RPM, user: str, writer: str, count: int) -> dict[str, Any]:
    """Add a writer's items one call at a time; report what was written, or the refusal."""
    written: list[str] = []
    for item in items(writer, count):
        try:
            rpm.add_interactions(user, [item])
        except StoreLockTimeout as exc:
            return {"writer": writer, "written": written, "refused": str(exc)}
        written.append(item["id"])
    return {"writer": writer, "written": written, "refused": None}


async def awrite(rpm: RPM, user: str, writer: str, count: int) -> dict[str, Any]:
    """Async :func:`write`."""
    written: list[str] = []
    for item in items(writer, count):
        try:
            await rpm.aadd_interactions(user, [item])
        except StoreLockTimeout as exc:
            return {"writer": writer, "written": written, "refused": str(exc)}
        written.append(item["id"])
    return {"writer": writer, "written": written, "refused": None}


def in_threads(make_store: Callable[[], RPMStore], user: str, writers: int, count: int) -> list[dict[str, Any]]:
    """``writers`` threads, each with its own store object and facade on the same backend."""
    rpms = [make_rpm(make_store()) for _ in range(writers)]
    with ThreadPoolExecutor(max_workers=writers) as pool:
        futures = [pool.submit(write, rpms[i], user, f"thread{i}", count) for i in range(writers)]
    return [future.result() for future in futures]


async def in_tasks(store: RPMStore, user: str, writers: int, count: int) -> list[dict[str, Any]]:
    """``writers`` asyncio tasks sharing one store."""
    rpm = make_rpm(store)
    return list(await asyncio.gather(*(awrite(rpm, user, f"task{i}", count) for i in range(writers))))


def in_processes(
    target: list[str], user: str, writers: int, count: int, timeout: float | None = None, name: str = "process"
) -> list[dict[str, Any]]:
    """``writers`` processes (named ``{name}{i}``); ``target``: ``["--store", DIR]``, ``["--server", HOST, PORT, NS]`` or ``["--postgres", URL, NS]``."""
    command = [sys.executable, "-m", "tests.support.concurrent_writers", *target, "--user", user]
    limit = [] if timeout is None else ["--lock-timeout", str(timeout)]
    processes = [
        subprocess.Popen(
            [*command, "--writer", f"{name}{i}", "--items", str(count), *limit],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(writers)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"writer process failed:\n{err[-3000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def audit(
    store: RPMStore, user: str, reports: list[dict[str, Any]], before: Collection[str] | None = None
) -> dict[str, Any]:
    """What the store holds for ``user`` against what the writers reported; 0 lost, 0 duplicated is right.

    ``before``: the item ids stored before the writers ran (default: the :data:`BASE` items).
    """
    earlier = set(before) if before is not None else {item["id"] for item in BASE}
    written = [item for report in reports for item in report["written"]]
    stored = [example.item_id for example in store.get_examples(user)]
    records = _records(store, user)
    profile = store.get_profile(user)
    searchable = [hit.example.item_id for hit in store.search(user, "robots love chase", k=100_000)]
    counts = Counter(meta["item_id"] for meta in records)
    return {
        "writers": len(reports),
        "written": len(written),
        "refused": sum(1 for report in reports if report["refused"]),
        "stored": len(stored) - len(earlier),
        "profile_items": (profile.num_items if profile else 0) - len(earlier),
        "searchable": len(searchable) - len(earlier),
        "lost": len(set(written) - set(stored)),
        "unreported": len(set(stored) - set(written) - earlier),
        "duplicated": sum(n - 1 for n in counts.values()) + len(stored) - len(set(stored)),
    }


def _records(store: RPMStore, user: str) -> list[dict[str, Any]]:
    """Every example record of ``user`` the backend holds (current, superseded, orphaned)."""
    if store.backend.kind == "langgraph":
        from langchain_rpm.store._langgraph import user_key

        backend: Any = store.backend
        return [
            item.value for item in backend.store.search((backend.namespace, "examples", user_key(user)), limit=10**6)
        ]
    collection = store.examples_collection(user) if getattr(store, "layout", "shared") == "per_user" else store.examples
    return collection.get(where={"user_id": user}, include=["metadatas"])["metadatas"] if collection else []


def consistent(figures: dict[str, Any]) -> bool:
    """Stored = profile items = searchable = written, nothing lost, duplicated or unaccounted for."""
    same = figures["stored"] == figures["profile_items"] == figures["searchable"] == figures["written"]
    return same and figures["lost"] == figures["duplicated"] == figures["unreported"] == 0


def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path)
    parser.add_argument("--server", nargs=3, metavar=("HOST", "PORT", "NAMESPACE"))
    parser.add_argument("--postgres", nargs=2, metavar=("URL", "NAMESPACE"))
    parser.add_argument("--user", required=True)
    parser.add_argument("--writer", required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--lock-timeout", type=float)
    args = parser.parse_args()
    options: dict[str, Any] = {"embeddings": CountingEmbeddings()}
    if args.lock_timeout is not None:
        options["lock_timeout"] = args.lock_timeout
    if args.server:
        host, port, namespace = args.server
        store = RPMStore.from_server(host, int(port), namespace=namespace, **options)
    elif args.postgres:
        url, namespace = args.postgres
        store = RPMStore.from_postgres(url, namespace=namespace, **options)
    else:
        store = RPMStore(args.store, **options)
    started = time.perf_counter()
    report = write(make_rpm(store), args.user, args.writer, args.items)
    print(json.dumps({**report, "seconds": round(time.perf_counter() - started, 2)}), flush=True)


if __name__ == "__main__":
    _main()
