"""Interleaved A/B of the async bulk build against its concurrency bound, and where each tree's wall goes.

Run: ``python -m benchmarks.bulk_ab --baseline /tmp/main-tree [--pairs 3] [--users 300]`` (writes
``benchmarks/results/bulk_ab.{json,md}``). The baseline is a source tree of another commit (``git archive main
| tar -x -C /tmp/main-tree``); both run with this interpreter, each run a fresh process, the two trees
alternating. One run is ``abuild_users`` of ``--users`` users x 20 items on the embedded store, the timed fake
model at 100 ms per call, 16 slots (as ``benchmarks.build``'s bulk row). Beside the fraction of the bound each
run splits the slots' lost time per call:

- ``overrun``: a call's 100 ms sleep ended late, because the event loop was held (a garbage collection, a Chroma
  write holding the interpreter, a long piece of our own CPU);
- ``outside``: a slot not in a model call's sleep at all (LangChain's call path around the request, the hand-over
  to the next call, no call ready);

and what held the loop: the generation-2 collections and the Chroma ``add`` calls (``benchmarks.stalls``).
The machine's speed varies within the hour, so only the pairs compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.overhead import in_tree

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent

ONE_BULK = """
import asyncio, json, sys, tempfile, time
from benchmarks import stalls
clock = stalls.install()
from benchmarks.fakes import history, make_rpm
from langchain_rpm.testing import FakeStructuredChatModel
users, delay, slots = int(sys.argv[1]), 0.1, 16
sleeps = []
async def timed(self, messages, stop=None, run_manager=None, **kwargs):
    start = time.perf_counter()
    await asyncio.sleep(self.delay)
    sleeps.append(time.perf_counter() - start)
    return self._dispatch(messages, kwargs)
FakeStructuredChatModel._agenerate = timed
with tempfile.TemporaryDirectory() as folder:
    rpm, model, _ = make_rpm(folder, delay=delay, concurrency=slots)
    histories = {f"user-{u}": history(20, user=u) for u in range(users)}
    start, cpu = time.perf_counter(), time.process_time()
    results = asyncio.run(rpm.abuild_users(histories))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
calls, slept, held = model.call_count, sum(sleeps), stalls.summary(clock)
print(json.dumps({
    "vs_bound": round(calls * delay / slots / wall, 4), "wall_s": round(wall, 2), "calls": calls,
    "failed_users": sum(isinstance(r, Exception) for r in results.values()),
    "cpu_ms_per_call": round(1000 * cpu / calls, 3),
    "overrun_ms_per_call": round(1000 * (slept - calls * delay) / calls, 2),
    "outside_ms_per_call": round(1000 * (slots * wall - slept) / calls, 2),
    "gen2_gc_s": held["gc_wall_s"].get("gen2", 0.0), "young_gc_s": round(sum(
        v for k, v in held["gc_wall_s"].items() if k != "gen2"), 3),
    "chroma_add_s": held["chroma_wall_s"].get("examples.add", 0.0),
}))
"""

FIGURES = ("vs_bound", "overrun_ms_per_call", "outside_ms_per_call", "gen2_gc_s", "young_gc_s", "chroma_add_s")


def one_bulk(tree: Path, users: int) -> dict[str, Any]:
    """One bulk build in a fresh process whose imports come from ``tree``."""
    load = round(os.getloadavg()[0], 2)
    row = in_tree(tree, ONE_BULK, str(users), timeout=1800)
    return {**row, "load_before": load, "load_after": round(os.getloadavg()[0], 2)}


def run(baseline: Path, pairs: int, users: int) -> dict[str, Any]:
    """``pairs`` rounds of (this tree, baseline), alternating which goes first."""
    rows: dict[str, list[dict[str, Any]]] = {"branch": [], "baseline": []}
    order = [("branch", ROOT), ("baseline", baseline)]
    for round_ in range(pairs):
        for name, tree in order if round_ % 2 == 0 else order[::-1]:
            rows[name].append(one_bulk(tree, users))
            print(name, json.dumps(rows[name][-1]), flush=True)
    higher = sum(a["vs_bound"] > b["vs_bound"] for a, b in zip(rows["branch"], rows["baseline"], strict=True))
    summary = {
        name: {k: round(statistics.median(r[k] for r in runs), 4) for k in FIGURES} for name, runs in rows.items()
    }
    return {"users": users, "baseline": str(baseline), "summary": summary, "branch_higher_in": higher, "rows": rows}


def markdown(results: dict[str, Any], command: str) -> str:
    """Medians of both trees, figure by figure, and the pairs the branch won."""
    s, pairs = results["summary"], len(results["rows"]["branch"])
    lines = [
        f"# Bulk build A/B\n\nCommand: `{command}`\n",
        "| figure (median) | branch | baseline |",
        "|---|---|---|",
        *(f"| {k} | {s['branch'][k]} | {s['baseline'][k]} |" for k in FIGURES),
    ]
    loads = [r[k] for runs in results["rows"].values() for r in runs for k in ("load_before", "load_after")]
    lines.append(
        f"\n{results['users']} users x 20 items, 100 ms/call, 16 slots, embedded store; the branch's fraction of the "
        f"bound higher in {results['branch_higher_in']} of {pairs} pairs; load average {min(loads)}-{max(loads)}."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--baseline", type=Path, required=True, help="source tree of the other commit")
    parser.add_argument("--pairs", type=int, default=3, help="rounds of (branch, baseline)")
    parser.add_argument("--users", type=int, default=300, help="users of each bulk build (20 items each)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for bulk_ab.json and bulk_ab.md")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.bulk_ab " + " ".join(sys.argv[1:] if argv is None else argv)
    results = run(args.baseline.resolve(), args.pairs, args.users)
    text = markdown(results, command)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bulk_ab.json").write_text(json.dumps({"command": command, **results}, indent=2) + "\n")
    (args.out / "bulk_ab.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
