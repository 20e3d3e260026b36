"""The store's write plans: copy-on-write commits and deleting a user, each under the user's write lock.

A write embeds its examples first (outside the lock), then, holding the lock (:mod:`.locks`):

1. reads what is stored *now* (the manifest's records and the profile), so the profile the caller's
   ``make_profile`` computes describes exactly the examples that will be stored;
2. writes the new records under a fresh commit token (:func:`~langchain_rpm.store.records.example_id`),
   leaving the previous version untouched and searchable;
3. switches to the new version in one call: the manifest (the exact list of current record ids) and the
   profile, in one ``upsert`` of the profiles collection;
4. only then deletes what the switch made obsolete (for a rebuild: every other record of the user,
   including the orphans of a write that failed before its switch).

A write that fails before step 3 leaves the previous profile and examples whole; its new records are
orphans that no read returns and the next rebuild (or forget) deletes.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.plans import run
    >>> from langchain_rpm.store import RPMStore
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
    >>> run(delete_user_plan(store, "nobody"))
    0
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_rpm.errors import ConcurrentWriteError
from langchain_rpm.plans import Plan
from langchain_rpm.store.handles import forget_handle, open_collection
from langchain_rpm.store.io import call
from langchain_rpm.store.locks import Held
from langchain_rpm.store.reads import (
    MANIFEST_KIND,
    manifest_plan,
    profile_plan,
    records_plan,
    user_record_ids,
)
from langchain_rpm.store.records import (
    collection_name,
    encode_manifest,
    example_records,
    features_text,
    manifest_id,
    profile_id,
    slices,
    user_filter,
)
from langchain_rpm.types import ReasoningExample, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.store.core import RPMStore

MakeProfile = Callable[[list[ReasoningExample], UserProfile | None], UserProfile]
PROFILE_VECTOR = [1.0]  # profiles and manifests are fetched by id only; Chroma still needs a vector


@dataclass(frozen=True)
class WriteResult:
    """What a write stored: the new record ids, the profile switched to (if any), records deleted."""

    ids: list[str]
    profile: UserProfile | None
    removed: int


@dataclass(frozen=True)
class _Request:
    user_id: str
    examples: Sequence[ReasoningExample]
    texts: list[str]
    vectors: list[list[float]]
    replace: bool
    make_profile: MakeProfile | None
    version: int
    expected_version: int | None


def write_plan(
    store: RPMStore,
    user_id: str,
    examples: Sequence[ReasoningExample],
    *,
    replace: bool,
    make_profile: MakeProfile | None = None,
    version: int = 1,
    expected_version: int | None = None,
) -> Plan[WriteResult]:
    """Store ``examples`` for ``user_id`` copy-on-write, under the user's write lock.

    Args:
        store: The store.
        user_id: The user.
        examples: New examples (with ``replace``: the user's whole set; else added to what is stored,
            replacing stored examples of the same item id).
        replace: Whether ``examples`` replace every stored example of the user.
        make_profile: ``(all examples after the write, current profile) -> new profile``; called under
            the lock. Without it the profile record is left as it is.
        version: ``profile_version`` of the records when there is no ``make_profile``.
        expected_version: Refuse (:class:`ConcurrentWriteError`) unless the stored profile has this
            version (``None``: no check), for writes computed from a profile read earlier.
    """
    user_filter(user_id)
    texts = [features_text(ex.features) or ex.input for ex in examples]
    vectors = (yield from store.embed(texts)) if examples else []
    request = _Request(user_id, examples, texts, vectors, replace, make_profile, version, expected_version)
    return (yield from store.coordinator.locked(user_id, lambda held: _write_locked(store, held, request)))


def _write_locked(store: RPMStore, held: Held, request: _Request) -> Plan[WriteResult]:
    user_id = request.user_id
    exact = (yield from manifest_plan(store, user_id)) is not None
    current = yield from records_plan(store, user_id)  # without an exact manifest: repaired from the records
    previous = yield from profile_plan(store, user_id)
    if request.expected_version is not None and (previous.version if previous else None) != request.expected_version:
        raise ConcurrentWriteError(
            f"user {user_id!r}: the profile changed while this write was prepared (expected version "
            f"{request.expected_version}, stored {previous.version if previous else None}); re-run it"
        )
    new_items = {ex.item_id for ex in request.examples}
    kept = {} if request.replace else {rid: ex for rid, (ex, _) in current.items() if ex.item_id not in new_items}
    every = sorted([*kept.values(), *request.examples], key=lambda ex: ex.item_id)
    profile = request.make_profile(every, previous) if request.make_profile is not None else None
    commit = uuid.uuid4().hex[:16]
    version = profile.version if profile is not None else request.version
    records = example_records(user_id, request.examples, request.texts, request.vectors, version, commit)
    examples = yield from open_collection(store, "examples", user_id, fresh=store.layout == "per_user")
    for batch in slices(records, (yield from store.batch_size())):
        yield call(examples, "upsert", batch)
    yield from store.coordinator.verify(held)
    current_ids = [*kept, *records["ids"]]
    yield from _switch(store, user_id, current_ids, profile)
    if request.replace or not exact:
        obsolete = [rid for rid in (yield from user_record_ids(store, user_id)) if rid not in set(current_ids)]
    else:
        obsolete = [rid for rid in current if rid not in kept]
    yield from _delete_records(store, examples, obsolete)
    return WriteResult(list(records["ids"]), profile, len(obsolete))


def _switch(store: RPMStore, user_id: str, ids: list[str], profile: UserProfile | None) -> Plan[None]:
    """Make ``ids`` (and ``profile``) the user's current version, in one upsert."""
    record: dict[str, list[Any]] = {
        "ids": [manifest_id(user_id)],
        "embeddings": [PROFILE_VECTOR],
        "documents": [encode_manifest(ids)],
        "metadatas": [{"user_id": user_id, "kind": MANIFEST_KIND}],
    }
    if profile is not None:
        record["ids"].append(profile_id(user_id))
        record["embeddings"].append(PROFILE_VECTOR)
        record["documents"].append(profile.model_dump_json())
        record["metadatas"].append({"user_id": user_id, "version": profile.version})
    profiles = yield from store.collection("profiles")
    yield call(profiles, "upsert", record)


