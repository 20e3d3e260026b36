"""The store's read plans: the user's manifest, examples, profile, users, and exact search.

Every read is scoped to one user (:func:`~langchain_rpm.store._records.user_filter`). A user's current
examples are exactly the ids their manifest lists (written in the same call as the profile, so the two
switch together); a store whose manifest is missing or was written by an older version (a bare list,
which could miss ids) is read through the user filter instead, keeping the records of versions before
commit tokens (:func:`written_before_manifests`): a record with a token no exact manifest lists is the
orphan of a write that failed before its switch (a failed first build leaves nothing else), never shown.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.store import RPMStore
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)).backend
    >>> run(examples_plan(store, "ada"))
    []
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chromadb.errors import NotFoundError

from langchain_rpm._plans import Plan
from langchain_rpm.store._backend import ChromaParts, Current, QueryContext, Records
from langchain_rpm.store._handles import forget_handle
from langchain_rpm.store._io import call, is_stale_index_error
from langchain_rpm.store._locks import reopen_plan
from langchain_rpm.store._query_cache import CachedContext
from langchain_rpm.store._records import (
    KEEPER_KIND,
    MANIFEST_KIND,
    decode_manifest,
    hits,
    joined_text,
    manifest_id,
    profile_id,
    rank,
    stored_texts,
    user_filter,
)
from langchain_rpm.types import ReasoningExample, RetrievedExample, UserProfile

_ATTEMPTS = 3  # reads retried when a concurrent switch or another process's write got in the way


def manifest_plan(store: ChromaParts, user_id: str) -> Plan[list[str] | None]:
    """The exact record ids of the user's examples, or ``None`` (no manifest, or one that may miss ids)."""
    text = (yield from _stored_texts(store, user_id, [manifest_id(user_id)])).get(manifest_id(user_id))
    if text is None:
        return None
    ids, exact = decode_manifest(text)
    return ids if exact else None


def _stored_texts(store: ChromaParts, user_id: str, record_ids: list[str]) -> Plan[dict[str, str]]:
    """``{record id: JSON}`` of the user's manifest and/or profile (:func:`~._records.stored_texts`)."""
    profiles = yield from store.collection("profiles")
    request = {"ids": record_ids, "where": user_filter(user_id), "include": ["documents", "metadatas"]}
    return stored_texts((yield call(profiles, "get", request)))


def user_record_ids(store: ChromaParts, user_id: str) -> Plan[list[str]]:
    """Every example record of the user, through the user filter (orphans of failed writes included)."""
    stored = yield from _read_examples(store, user_id, {"where": user_filter(user_id), "include": []})
    return list(stored.get("ids") or [])


def _read_examples(store: ChromaParts, user_id: str, request: dict[str, Any]) -> Plan[dict[str, Any]]:
    """A ``get`` on the collection holding the user's examples; empty when the user has none (or was forgotten)."""
    collection = yield from store.collection("examples", user_id, create=False)
    if collection is None:
        return {}
    try:
        return dict((yield call(collection, "get", request)))
    except NotFoundError:  # per-user layout: another store object deleted the forgotten user's collection
        forget_handle(store, user_id)
        return {}


def records_plan(store: ChromaParts, user_id: str) -> Plan[Records]:
    """The user's current example records: ``{record id: (example, profile_version)}``, one per item."""
    return (yield from _records(store, user_id))[0]


def current_plan(store: ChromaParts, user_id: str) -> Plan[Current]:
    """Records (the manifest read once), whether the manifest was exact, and the profile."""
    records, exact = yield from _records(store, user_id)
    return Current(records, exact, (yield from profile_plan(store, user_id)))


def _records(store: ChromaParts, user_id: str) -> Plan[tuple[Records, bool]]:
    ids = yield from manifest_plan(store, user_id)
    request: dict[str, Any] = {"where": user_filter(user_id), "include": ["metadatas"]}
    if ids is not None:
        if not ids:
            return {}, True
        request["ids"] = ids
    result = yield from _read_examples(store, user_id, request)
    rows = list(zip(result.get("ids") or [], result.get("metadatas") or [], strict=True))
    return newest_records(rows if ids is not None else written_before_manifests(rows)), ids is not None


