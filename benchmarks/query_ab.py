"""Query A/B: this tree's repeated query against another tree's (a ``git archive`` of main), in alternating processes.

Run: ``python -m benchmarks.query_ab --base /tmp/main --pairs 8 --queries 200`` (``git archive main | tar -x -C
/tmp/main`` first). Each side runs in a fresh process whose ``langchain_rpm`` and ``benchmarks`` come from its
tree (checked), with the same virtual environment; which side goes first alternates by pair, so a change of the
machine's speed falls on both sides. A side builds user ``ada`` (30 items, the fake model, the local MiniLM) and
times ``queries`` repeated sync then async queries:

- ``ours_*``: CPU per query (``process_time``) minus the fake model's responder and the embedding's own CPU
  (the ``ours_ms`` of ``benchmarks.query``);
- ``issue_*``: issue 21's figure, ``ours`` minus the two chat-model calls invoked bare and, async, the
  embedding's thread hop, each measured in the same process;
- ``calls_sync``: Python function calls per sync query (cProfile, exact; 20 queries).

With ``--writes N`` (0: off), also each of ``N`` queries timed alone right after an untimed write of one new
item, sync then async: by the user then queried (``own_*``: user ``cy``, 30 items and growing) and by another
user (``other_*``: ``bo`` writes, ``ada`` is queried); ``issue_own_*`` / ``issue_other_*`` subtract the same
bare model calls (and hop) as ``issue_*``; ``gc_*`` is the CPU of the garbage collections that ran inside
those timed queries (``gc.callbacks``), part of the figure; ``calls_own_sync``: function calls of one sync
query after the user's own write (cProfile, exact, 10 queries).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
KEYS = ("ours_sync", "ours_async", "issue_sync", "issue_async")
WRITE_KEYS = (
    "issue_own_sync",
    "issue_own_async",
    "issue_other_sync",
    "issue_other_async",
    "gc_own_sync",
    "gc_own_async",
)


class CollectorTime:
    """CPU of the garbage collections that run while ``on`` is set (a ``gc.callbacks`` entry)."""

    def __init__(self) -> None:
        self.on, self.spent, self._start = False, 0.0, 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._start = time.process_time()
        else:
            self.spent += time.process_time() - self._start


def after_writes(rpm: Any, spent: Any, user: str, write: Any, writes: int, mode: str) -> tuple[float, float]:
    """Our CPU (ms) per query of ``user``, each timed alone after an untimed ``write()``, and its GC part."""
    import asyncio

    from benchmarks.query import QUERIES

    collector, total = CollectorTime(), 0.0
    if mode == "sync":
        for i in range(writes):
            write()
            mark, collector.on = spent(), True
            rpm.personalize(user, QUERIES[i % 3])
            collector.on, total = False, total + spent() - mark
    else:

        async def every() -> None:
            nonlocal total
            for i in range(writes):
                await write()
                mark, collector.on = spent(), True
                await rpm.apersonalize(user, QUERIES[i % 3])
                collector.on, total = False, total + spent() - mark

        asyncio.run(every())
    gc.callbacks.remove(collector)
    return round(1000 * total / writes, 3), round(1000 * collector.spent / writes, 3)


def write_figures(rpm: Any, spent: Any, writes: int, bare: dict[str, float], hop: float) -> dict[str, Any]:
    """The after-write figures (module docstring) of one side."""
    import cProfile
    import itertools
    import pstats

    from benchmarks.fakes import history
    from benchmarks.query import QUERIES

    rpm.build_user("bo", history(5, user=1))
    rpm.build_user("cy", history(30, user=2))
    rpm.personalize("cy", QUERIES[0])
    count = itertools.count(100)
    sync_write = {"own": ("cy", 2), "other": ("bo", 1)}
    out: dict[str, Any] = {}
    for situation, (writer, number) in sync_write.items():
        queried = "cy" if situation == "own" else "ada"
        for mode in ("sync", "async"):
            adder = rpm.aadd_interactions if mode == "async" else rpm.add_interactions
            write = lambda a=adder, w=writer, n=number: a(w, history(1, user=n, start=next(count)))  # noqa: E731
            ours, collected = after_writes(rpm, spent, queried, write, writes, mode)
            minus = bare[f"{mode}_ms"] + (hop if mode == "async" else 0.0)
            out[f"issue_{situation}_{mode}"], out[f"gc_{situation}_{mode}"] = round(ours - minus, 3), collected
    profile = cProfile.Profile()
    for i in range(10):
        rpm.add_interactions("cy", history(1, user=2, start=next(count)))
        profile.enable()
        rpm.personalize("cy", QUERIES[i % 3])
        profile.disable()
    out["calls_own_sync"] = pstats.Stats(profile).total_calls / 10  # type: ignore[attr-defined]
    return out


def measure(tree: str, queries: int, writes: int = 0) -> dict[str, Any]:
    """One side, in this (fresh) process: the figures of ``tree``'s code."""
    sys.path.insert(0, tree)
    import asyncio
    import cProfile
    import pstats
    import tempfile

    import langchain_rpm
    from benchmarks import query_parts as parts
    from benchmarks.fakes import history, make_rpm
    from benchmarks.query import QUERIES, TimedEmbeddings
    from langchain_rpm.embeddings import default_embeddings

    assert langchain_rpm.__file__ is not None and langchain_rpm.__file__.startswith(tree), langchain_rpm.__file__
    with tempfile.TemporaryDirectory() as folder:
        timed = TimedEmbeddings(default_embeddings())
        rpm, _, recorder = make_rpm(folder, delay=0.0, concurrency=8, embeddings=timed)
        rpm.build_user("ada", history(30))
        rpm.personalize("ada", QUERIES[0])
        asyncio.run(rpm.apersonalize("ada", QUERIES[0]))

        async def many() -> None:
            for i in range(queries):
                await rpm.apersonalize("ada", QUERIES[i % 3])

        out: dict[str, Any] = {"tree": tree, "load": round(os.getloadavg()[0], 2)}
        for mode, go in (("sync", lambda: [rpm.personalize("ada", QUERIES[i % 3]) for i in range(queries)]),
                         ("async", lambda: asyncio.run(many()))):  # fmt: skip
            embedding, model, start = timed.cpu, recorder.cpu, time.process_time()
            go()
            spent = time.process_time() - start - (timed.cpu - embedding) - (recorder.cpu - model)
            out[f"ours_{mode}"] = round(1000 * spent / queries, 3)
        out["bare"] = parts.model_calls(rpm, recorder, QUERIES[0], queries)
        out["hop"] = parts.embedding_hop(rpm.store.embeddings, QUERIES, queries)
        out["issue_sync"] = round(out["ours_sync"] - out["bare"]["sync_ms"], 3)
        out["issue_async"] = round(out["ours_async"] - out["bare"]["async_ms"] - out["hop"], 3)
        profile = cProfile.Profile()
        profile.enable()
        for i in range(20):
            rpm.personalize("ada", QUERIES[i % 3])
        profile.disable()
        out["calls_sync"] = pstats.Stats(profile).total_calls / 20  # type: ignore[attr-defined]
        if writes:
            spent = lambda: time.process_time() - timed.cpu - recorder.cpu  # noqa: E731 - ours, as above
            out |= write_figures(rpm, spent, writes, out["bare"], out["hop"])
    return out


