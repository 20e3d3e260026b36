"""Make an embedded Chroma drop deleted records from its own files (forgetting a user really forgets).

Deleting a record does not remove its text from the folder (chromadb 1.5.9, measured): the write-ahead
log (``embeddings_queue`` in ``chroma.sqlite3``) keeps every upsert, document and metadata included,
until the collection's vector index is persisted, which happens every ``hnsw:sync_threshold`` (1,000)
records; the full-text index keeps deleted rows in its segments until they are merged; and SQLite keeps
deleted rows in free pages until ``VACUUM``. ``chroma vacuum`` alone is not enough: it cannot prune log
entries the index has not persisted. Holding the folder's write lock, :func:`compact_plan`:

1. lowers each collection's ``sync_threshold`` to 1, reopens Chroma (so the index reads the setting),
   writes one record without user data (:data:`KEEPER_ID`, its metadata ``kind`` is ``index_keeper``; no
   read of ours sees it, each filters by user), which makes Chroma persist the index and prune its own
   log, and restores the threshold. The record stays: Chroma creates a new index for a collection with no
   live record each time it opens it, and writes the new index's capacity from uninitialised memory (seen
   in CI: a forgotten input's bytes in ``data_level0.bin``, written by the first read after a forget that
   emptied the store). With the record kept, the index zeroed below is loaded, never created again;
2. zeroes the unused capacity of the HNSW files, which Chroma writes from uninitialised memory (found
   there: documents and metadata of deleted records, left in the process's heap);
3. removes the index folders of deleted collections (a client that had one loaded can save it again
   after the delete, heap bytes included);
4. merges the full-text index (FTS5 ``optimize``, which drops deleted rows);
5. runs ``chroma vacuum`` (the CLI in the chromadb wheel; SQLite's ``VACUUM`` directly if it cannot run).

What it cannot remove: the vectors of deleted records can stay in the HNSW files (``data_level0.bin``),
marked deleted, until Chroma reuses their slots (vectors, not text); a process that held the text in
memory can write heap bytes into the unused slots again the next time its index is persisted (restart
long-lived processes after forgetting when that matters); and a Chroma server or Chroma Cloud keeps its
own log and files, which no client can compact (run ``chroma vacuum --path DIR`` where the server's
folder is, or ask the provider).

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.store import RPMStore
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
    >>> store.compact()[0]
    'chroma log pruned: 0 collection(s)'
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import warnings
from typing import Any

from langchain_rpm._plans import Call, Plan
from langchain_rpm.store._backend import Backend, ChromaParts, HasBackend, backend_of
from langchain_rpm.store._folder import EmbeddedFolder
from langchain_rpm.store._locks import Held
from langchain_rpm.store._records import KEEPER_KIND

KEEPER_ID = "rpm-index-keeper"
UUID_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SERVER_NOTE = (
    "not compacted: the Chroma server's (or Chroma Cloud's) own log and files may keep deleted text until the "
    "server compacts them; no client can remove it (on a `chroma run` machine: `chroma vacuum --path DIR`)"
)
NOT_COMPACTED_NOTE = "not compacted (compact=False): Chroma's files may still hold deleted text"
VECTOR_NOTE = (
    "kept by Chroma: vectors of deleted records may stay in the HNSW index files until slots are reused; a running "
    "process may write heap bytes into unused index slots again at its next index save (restart it if that matters)"
)


def compact_plan(store: Backend | HasBackend) -> Plan[list[str]]:
    """Compact the store's files where its backend can (embedded Chroma, Postgres); one line per fact."""
    return (yield from backend_of(store).compact_plan())


def report_compaction_plan(store: Backend | HasBackend, compact: bool) -> Plan[tuple[list[str], list[str]]]:
    """Compact when ``compact`` is set; the lines split into (done, kept) as a removal report shows them."""
    if not compact:
        return [], [NOT_COMPACTED_NOTE]
    done: list[str] = []
    kept: list[str] = []
    for line in (yield from compact_plan(store)):
        (kept if line.startswith(("kept", "not compacted")) else done).append(line)
    return done, kept


def chroma_compact_plan(store: ChromaParts) -> Plan[list[str]]:
    """Compact the store's Chroma files (embedded), holding the write lock; one line per fact."""
    if store.folder is None:
        return [SERVER_NOTE]
    folder = store.folder
    dim = store.embedding_dimension or 1
    prefix = f"{store.namespace}_examples_"  # the per-user layout's collections
    names = {c.name: dim for c in folder.client.list_collections() if c.name.startswith(prefix)}
    names |= {f"{store.namespace}_examples": dim, f"{store.namespace}_profiles": 1, f"{store.namespace}_leases": 1}

    def body(held: Held) -> Plan[list[str]]:
        lines: list[str] = yield Call(_compact_folder, args=(folder, names))
        return lines

    return (yield from store.coordinator.locked("(whole store)", body))