def written_before_manifests(rows: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The ``(record id, metadata)`` rows a user without an exact manifest has current: no commit token.

    Commit tokens and exact manifests came in one change, and every write since switches an exact manifest
    listing its records; a record with a token that no exact manifest lists is therefore the orphan of a
    write that failed before its switch. Records of older versions carry no token and stay current.

    Example:
        >>> written_before_manifests([("a", {"user_id": "u"}), ("b", {"commit": "9f2c"}), ("c", {"commit": ""})])
        [('a', {'user_id': 'u'}), ('c', {'commit': ''})]
    """
    return [(record_id, meta) for record_id, meta in rows if _untokened(meta)]


def _untokened(meta: dict[str, Any] | None) -> bool:
    """Whether a record's metadata carries no commit token (a version before exact manifests wrote it)."""
    return not (meta or {}).get("commit")


def newest_records(rows: Iterable[tuple[str, dict[str, Any]]]) -> Records:
    """``(record id, metadata)`` rows as records, one per item (without a manifest: the newest wins)."""
    best: dict[str, tuple[str, ReasoningExample, int]] = {}
    for record_id, meta in rows:
        example = ReasoningExample.model_validate_json(joined_text(meta, "example"))
        version = int(meta.get("profile_version") or 0)
        seen = best.get(example.item_id)
        if seen is None or version > seen[2]:  # without a manifest: the newest record of an item wins
            best[example.item_id] = (record_id, example, version)
    return {record_id: (example, version) for record_id, example, version in best.values()}


def examples_plan(store: ChromaParts, user_id: str) -> Plan[list[ReasoningExample]]:
    """All current examples of ``user_id``, ordered by item id."""
    records = yield from records_plan(store, user_id)
    return sorted((example for example, _ in records.values()), key=lambda ex: ex.item_id)


def profile_plan(store: ChromaParts, user_id: str) -> Plan[UserProfile | None]:
    """The stored profile of ``user_id``, or ``None``."""
    text = (yield from _stored_texts(store, user_id, [profile_id(user_id)])).get(profile_id(user_id))
    return UserProfile.model_validate_json(text) if text is not None else None


def profile_context_plan(store: ChromaParts, user_id: str) -> Plan[QueryContext]:
    """The stored profile (its JSON, parsed at first use) and the manifest naming the current examples: one ``get``."""
    profile, manifest = yield from _profile_and_manifest(store, user_id)
    return QueryContext(profile, examples_key=manifest)


def _profile_and_manifest(store: ChromaParts, user_id: str) -> Plan[tuple[str | None, str | None]]:
    """The user's stored profile and manifest documents (``None`` where there is none), in one ``get``."""
    wanted = [profile_id(user_id), manifest_id(user_id)]
    documents = yield from _stored_texts(store, user_id, wanted)
    return documents.get(wanted[0]), documents.get(wanted[1])


def list_users_plan(store: ChromaParts) -> Plan[list[str]]:
    """Ids of every user with a stored profile, sorted (paged under the max batch size)."""
    collection = yield from store.collection("profiles")
    size = yield from store.batch_size()
    users: set[str] = set()
    offset = 0
    while True:
        page = yield call(collection, "get", {"include": ["metadatas"], "limit": size, "offset": offset})
        metadatas = page.get("metadatas") or []
        users.update(m["user_id"] for m in metadatas if m.get("kind") not in (MANIFEST_KIND, KEEPER_KIND))
        if len(metadatas) < size:
            return sorted(users)
        offset += size


def search_plan(
    store: ChromaParts, user_id: str, query: str | list[float], k: int, where: dict[str, Any] | None = None
) -> Plan[list[RetrievedExample]]:
    """The user's ``k`` examples nearest (cosine) to ``query`` (a text, embedded here, or a vector)."""
    flt = user_filter(user_id, where)
    if k <= 0:
        return []
    vector = (yield from store.embed([query], query=True))[0] if isinstance(query, str) else query
    for attempt in range(_ATTEMPTS):
        last = attempt == _ATTEMPTS - 1
        try:
            found = yield from _ranked(store, user_id, flt, vector, k, strict=not last)
        except Exception as exc:  # an embedded index behind another process's write: reopen and read again
            if last or store.folder is None or not is_stale_index_error(exc):
                raise
            yield from reopen_plan(store.folder, store.coordinator.timeout)
            continue
        if found is not None:
            return found
    return []  # pragma: no cover - the last attempt always returns


def _ranked(
    store: ChromaParts, user_id: str, flt: dict[str, Any], vector: list[float], k: int, *, strict: bool
) -> Plan[list[RetrievedExample] | None]:
    """One search attempt; ``None`` when a concurrent switch removed records it was about to return."""
    collection = yield from store.collection("examples", user_id, create=False)
    if collection is None:
        return []
    limit = store.exact_search_limit
    manifest = yield from manifest_plan(store, user_id)
    # By id when the manifest is exact (~0.2 ms), else with the user filter (Chroma scans: ~10 ms at 100k).
    request = {"ids": manifest[: limit + 1]} if manifest is not None else {"limit": limit + 1}
    if manifest is not None and not manifest:
        return []
    include = ["embeddings"] if manifest is not None else ["embeddings", "metadatas"]
    found = yield call(collection, "get", {**request, "where": flt, "include": include})
    ids = found.get("ids") or []
    if len(ids) <= limit and manifest is None:  # no exact manifest: only the records of older versions
        found = _older_records(found)
        ids = found["ids"]
    if not ids:
        return []
    if len(ids) > limit:  # a very large user: Chroma's filtered HNSW query (approximate)
        query_args = {"query_embeddings": [vector], "n_results": k, "where": flt}
        result = yield call(collection, "query", {**query_args, "include": ["metadatas", "distances"]})
        current = set(manifest) if manifest is not None else None
        pairs = [
            (meta, 1.0 - float(distance))
            for record_id, meta, distance in zip(
                (result.get("ids") or [[]])[0],
                (result.get("metadatas") or [[]])[0],
                (result.get("distances") or [[]])[0],
                strict=True,
            )
            if (record_id in current if current is not None else _untokened(meta))
        ]
        return hits(user_id, [meta for meta, _ in pairs], [score for _, score in pairs])
    ranked = rank(found.get("embeddings"), vector, k)
    top_ids = [ids[row] for row, _ in ranked]
    got = yield call(collection, "get", {"ids": top_ids, "where": flt, "include": ["metadatas"]})
    by_id = dict(zip(got.get("ids") or [], got.get("metadatas") or [], strict=True))
    if strict and len(by_id) < len(top_ids):
        return None  # the user's examples were switched between the two reads: read the new manifest
    kept = [(by_id[ids[row]], score) for row, score in ranked if ids[row] in by_id]
    return hits(user_id, [meta for meta, _ in kept], [score for _, score in kept])


def _older_records(found: dict[str, Any]) -> dict[str, Any]:
    """A ``get``'s ids and embeddings of only the rows :func:`written_before_manifests` keeps."""
    embeddings = [] if found.get("embeddings") is None else found["embeddings"]
    rows = zip(found.get("ids") or [], found.get("metadatas") or [], embeddings, strict=True)
    kept = [(record_id, vector) for record_id, meta, vector in rows if _untokened(meta)]
    return {"ids": [record_id for record_id, _ in kept], "embeddings": [vector for _, vector in kept]}


def cached_query_context(store: ChromaParts, user_id: str) -> QueryContext | None:
    """The user's query context from this process's cache, if no write moved the store's generation since."""
    generation = _generation(store)
    entry = _ranked_here(store, store.query_cache.lookup(user_id, generation, _erasures(store)))
    return entry.context() if entry is not None else None


def _ranked_here(store: ChromaParts, entry: CachedContext | None) -> CachedContext | None:
    """``entry``, unless it holds more rows than the store ranks exactly.

    A write of this process may grow a held user past ``exact_search_limit``; a read would then search
    with Chroma's index, so the query reads.
    """
    return None if entry is not None and len(entry.metadatas) > store.exact_search_limit else entry


def _erasures(store: ChromaParts) -> str | None:
    return store.folder.erasures if store.folder is not None else None


def _generation(store: ChromaParts) -> tuple[int, str, bytes] | None:
    """The folder's write generation (``None``: a server or in-memory client, not cached)."""
    return store.folder.generation() if store.folder is not None else None


def query_context_plan(store: ChromaParts, user_id: str) -> Plan[QueryContext]:
    """The profile, the manifest and the current examples' vectors and records: one or two Chroma ``get`` calls.

    Profile and manifest come in one ``get`` of the profiles collection. When this process read the user's
    examples for that very manifest before (another user's write moved the generation since), they are kept
    (:meth:`~langchain_rpm.store._query_cache.QueryCache.previous`): one ``get`` in all. Otherwise the examples
    (embeddings and metadata by the manifest's ids) come in one ``get`` of theirs. A switch by a concurrent
    writer between the two reads shows as missing records and is read again; so is an embedded index behind
    another process's write (as in :func:`search_plan`). What was read is cached under the generation looked
    up *before* the read (:mod:`~langchain_rpm.store._query_cache`), so a write during it is never hidden.
    """
    generation = _generation(store)
    store.query_cache.lookup(user_id, generation, _erasures(store))  # reads under older generations are not kept
    previous = _ranked_here(store, store.query_cache.previous(user_id))
    switched = store.query_cache.pending(user_id, generation)  # this process's write of the user, explained
    for attempt in range(_ATTEMPTS):
        try:
            found = yield from _query_context(store, user_id, previous, switched if attempt == 0 else None)
        except Exception as exc:
            if attempt == _ATTEMPTS - 1 or store.folder is None or not is_stale_index_error(exc):
                raise
            yield from reopen_plan(store.folder, store.coordinator.timeout)
            continue
        if found is not None:
            store.query_cache.store(user_id, generation, found)
            return found.context()
    profile = yield from profile_plan(store, user_id)  # switched under every attempt: search as usual
    return QueryContext(profile)


def _query_context(
    store: ChromaParts, user_id: str, previous: CachedContext | None, switched: CachedContext | None = None
) -> Plan[CachedContext | None]:
    """One attempt of :func:`query_context_plan`; ``None`` when a concurrent switch got in the way.

    ``switched``: the profile and manifest this process's write stored, nothing written since (no ``get``).
    """
    flt = user_filter(user_id)
    profile: str | None
    manifest: str | None
    if switched is not None and switched.profile_json is not None:
        profile, manifest = switched.profile_json, switched.manifest
    else:
        profile, manifest = yield from _profile_and_manifest(store, user_id)
        if profile is None:
            return CachedContext(None)
    kept = previous.reused(profile, manifest) if previous is not None and manifest is not None else None
    if kept is not None:
        return kept  # the same records (copy-on-write ids are never rewritten): no read of the examples
    ids, exact = decode_manifest(manifest) if manifest is not None else ([], False)
    if not exact or len(ids) > store.exact_search_limit:
        return CachedContext(profile, manifest=manifest)  # an older manifest, or a very large user: search as usual
    rows, missing = previous.rows(ids) if previous is not None else ([], ids)
    request = {"ids": missing, "where": flt, "include": ["embeddings", "metadatas"]}
    found = (yield from _read_examples(store, user_id, request)) if missing else {}
    if len(found.get("ids") or []) != len(missing):
        return None
    if rows and previous is not None and manifest is not None:  # the user's own write: only its new records are read
        return previous.extended(profile, manifest, rows, found)
    embeddings = [] if found.get("embeddings") is None else found["embeddings"]
    return CachedContext.of(
        user_id, profile, embeddings, found.get("metadatas") or [], manifest, found.get("ids") or []
    )
