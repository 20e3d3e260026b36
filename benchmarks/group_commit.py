"""Group commit vs one write per user on embedded Chroma: records per second through the store.

USERS x PER_USER examples (precomputed random unit vectors, dimension 384, as in ``benchmarks/retrieval.py``)
written once with one ``replace_user_examples`` per user, once with ``write_many_plan`` in groups of GROUP
users (each user still copy-on-write and switched atomically), and once as a bulk build writes them: WRITERS
threads each committing one user at a time through the commit queue (``group_commits``), which coalesces
the users that arrive while a group is being written; each mode into a fresh store.

``--bulk-users U`` adds the bulk build row: ``benchmarks.build.bulk`` (``abuild_users``, 20 items per user,
100 ms per call, concurrency 16, fake model) in a fresh process, with the commit queue and, as the
baseline of the same run, with it switched off (one write per user), against the concurrency bound.

Run: ``python -m benchmarks.group_commit`` (writes ``benchmarks/results/group_commit.{json,md}``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import nullcontext
from contextvars import copy_context
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from benchmarks.overhead import machine
from benchmarks.retrieval import RandomUnitEmbeddings, user_examples
from langchain_rpm._plans import run
from langchain_rpm.store import RPMStore
from langchain_rpm.store._commit_queue import group_commits
from langchain_rpm.store._writes import UserWrite, write_many_plan

RESULTS = Path(__file__).parent / "results"


def ingest(mode: str, users: int, per_user: int, group: int, writers: int = 16) -> float:
    """Records per second of one mode into a fresh embedded store."""
    with tempfile.TemporaryDirectory() as folder:
        store = RPMStore(folder, embeddings=RandomUnitEmbeddings(), namespace="bench")
        data = [(f"user-{u}", user_examples(u, per_user)) for u in range(users)]
        started = time.perf_counter()
        if mode == "one write per user":
            for user, examples in data:
                store.replace_user_examples(user, examples)
        elif mode.startswith("commit queue"):
            with group_commits(store) as queue, ThreadPoolExecutor(writers) as pool:

                def write(one: tuple[str, Any]) -> None:
                    with queue.building():  # as a bulk build counts each user's build
                        run(queue.commit_plan(UserWrite(*one)))

                list(pool.map(lambda one: copy_context().run(write, one), data))
            print(f"commit queue: {len(queue.group_sizes)} group commits for {users} users", flush=True)
        else:
            for i in range(0, users, group):
                run(write_many_plan(store, [UserWrite(user, examples) for user, examples in data[i : i + group]]))
        return round(users * per_user / (time.perf_counter() - started), 1)


def bulk_build(users: int, grouped: bool, server: bool = False) -> dict[str, Any]:
    """``benchmarks.build.bulk`` in a fresh process; ``grouped=False``: each user's commit written alone;
    ``server``: the store on a ``chroma run`` of its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_bulk_here, users, grouped, server).result()


def _bulk_here(users: int, grouped: bool, server: bool = False) -> dict[str, Any]:
    from benchmarks.build import bulk

    if not grouped:
        import langchain_rpm._bulk_api as bulk_api

        class Alone:  # no queue: each user's commit is written alone, as before group commit
            @staticmethod
            def building(on_queued: Any = None) -> Any:
                return nullcontext()

        bulk_api.group_commits = lambda store, **options: nullcontext(Alone())  # type: ignore[assignment,misc]
    from benchmarks import stalls

    clock = stalls.install()
    figures = bulk(users, 20, 0.1, 16, isolate=False, server=server)
    return {**figures, "group_commit": grouped, "stalls": stalls.summary(clock)}


