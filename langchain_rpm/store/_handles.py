"""Opening the store's collections: names by layout, the embedding check, a bounded cache of handles.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.store import RPMStore
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8), layout="per_user").backend
    >>> run(open_collection(store, "examples", "ada", create=False)) is None  # reads never create one
    True
    >>> run(open_collection(store, "examples", "ada")).name.startswith("rpm_examples_")
    True
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from chromadb.errors import NotFoundError

from langchain_rpm._plans import Plan
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.store._backend import ChromaParts
from langchain_rpm.store._folder import is_local
from langchain_rpm.store._io import call
from langchain_rpm.store._records import check_embeddings, collection_name

PROBE_TEXT = "embedding dimension probe"
HANDLES = 1024  # open collections kept per store (per-user layout: the most recently used users)
EMBEDDED_INDEX = {"ef_construction": 40, "ef_search": 400}
"""hnswlib settings of examples collections made on an in-process client (Chroma's defaults: 100 and 100).

An ``add`` on a client in this process (a folder or in memory) holds the interpreter while Chroma's threads
insert into the vector index, so an async build's event loop, and every LLM call waiting on it, stalls for
the whole insert. A cheaper build (``ef_construction``) cuts an ``add`` of our records to 0.80-0.88x the
wall; a wider search (``ef_search``) more than wins back its recall: the filtered top 8 of a 6,000-example
user among 16,000 records, 0.96 -> 1.0 on clustered vectors and 0.72 -> 0.98 on uniform ones, for 7-9 ms
more per such query (``benchmarks/results/index_build.md``). Users up to ``exact_search_limit`` examples
are searched exactly, without the index. A server or Cloud keeps its own defaults (its inserts do
not run in our process); a collection keeps the settings it was made with.
"""


def open_collection(
    store: ChromaParts, kind: str, user_id: str | None, *, create: bool = True, fresh: bool = False
) -> Plan[Any]:
    """The collection of ``kind`` (a user's own examples collection in the ``per_user`` layout), or ``None``.

    ``fresh`` asks Chroma again instead of using a cached handle (writes do: another store object may have
    deleted a forgotten user's collection).
    """
    if store.folder is not None:
        store.folder.refresh()  # another process wrote: this process reopens Chroma before reading
        if store.folder.epoch != store.epoch:
            store.handles.clear()
            store.epoch = store.folder.epoch
    own = kind == "examples" and store.layout == "per_user"
    if own and not user_id:
        raise ConfigurationError("the per_user layout needs the user whose examples collection is wanted")
    key: Hashable = ("examples", user_id) if own else kind
    cached = None if fresh else store.handles.get(key)
    if cached is not None:
        store.handles.move_to_end(key)
        return cached
    name = collection_name(store.namespace, kind, user_id if own else None)
    metadata: dict[str, Any] = {"kind": kind}
    if kind == "examples":
        if store.embedding_dimension is None:
            yield from store.embed([PROBE_TEXT], query=True)
        metadata = {"embedding_model": store.embedding_model, "embedding_dimension": store.embedding_dimension}
    hnsw: dict[str, Any] = {"space": "cosine"}
    if kind == "examples" and is_local(store.client):
        hnsw |= EMBEDDED_INDEX
    options = {"embedding_function": None, "configuration": {"hnsw": hnsw}, "metadata": metadata}
    if create or not own:  # shared collections are created on first use, even by a read
        collection = yield call(store.client, "get_or_create_collection", {"name": name, **options})
    else:
        try:
            collection = yield call(store.client, "get_collection", {"name": name, "embedding_function": None})
        except NotFoundError:
            return None
    if kind == "examples":
        check_embeddings(store, name, collection.metadata or {})
    store.handles[key] = collection
    while len(store.handles) > HANDLES:
        store.handles.popitem(last=False)
    return collection


def forget_handle(store: ChromaParts, user_id: str) -> None:
    """Drop the cached handle of a user's own collection (it was deleted)."""
    store.handles.pop(("examples", user_id), None)
