"""The store's write plans on any backend: copy-on-write commits and deleting a user, under the user's lock.

A write embeds its examples first (outside the lock), then, holding the lock (:mod:`.locks`):

1. reads what is stored *now* (the manifest, once, its records and the profile), so the profile the caller's
   ``make_profile`` computes describes exactly the examples that will be stored;
2. writes the new records under a fresh commit token (:func:`~langchain_rpm.store._records.example_id`),
   leaving the previous version untouched and searchable;
3. switches to the new version in one call: the manifest (the exact list of current record ids) and the
   profile, in one write (Chroma: one ``upsert`` of the profiles collection; a LangGraph store: one item);
4. only then deletes what the switch made obsolete (for a rebuild: every other record of the user,
   including the orphans of a write that failed before its switch).

A write that fails before step 3 leaves the previous profile and examples whole; its new records are
orphans that no read returns and the next rebuild (or forget) deletes.

A build may have embedded its examples ahead of the commit (:mod:`~langchain_rpm.store._ahead`): an
example exactly as committed is not embedded again.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.store import RPMStore
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
    >>> run(delete_user_plan(store, "nobody"))
    0
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_rpm._plans import Plan, Request
from langchain_rpm._process_caches import drop_user
from langchain_rpm.errors import ConcurrentWriteError, ConfigurationError
from langchain_rpm.store._ahead import Embedded, vectors_ahead
from langchain_rpm.store._backend import Backend, Current, HasBackend, MakeProfile, Staged, backend_of
from langchain_rpm.store._locks import Held
from langchain_rpm.store._records import example_id, features_text, user_filter
from langchain_rpm.store._write_window import Switched
from langchain_rpm.types import ReasoningExample, UserProfile

__all__ = [
    "MakeProfile",
    "UserWrite",
    "WriteResult",
    "delete_user_plan",
    "group_commit_plan",
    "save_profile_plan",
    "write_many_plan",
    "write_one_plan",
    "write_plan",
]


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
    ahead: Mapping[str, Embedded] | None = None,
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
        ahead: Examples embedded ahead of the write, by item id (:mod:`~langchain_rpm.store._ahead`).
    """
    backend = backend_of(store)
    user_filter(user_id)
    write = UserWrite(user_id, examples, make_profile, replace, version, expected_version, vectors, ahead)
    request = (yield from _requests(backend, [write]))[0]
    result = yield from backend.coordinator.locked(user_id, lambda held: _write_locked(backend, held, request))
    if make_profile is None:  # the profile record, and so its revision, stays: what was derived from it goes
        drop_user(user_id)
    return result


@dataclass(frozen=True)
class _Prepared:
    staged: Staged
    current_ids: list[str]
    obsolete: list[str] | None  # None: every record of the user not current (found by a scan)
    profile: UserProfile | None


def _prepare(request: _Request, now: Current) -> _Prepared:
    """Check the expected version against what is stored now, compute the profile and the new records."""
    user_id = request.user_id
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
    current_ids = [*kept, *ids]
    if now.every is not None:  # the read listed every record of the user: the rest is obsolete
        keep = set(current_ids)
        obsolete: list[str] | None = [rid for rid in now.every if rid not in keep]
    else:
        obsolete = None if request.replace or not now.exact else [rid for rid in current if rid not in kept]
    return _Prepared(staged, current_ids, obsolete, profile)


def _write_locked(backend: Backend, held: Held, request: _Request) -> Plan[WriteResult]:
    """One user's write: the group commit's steps for a group of one, the user's own error raised."""
    result = (yield from _commit_locked(backend, [held], [request]))[0]
    if isinstance(result, Exception):
        raise result
    return result


def _obsolete(backend: Backend, parts: list[tuple[str, _Prepared]]) -> Plan[list[list[str]]]:
    """Each user's records the switch made obsolete (a user the read did not list: scanned now)."""
    every = []
    for user, part in parts:
        if part.obsolete is None:
            keep = set(part.current_ids)
            every.append([r for r in (yield from backend.record_ids_plan(user)) if r not in keep])
        else:
            every.append(part.obsolete)
    return every


def _current_many(backend: Backend, requests: list[_Request]) -> Plan[list[Current]]:
    """Every user's stored state: in one batched read where the backend offers it, else user by user."""
    users = [request.user_id for request in requests]
    many = getattr(backend, "current_many_plan", None)
    if many is not None:
        return list((yield from many(users, {request.user_id for request in requests if request.replace})))
    nows = []
    for user in users:
        nows.append((yield from backend.current_plan(user)))
    return nows


@dataclass(frozen=True)
class UserWrite:
    """One user's part of a group commit (:func:`write_many_plan`), with the options of :func:`write_plan`."""

    user_id: str
    examples: Sequence[ReasoningExample]
    make_profile: MakeProfile | None = None
    replace: bool = True
    version: int = 1
    expected_version: int | None = None
    vectors: list[list[float]] | None = None
    ahead: Mapping[str, Embedded] | None = None


def write_one_plan(store: Backend | HasBackend, write: UserWrite) -> Plan[WriteResult]:
    """:func:`write_plan` of one :class:`UserWrite` (the user's write alone, not in a group)."""
    return write_plan(
        store,
        write.user_id,
        write.examples,
        replace=write.replace,
        make_profile=write.make_profile,
        version=write.version,
        expected_version=write.expected_version,
        vectors=write.vectors,
        ahead=write.ahead,
    )


