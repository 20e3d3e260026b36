"""Store layouts on a real ``chroma run``: one shared examples collection vs one collection per user.

For each layout a fresh server ingests USERS x PER_USER examples through ``RPMStore.add_examples`` (one call
per user, precomputed random unit vectors of dimension 384, as in ``benchmarks/retrieval.py``), then the
server is restarted (nothing loaded) and ``RPMStore.search_by_vector`` is timed for QUERIES distinct users on
a fresh client: the *first touch* of each user, then the same users again (*warm*). Disk is the server
folder's size after ingest; memory the server's peak RSS.

Run: ``python -m benchmarks.layouts`` (writes ``benchmarks/results/layouts.{json,md}``);
``--users 20 --per-user 3 --queries 10`` for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import chromadb

from benchmarks.retrieval import RandomUnitEmbeddings, chroma_server, rss_mib, stats, user_examples
from langchain_rpm.store import RPMStore

RESULTS = Path(__file__).parent / "results"


def _store(port: int, layout: str) -> RPMStore:
    return RPMStore.from_server("127.0.0.1", port, embeddings=RandomUnitEmbeddings(), namespace="bench", layout=layout)


def _disk_mib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def run_layout(layout: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Ingest, restart, first-touch and warm queries for one layout."""
    users = [f"user-{i:05d}" for i in range(args.users)]
    with chroma_server(folder / "db") as (process, port):
        store = _store(port, layout)
        started = time.perf_counter()
        for n, user in enumerate(users):
            store.add_examples(user, user_examples(n, args.per_user))
        ingest = time.perf_counter() - started
        ingest_rss = rss_mib(process.pid)
    disk = _disk_mib(folder / "db")
    rng = random.Random(7)
    sample = rng.sample(users, min(args.queries, len(users)))
    vectors = RandomUnitEmbeddings().embed_documents([f"query {user}" for user in sample])
    with chroma_server(folder / "db") as (process, port):  # restarted: no collection loaded yet
        store = _store(port, layout)
        first, warm = [], []
        for timings in (first, warm):
            for user, vector in zip(sample, vectors, strict=True):
                begin = time.perf_counter()
                hits = store.search_by_vector(user, vector, k=args.k)
                timings.append(time.perf_counter() - begin)
                assert len(hits) == min(args.k, args.per_user), (layout, user, len(hits))
        query_rss = rss_mib(process.pid)
    records = args.users * args.per_user
    return {
        "layout": layout,
        "ingest_s": round(ingest, 1),
        "ingest_records_per_s": round(records / ingest, 1),
        "disk_mib": disk,
        "first_touch_ms": stats(first),
        "warm_ms": stats(warm),
        "server_peak_rss_mib": {"ingest": ingest_rss, "queries": query_rss},
    }


def markdown(report: dict[str, Any]) -> str:
    config = report["config"]
    lines = [
        "# Store layouts on a Chroma server",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']}; load average (1 min) at start / end: {report['load'][0]} / {report['load'][1]}.",
        "",
        f"{config['users']:,} users x {config['per_user']} examples = {config['records']:,} records, top-{config['k']}, "
        f"{config['queries']} users queried. Each layout on a fresh `chroma run`; queries after a server restart,",
        "on a fresh client: the first query of each user (first touch), then the same users again (warm).",
        "",
        "| layout | ingest records/s | ingest s | disk MiB | first touch p50 ms | first touch p99 ms | warm p50 ms "
        "| warm p99 ms | server peak RSS MiB (ingest / queries) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["layouts"]:
        rss = r["server_peak_rss_mib"]
        lines.append(
            f"| {r['layout']} | {r['ingest_records_per_s']} | {r['ingest_s']} | {r['disk_mib']} | "
            f"{r['first_touch_ms']['p50']} | {r['first_touch_ms']['p99']} | {r['warm_ms']['p50']} | "
            f"{r['warm_ms']['p99']} | {rss['ingest']} / {rss['queries']} |"
        )
    lines += [
        "",
        "Shared: all users in `bench_examples` (the embedded default); per user: `bench_examples_<digest of the id>`",
        '(`RPMStore(..., layout="per_user")`). Both read the user\'s manifest from `bench_profiles` and the',
        "vectors by id; every write holds the user's lease (`bench_leases`). The first touch of the shared layout",
        "loads the one collection once (its p99), the per-user layout loads each user's collection on first use.",
    ]
    shared, per_user = (next(r for r in report["layouts"] if r["layout"] == name) for name in ("shared", "per_user"))
    lines += [
        "",
        f"Per user against shared, measured here: disk x{per_user['disk_mib'] / shared['disk_mib']:.1f}, ingest "
        f"x{per_user['ingest_records_per_s'] / shared['ingest_records_per_s']:.2f} the rate, first-touch p50 "
        f"x{per_user['first_touch_ms']['p50'] / shared['first_touch_ms']['p50']:.1f}, warm p50 "
        f"x{per_user['warm_ms']['p50'] / shared['warm_ms']['p50']:.2f}, server peak RSS during ingest "
        f"x{per_user['server_peak_rss_mib']['ingest'] / shared['server_peak_rss_mib']['ingest']:.0f} (a local "
        "`chroma run` keeps every touched collection's index in memory). The shared layout stays the default; the",
        "per-user layout is for Chroma Cloud and servers sized for many collections, where a user's data is one",
        "collection to drop.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--queries", type=int, default=300, help="distinct users queried (first touch, then warm)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    report: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "benchmarks.layouts", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, "
        f"chromadb {chromadb.__version__}",
        "config": {
            "users": args.users,
            "per_user": args.per_user,
            "records": args.users * args.per_user,
            "k": args.k,
            "queries": min(args.queries, args.users),
        },
        "layouts": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("shared", "per_user"):
            folder = Path(tmp) / layout
            folder.mkdir()
            row = run_layout(layout, folder, args)
            print(json.dumps(row), flush=True)
            report["layouts"].append(row)
            shutil.rmtree(folder, ignore_errors=True)
    report["load"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "layouts.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "layouts.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