def _delete_records(store: RPMStore, collection: Any, ids: list[str]) -> Plan[None]:
    if not ids:
        return
    for batch in slices({"ids": ids}, (yield from store.batch_size())):
        yield call(collection, "delete", batch)


def save_profile_plan(store: RPMStore, profile: UserProfile) -> Plan[None]:
    """Store (replace) a user's profile record, under the user's write lock (the examples are not touched)."""
    user_filter(profile.user_id)

    def body(held: Held) -> Plan[None]:
        profiles = yield from store.collection("profiles")
        record = {
            "ids": [profile_id(profile.user_id)],
            "embeddings": [PROFILE_VECTOR],
            "documents": [profile.model_dump_json()],
            "metadatas": [{"user_id": profile.user_id, "version": profile.version}],
        }
        yield call(profiles, "upsert", record)

    yield from store.coordinator.locked(profile.user_id, body)


def delete_user_plan(store: RPMStore, user_id: str) -> Plan[int]:
    """Delete every example record (current, superseded, orphaned), the profile and the manifest of a user.

    Returns the number of example records deleted.
    """
    user_filter(user_id)

    def body(held: Held) -> Plan[int]:
        ids = yield from user_record_ids(store, user_id)
        if store.layout == "per_user":  # the user's own collection goes, with everything in it
            if (yield from open_collection(store, "examples", user_id, create=False, fresh=True)) is not None:
                name = collection_name(store.namespace, "examples", user_id)
                yield call(store.client, "delete_collection", {"name": name})
            forget_handle(store, user_id)
        else:
            examples = yield from store.collection("examples")
            yield from _delete_records(store, examples, ids)
        profiles = yield from store.collection("profiles")
        yield call(profiles, "delete", {"ids": [profile_id(user_id), manifest_id(user_id)]})
        return len(ids)

    return (yield from store.coordinator.locked(user_id, body))
