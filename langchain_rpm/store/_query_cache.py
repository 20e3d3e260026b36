"""What a query needs of one user, kept in this process while the store's write generation stands (private).

A query reads a user's profile, manifest and examples' vectors (two Chroma ``get`` calls, ~4 ms of CPU).
:class:`QueryCache` keeps what that read gave, per user, under the *generation* it was read at: for an
embedded folder, the write token every write of any process replaces and the commit counter in the header of
Chroma's SQLite file (:meth:`~langchain_rpm.store._folder.EmbeddedFolder.generation`: two small file reads).
A query whose generation is the cached one needs no store read. Any write anywhere (this process, another
store object, another process, a writer killed before it announced its commit) moves the generation: no entry
is served as it is any more, but the next query of a user reads only the profile and the manifest (one ``get``)
and keeps the cached vectors and metadata when the manifest is the very one they were read for
(:meth:`QueryCache.previous`). That is safe because records are copy-on-write: a record id carries the random
token of the write that made it and is never written again, so the same manifest means the same records. A
forget in this process drops the user's entry at once. A write of this process whose commits were all its own
(:mod:`~langchain_rpm.store._write_window`) carries the entries of the users it did not touch over to the new
generation (:meth:`QueryCache.advance`): a query after another user's write then reads nothing. A user it
switched whose entry is held gets the write's documents and records written through (:meth:`CachedContext.written`):
the profile and manifest as the switch stored them, the held rows of the records the write kept, and the
write's own new records as a ``get`` of them returns them (:meth:`~langchain_rpm.store._write_window.Switched.written`:
the metadata built by the function that built the write's, the vectors through Chroma's own float32 arithmetic).
Why that is a read at the new generation: the write held the folder's locks and every commit during it was its
own, so the store is exactly what it wrote; a held row is the record as stored (copy-on-write ids); the new
records carry the write's fresh token, so no other record has their ids. That user's next query reads nothing.
When a kept record is neither held nor the write's (another process wrote the user since the entry was read)
the entry is not served whole (:meth:`QueryCache.pending`) and the next query reads only those records, by id
(:meth:`CachedContext.rows`). Only users already held get rows, so a bulk build keeps nothing new alive; the
cache's size bounds them, and a query re-checks the store's ``exact_search_limit`` on what it is served.
Clients without a generation (a Chroma server, an in-memory client) are not cached: their queries read as before.

Entries are keyed by user id and hold only that user's data; the profile is kept as its JSON document and
parsed per query, so no caller ever shares a mutable profile with another.

Example:
    >>> cache = QueryCache(size=2)
    >>> cache.lookup("ada", "gen-1") is None  # a miss; the generation is now "gen-1"
    True
    >>> cache.store("ada", "gen-1", CachedContext(None))
    >>> cache.lookup("ada", "gen-1").context().profile is None
    True
    >>> cache.lookup("ada", "gen-2") is None  # a write moved the generation: nothing is served as it is
    True
    >>> cache.previous("ada").profile_json is None  # but a query may keep it if the manifest is unchanged
    True
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from langchain_rpm.store._backend import FACTOR_LIST, QueryContext, stored_factors
from langchain_rpm.store._records import hits

QUERY_CACHE_USERS = 256  # users whose query context one store object keeps (the most recently queried)


@dataclass(frozen=True)
class CachedContext:
    """One user's read: the profile's JSON document, the examples' vectors (a matrix) and metadata.

    ``manifest`` is the manifest document the vectors and metadata were read for (``None``: not reusable);
    ``ids`` the record id of each row (``()``: unknown, no row is reused on its own).
    """

    profile_json: str | None
    vectors: np.ndarray[Any, Any] | None = None
    metadatas: list[dict[str, Any]] = field(default_factory=list)
    user_id: str = ""
    manifest: str | None = None
    ids: tuple[str, ...] = ()
    complete: bool = True  # False: profile and manifest as a write of this process switched them, rows older
    row_norms: np.ndarray[Any, Any] | None = None  # the rows' norms when known at creation (else: :attr:`norms`)
    known_factors: str | None = None  # the profile's factors as JSON when known at creation (else: :attr:`factors`)

    @classmethod
    def of(
        cls,
        user_id: str,
        profile_json: str | None,
        vectors: Any,
        metadatas: list[Any],
        manifest: str | None = None,
        ids: Sequence[str] = (),
    ) -> CachedContext:
        """Keep a read: ``vectors`` as one float64 matrix (ranked without a copy), ``None`` for an uncached search."""
        matrix = None if vectors is None else np.asarray(vectors, dtype=np.float64)
        if matrix is not None and matrix.ndim != 2:  # no examples: an empty matrix
            matrix = matrix.reshape(len(metadatas), -1) if matrix.size else np.zeros((0, 0))
        return cls(profile_json, matrix, list(metadatas), user_id, manifest, tuple(ids))

    def rows(self, wanted: Sequence[str]) -> tuple[list[int], list[str]]:
        """Which of the record ids ``wanted`` this read holds (their rows, in this read's order), and the rest.

        A record id is never written twice (copy-on-write), so a held row is that record as stored now.
        """
        if self.vectors is None or len(self.ids) != len(self.metadatas):
            return [], list(wanted)
        want = set(wanted)
        held = [row for row, record_id in enumerate(self.ids) if record_id in want]
        have = {self.ids[row] for row in held}
        return held, [record_id for record_id in wanted if record_id not in have]

    def extended(
        self, profile_json: str, manifest: str, rows: list[int], found: dict[str, Any], factors: str | None = None
    ) -> CachedContext:
        """The rows ``rows`` of this read, then the records ``found`` (a ``get`` of the others): a whole read.

        ``factors``: the profile's factors as JSON, when the caller has them (a write of this process).
        """
        old = self.vectors if self.vectors is not None else np.zeros((0, 0))
        new = np.asarray(found.get("embeddings") if found.get("embeddings") is not None else [], dtype=np.float64)
        parts = [old[rows]] if rows else []
        if len(new):
            parts.append(new.reshape(len(found["ids"]), -1))
        vectors = np.concatenate(parts) if parts else np.zeros((0, 0))
        metadatas = [self.metadatas[row] for row in rows] + list(found.get("metadatas") or [])
        ids = [self.ids[row] for row in rows] + list(found.get("ids") or [])
        known = self._known_norms()
        norms = None
        if known is not None and len(vectors):  # the kept rows' norms, then the new rows' alone
            norms = np.concatenate([known[rows], np.linalg.norm(vectors[len(rows) :], axis=1)])
        return CachedContext(
            profile_json, vectors, metadatas, self.user_id, manifest, tuple(ids), row_norms=norms, known_factors=factors
        )

    def written(
        self, profile_json: str, manifest: str, ids: Sequence[str], new: dict[str, Any], factors: str | None = None
    ) -> CachedContext:
        """This read after a write of this process that made ``ids`` current and added the records ``new``.

        Write-through: the rows of ``ids`` this read holds, then the write's own records
        (``new``: :meth:`~langchain_rpm.store._write_window.Switched.written`), a whole read with no store
        call; not whole (``complete`` false) when some current record is neither held nor the write's own
        (another process wrote the user since this read): the next query reads only those.
        """
        rows, missing = self.rows(ids)
        index = {record_id: row for row, record_id in enumerate(new["ids"])}
        mine = [record_id for record_id in missing if record_id in index]
        picked = [index[record_id] for record_id in mine]
        metadatas = [new["metadatas"][row] for row in picked]
        records = {"ids": mine, "embeddings": new["embeddings"][picked], "metadatas": metadatas}
        entry = self.extended(profile_json, manifest, rows, records, factors)
        return entry if len(mine) == len(missing) else replace(entry, complete=False)

    def reused(self, profile_json: str, manifest: str) -> CachedContext | None:
        """This read with a newly read profile, if ``manifest`` is the one its records were read for, else ``None``."""
        if self.manifest is None or self.manifest != manifest or self.vectors is None or not self.complete:
            return None
        return replace(self, profile_json=profile_json, row_norms=self._known_norms(), known_factors=None)

    def context(self) -> QueryContext:
        """A fresh :class:`QueryContext` over the kept vectors and metadata (it parses its own profile objects)."""
        if self.vectors is None:
            return QueryContext(self.profile_json, factors_json=self.factors, examples_key=self.manifest)
        user_id, metadatas = self.user_id, self.metadatas
        found = lambda row, score: hits(user_id, [metadatas[row]], [score])  # noqa: E731
        return QueryContext(self.profile_json, self.vectors, found, self.norms, self.factors, self.manifest)

    @cached_property
    def factors(self) -> str | None:
        """The profile's factors alone, as JSON: a query parses them, not the whole profile (its drift history)."""
        if self.known_factors is not None or self.profile_json is None:
            return self.known_factors
        return FACTOR_LIST.dump_json(stored_factors(self.profile_json)).decode()

    @cached_property
    def norms(self) -> np.ndarray[Any, Any] | None:
        """The rows' Euclidean norms (the ranking's per-row work): at the first query of this read, unless known.

        An entry made from another (a write's new records added, a profile read again) keeps the norms its
        source had computed: only a new row is measured.
        """
        if self.row_norms is not None or self.vectors is None:
            return self.row_norms
        norms: np.ndarray[Any, Any] = np.linalg.norm(self.vectors, axis=1)
        return norms

    def _known_norms(self) -> np.ndarray[Any, Any] | None:
        """:attr:`norms` if already computed, without computing them."""
        known = self.__dict__.get("norms")
        return known if isinstance(known, np.ndarray) else self.row_norms


class QueryCache:
    """Per-user cached contexts (:class:`CachedContext`), each served only under the generation it was read at.

    Args:
        size: Users kept (least recently queried dropped first); ``0`` turns the cache off.
    """

    def __init__(self, size: int = QUERY_CACHE_USERS) -> None:
        """An empty cache of at most ``size`` users."""
        self.size = size
        self._entries: OrderedDict[str, tuple[Hashable, CachedContext]] = OrderedDict()
        self._generation: Hashable | None = None  # the newest generation looked up (reads of older ones are not kept)
        self._erasures: Hashable = None
        self._lock = threading.Lock()

    def lookup(self, user_id: str, generation: Hashable | None, erasures: Hashable = None) -> CachedContext | None:
        """The user's entry if it was read under ``generation`` (``None`` drops every entry: no generation).

        ``erasures`` is the store's last erase as this process saw it: when it changed, some user was
        forgotten elsewhere, and every entry is dropped (what was kept of that user leaves this process too).
        """
        with self._lock:
            if generation is None or erasures != self._erasures:
                self._entries.clear()
                self._erasures = erasures
            self._generation = generation
            kept = self._entries.get(user_id)
            if kept is None or kept[0] != generation or not kept[1].complete:
                return None
            self._entries.move_to_end(user_id)
            return kept[1]

    def pending(self, user_id: str, generation: Hashable | None) -> CachedContext | None:
        """The user's profile and manifest as this process's write switched them, if still current at ``generation``."""
        with self._lock:
            kept = self._entries.get(user_id)
            return kept[1] if kept is not None and kept[0] == generation and not kept[1].complete else None

    def advance(
        self, before: Hashable, after: Hashable, touched: Collection[str], erasures: Hashable, switched: Sequence[Any]
    ) -> None:
        """A write of this process moved the generation from ``before`` to ``after`` by its own commits only.

        Entries read under ``before`` of users not in ``touched`` are served under ``after``. A touched user
        the write switched (``switched``: :class:`~langchain_rpm.store._write_window.Switched`) and whose entry
        is held keeps it as a row source, with the profile and manifest the write stored, not served
        (:meth:`pending`): the next query reads only the write's new records. A read looked up before this
        call is no longer kept (it may have seen part of the write).
        """
        with self._lock:
            if erasures != self._erasures:  # a forget since: the next lookup drops everything
                return
            for user_id, (generation, entry) in self._entries.items():
                if generation == before and user_id not in touched:
                    self._entries[user_id] = (after, entry)
            for switch in switched:
                held = self._entries.get(switch.user_id)
                if held is not None and held[1].vectors is not None:
                    profile_json, manifest = switch.documents()
                    factors = FACTOR_LIST.dump_json(switch.profile.factors).decode()
                    entry = held[1].written(profile_json, manifest, switch.ids, switch.written(), factors)
                    self._entries[switch.user_id] = (after, entry)
            self._generation = after

    def previous(self, user_id: str) -> CachedContext | None:
        """The user's entry read under any generation: to be kept only if its manifest is still the user's."""
        with self._lock:
            kept = self._entries.get(user_id)
            return None if kept is None else kept[1]

    def store(self, user_id: str, generation: Hashable | None, entry: CachedContext) -> None:
        """Keep ``entry``, read under ``generation`` (looked up *before* the read); ignored if it moved since."""
        with self._lock:
            if self.size <= 0 or generation is None or generation != self._generation:
                return
            self._entries[user_id] = (generation, entry)
            self._entries.move_to_end(user_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def drop(self, user_id: str) -> None:
        """Forget the user's entry now (a forget, an erase); a read in flight will not be kept either."""
        with self._lock:
            self._entries.pop(user_id, None)
            self._generation = None  # a read looked up before this drop stores nothing

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._generation = None

    def __contains__(self, user_id: object) -> bool:
        """Whether an entry of ``user_id`` is held, served or not (for tests and audits)."""
        with self._lock:
            return user_id in self._entries
