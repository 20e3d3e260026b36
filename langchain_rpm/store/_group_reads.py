"""What a write reads under its lock, for one user or a group commit of many, in two Chroma calls.

A write needs each user's manifest, profile and current records, and (for a rebuild, or a user without
an exact manifest) every record id of the user, orphans included. Read one user at a time, a group
commit of N users costs 3N ``get`` calls; here the manifests and profiles of every user come in one
``get`` of the profiles collection, and the examples collection is read once (shared layout): a user
whose write keeps records and whose manifest is exact by the manifest's ids, every other user through
a filter naming exactly these users, which lists every record of theirs (so the obsolete ones are known
without a third read). Every call is scoped to the users of the write (``$in`` of their ids, or one
user's :func:`~langchain_rpm.store._records.user_filter`) and cut at the client's max batch size; none
is a scan of other users' records (the user filter is answered by Chroma's metadata index).

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.store import RPMStore
    >>> backend = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)).backend
    >>> [(now.records, now.profile) for now in run(current_many_plan(backend, ["ada", "bo"]))]
    [({}, None), ({}, None)]
    >>> users_filter(["ada", "bo"])
    {'user_id': {'$in': ['ada', 'bo']}}
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from langchain_rpm._plans import Plan
from langchain_rpm.store._backend import ChromaParts, Current
from langchain_rpm.store._io import call
from langchain_rpm.store._reads import _read_examples, newest_records, written_before_manifests
from langchain_rpm.store._records import decode_manifest, manifest_id, profile_id, stored_texts, user_filter
from langchain_rpm.types import UserProfile

Rows = dict[str, list[tuple[str, dict[str, Any]]]]  # user -> [(record id, metadata)]


def users_filter(user_ids: list[str]) -> dict[str, Any]:
    """A ``where`` naming exactly these users (one user: :func:`~langchain_rpm.store._records.user_filter`)."""
    for user in user_ids:
        user_filter(user)  # validates every id
    return user_filter(user_ids[0]) if len(user_ids) == 1 else {"user_id": {"$in": list(user_ids)}}


def current_many_plan(store: ChromaParts, user_ids: list[str], replacing: Collection[str] = ()) -> Plan[list[Current]]:
    """Each user's state: profile and head in one ``get``, the records in one more.

    A user with an exact manifest whose write keeps records (not in ``replacing``) is read by the
    manifest's ids; every other user through the user filter, which lists every record of the user
    (orphans of failed writes too) in :attr:`Current.every`, so the write needs no further read to
    find what its switch makes obsolete. The records of a user in ``replacing`` are not parsed (the
    write replaces them all).
    """
    documents = yield from _profiles_and_manifests(store, user_ids)
    manifests = {user: _exact_ids(documents.get(manifest_id(user))) for user in user_ids}
    scanned = [user for user in user_ids if manifests[user] is None or user in replacing]
    rows = yield from _rows_by_ids(store, [user for user in user_ids if user not in scanned], manifests)
    rows.update((yield from _rows_by_filter(store, scanned, replacing)))
    currents = []
    for user in user_ids:
        every = [record_id for record_id, _ in rows.get(user, [])] if user in scanned else None
        records = {} if user in replacing else newest_records(_current_rows(rows.get(user, []), manifests[user]))
        profile = documents.get(profile_id(user))
        parsed = UserProfile.model_validate_json(profile) if profile else None
        currents.append(Current(records, manifests[user] is not None, parsed, every))
    return currents


def _current_rows(
    rows: list[tuple[str, dict[str, Any]]], manifest: list[str] | None
) -> list[tuple[str, dict[str, Any]]]:
    """The rows an exact manifest lists (without one: the older versions' rows; the newest of each item wins)."""
    if manifest is None:
        return written_before_manifests(rows)
    listed = set(manifest)
    return [row for row in rows if row[0] in listed]


def _rows_by_filter(store: ChromaParts, user_ids: list[str], replacing: Collection[str] = ()) -> Plan[Rows]:
    """Every record of these users through their filter: one ``get`` (per-user layout: one per user).

    One user whose write replaces every record gets the ids alone (its records are not parsed): reading
    200 records' metadata costs about 5 ms more CPU than their ids.
    """
    rows: Rows = {}
    for users in [[user] for user in user_ids] if store.layout == "per_user" else [user_ids] if user_ids else []:
        if len(users) == 1 and users[0] in replacing:
            stored = yield from _read_examples(store, users[0], {"where": users_filter(users), "include": []})
            rows[users[0]] = [(record_id, {}) for record_id in stored.get("ids") or []]
            continue
        request = {"where": users_filter(users), "include": ["metadatas"]}
        stored = yield from _read_examples(store, users[0], request)
        for record_id, meta in zip(stored.get("ids") or [], stored.get("metadatas") or [], strict=True):
            rows.setdefault(meta["user_id"], []).append((record_id, meta))
    return rows


def _profiles_and_manifests(store: ChromaParts, user_ids: list[str]) -> Plan[dict[str, str]]:
    """``{record id: JSON}`` of the users' profiles and manifests (two records per user)."""
    per_call = max(1, (yield from store.batch_size()) // 2)
    profiles = yield from store.collection("profiles")
    documents: dict[str, str] = {}
    for start in range(0, len(user_ids), per_call):
        users = user_ids[start : start + per_call]
        wanted = [record_id for user in users for record_id in (profile_id(user), manifest_id(user))]
        request = {"ids": wanted, "where": users_filter(users), "include": ["documents", "metadatas"]}
        documents.update(stored_texts((yield call(profiles, "get", request))))
    return documents


def _exact_ids(document: str | None) -> list[str] | None:
    if document is None:
        return None
    ids, exact = decode_manifest(document)
    return ids if exact else None


def _rows_by_ids(store: ChromaParts, users: list[str], manifests: dict[str, list[str] | None]) -> Plan[Rows]:
    """The records the users' manifests list: one ``get`` per max batch (per-user layout: per user)."""
    wanted = [(user, record_id) for user in users for record_id in manifests[user] or []]
    groups = (
        [[pair for pair in wanted if pair[0] == user] for user in users] if store.layout == "per_user" else [wanted]
    )
    size = yield from store.batch_size()
    rows: Rows = {}
    for group in groups:
        for start in range(0, len(group), size):
            owners = dict((record_id, user) for user, record_id in group[start : start + size])
            if not owners:
                continue
            where = users_filter(sorted(set(owners.values())))
            got = yield from _read_examples(
                store, group[start][0], {"ids": list(owners), "where": where, "include": ["metadatas"]}
            )
            for record_id, meta in zip(got.get("ids") or [], got.get("metadatas") or [], strict=True):
                rows.setdefault(owners[record_id], []).append((record_id, meta))
    return rows
