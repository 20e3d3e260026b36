"""Example records written ahead of their commit (private): a build stores its examples while its LLM calls run.

A build's examples are ready window by window, long before its last LLM call; embedding and adding them
at commit time puts both on the build's critical path. A :class:`WriteAhead` stages them as they come,
each batch under a fresh commit token (copy-on-write, :mod:`~langchain_rpm.store._writes`: no read
returns a record before a switch lists it). The commit reuses a record written ahead only when, under
the user's lock,

- it is still stored (a forget, or another rebuild of the user, deletes every record not current: the
  commit then stages that example again from the vector it kept),
- it carries the profile version the commit switches to (the version is in each record's metadata),
- and its example is exactly the one committed;

anything else is staged at commit time as before. A rebuild's switch makes every record of the user it
does not list obsolete, so a record written ahead and not used is deleted with them. A build that fails
discards what it wrote ahead (:func:`discard_plan`, under the user's lock, sparing what a switch made
current); one that crashes leaves orphans that the next rebuild or forget deletes, like any write that
failed before its switch. Only backends whose rebuild lists every record of the user under the lock
(Chroma) write ahead (:func:`writes_ahead`), and not inside a group commit, which batches across users.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.store import RPMStore
    >>> from langchain_rpm.types import ReasoningExample
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
    >>> ahead = WriteAhead("ada", remaining=40)
    >>> examples = [ReasoningExample(item_id=str(i), input="Late.", features=[], reasoning="r", answer="2")
    ...             for i in range(40)]
    >>> run(stage_ahead_plan(store, ahead, examples[:32]))
    >>> len(ahead.records()), run(discard_plan(store, ahead))
    (32, 32)
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_rpm._plans import Plan
from langchain_rpm.store._backend import Backend, HasBackend, Staged, backend_of
from langchain_rpm.store._commit_queue import queue_for
from langchain_rpm.store._locks import Held
from langchain_rpm.store._records import example_id, features_text, user_filter
from langchain_rpm.types import ReasoningExample

AHEAD_MIN_BATCH = 32
"""The smallest batch written ahead. Each Chroma ``add`` costs about 7.5 ms of CPU besides 0.4 ms per record
(measured here: 13 adds of 16 records 0.18 s, one add of 200 records 0.08 s), so a build writes ahead in a
few halving batches (half of what is left, then half again) and leaves the last few records, fewer than
this, to its commit: the work after its last LLM call stays small and the extra CPU is a few adds."""


@dataclass
class WriteAhead:
    """One build's examples written ahead of its commit: the batches written, and those still gathering."""

    user_id: str
    remaining: int  # examples expected and not yet written ahead
    version: int | None = None  # the profile version the commit is expected to switch to
    written: list[Staged] = field(default_factory=list)
    gathering: list[ReasoningExample] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, examples: Sequence[ReasoningExample]) -> list[ReasoningExample]:
        """Add ``examples`` to those gathering; the lot once it is half of what is left (else nothing).

        Example:
            >>> ahead, example = WriteAhead("ada", remaining=100), ReasoningExample.model_construct()
            >>> [len(ahead.take([example] * 10)) for _ in range(10)]
            [0, 0, 0, 0, 50, 0, 0, 0, 40, 0]
        """
        with self._lock:
            self.gathering.extend(examples)
            if self.remaining <= AHEAD_MIN_BATCH or len(self.gathering) < max(AHEAD_MIN_BATCH, self.remaining / 2):
                return []
            ready, self.gathering = self.gathering, []
            self.remaining -= len(ready)
            return ready

    def records(self) -> dict[str, Staged]:
        """The batch each item was last written in, by item id (a later batch wins)."""
        return {ex.item_id: staged for staged in list(self.written) for ex in staged.examples}

    def ids(self) -> list[str]:
        """Every record id written ahead."""
        return [record_id for staged in list(self.written) for record_id in staged.ids]


def writes_ahead(store: Backend | HasBackend) -> bool:
    """Whether a build should write ahead on ``store``.

    Only where a rebuild's read lists every record of the user under the lock (what the commit checks a
    record written ahead against), and not while a group commit collects writes (bulk builds batch across
    users instead).
    """
    backend = backend_of(store)
    return getattr(backend, "current_many_plan", None) is not None and queue_for(backend) is None


def stage_ahead_plan(
    store: Backend | HasBackend, ahead: WriteAhead, examples: Sequence[ReasoningExample]
) -> Plan[None]:
    """Gather ``examples``; once a batch is full, embed it (no lock) and add it under a fresh commit token."""
    ready = ahead.take(examples)
    if not ready:
        return
    backend = backend_of(store)
    user_filter(ahead.user_id)
    if ahead.version is None:
        ahead.version = yield from backend.coordinator.locked(
            ahead.user_id, lambda held: _head_plan(backend, held, ahead.user_id)
        )
    if not ahead.version:  # stored in an older format: the commit stages everything, as before
        return
    texts = [features_text(ex.features) or ex.input for ex in ready]
    vectors = yield from backend.embed(texts)
    commit = uuid.uuid4().hex[:16]
    ids = [example_id(ahead.user_id, ex.item_id, commit) for ex in ready]
    staged = Staged(ids, ready, texts, vectors, ahead.version, commit)
    ahead.written.append(staged)  # before the add: a failed add leaves ids that discard_plan still deletes
    if backend.coordinator.kind != "embedded":  # a server's lease guards no process-local state: add at once
        yield from backend.stage_plan(ahead.user_id, staged)
        return

    def add(held: Held) -> Plan[None]:  # under the folder's lock: other processes see a write they can explain
        yield from backend.stage_plan(ahead.user_id, staged)
        held.touches = frozenset()  # no user's current version changed

    yield from backend.coordinator.locked(ahead.user_id, add)


def _head_plan(backend: Backend, held: Held, user_id: str) -> Plan[int]:
    """The version the build's commit will switch to (checked again there), or 0: do not write ahead.

    A user with nothing stored first gets an empty head, so that no read lists what is written ahead
    (without a head, reads take every record of the user: the older format's rule). A user stored in
    that format gets no write ahead.
    """
    now = yield from backend.current_plan(user_id)
    held.touches = frozenset()
    if now.exact:
        return now.profile.version + 1 if now.profile is not None else 1
    if now.profile is not None or now.records:
        return 0
    yield from backend.switch_plan(user_id, [], None)
    held.touches = frozenset({user_id})
    return 1


def discard_plan(store: Backend | HasBackend, ahead: WriteAhead) -> Plan[int]:
    """Delete what ``ahead`` wrote that is not current, under the user's lock; returns records deleted.

    A user left with nothing but the empty head written ahead (:func:`_head_plan`) is erased: a failed
    first build, or one whose user was forgotten meanwhile, leaves nothing.
    """
    ids = ahead.ids()
    ahead.written.clear()
    ahead.gathering.clear()
    if not ids:
        return 0
    backend = backend_of(store)

    def body(held: Held) -> Plan[int]:
        now = yield from backend.current_plan(ahead.user_id)
        if now.exact and now.profile is None and not now.records:
            return (yield from backend.erase_plan(ahead.user_id))
        current = set(now.records) if now.exact else set()  # only a switch of ours can have listed them
        gone = [record_id for record_id in ids if record_id not in current]
        yield from backend.delete_records_plan(ahead.user_id, gone)
        return len(gone)

    return (yield from backend.coordinator.locked(ahead.user_id, body))
