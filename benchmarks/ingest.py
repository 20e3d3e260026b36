"""Store ingest benchmark: records per second through ``RPMStore`` vs a raw Chroma ``collection.add``.

Run: ``python -m benchmarks.ingest`` (writes ``benchmarks/results/ingest.{json,md}``; ``--help`` for sizes).

Precomputed vectors (:class:`~benchmarks.retrieval.RandomUnitEmbeddings`: random unit vectors of MiniLM's
dimension), so the figures measure the store, not a model. Users are written one after another with
``replace_user_examples`` (a build's commit: read the manifest and profile, upsert the records, switch the
manifest, delete the superseded records); the baseline is one raw ``collection.add`` per user of the same
records (same ids, vectors, documents, metadata) into a fresh collection of a fresh client of the same kind.
A user's write cost is also timed once the store holds ``--grown`` records, vs when it was nearly empty.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import chromadb

from benchmarks.overhead import machine
from benchmarks.retrieval import RandomUnitEmbeddings, user_examples
from langchain_rpm.store import RPMStore, features_text
from langchain_rpm.store._records import example_records

RESULTS = Path(__file__).parent / "results"
TARGET = 2000


def _records(user: int, per_user: int) -> dict[str, Any]:
    examples = user_examples(user, per_user)
    texts = [features_text(ex.features) or ex.input for ex in examples]
    return example_records(f"user-{user}", examples, texts, RandomUnitEmbeddings().embed_documents(texts), 1, "c")


def raw_add(users: int, per_user: int, *, across_users: bool = False) -> float:
    """Records per second of raw ``collection.add`` calls on a fresh embedded client: one call per user, or
    (``across_users``) the users' records in calls of the client's max batch size."""
    with tempfile.TemporaryDirectory() as folder:
        client = chromadb.PersistentClient(folder, settings=chromadb.Settings(anonymized_telemetry=False))
        collection = client.create_collection("raw", metadata={"hnsw:space": "cosine"}, embedding_function=None)
        batches = [_records(u, per_user) for u in range(users)]
        if across_users:
            merged = {key: [v for batch in batches for v in batch[key]] for key in batches[0]}
            size = client.get_max_batch_size()
            batches = [
                {key: values[i : i + size] for key, values in merged.items()}
                for i in range(0, len(merged["ids"]), size)
            ]
        start = time.perf_counter()
        for batch in batches:
            collection.add(**batch)
        return users * per_user / (time.perf_counter() - start)


def store_ingest(users: int, per_user: int, grown: int) -> dict[str, Any]:
    """Records per second through ``replace_user_examples``, and one user's write cost early vs grown."""
    with tempfile.TemporaryDirectory() as folder:
        store = RPMStore(folder, embeddings=RandomUnitEmbeddings())
        examples = [user_examples(u, per_user) for u in range(users)]
        start = time.perf_counter()
        for u, batch in enumerate(examples):
            store.replace_user_examples(f"user-{u}", batch)
        rate = users * per_user / (time.perf_counter() - start)
        early = _one_write(store, per_user)
        for u in range(users, max(users, grown // per_user)):
            store.replace_user_examples(f"user-{u}", user_examples(u, per_user))
        late = _one_write(store, per_user)
    return {"records_per_s": round(rate, 1), "write_early_ms": early, "write_grown_ms": late}


def _one_write(store: RPMStore, per_user: int, repeats: int = 5) -> float:
    """Median ms of rewriting one existing user's examples."""
    times = []
    for i in range(repeats):
        batch = user_examples(10_000 + i, per_user)
        start = time.perf_counter()
        store.replace_user_examples("probe", batch)
        times.append(time.perf_counter() - start)
    return round(1000 * sorted(times)[len(times) // 2], 2)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--per-user", type=int, default=20)
    parser.add_argument("--grown", type=int, default=10_000, help="records in the store for the grown write")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = ("python -m benchmarks.ingest " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    raw = raw_add(args.users, args.per_user)
    raw_batched = raw_add(args.users, args.per_user, across_users=True)
    ours = store_ingest(args.users, args.per_user, args.grown)
    results = {
        "command": command,
        "machine": machine(),
        "raw_add_records_per_s": round(raw, 1),
        "raw_add_across_users_records_per_s": round(raw_batched, 1),
        **ours,
        **vars(args),
    }
    results["out"] = str(args.out)
    ratio = ours["records_per_s"] / raw
    rows = [
        "| figure | measured | baseline (same run) | ratio | target |",
        "|---|---|---|---|---|",
        f"| embedded ingest, {args.users} users x {args.per_user} records, `replace_user_examples` | "
        f"{ours['records_per_s']:.0f} records/s | raw `collection.add` {raw:.0f} records/s | **{ratio:.2f}x** | "
        f">= {TARGET} records/s: {'met' if ours['records_per_s'] >= TARGET else '**not met**'} |",
        f"| same records, raw `collection.add` across users (max batch size per call) | {raw_batched:.0f} records/s | "
        f"one call per user {raw:.0f} records/s | **{raw_batched / raw:.1f}x** | what batching across users can reach |",
        f"| one user's write ({args.per_user} records), store at {args.grown:,} records | "
        f"{ours['write_grown_ms']:.1f} ms | at {args.users * args.per_user:,} records: {ours['write_early_ms']:.1f} ms | "
        f"**{ours['write_grown_ms'] / ours['write_early_ms']:.2f}x** | flat |",
    ]
    m = results["machine"]
    text = "\n".join(
        [
            f"# Store ingest\n\nCommand: `{command}`\n",
            *rows,
            "",
            f"- Machine: {m['cpus']} CPU cores ({m['cpu_model']}), shared; load average {m['load_average_at_start']}.",
            "- Precomputed vectors (no model); embedded Chroma (`PersistentClient`) on a temporary folder.",
            "",
        ]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / "ingest.md").write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