def bulk_before(users: int, tree: Path) -> dict[str, Any]:
    """``benchmarks.build.bulk`` of another source tree (e.g. ``git archive main``) in a fresh process."""
    script = "\n".join(
        [
            "import importlib.util, json",
            f"spec = importlib.util.spec_from_file_location('stalls', {str(Path(__file__).with_name('stalls.py'))!r})",
            "stalls = importlib.util.module_from_spec(spec); spec.loader.exec_module(stalls); clock = stalls.install()",
            "from benchmarks.build import bulk",
            f"print(json.dumps({{**bulk({users}, 20, 0.1, 16, isolate=False), 'stalls': stalls.summary(clock)}}))",
        ]
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _chroma_cell(row: dict[str, Any]) -> str:
    stalls = row.get("stalls")
    if not stalls:
        return ""
    calls, wall = stalls["chroma_calls"], stalls["chroma_wall_s"]
    return ", ".join(f"{key} {calls[key]:.0f} / {wall[key]:.2f}" for key in sorted(calls))


def bulk_rows(rows: dict[str, dict[str, Any]]) -> list[str]:
    """The bulk rows of the report."""
    on, off = rows["group commit"], rows["one write per user"]
    ratio = on["calls_per_s"] / off["calls_per_s"]
    return [
        "",
        f"Bulk build (`abuild_users`, {on['users']} users x 20 items, 100 ms/call, concurrency 16, fake model; "
        "each run in a fresh process):",
        "",
        "| store writes | calls/s | bound calls/s | vs bound | wall s | ideal wall s | CPU ms/call | failed users "
        "| Chroma calls: count, wall s | GC gen 2: wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        *(
            f"| {name} | {r['calls_per_s']} | {r['ideal_calls_per_s']:.0f} | **{r['vs_bound']}x** | {r['wall_s']} | "
            f"{r['calls'] / r['ideal_calls_per_s']:.1f} | {r['cpu_ms_per_call']} | {r['failed_users']} | "
            f"{_chroma_cell(r)} | {r.get('stalls', {}).get('gc_wall_s', {}).get('gen2', '')} |"
            for name, r in rows.items()
        ),
        "",
        "Chroma calls are timed on the calling thread: embedded Chroma's `upsert`/`delete` hold the interpreter "
        "while they run (a probe thread gets no tick during a 300 ms upsert), so their wall time is an event-loop "
        "stall during which no LLM call starts or finishes; so is a garbage collection. On a `chroma run` store "
        "the calls run on worker threads and wait on the server's process, so their wall time is no stall.",
        "",
        f"Group commit: x{ratio:.2f} the calls/s of one write per user. Target >= 0.95x the bound: "
        f"{'met' if on['vs_bound'] >= 0.95 else '**not met**'}.",
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Both modes, then the results files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--per-user", type=int, default=20)
    parser.add_argument("--group", type=int, default=100)
    parser.add_argument("--writers", type=int, default=16, help="threads committing through the commit queue")
    parser.add_argument("--bulk-users", type=int, default=0, help="users of the bulk build row (0: no row)")
    parser.add_argument("--bulk-server", action="store_true", help="a bulk row on a `chroma run` store too")
    parser.add_argument("--before-tree", type=Path, help="a source tree whose bulk build is measured too (a baseline)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    info = machine()
    modes = ("one write per user", "group", f"commit queue, {args.writers} writers")
    rates = {mode: ingest(mode, args.users, args.per_user, args.group, args.writers) for mode in modes}
    command = shlex.join(["python", "-m", "benchmarks.group_commit", *(argv if argv is not None else sys.argv[1:])])
    bulk: dict[str, dict[str, Any]] = {}
    if args.bulk_users:
        bulk["group commit"] = bulk_build(args.bulk_users, True)
        bulk["one write per user"] = bulk_build(args.bulk_users, False)
        if args.bulk_server:
            bulk["group commit, `chroma run` store"] = bulk_build(args.bulk_users, True, server=True)
        if args.before_tree is not None:
            bulk[f"group commit, before (`{args.before_tree}`)"] = bulk_before(args.bulk_users, args.before_tree)
    report = {"command": command, "machine": info, "load_end": round(os.getloadavg()[0], 2), "records_per_s": rates}
    report["bulk"] = bulk
    lines = [
        "# Group commit on embedded Chroma",
        "",
        f"Command: `{command}`  ",
        f"Machine: {info['cpus']} CPU cores ({info['cpu_model']}); load average (1 min) at start / end: "
        f"{info['load_average_at_start'][0]} / {report['load_end']}.",
        "",
        f"{args.users} users x {args.per_user} examples, precomputed vectors; group commit in groups of {args.group} users.",
        "",
        "| mode | records/s |",
        "|---|---:|",
        *(f"| {mode} | {rate} |" for mode, rate in rates.items()),
        "",
        f"Group commit: x{rates['group'] / rates['one write per user']:.1f} the rate of one write per user; "
        f"through the commit queue (as bulk builds write): x{rates[modes[2]] / rates['one write per user']:.1f}.",
        *(bulk_rows(bulk) if bulk else []),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "group_commit.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "group_commit.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
