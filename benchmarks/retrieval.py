"""Retrieval benchmark: one user's top-k by features, in a store of USERS x PER_USER examples.

Builds a persistent store (embedded Chroma, and a ``chroma run`` server) through ``RPMStore.add_examples``,
then times, per query, with the real local MiniLM model embedding the query's feature text:

- ``embed``: MiniLM embedding of the query features alone;
- ``retrieve``: ``RPMStore.search_by_vector`` (exact cosine over the user's examples, the store's search);
- ``embed + retrieve``: ``RPMStore.search`` with the feature text (what the retriever pays after the LLM);
- ``filtered get + numpy rank``: the user's vectors read with the user filter instead of by id (alternative);
- ``chroma filtered query``: Chroma's own HNSW query with the user filter (alternative);
- ``unfiltered query``: Chroma's HNSW query over the whole collection (reference point, no user filter).

Ingest uses precomputed random unit vectors of dimension 384 (a stand-in ``Embeddings`` that reports MiniLM's
name and dimension) because embedding 100,000 texts with MiniLM takes ~15 min on 2 cores; every query is
embedded by the real model. Results go to ``--out``/retrieval.json and retrieval.md.

Example:
    python benchmarks/retrieval.py --users 2000 --per-user 50          # the full run (~10 min)
    python benchmarks/retrieval.py --users 20 --per-user 5 --queries 20  # smoke test
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_rpm.embeddings import MiniLMEmbeddings
from langchain_rpm.store import RPMStore, features_text, user_filter
from langchain_rpm.types import Feature, ReasoningExample

FACTORS = ["Setting", "Tone", "Characters", "Plot", "Themes", "Pacing", "Visuals", "Audience"]
WORDS = [
    "space",
    "station",
    "robot",
    "heist",
    "wedding",
    "betrayal",
    "dystopia",
    "courtroom",
    "ghost",
    "dragon",
    "chase",
    "detective",
    "family",
    "war",
    "romance",
    "comedy",
    "satire",
    "memory",
    "time-travel",
    "island",
    "prison",
    "school",
    "orphan",
    "revenge",
    "music",
    "storm",
    "virus",
]


class RandomUnitEmbeddings(Embeddings):
    """Ingest stand-in: a random unit vector per text (seeded by the text), with MiniLM's name and dimension."""

    model_name = MiniLMEmbeddings.model_name
    dimension = MiniLMEmbeddings.dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(self.dimension)
            rows.append((vector / np.linalg.norm(vector)).tolist())
        return rows

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def random_features(rng: random.Random, n: int = 4) -> list[Feature]:
    return [Feature(name=" ".join(rng.sample(WORDS, 2)), factor=rng.choice(FACTORS)) for _ in range(n)]


def user_examples(user: int, per_user: int) -> list[ReasoningExample]:
    rng = random.Random(user)
    return [
        ReasoningExample(
            item_id=str(i),
            input=" ".join(rng.choices(WORDS, k=60)),
            features=random_features(rng, rng.randint(3, 6)),
            reasoning=" ".join(rng.choices(WORDS, k=50)),
            answer=rng.choice(["sci-fi", "comedy", "romance", "action", "dystopia"]),
        )
        for i in range(per_user)
    ]


def stats(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p99": round(float(np.percentile(ms, 99)), 2),
        "mean": round(float(ms.mean()), 2),
    }


def timed(fn: Callable[[int], Any], n: int, warmup: int = 5) -> dict[str, float]:
    for i in range(warmup):
        fn(i)
    seconds = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        seconds.append(time.perf_counter() - start)
    return stats(seconds)