def side(tree: Path, queries: int, writes: int = 0) -> dict[str, Any]:
    """:func:`measure` in a fresh process started in ``tree``."""
    command = [sys.executable, str(HERE), "--one", str(tree), "--queries", str(queries), "--writes", str(writes)]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def summary(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    """Each pair's figures (base -> this tree) and, per figure, the medians and the median pair ratio."""
    lines = ["| pair | load | " + " | ".join(KEYS) + " | calls per sync query |", "|---" * (len(KEYS) + 3) + "|"]
    for number, (base, ours) in enumerate(pairs, 1):
        cells = [f"{base[k]:.2f} -> {ours[k]:.2f} ({ours[k] / base[k]:.2f}x)" for k in KEYS]
        calls = f"{base['calls_sync']:.0f} -> {ours['calls_sync']:.0f}"
        lines.append(f"| {number} | {base['load']:.1f} | " + " | ".join(cells) + f" | {calls} |")
    keys = KEYS + (WRITE_KEYS if "issue_own_sync" in pairs[0][0] else ())
    if keys != KEYS:
        lines += ["", "| pair | " + " | ".join(WRITE_KEYS) + " | calls per sync query after the own write |"]
        lines.append("|---" * (len(WRITE_KEYS) + 2) + "|")
        for number, (base, ours) in enumerate(pairs, 1):
            cells = [f"{base[k]:.2f} -> {ours[k]:.2f}" for k in WRITE_KEYS]
            calls = f"{base['calls_own_sync']:.0f} -> {ours['calls_own_sync']:.0f}"
            lines.append(f"| {number} | " + " | ".join(cells) + f" | {calls} |")
    lines.append("")
    for k in keys:
        ratios = [ours[k] / base[k] if base[k] else 1.0 for base, ours in pairs]
        medians = [statistics.median(pair[i][k] for pair in pairs) for i in (0, 1)]
        lines.append(
            f"- {k}: median {medians[0]:.3f} -> {medians[1]:.3f} ms, median pair ratio "
            f"{statistics.median(ratios):.3f}x, lower in {sum(r < 1 for r in ratios)} of {len(ratios)} pairs"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", type=Path, help="the other tree (a `git archive` of main)")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--queries", type=int, default=200, help="queries per figure")
    parser.add_argument("--writes", type=int, default=0, help="queries timed after a write, per figure (0: off)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure this tree here
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.queries, args.writes)))
        return []
    ours, pairs = HERE.parents[1], []
    for number in range(args.pairs):
        order = [args.base.resolve(), ours] if number % 2 == 0 else [ours, args.base.resolve()]
        results = {str(tree): side(tree, args.queries, args.writes) for tree in order}
        pairs.append((results[str(args.base.resolve())], results[str(ours)]))
    print(summary(pairs))
    return pairs


if __name__ == "__main__":
    main()
