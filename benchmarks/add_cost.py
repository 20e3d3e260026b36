"""What an embedded Chroma ``add`` of example records costs, with and without a document per record.

Run: ``python -m benchmarks.add_cost`` (writes ``benchmarks/results/add_cost.{json,md}``; ``--help``).

Up to babeed7 each example record's document was the feature text its vector came from; since round 7 of
issue 21 it has none (``store/_records.example_records``). Chroma full-text indexes every document, so its
cost grows with the text: three shapes are timed on the same records (none; the made-up feature text of
``benchmarks.ingest``'s users, 40-90 characters; a 240-character document, about what a hosted model's 6-8
features come to). Each run is a fresh process and a fresh embedded folder, ``--batches`` adds of ``--size``
records (MiniLM's dimension), the first add a warm-up, the shapes alternating which runs first. CPU is ``time.process_time`` (Chroma's
threads included) per record, the median add of a run; the table gives each run and the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import chromadb

from benchmarks.ingest import _records
from benchmarks.overhead import machine
from benchmarks.retrieval import user_examples
from langchain_rpm.store import features_text

RESULTS = Path(__file__).parent / "results"
LONG = 240  # characters: about 6-8 features as a hosted model names them (the made-up ones are 40-90)
SHAPES = {
    "no document (this tree)": 0,
    "feature text as document (up to babeed7; these made-up features: 40-90 characters)": 1,
    f"a {LONG}-character document (a hosted model's 6-8 features)": LONG,
}


def one_run(document: int, batches: int, size: int) -> float:
    """CPU ms per record of the median add in a fresh embedded folder: ``document`` 0 (none), 1 (the feature
    text) or a length (the item's input cut to that many characters)."""
    with tempfile.TemporaryDirectory() as folder:
        client = chromadb.PersistentClient(folder, settings=chromadb.Settings(anonymized_telemetry=False))
        collection = client.create_collection("examples", metadata={"hnsw:space": "cosine"})
        costs = []
        for batch in range(batches + 1):
            records = _records(batch, size)
            examples = user_examples(batch, size)
            if document == 1:
                records["documents"] = [features_text(ex.features) or ex.input for ex in examples]
            elif document:
                records["documents"] = [ex.input[:document] for ex in examples]
            start = time.process_time()
            collection.add(**records)
            costs.append(1000 * (time.process_time() - start) / size)
        return statistics.median(costs[1:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="fresh-process runs per shape")
    parser.add_argument("--batches", type=int, default=5, help="timed adds per run")
    parser.add_argument("--size", type=int, default=200, help="records per add")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(one_run(args.child, args.batches, args.size))
        return
    info = machine()
    runs: dict[str, list[float]] = {name: [] for name in SHAPES}
    for turn in range(args.runs):
        order = list(SHAPES.items()) if turn % 2 == 0 else list(SHAPES.items())[::-1]
        for name, document in order:
            command = [sys.executable, "-m", "benchmarks.add_cost", "--child", str(document)]
            command += ["--batches", str(args.batches), "--size", str(args.size)]
            runs[name].append(round(float(subprocess.check_output(command, text=True).split()[-1]), 3))
    medians = {name: round(statistics.median(values), 3) for name, values in runs.items()}
    info["load_average_at_end"] = machine()["load_average_at_start"]
    result: dict[str, Any] = {"machine": info, "size": args.size, "batches": args.batches, "runs": runs}
    result["medians_ms_per_record"] = medians
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "add_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    ours, short, long = medians.values()
    lines = [
        "# Embedded Chroma `add` of example records: CPU per record, with and without a document",
        "",
        f"Command: `python -m benchmarks.add_cost --runs {args.runs} --batches {args.batches} --size {args.size}`",
        "",
        "| record shape | CPU ms per record (median) | runs |",
        "|---|---|---|",
        *(f"| {name} | {medians[name]} | {', '.join(map(str, runs[name]))} |" for name in SHAPES),
        "",
        f"Without the document: **{ours / short:.2f}x** the CPU per record of these made-up features' records,"
        f" **{ours / long:.2f}x** that of records with a {LONG}-character document.",
        "",
        f"- Machine: {info['cpus']} cores ({info['cpu_model']}), shared; load average {info['load_average_at_start']}"
        f" at start, {info['load_average_at_end']} at the end. Python {info['python']}.",
        "- Each run a fresh process and embedded folder; the shapes alternate which runs first; per run the median"
        " of the timed adds (the first add of each run is a warm-up and not counted).",
    ]
    (RESULTS / "add_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