def write_many_plan(store: Backend | HasBackend, writes: Sequence[UserWrite]) -> Plan[list[WriteResult]]:
    """Group commit (:func:`group_commit_plan`); raises the first user's error after the others committed."""
    results = yield from group_commit_plan(store, writes)
    failed = [result for result in results if isinstance(result, Exception)]
    if failed:
        raise failed[0]
    return [result for result in results if not isinstance(result, Exception)]


def group_commit_plan(store: Backend | HasBackend, writes: Sequence[UserWrite]) -> Plan[list[WriteResult | Exception]]:
    """Group commit: several users' writes in max-size upserts, each user still copy-on-write and atomic.

    One embedding call for every text without vectors; the users' locks (taken in sorted order); every
    user's stored state read at once (Chroma: two ``get`` calls); every new record staged across users
    in max-size batches; then every user switched (a user's manifest and profile always in the same
    upsert, so each user moves to their new version at once or not at all); then the superseded records
    deleted across users. A user whose own part fails (a changed ``expected_version``, ``make_profile``
    raising) gets that exception in its place and the others commit; a failure of the shared writes
    before the switches leaves every user's previous version whole (the staged records are orphans the
    next rebuild removes) and is raised.
    """
    backend = backend_of(store)
    users = [write.user_id for write in writes]
    if len(set(users)) != len(users):
        raise ConfigurationError("write_many_plan: each user may appear once per group commit")
    for user_id in users:
        user_filter(user_id)
    requests = yield from _requests(backend, writes)
    return (yield from backend.coordinator.locked_many(users, lambda held: _commit_locked(backend, held, requests)))


def _commit_locked(backend: Backend, held: list[Held], requests: list[_Request]) -> Plan[list[WriteResult | Exception]]:
    """The users' writes under their locks: read, prepare each, stage, verify the locks, switch, delete."""
    nows = yield from _current_many(backend, requests)
    prepared: list[_Prepared | Exception] = []
    for index, (request, now) in enumerate(zip(requests, nows, strict=True)):
        if index:
            yield _TURN  # each user's profile is computed in a loop turn of its own (see _Turn)
        try:
            prepared.append(_prepare(request, now))
        except Exception as exc:  # this user's own failure: the others commit
            prepared.append(exc)
    ok = [(r.user_id, p) for r, p in zip(requests, prepared, strict=True) if not isinstance(p, Exception)]
    if not ok:
        return [p for p in prepared if isinstance(p, Exception)]
    yield from _one_or_many(backend.stage_plan, backend.stage_many_plan, [(user, part.staged) for user, part in ok])
    for one in held:
        yield from backend.coordinator.verify(one)
    switches = [(user, part.current_ids, part.profile) for user, part in ok]
    yield from _one_or_many(backend.switch_plan, backend.switch_many_plan, switches)
    obsolete = dict(zip([user for user, _ in ok], (yield from _obsolete(backend, ok)), strict=True))
    deletes = [(user, obsolete[user]) for user, _ in ok]
    yield from _one_or_many(backend.delete_records_plan, backend.delete_many_plan, deletes)
    for one in held:  # the only users this write changed, and what it made current (query caches: _write_window)
        one.touches = frozenset(request.user_id for request in requests)
        one.switched = [
            Switched(user, part.profile, part.current_ids, part.staged) for user, part in ok if part.profile is not None
        ]
    return [
        p if isinstance(p, Exception) else WriteResult(p.staged.ids, p.profile, len(obsolete[r.user_id]))
        for r, p in zip(requests, prepared, strict=True)
    ]


@dataclass(frozen=True)
class _Turn(Request):
    """Let the event loop run its other tasks once; the sync driver does nothing.

    An async group commit runs on the event loop between its Chroma calls, and each user's ``make_profile``
    (statistics over the user's examples: a few milliseconds of CPU) runs there too: a group of 32 users
    prepared back to back held the loop for the whole group, while a bulk build's other users waited with
    finished model calls and their LLM slots idle. One turn between users lets them go on.
    """

    def run(self) -> None:
        """Nothing to wait for on a thread."""

    async def arun(self) -> None:
        """One turn of the running event loop."""
        await asyncio.sleep(0)


_TURN = _Turn()


def _one_or_many(one: Callable[..., Plan[None]], many: Callable[[Any], Plan[None]], items: list[Any]) -> Plan[None]:
    """A group of one through the backend's one-user write (what its fault injection and tests see), else ``many``."""
    return one(*items[0]) if len(items) == 1 else many(items)


def _requests(backend: Backend, writes: Sequence[UserWrite]) -> Plan[list[_Request]]:
    """The writes as requests, every text without a vector (given, or embedded ahead) embedded in one call."""
    texts = [[features_text(ex.features) or ex.input for ex in write.examples] for write in writes]
    known = [vectors_ahead(w.examples, w.ahead) if w.vectors is None else {} for w in writes]
    flat = [
        text
        for write, group, have in zip(writes, texts, known, strict=True)
        if write.vectors is None
        for i, text in enumerate(group)
        if i not in have
    ]
    vectors = iter((yield from backend.embed(flat)) if flat else [])
    return [
        _Request(
            w.user_id,
            w.examples,
            t,
            w.vectors if w.vectors is not None else [have[i] if i in have else next(vectors) for i in range(len(t))],
            w.replace,
            w.make_profile,
            w.version,
            w.expected_version,
            w.vectors is not None,
        )
        for w, t, have in zip(writes, texts, known, strict=True)
    ]


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
