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
"""

from __future__ import annotations

import argparse
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


def measure(tree: str, queries: int) -> dict[str, Any]:
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
    return out


def side(tree: Path, queries: int) -> dict[str, Any]:
    """:func:`measure` in a fresh process started in ``tree``."""
    command = [sys.executable, str(HERE), "--one", str(tree), "--queries", str(queries)]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def summary(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    """Each pair's figures (base -> this tree) and, per figure, the medians and the median pair ratio."""
    lines = ["| pair | load | " + " | ".join(KEYS) + " | calls per sync query |", "|---" * (len(KEYS) + 3) + "|"]
    for number, (base, ours) in enumerate(pairs, 1):
        cells = [f"{base[k]:.2f} -> {ours[k]:.2f} ({ours[k] / base[k]:.2f}x)" for k in KEYS]
        calls = f"{base['calls_sync']:.0f} -> {ours['calls_sync']:.0f}"
        lines.append(f"| {number} | {base['load']:.1f} | " + " | ".join(cells) + f" | {calls} |")
    lines.append("")
    for k in KEYS:
        ratios = [ours[k] / base[k] for base, ours in pairs]
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
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure this tree here
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.queries)))
        return []
    ours, pairs = HERE.parents[1], []
    for number in range(args.pairs):
        order = [args.base.resolve(), ours] if number % 2 == 0 else [ours, args.base.resolve()]
        results = {str(tree): side(tree, args.queries) for tree in order}
        pairs.append((results[str(args.base.resolve())], results[str(ours)]))
    print(summary(pairs))
    return pairs


if __name__ == "__main__":
    main()
