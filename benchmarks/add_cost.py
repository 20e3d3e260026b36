"""What embedded Chroma's writes of our records cost: example records with and without a document, and the
switch's manifests and profiles over 4,096 bytes as documents or in metadata pieces.

Run: ``python -m benchmarks.add_cost`` (writes ``benchmarks/results/add_cost.{json,md}``; ``--help``).

Up to babeed7 each example record's document was the feature text its vector came from; since round 7 of
issue 21 it has none (``store/_records.example_records``). Chroma full-text indexes every document, so its
cost grows with the text: three shapes are timed on the same records (none; the made-up feature text of
``benchmarks.ingest``'s users, 40-90 characters; a 240-character document, about what a hosted model's 6-8
features come to). Each run is a fresh process and a fresh embedded folder, ``--batches`` adds of ``--size``
records (MiniLM's dimension), the first add a warm-up, the shapes alternating which runs first.

The switch (one upsert of ``--users`` users' manifests and profiles into the profiles collection) is timed
the same way, rewriting the same users each time (as every build after the first does), with texts over
4,096 bytes: a manifest of 200 example ids (digests, as a build writes them) and a profile of 60 factors
named and described in made-up words. Up to babeed7 such a text
was the record's document; now it is kept in counted metadata pieces (``store/_records.switch_record``).
CPU is ``time.process_time`` (Chroma's threads included), the median write of a run; the tables give each
run and the medians.
"""

from __future__ import annotations

import argparse
import json
import random
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
from benchmarks.retrieval import WORDS, user_examples
from langchain_rpm.store import features_text
from langchain_rpm.store._records import example_id, stored_texts, switch_record
from langchain_rpm.types import Factor, UserProfile

RESULTS = Path(__file__).parent / "results"
LONG = 240  # characters: about 6-8 features as a hosted model names them (the made-up ones are 40-90)
SHAPES = {
    "no document (this tree)": 0,
    "feature text as document (up to babeed7; these made-up features: 40-90 characters)": 1,
    f"a {LONG}-character document (a hosted model's 6-8 features)": LONG,
}
SWITCHES = {
    "switch: long texts in counted metadata pieces (this tree)": -1,
    "switch: long texts as documents (up to babeed7)": -2,
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


def switch_run(as_documents: bool, batches: int, users: int) -> float:
    """CPU ms per user of the median switch upsert in a fresh embedded folder (the same users each time)."""
    with tempfile.TemporaryDirectory() as folder:
        client = chromadb.PersistentClient(folder, settings=chromadb.Settings(anonymized_telemetry=False))
        collection = client.create_collection("profiles")
        costs = []
        for batch in range(batches + 1):
            record: dict[str, list[Any]] = {"ids": [], "embeddings": [], "documents": [], "metadatas": []}
            for user in range(users):
                ids = [example_id(f"user-{user}", str(n), f"{batch:016x}") for n in range(200)]
                one = switch_record(f"user-{user}", ids, _profile(user))
                if as_documents:  # babeed7's shape: the text as the document, no key in metadata
                    one["documents"] = list(stored_texts(one).values())  # manifest, then profile
                    one["metadatas"] = [{k: meta[k] for k in meta if k in _PLAIN} for meta in one["metadatas"]]
                for key, values in one.items():
                    record[key] += values
                record["embeddings"] += [[1.0]] * len(one["ids"])
            start = time.process_time()
            collection.upsert(**record)
            costs.append(1000 * (time.process_time() - start) / users)
        return statistics.median(costs[1:])


def _profile(user: int) -> UserProfile:
    rng = random.Random(user)
    factors = [
        Factor(name=" ".join(rng.choices(WORDS, k=3)), description=" ".join(rng.choices(WORDS, k=18)))
        for _ in range(60)
    ]
    return UserProfile(user_id=f"user-{user}", task="lamp2", factors=factors, num_items=200, num_features=900)


_PLAIN = ("user_id", "kind", "version")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="fresh-process runs per shape")
    parser.add_argument("--batches", type=int, default=5, help="timed writes per run")
    parser.add_argument("--size", type=int, default=200, help="records per add")
    parser.add_argument("--users", type=int, default=20, help="users per switch upsert")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        shape = args.child
        print(
            one_run(shape, args.batches, args.size) if shape >= 0 else switch_run(shape == -2, args.batches, args.users)
        )
        return
    info = machine()
    shapes = {**SHAPES, **SWITCHES}
    runs: dict[str, list[float]] = {name: [] for name in shapes}
    for turn in range(args.runs):
        order = list(shapes.items()) if turn % 2 == 0 else list(shapes.items())[::-1]
        for name, shape in order:
            command = [sys.executable, "-m", "benchmarks.add_cost", "--child", str(shape)]
            command += ["--batches", str(args.batches), "--size", str(args.size), "--users", str(args.users)]
            runs[name].append(round(float(subprocess.check_output(command, text=True).split()[-1]), 3))
    medians = {name: round(statistics.median(values), 3) for name, values in runs.items()}
    info["load_average_at_end"] = machine()["load_average_at_start"]
    result: dict[str, Any] = {"machine": info, "size": args.size, "users": args.users, "batches": args.batches}
    result |= {"runs": runs, "medians_ms": medians}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "add_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    ours, short, long, pieces, documents = medians.values()
    command = f"python -m benchmarks.add_cost --runs {args.runs} --batches {args.batches} --size {args.size}"
    lines = [
        "# Embedded Chroma's writes of our records: CPU with and without full-text-indexed documents",
        "",
        f"Command: `{command} --users {args.users}`",
        "",
        f"| example records, an `add` of {args.size} | CPU ms per record (median) | runs |",
        "|---|---|---|",
        *(f"| {name} | {medians[name]} | {', '.join(map(str, runs[name]))} |" for name in SHAPES),
        "",
        f"Without the document: **{ours / short:.2f}x** the CPU per record of these made-up features' records,"
        f" **{ours / long:.2f}x** that of records with a {LONG}-character document.",
        "",
        f"| the switch, an upsert of {args.users} users' manifests and profiles | CPU ms per user (median) | runs |",
        "|---|---|---|",
        *(f"| {name} | {medians[name]} | {', '.join(map(str, runs[name]))} |" for name in SWITCHES),
        "",
        f"In metadata pieces: **{pieces / documents:.2f}x** the CPU of the same texts as documents.",
        "",
        f"- Machine: {info['cpus']} cores ({info['cpu_model']}), shared; load average {info['load_average_at_start']}"
        f" at start, {info['load_average_at_end']} at the end. Python {info['python']}.",
        "- Each run a fresh process and embedded folder; the shapes alternate which runs first; per run the median"
        " of the timed writes (the first write of each run is a warm-up and not counted).",
    ]
    (RESULTS / "add_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