def rss_mib(pid: int | str = "self", field: str = "VmHWM") -> float:
    """Peak (``VmHWM``) or current (``VmRSS``) resident memory of a process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@contextmanager
def chroma_server(path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``chroma run`` on 127.0.0.1 and a free port, until the block ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    cli = Path(sys.executable).with_name("chroma")
    command = [str(cli) if cli.exists() else "chroma", "run", "--path", str(path), "--host", "127.0.0.1"]
    log = (path.parent / f"{path.name}.log").open("wb")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with opener.open(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chroma server did not start; see {log.name}") from None
                time.sleep(0.1)
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def ingest(store: RPMStore, users: int, per_user: int) -> dict[str, float]:
    start = time.perf_counter()
    for user in range(users):
        store.add_examples(f"user-{user:05d}", user_examples(user, per_user))
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 1), "records_per_s": round(users * per_user / seconds, 1)}


def measure(store: RPMStore, query_embeddings: MiniLMEmbeddings, args: argparse.Namespace) -> dict[str, Any]:
    """Latencies of one user's top-k on ``store`` (already ingested), queries embedded by ``query_embeddings``."""
    rng = random.Random(12345)
    queries = [
        (f"user-{rng.randrange(args.users):05d}", features_text(random_features(rng))) for _ in range(args.queries)
    ]
    vectors = query_embeddings.embed_documents([text for _, text in queries])
    searcher = RPMStore(client=store.client, embeddings=query_embeddings, namespace=store.namespace)
    collection = store.examples
    n, k = args.queries, args.k

    def chroma_query(i: int, where: dict[str, Any] | None) -> Any:
        return collection.query(query_embeddings=[vectors[i]], n_results=k, where=where, include=["metadatas"])

    def filtered_get_rank(i: int) -> Any:
        found = collection.get(where=user_filter(queries[i][0]), include=["embeddings", "metadatas"])
        matrix = np.asarray(found["embeddings"])
        scores = matrix @ np.asarray(vectors[i]) / np.linalg.norm(matrix, axis=1)
        return [found["metadatas"][row] for row in np.argsort(-scores)[:k]]

    results = {
        "embed": timed(lambda i: query_embeddings.embed_query(queries[i][1]), n),
        "retrieve": timed(lambda i: searcher.search_by_vector(queries[i][0], vectors[i], k), n),
        "embed + retrieve": timed(lambda i: searcher.search(queries[i][0], queries[i][1], k), n),
        "filtered get + numpy rank": timed(filtered_get_rank, n),
        "chroma filtered query": timed(lambda i: chroma_query(i, user_filter(queries[i][0])), n),
        "unfiltered query": timed(lambda i: chroma_query(i, None), n),
    }
    hits = searcher.search(queries[0][0], queries[0][1], k)
    assert len(hits) == min(k, args.per_user), "the store did not return k hits"
    return results