def _compact_folder(folder: EmbeddedFolder, names: dict[str, int]) -> list[str]:
    existing = {c.name for c in folder.client.list_collections()}
    targets = {name: dim for name, dim in names.items() if name in existing}
    thresholds = {name: _set_threshold(folder, name, 1) for name in targets}
    try:
        folder.reopen()  # a loaded index keeps the threshold it was opened with
        for name, dim in targets.items():
            collection = folder.client.get_collection(name)
            collection.upsert(ids=[KEEPER_ID], embeddings=[[1.0] * dim], metadatas=[{"kind": KEEPER_KIND}])
    finally:
        for name, threshold in thresholds.items():
            _set_threshold(folder, name, threshold)
    zeroed = _zero_unused_slots(folder, list(targets))
    folder.reopen()
    lines = [f"chroma log pruned: {len(targets)} collection(s)", f"chroma index files: {zeroed}"]
    lines.append(_remove_orphan_indexes(folder))
    lines.append(_merge_full_text_index(folder))
    lines.append(_vacuum(folder))
    lines.append(VECTOR_NOTE)
    return lines


def _set_threshold(folder: EmbeddedFolder, name: str, threshold: int) -> int:
    """Set a collection's ``hnsw.sync_threshold``; returns the previous value."""
    collection = folder.client.get_collection(name)
    hnsw: dict[str, Any] = (collection.configuration_json or {}).get("hnsw") or {}
    previous = int(hnsw.get("sync_threshold") or 1000)
    with warnings.catch_warnings():  # our collections have no embedding function: Chroma calls that "legacy"
        warnings.simplefilter("ignore", DeprecationWarning)
        collection.modify(configuration={"hnsw": {"sync_threshold": threshold}})
    return previous


def _zero_unused_slots(folder: EmbeddedFolder, names: list[str]) -> str:
    """Zero the unused capacity of each HNSW file: Chroma writes it from uninitialised memory.

    ``data_level0.bin`` and ``length.bin`` hold ``max_elements`` slots, of which the first
    ``cur_element_count`` are in use; the rest were never written and carry whatever the process's heap
    held (measured: documents and metadata of deleted records). The header gives both counts.
    """
    with sqlite3.connect(folder.folder / "chroma.sqlite3", timeout=30) as db:
        marks = ",".join("?" * len(names))
        query = "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id WHERE s.scope = 'VECTOR'"
        segments = [row[0] for row in db.execute(f"{query} AND c.name IN ({marks})", names)]
    done = 0
    for segment in segments:
        index = folder.folder / segment
        try:
            header = (index / "header.bin").read_bytes()
            _, _, capacity, count, size = struct.unpack_from("<iQQQQ", header)
        except (FileNotFoundError, struct.error):
            continue  # an index that was never persisted has no files to clean
        for name, width in (("data_level0.bin", size), ("length.bin", 4)):
            path = index / name
            if path.exists() and count <= capacity and path.stat().st_size == capacity * width:
                with path.open("r+b") as handle:
                    handle.seek(count * width)
                    handle.write(bytes((capacity - count) * width))
        done += 1
    return f"unused slots of {done} HNSW index(es) zeroed (Chroma writes them from uninitialised memory)"


def _remove_orphan_indexes(folder: EmbeddedFolder) -> str:
    """Delete index folders no live segment owns: a deleted collection's index can be saved again after the delete.

    Measured with the per-user layout: a client that had the collection's index loaded may write it back
    after ``delete_collection``, heap bytes (the deleted user's documents) included.
    """
    with sqlite3.connect(folder.folder / "chroma.sqlite3", timeout=30) as db:
        live = {row[0] for row in db.execute("SELECT id FROM segments")}
    orphans = [
        path
        for path in folder.folder.iterdir()
        if path.is_dir() and UUID_NAME.fullmatch(path.name) and path.name not in live and (path / "header.bin").exists()
    ]
    for path in orphans:
        shutil.rmtree(path, ignore_errors=True)
    return f"index folders of deleted collections removed: {len(orphans)}"


def _merge_full_text_index(folder: EmbeddedFolder) -> str:
    with sqlite3.connect(folder.folder / "chroma.sqlite3", timeout=30) as db:
        db.execute("INSERT INTO embedding_fulltext_search(embedding_fulltext_search) VALUES('optimize')")
    return "chroma full-text index merged (FTS5 optimize)"


def _vacuum(folder: EmbeddedFolder) -> str:
    command = [
        sys.executable,
        "-c",
        "import sys, chromadb_rust_bindings as b; b.cli(['chroma', 'vacuum', '--path', sys.argv[1], '--force'])",
        str(folder.folder),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode == 0 and "Vacuum complete" in done.stdout:
        return "chroma.sqlite3 compacted (`chroma vacuum`: VACUUM)"
    db = sqlite3.connect(folder.folder / "chroma.sqlite3", timeout=30, isolation_level=None)
    try:
        db.execute("VACUUM")
    finally:
        db.close()
    return "chroma.sqlite3 compacted (SQLite VACUUM; `chroma vacuum` did not run)"
