"""Concurrent writers for one user and the forget check, for ``python -m benchmarks.reliability``.

Concurrency: N writers (threads, asyncio tasks, processes on one embedded folder, and clients of a real
``chroma run`` server in threads and processes) each add their own items for ONE user, one
``add_interactions`` call per item; afterwards stored examples, profile items and searchable examples are
compared with what the writers report written. A refused writer (the lock held by someone else longer
than its ``lock_timeout``) reports the refusal and writes nothing.

Forget: a user whose texts carry a marker is built (SQLite checkpointer, SQLite LLM cache), queried, then
forgotten with ``RPM.forget``; the marker's bytes are counted in every file under the store folder before
and after, and rebuilding the user afterwards counts the LLM calls paid again.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings
from filelock import FileLock
from langgraph.checkpoint.sqlite import SqliteSaver

from langchain_rpm import RPM, RPMStore
from langchain_rpm.cli._cache import SQLiteCache
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support import concurrent_writers as writers
from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder


@contextmanager
def chroma_server(folder: Path) -> Iterator[tuple[str, int]]:
    """A real ``chroma run`` on 127.0.0.1 for the duration of the block."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    chroma = str(Path(sys.executable).with_name("chroma"))
    log = (folder / "server.log").open("wb")
    command = [chroma, "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                opener.open(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _row(kind: str, writers_n: int, items: int, started: float, figures: dict[str, Any]) -> dict[str, Any]:
    return {
        **figures,
        "kind": kind,
        "writers_x_items": f"{writers_n} x {items}",
        "consistent": writers.consistent(figures),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _embedded(folder: Path) -> Callable[[], RPMStore]:
    def make() -> RPMStore:
        return RPMStore(folder, embeddings=CountingEmbeddings())

    writers.make_rpm(make()).build_user("ada", writers.BASE)
    return make


def concurrency(n: int, items: int) -> list[dict[str, Any]]:
    """One row per kind of writer: N writers x ``items`` items for one user, then the audit."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make = _embedded(root / "threads")
        started = time.perf_counter()
        reports = writers.in_threads(make, "ada", n, items)
        rows.append(_row("threads (embedded)", n, items, started, writers.audit(make(), "ada", reports)))
        make = _embedded(root / "tasks")
        started, store = time.perf_counter(), make()
        reports = asyncio.run(writers.in_tasks(store, "ada", n, items))
        rows.append(_row("asyncio tasks (embedded)", n, items, started, writers.audit(store, "ada", reports)))
        make = _embedded(root / "processes")
        started, reader = time.perf_counter(), make()  # a long-lived reader in the parent process
        reports = writers.in_processes(["--store", str(root / "processes")], "ada", n, items)
        rows.append(_row("processes (embedded, file lock)", n, items, started, writers.audit(reader, "ada", reports)))
        stored = {example.item_id for example in reader.get_examples("ada")}
        with FileLock(root / "processes" / "rpm-write.lock"):
            started = time.perf_counter()
            target = ["--store", str(root / "processes")]
            reports = writers.in_processes(target, "ada", 1, items, timeout=0.5, name="refused")
        figures = writers.audit(reader, "ada", reports, before=stored)
        rows.append(_row("a process while another holds the lock (0.5 s timeout)", 1, items, started, figures))
        (root / "server").mkdir()
        with chroma_server(root / "server") as (host, port):
            rows += _server_rows(host, port, n, items)
    return rows


def _server_rows(host: str, port: int, n: int, items: int) -> list[dict[str, Any]]:
    def make() -> RPMStore:
        client = chromadb.HttpClient(host=host, port=port, settings=Settings(anonymized_telemetry=False))
        return RPMStore(client=client, embeddings=CountingEmbeddings(), namespace="bench")

    writers.make_rpm(make()).build_user("ada", writers.BASE)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        threads = pool.submit(writers.in_threads, make, "ada", n, items)
        processes = pool.submit(writers.in_processes, ["--server", host, str(port), "bench"], "ada", n, items)
        reports = threads.result() + processes.result()
    figures = writers.audit(make(), "ada", reports)
    return [_row("server clients (threads + processes, lease)", 2 * n, items, started, figures)]


# -- forget --------------------------------------------------------------------------------------------------
MARKER = "Qz7xMarkerVw3k"


def _marker_bytes(folder: Path) -> int:
    return sum(path.read_bytes().count(MARKER.encode()) for path in folder.rglob("*") if path.is_file())


def forget_check(items: int) -> dict[str, Any]:
    """Bytes of the user's marker under the store folder before and after ``RPM.forget``, and the rebuild cost."""
    history = [
        {**item, "input": f"{item['input']} ({MARKER} {n})"} for n, item in enumerate(writers.items("ada", items))
    ]
    paid = [0]

    def responder(messages: list[Any], schema: dict[str, Any]) -> dict[str, Any]:
        paid[0] += 1
        return rpm_responder(messages, schema)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "store"
        llm = FakeStructuredChatModel(responder=responder, cache=SQLiteCache(folder / "llm_cache.sqlite"))
        saver = SqliteSaver(sqlite3.connect(folder / "checkpoints.sqlite", check_same_thread=False))
        rpm = RPM(llm, task="lamp2", store=RPMStore(folder, embeddings=CountingEmbeddings()), checkpointer=saver)
        rpm.build_user("ada", history)
        first = paid[0]
        rpm.build_user("bob", writers.items("bob", 3))
        rpm.personalize("ada", f"Robots in space ({MARKER} query).")
        before = _marker_bytes(folder)
        started = time.perf_counter()
        report = rpm.forget("ada")
        seconds = time.perf_counter() - started
        after = _marker_bytes(folder)
        paid[0] = 0
        rpm.build_user("ada", history)
        return {
            "items": items,
            "marker_bytes_before": before,
            "marker_bytes_after": after,
            "forget_seconds": round(seconds, 2),
            "first_build_calls": first,
            "rebuild_calls_after_forget": paid[0],
            "report": report.lines(),
        }


def markdown(results: dict[str, Any]) -> list[str]:
    """The report's sections for these figures."""
    lines = [
        "",
        "## Concurrent writers for one user",
        "",
        f"Command: `{results['trust_command']}` ({results.get('trust_generated', '')}).",
        "",
        "Each writer adds its own items for user `ada`, one `add_interactions` call per item (fake model); then",
        "stored examples, profile items and searchable examples are compared with what the writers report written.",
        "On main before this work (issue 13): 4 threads x 10 items stored 44 examples but the profile counted 38;",
        "3 processes: profile 32 of 34, search found 32, and a long-lived reader failed with `Error finding id`.",
        "",
        "| writers | writers x items | written | stored | profile items | searchable | lost | duplicated | refused | consistent |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["concurrency"]:
        lines.append(
            f"| {r['kind']} | {r['writers_x_items']} | {r['written']} | {r['stored']} | {r['profile_items']} | "
            f"{r['searchable']} | {r['lost']} | {r['duplicated']} | {r['refused']} | {'yes' if r['consistent'] else 'NO'} |"
        )
    f = results["forget"]
    lines += [
        "",
        "## Forget",
        "",
        f"A {f['items']}-item user whose texts carry a marker, built with a SQLite checkpointer and the SQLite LLM",
        f"cache, queried, then `RPM.forget` ({f['forget_seconds']} s): bytes of the marker under the store folder "
        f"**{f['marker_bytes_before']} before, {f['marker_bytes_after']} after**. Rebuilding the user afterwards paid "
        f"{f['rebuild_calls_after_forget']} LLM calls, as many as the first build ({f['first_build_calls']}): nothing cached was left.",
        "",
        "The report `rpm forget` prints:",
        "",
        "```",
        *f["report"],
        "```",
    ]
    return lines