def render_markdown(report: dict[str, Any]) -> str:
    config = report["config"]
    lines = [
        "# Retrieval benchmark",
        "",
        f"Command: `{report['command']}`",
        "",
        f"{config['records']:,} examples ({config['users']:,} users x {config['per_user']}), top-{config['k']}, "
        f"{config['queries']} queries per row, on {report['machine']}.",
        "Ingest: precomputed random unit vectors (dim 384) under MiniLM's name; queries: the real local MiniLM "
        f"(int8 ONNX). Query embedding threads: {config['embed_threads']}.",
        "",
        "| backend | step | p50 ms | p99 ms | mean ms |",
        "|---|---|---:|---:|---:|",
    ]
    for backend, rows in report["latency_ms"].items():
        for step, row in rows.items():
            lines.append(f"| {backend} | {step} | {row['p50']} | {row['p99']} | {row['mean']} |")
    lines += [
        "",
        "Steps: *embed* = MiniLM on the query's feature text; *retrieve* = `RPMStore.search_by_vector` (read the "
        "user's id manifest, get those vectors by id with the user filter, exact cosine top-k in numpy, get the "
        "top-k metadata); *embed + retrieve* = `RPMStore.search`; *filtered get + numpy rank* = the same ranking "
        "on vectors read with the user filter only (no manifest); *chroma filtered query* = Chroma's HNSW query "
        "with the user filter; *unfiltered query* = Chroma's HNSW query over all users (reference).",
    ]
    lines += ["", "| backend | ingest s | records/s |", "|---|---:|---:|"]
    for backend, row in report["ingest"].items():
        lines.append(f"| {backend} | {row['seconds']} | {row['records_per_s']} |")
    default = report["embed_default_threads_ms"]
    lines += [
        "",
        f"MiniLM query embedding with onnxruntime's default threads: p50 {default['p50']} ms, "
        f"p99 {default['p99']} ms (the table uses --embed-threads; on a busy 2-core machine one thread avoids "
        "waiting for a second core).",
    ]
    load = report["load_average_1min"]
    reused = " (ingest numbers from the run that built the stores: --reuse)" if config["ingest_reused"] else ""
    lines += [
        "",
        f"Ingest through `RPMStore.add_examples`, one call per user{reused}.",
        f"1-minute load average at start / end: {load['start']} / {load['end']} (other processes share the machine).",
    ]
    memory = report["memory_mib"]
    lines += [
        "",
        f"Peak RSS: benchmark process {memory['process_peak']} MiB (embedded Chroma + MiniLM in process); "
        f"Chroma server process {memory['server_peak']} MiB.",
    ]
    target = report["target"]
    lines += [
        "",
        f"Target (embedded, embed + retrieve): p50 <= {target['p50']} ms and p99 <= {target['p99']} ms: "
        f"**{'met' if target['met'] else 'NOT met'}**.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--per-user", type=int, default=50)
    parser.add_argument("--queries", type=int, default=500, help="timed queries per measured step")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--embed-threads", type=int, default=1, help="onnxruntime intra-op threads for queries")
    parser.add_argument("--db", type=Path, default=Path("/tmp/rpm-bench-retrieval"), help="store folder")
    parser.add_argument("--reuse", action="store_true", help="reuse the stores an earlier run of this size ingested")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--no-server", action="store_true", help="skip the Chroma server part")
    args = parser.parse_args(argv)

    marker = args.db / "ingest.json"
    size = {"users": args.users, "per_user": args.per_user}
    previous = json.loads(marker.read_text()) if args.reuse and marker.exists() else {}
    reuse = previous.get("size") == size
    if not reuse:
        shutil.rmtree(args.db, ignore_errors=True)
        args.db.mkdir(parents=True)
    load_before = os.getloadavg()
    query_embeddings = MiniLMEmbeddings(intra_op_num_threads=args.embed_threads or None)
    query_embeddings.embed_query("warm up")
    default_threads = MiniLMEmbeddings()
    default_threads.embed_query("warm up")
    texts = [features_text(random_features(random.Random(i))) for i in range(args.queries)]
    embed_default = timed(lambda i: default_threads.embed_query(texts[i]), args.queries)
    latency: dict[str, Any] = {}
    ingested: dict[str, Any] = previous.get("ingest", {}) if reuse else {}
    report: dict[str, Any] = {
        "command": shlex.join(["python", "benchmarks/retrieval.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, "
        f"chromadb {chromadb.__version__}",
        "config": {
            "users": args.users,
            "per_user": args.per_user,
            "records": args.users * args.per_user,
            "k": args.k,
            "queries": args.queries,
            "embed_threads": args.embed_threads or "onnxruntime default",
            "ingest_reused": reuse,
        },
        "latency_ms": latency,
        "embed_default_threads_ms": embed_default,
        "ingest": ingested,
    }

    embedded = RPMStore(args.db / "embedded", embeddings=RandomUnitEmbeddings(), namespace="bench")
    if not reuse:
        print(f"ingesting {args.users * args.per_user:,} examples (embedded)...", flush=True)
        ingested["embedded"] = ingest(embedded, args.users, args.per_user)
    latency["embedded"] = measure(embedded, query_embeddings, args)
    server_peak = None
    if not args.no_server:
        with chroma_server(args.db / "server") as (process, port):
            remote = RPMStore.from_server("127.0.0.1", port, embeddings=RandomUnitEmbeddings(), namespace="bench")
            if not reuse:
                print(f"ingesting {args.users * args.per_user:,} examples (server)...", flush=True)
                ingested["server"] = ingest(remote, args.users, args.per_user)
            latency["server"] = measure(remote, query_embeddings, args)
            server_peak = rss_mib(process.pid)
    if not reuse:
        marker.write_text(json.dumps({"size": size, "ingest": ingested}))
    report["memory_mib"] = {"process_peak": rss_mib(), "server_peak": server_peak}
    report["load_average_1min"] = {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)}
    row = latency["embedded"]["embed + retrieve"]
    report["target"] = {"p50": 25, "p99": 60, "met": row["p50"] <= 25 and row["p99"] <= 60}

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrieval.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = render_markdown(report)
    (args.out / "retrieval.md").write_text(markdown)
    print(markdown)
    return report


if __name__ == "__main__":
    main()
