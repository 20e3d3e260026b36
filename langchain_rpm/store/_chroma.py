"""The Chroma backend (private): the store's records in Chroma collections, embedded, server or Cloud.

The reads live in :mod:`~langchain_rpm.store._reads`, collection handles in
:mod:`~langchain_rpm.store._handles`, the write locks in :mod:`~langchain_rpm.store._locks` and
:mod:`~langchain_rpm.store._leases`; this class holds their state and the few Chroma writes a copy-on-write
commit is made of (:mod:`~langchain_rpm.store._writes` orders them).

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm._plans import run
    >>> backend = ChromaBackend(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
    >>> backend.kind, backend.coordinator.kind, run(backend.list_users_plan())
    ('chroma', 'embedded', [])
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Collection, Hashable
from pathlib import Path
from typing import Any, Literal

from langchain_core.embeddings import Embeddings

from langchain_rpm._plans import Plan
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.store import _reads as reads
from langchain_rpm.store._backend import Current, Embedder, QueryContext, Records, Staged
from langchain_rpm.store._compaction import chroma_compact_plan
from langchain_rpm.store._folder import embedded_folder
from langchain_rpm.store._group_reads import current_many_plan
from langchain_rpm.store._handles import forget_handle, open_collection
from langchain_rpm.store._io import call
from langchain_rpm.store._leases import coordinator_for
from langchain_rpm.store._query_cache import QueryCache
from langchain_rpm.store._records import (
    collection_name,
    default_client,
    example_records,
    manifest_id,
    profile_id,
    slices,
    stored_vector,
    switch_record,
    user_filter,
)
from langchain_rpm.types import RetrievedExample, UserProfile

PROFILE_VECTOR = [1.0]  # profiles and manifests are fetched by id only; Chroma still needs a vector


class ChromaBackend(Embedder):
    """Records in ``{namespace}_examples`` (or one collection per user) and ``{namespace}_profiles``.

    Arguments: as :class:`~langchain_rpm.store.RPMStore` (which builds one of these by default).
    """

    kind = "chroma"

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        client: Any = None,
        embeddings: Embeddings,
        namespace: str = "rpm",
        exact_search_limit: int = 5000,
        lock_timeout: float = 120.0,
        lease_ttl: float = 120.0,
        layout: Literal["shared", "per_user"] = "shared",
    ) -> None:
        """Open (or create) the store's collections on ``client`` or an embedded folder at ``path``."""
        super().__init__(embeddings)
        if min(exact_search_limit, lock_timeout) < 0 or lease_ttl <= 0:
            got = f"{exact_search_limit=}, {lock_timeout=}, {lease_ttl=}"
            raise ConfigurationError(f"need exact_search_limit >= 0, lock_timeout >= 0 and lease_ttl > 0; got {got}")
        if layout not in ("shared", "per_user"):
            raise ConfigurationError(f"layout must be 'shared' or 'per_user', got {layout!r}")
        self.exact_search_limit = exact_search_limit
        self.namespace: str = namespace
        self.layout: str = layout
        self._client = client if client is not None else default_client(path)
        self.folder = embedded_folder(self._client)
        self.is_async = inspect.iscoroutinefunction(getattr(self._client, "get_or_create_collection", None))
        self.coordinator = coordinator_for(self, lock_timeout, lease_ttl)
        self.handles: OrderedDict[Hashable, Any] = OrderedDict()  # open collections (see store.handles)
        self.epoch = self.folder.epoch if self.folder is not None else 0
        self.max_batch: int | None = None
        self.query_cache = QueryCache()  # what queries read, per user, while no write moved the generation
        if self.folder is not None:  # told of this process's explained writes (store/_write_window.py)
            self.folder.watch(self.query_cache)

    @property
    def client(self) -> Any:
        """The Chroma client in use (for an embedded folder: reopened when another process wrote)."""
        return self.folder.client if self.folder is not None else self._client

    def collection(self, kind: str, user_id: str | None = None, *, create: bool = True) -> Plan[Any]:
        """The ``examples``, ``profiles`` or ``leases`` collection, as a plan (created on first use)."""
        return open_collection(self, kind, user_id, create=create)

    def batch_size(self) -> Plan[int]:
        """The client's max batch size, as a plan (asked once)."""
        if self.max_batch is None:
            self.max_batch = max(1, int((yield call(self.client, "get_max_batch_size"))))
        return self.max_batch

    # -- reads -----------------------------------------------------------------------------------------
    def search_plan(
        self, user_id: str, query: str | list[float], k: int, where: dict[str, Any] | None
    ) -> Plan[list[RetrievedExample]]:
        """Exact cosine top-``k`` over the user's manifest (see :mod:`~langchain_rpm.store._reads`)."""
        return reads.search_plan(self, user_id, query, k, where)

    def records_plan(self, user_id: str) -> Plan[Records]:
        """The user's current records."""
        return reads.records_plan(self, user_id)

    def profile_plan(self, user_id: str) -> Plan[UserProfile | None]:
        """The user's profile."""
        return reads.profile_plan(self, user_id)

    def profile_context_plan(self, user_id: str) -> Plan[QueryContext]:
        """The profile and the manifest, in one ``get``."""
        return reads.profile_context_plan(self, user_id)

    def list_users_plan(self) -> Plan[list[str]]:
        """Users with a profile."""
        return reads.list_users_plan(self)

    def current_plan(self, user_id: str) -> Plan[Current]:
        """Records, exactness and profile: manifest and profile in one ``get``, the records in another."""
        return (yield from current_many_plan(self, [user_id]))[0]

    def current_many_plan(self, user_ids: list[str], replacing: Collection[str] = ()) -> Plan[list[Current]]:
        """:meth:`current_plan` of a group commit's users, in two ``get`` calls (shared layout).

        Users in ``replacing`` (a rebuild) get every record id listed, their records are not parsed.
        """
        return current_many_plan(self, user_ids, replacing)

    def query_context_plan(self, user_id: str) -> Plan[QueryContext]:
        """Profile, manifest and the current examples' vectors: two Chroma ``get`` calls (then cached)."""
        return reads.query_context_plan(self, user_id)

    def cached_query_context(self, user_id: str) -> QueryContext | None:
        """The query context this process read under the folder's current write generation (no store read)."""
        return reads.cached_query_context(self, user_id)

    def record_ids_plan(self, user_id: str) -> Plan[list[str]]:
        """Every record of the user, through the user filter."""
        return reads.user_record_ids(self, user_id)

    def vectors_plan(self, user_id: str, ids: list[str]) -> Plan[list[list[float]]]:
        """The stored vectors of ``ids``, in order."""
        if not ids:
            return []
        collection = yield from self.collection("examples", user_id, create=False)
        request = {"ids": ids, "where": user_filter(user_id), "include": ["embeddings", "metadatas"]}
        got = yield call(collection, "get", request)
        embeddings = got.get("embeddings") if got.get("embeddings") is not None else []
        rows = zip(got.get("ids") or [], got.get("metadatas") or [], embeddings, strict=True)
        by_id = {record_id: stored_vector(meta, embedding) for record_id, meta, embedding in rows}
        return [by_id[record_id] for record_id in ids]

    # -- writes ----------------------------------------------------------------------------------------
    def stage_plan(self, user_id: str, staged: Staged) -> Plan[None]:
        """Add the new records in max-size batches."""
        return self.stage_many_plan([(user_id, staged)])

    def stage_many_plan(self, items: list[tuple[str, Staged]]) -> Plan[None]:
        """Add every user's new records; in the shared layout, across users in max-size batches.

        ``add``, not ``upsert``: a staged id carries its write's fresh commit token, so no record has it yet
        (Chroma's ``add`` skips its lookup of existing ids; it would silently keep a record that existed).
        """
        if self.layout == "per_user" and len(items) > 1:
            for one in items:
                yield from self.stage_many_plan([one])
            return
        parts = [
            example_records(user, s.examples, s.vectors, s.version, s.commit, exact_vectors=s.exact, ids=s.ids)
            for user, s in items
        ]
        records = {key: [v for part in parts for v in part[key]] for key in parts[0]} if parts else {"ids": []}
        if not records["ids"]:
            return
        examples = yield from open_collection(self, "examples", items[0][0], fresh=self.layout == "per_user")
        for batch in slices(records, (yield from self.batch_size())):
            yield call(examples, "add", batch)

    def switch_plan(self, user_id: str, ids: list[str], profile: UserProfile | None) -> Plan[None]:
        """Manifest and profile in one upsert of the profiles collection."""
        return self.switch_many_plan([(user_id, ids, profile)])

    def switch_many_plan(self, items: list[tuple[str, list[str], UserProfile | None]]) -> Plan[None]:
        """Manifests and profiles in max-size upserts; a user's manifest and profile always share one."""
        size = max(2, (yield from self.batch_size()))
        profiles = yield from self.collection("profiles")
        batch: dict[str, list[Any]] = {"ids": [], "embeddings": [], "documents": [], "metadatas": []}
        for user_id, ids, profile in items:
            record = _with_vectors(switch_record(user_id, ids, profile))
            if len(batch["ids"]) + len(record["ids"]) > size:
                yield call(profiles, "upsert", batch)
                batch = {key: [] for key in batch}
            for key, values in record.items():
                batch[key] += values
        if batch["ids"]:
            yield call(profiles, "upsert", batch)

    def delete_records_plan(self, user_id: str, ids: list[str]) -> Plan[None]:
        """Delete records in max-size batches."""
        if not ids:
            return
        collection = yield from self.collection("examples", user_id)
        for batch in slices({"ids": ids}, (yield from self.batch_size())):
            yield call(collection, "delete", batch)

    def delete_many_plan(self, items: list[tuple[str, list[str]]]) -> Plan[None]:
        """Delete every user's obsolete records; in the shared layout, across users in max-size batches."""
        if self.layout == "per_user":
            for user_id, ids in items:
                yield from self.delete_records_plan(user_id, ids)
            return
        ids = [rid for _, user_ids in items for rid in user_ids]
        if ids:
            yield from self.delete_records_plan(items[0][0], ids)

    def put_profile_plan(self, profile: UserProfile) -> Plan[None]:
        """Upsert the profile record."""
        profiles = yield from self.collection("profiles")
        yield call(profiles, "upsert", _with_vectors(switch_record(profile.user_id, None, profile)))

    def erase_plan(self, user_id: str) -> Plan[int]:
        """Every example record (per-user layout: the collection), the profile and the manifest."""
        try:
            return (yield from self._erase(user_id))
        finally:
            self.query_cache.drop(user_id)  # after the deletes: a query racing them cannot keep what it read

    def _erase(self, user_id: str) -> Plan[int]:
        if self.folder is not None:  # other processes' query caches drop what they kept (the lock is held)
            yield call(self.folder, "announce_erase")
        ids = yield from reads.user_record_ids(self, user_id)
        if self.layout == "per_user":  # the user's own collection goes, with everything in it
            if (yield from open_collection(self, "examples", user_id, create=False, fresh=True)) is not None:
                name = collection_name(self.namespace, "examples", user_id)
                yield call(self.client, "delete_collection", {"name": name})
            forget_handle(self, user_id)
        else:
            yield from self.delete_records_plan(user_id, ids)
        profiles = yield from self.collection("profiles")
        yield call(profiles, "delete", {"ids": [profile_id(user_id), manifest_id(user_id)]})
        return len(ids)

    def compact_plan(self) -> Plan[list[str]]:
        """Compact an embedded folder (see :mod:`~langchain_rpm.store._compaction`)."""
        return chroma_compact_plan(self)


def _with_vectors(record: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``record`` with the placeholder vector Chroma needs on each record."""
    return {**record, "embeddings": [PROFILE_VECTOR] * len(record["ids"])}
