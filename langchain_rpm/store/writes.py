"""The store's write plans on any backend: copy-on-write commits and deleting a user, under the user's lock.

A write embeds its examples first (outside the lock), then, holding the lock (:mod:`.locks`):

1. reads what is stored *now* (the manifest, once, its records and the profile), so the profile the caller's
   ``make_profile`` computes describes exactly the examples that will be stored;
2. writes the new records under a fresh commit token (:func:`~langchain_rpm.store.records.example_id`),
   leaving the previous version untouched and searchable;
3. switches to the new version in one call: the manifest (the exact list of current record ids) and the
   profile, in one write (Chroma: one ``upsert`` of the profiles collection; a LangGraph store: one item);
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
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_rpm.errors import ConcurrentWriteError
from langchain_rpm.plans import Plan
from langchain_rpm.store._backend import Backend, HasBackend, MakeProfile, Staged, backend_of
from langchain_rpm.store.locks import Held
from langchain_rpm.store.records import example_id, features_text, user_filter
from langchain_rpm.types import ReasoningExample, UserProfile

__all__ = ["MakeProfile", "WriteResult", "delete_user_plan", "save_profile_plan", "write_plan"]


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
    exact: bool


def write_plan(
    store: Backend | HasBackend,
    user_id: str,
    examples: Sequence[ReasoningExample],
    *,
    replace: bool,
    make_profile: MakeProfile | None = None,
    version: int = 1,
    expected_version: int | None = None,
    vectors: list[list[float]] | None = None,
) -> Plan[WriteResult]:
    """Store ``examples`` for ``user_id`` copy-on-write, under the user's write lock.

    Args:
        store: The store (or its backend).
        user_id: The user.
        examples: New examples (with ``replace``: the user's whole set; else added to what is stored,
            replacing stored examples of the same item id).
        replace: Whether ``examples`` replace every stored example of the user.
        make_profile: ``(all examples after the write, current profile) -> new profile``; called under
            the lock. Without it the profile record is left as it is.
        version: ``profile_version`` of the records when there is no ``make_profile``.
        expected_version: Refuse (:class:`ConcurrentWriteError`) unless the stored profile has this
            version (``None``: no check), for writes computed from a profile read earlier.
        vectors: The examples' vectors, already computed with the store's embeddings (an import).
    """
    backend = backend_of(store)
    user_filter(user_id)
    texts = [features_text(ex.features) or ex.input for ex in examples]
    exact = vectors is not None
    if vectors is None:
        vectors = (yield from backend.embed(texts)) if examples else []
    request = _Request(user_id, examples, texts, vectors, replace, make_profile, version, expected_version, exact)
    return (yield from backend.coordinator.locked(user_id, lambda held: _write_locked(backend, held, request)))


def _write_locked(backend: Backend, held: Held, request: _Request) -> Plan[WriteResult]:
    user_id = request.user_id
    now = yield from backend.current_plan(user_id)  # without an exact manifest: repaired from the records
    previous = now.profile
    if request.expected_version is not None and (previous.version if previous else None) != request.expected_version:
        raise ConcurrentWriteError(
            f"user {user_id!r}: the profile changed while this write was prepared (expected version "
            f"{request.expected_version}, stored {previous.version if previous else None}); re-run it"
        )
    new_items = {ex.item_id for ex in request.examples}
    current = now.records
    kept = {} if request.replace else {rid: ex for rid, (ex, _) in current.items() if ex.item_id not in new_items}
    every = sorted([*kept.values(), *request.examples], key=lambda ex: ex.item_id)
    profile = request.make_profile(every, previous) if request.make_profile is not None else None
    commit = uuid.uuid4().hex[:16]
    version = profile.version if profile is not None else request.version
    ids = [example_id(user_id, ex.item_id, commit) for ex in request.examples]
    staged = Staged(ids, request.examples, request.texts, request.vectors, version, commit, request.exact)
    yield from backend.stage_plan(user_id, staged)
    yield from backend.coordinator.verify(held)
    current_ids = [*kept, *ids]
    yield from backend.switch_plan(user_id, current_ids, profile)
    if request.replace or not now.exact:
        keep = set(current_ids)
        obsolete = [rid for rid in (yield from backend.record_ids_plan(user_id)) if rid not in keep]
    else:
        obsolete = [rid for rid in current if rid not in kept]
    yield from backend.delete_records_plan(user_id, obsolete)
    return WriteResult(ids, profile, len(obsolete))


def save_profile_plan(store: Backend | HasBackend, profile: UserProfile) -> Plan[None]:
    """Store (replace) a user's profile record, under the user's write lock (the examples are not touched)."""
    backend = backend_of(store)
    user_filter(profile.user_id)
    yield from backend.coordinator.locked(profile.user_id, lambda held: backend.put_profile_plan(profile))


def delete_user_plan(store: Backend | HasBackend, user_id: str) -> Plan[int]:
    """Delete every example record (current, superseded, orphaned), the profile and the manifest of a user.

    Returns the number of example records deleted.
    """
    backend = backend_of(store)
    user_filter(user_id)
    return (yield from backend.coordinator.locked(user_id, lambda held: backend.erase_plan(user_id)))
