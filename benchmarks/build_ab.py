"""Interleaved A/B of one build against its critical-path ideal: this tree vs another, fresh processes, alternating.

Run: ``python -m benchmarks.build_ab --baseline /tmp/main-tree [--pairs 6] [--embeddings fake|minilm]``
(writes ``benchmarks/results/build_ab.{json,md}``). The baseline is a source tree of another commit
(``git archive main | tar -x -C /tmp/main-tree``); both run with this interpreter. Each run is one build of
``--items`` items with the timed fake model (``benchmarks.fakes``), after a warm-up build, sync or async;
``minilm`` embeds with the package's MiniLM (about 5 ms of CPU a text: what a real user's commit pays),
``fake`` with instant vectors. The machine's speed varies within the hour, so only the pairs compare.
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

ONE_BUILD = """
import asyncio, json, os, sys, tempfile, time
from benchmarks.build import ideal_seconds
from benchmarks.fakes import history, make_rpm, warm_up
mode, items, embeddings = sys.argv[1], int(sys.argv[2]), sys.argv[3]
async def main():
    with tempfile.TemporaryDirectory() as folder:
        vectors = None
        if embeddings == "minilm":
            from langchain_rpm.embeddings import default_embeddings
            vectors = default_embeddings()
        rpm, _, recorder = make_rpm(folder, delay=0.1, concurrency=16, embeddings=vectors)
        await warm_up(rpm, recorder)
        start, cpu = time.perf_counter(), time.process_time()
        if mode == "async":
            profile = await rpm.abuild_user("u", history(items))
        else:
            profile = await asyncio.to_thread(rpm.build_user, "u", history(items))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert profile.num_items == items
        ideal = ideal_seconds(recorder.calls, 0.1, 16)
    print(json.dumps({"wall_s": round(wall, 3), "vs_ideal": round(wall / ideal, 3), "cpu_s": round(cpu, 3)}))
asyncio.run(main())
"""


def one_build(tree: Path, mode: str, items: int, embeddings: str) -> dict[str, Any]:
    """One build in a fresh process whose imports come from ``tree``."""
    row = in_tree(tree, ONE_BUILD, mode, str(items), embeddings, timeout=600)
    return {**row, "load": round(os.getloadavg()[0], 2)}


def run(baseline: Path, pairs: int, items: int, embeddings: str) -> dict[str, Any]:
    """``pairs`` rounds of (this tree, baseline) per mode, alternating which goes first."""
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for round_ in range(pairs):
        for mode in ("async", "sync"):
            order = [("branch", ROOT), ("baseline", baseline)]
            for name, tree in order if round_ % 2 == 0 else order[::-1]:
                rows.setdefault(mode, {}).setdefault(name, []).append(one_build(tree, mode, items, embeddings))
    summary = {}
    for mode, by_tree in rows.items():
        lower = sum(a["vs_ideal"] < b["vs_ideal"] for a, b in zip(by_tree["branch"], by_tree["baseline"], strict=True))
        summary[mode] = {
            name: {
                "median_vs_ideal": statistics.median(r["vs_ideal"] for r in runs),
                "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
            }
            for name, runs in by_tree.items()
        } | {"branch_lower_in": f"{lower} of {pairs}"}
    return {"items": items, "embeddings": embeddings, "baseline": str(baseline), "summary": summary, "rows": rows}


def markdown(results: dict[str, Any], command: str) -> str:
    """One line per mode: medians of both trees and the pairs the branch won."""
    lines = [
        f"# Build A/B\n\nCommand: `{command}`\n",
        "| mode | branch | baseline | branch lower in |",
        "|---|---|---|---|",
    ]
    for mode, s in results["summary"].items():
        b, a = s["branch"], s["baseline"]
        lines.append(
            f"| {mode} | {b['median_vs_ideal']:.3f}x ideal, CPU {b['median_cpu_s']:.2f} s | "
            f"{a['median_vs_ideal']:.3f}x ideal, CPU {a['median_cpu_s']:.2f} s | {s['branch_lower_in']} pairs |"
        )
    loads = [r["load"] for by_tree in results["rows"].values() for runs in by_tree.values() for r in runs]
    lines.append(
        f"\nN = {results['items']}, 100 ms/call, concurrency 16, embeddings `{results['embeddings']}`; medians of "
        f"fresh-process builds; load average {min(loads)}-{max(loads)} during the runs."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--baseline", type=Path, required=True, help="source tree of the other commit")
    parser.add_argument("--pairs", type=int, default=6, help="rounds of (branch, baseline) per mode")
    parser.add_argument("--items", type=int, default=200, help="history items of each build")
    parser.add_argument("--embeddings", choices=("fake", "minilm"), default="fake")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for build_ab.json and build_ab.md")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.build_ab " + " ".join(sys.argv[1:] if argv is None else argv)
    results = run(args.baseline.resolve(), args.pairs, args.items, args.embeddings)
    text = markdown(results, command)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "build_ab" if args.embeddings == "fake" else f"build_ab_{args.embeddings}"
    (args.out / f"{stem}.json").write_text(json.dumps({"command": command, **results}, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
