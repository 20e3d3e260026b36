"""Whether every commit to an embedded folder during one locked write of this process was that write's own.

A write holds the folder's locks, so no RPM writer of any process commits while it runs; a plain Chroma
client could, as it takes no lock. :class:`WriteWindow` reads SQLite's change counter
(:meth:`~langchain_rpm.store._folder.EmbeddedFolder.commits`) around every request the write's plan makes:
the window is *explained* only if the counter did not move between requests nor during a request that is
not a Chroma write, and moved by exactly :data:`COMMITS_PER_WRITE` during each Chroma write call (measured on
chromadb 1.5.9: its log insert and its apply; 3 or 4 when Chroma also flushes, which is then not explained).
A foreign commit therefore shows as a move where none was due, or as one more. What it cannot show: a foreign
commit landing inside one of our write calls that itself committed once (seen once in 239 deletes of ids
that did not exist, never for records that do, which are the only ones a write deletes).
``tests/unit/test_write_window.py`` pins these counts on the installed Chroma.

Example:
    >>> import tempfile
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.store._folder import embedded_folder
    >>> from langchain_rpm.store._records import default_client
    >>> window = WriteWindow(embedded_folder(default_client(tempfile.mkdtemp())))
    >>> def plan():
    ...     yield from ()
    ...     return "done"
    >>> run(window.watched(plan())), window.explained
    ('done', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from langchain_rpm._plans import Plan
from langchain_rpm.store._io import ChromaCall
from langchain_rpm.store._records import encode_manifest, example_records

if TYPE_CHECKING:
    from langchain_rpm.store._folder import EmbeddedFolder

T = TypeVar("T")
WRITE_CALLS = frozenset({"upsert", "add", "update", "delete"})  # Chroma collection methods that commit
COMMITS_PER_WRITE = 2  # SQLite commits of one Chroma write call that does not flush (chromadb 1.5.9)


@dataclass(frozen=True)
class Switched:
    """One user's switch in a write: the profile, the exact record ids it made current, the records it added."""

    user_id: str
    profile: Any  # a UserProfile
    ids: list[str]
    staged: Any = None  # the write's new records (a Staged), kept only until the write is told to the caches

    def documents(self) -> tuple[str, str]:
        """The profile's and the manifest's JSON, as the switch stored them (:func:`~._records.switch_record`)."""
        return self.profile.model_dump_json(), encode_manifest(self.ids)

    def written(self) -> dict[str, Any]:
        """The records the write added, as a Chroma ``get`` of them returns them: ``ids``, ``embeddings``, ``metadatas``.

        Built by the very function that built what the write sent (:func:`~._records.example_records`),
        the vectors as Chroma gives them back (:func:`as_chroma_returns`).
        """
        staged = self.staged
        if staged is None:
            return {"ids": [], "embeddings": as_chroma_returns([]), "metadatas": []}
        user, exact = self.user_id, staged.exact
        records = example_records(
            user,
            staged.examples,
            staged.vectors,
            staged.version,
            staged.commit,
            exact_vectors=exact,
            ids=staged.ids,
        )
        return {
            "ids": records["ids"],
            "embeddings": as_chroma_returns(records["embeddings"]),
            "metadatas": records["metadatas"],
        }


def as_chroma_returns(vectors: Sequence[Sequence[float]]) -> np.ndarray[Any, Any]:
    """``vectors`` as an embedded Chroma collection of cosine space returns them: float32, bit for bit.

    Chroma's hnswlib (chromadb 1.5.9) keeps a cosine collection's vectors normalized, each with its length
    (the squares summed in float32, in order), and a ``get`` multiplies them back: values 1 float32 step off
    the plain rounding in about one in five coordinates. ``tests/unit/test_write_through.py`` pins this on
    the installed Chroma.

    Example:
        >>> as_chroma_returns([[3.0, 4.0]]).tolist()
        [[3.0, 4.0]]
    """
    if not len(vectors):
        return np.zeros((0, 0), dtype=np.float32)
    rows = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    length = np.sqrt(np.cumsum(rows * rows, axis=1, dtype=np.float32)[:, -1:])
    return (rows * (np.float32(1.0) / (length + np.float32(1e-30)))) * length


class WriteWindow:
    """The commits of one locked write: opened after the locks are taken, read when they are given back."""

    def __init__(self, folder: EmbeddedFolder) -> None:
        """Start at the folder's generation now (the caller holds both locks)."""
        self.folder = folder
        self.before = folder.generation()
        self.explained = True
        self.last = self.before[2]  # the counter after the last request

    def watched(self, plan: Plan[T]) -> Plan[T]:
        """Run ``plan``, checking the counter around each request it yields."""
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                request = plan.throw(error) if error is not None else plan.send(result)
            except StopIteration as stop:
                value: T = stop.value
                return value
            self._expect(0)  # nothing committed between two requests
            try:
                result, error = (yield request), None
            except GeneratorExit:
                plan.close()
                raise
            except BaseException as exc:  # the request failed: what it committed is unknown
                result, error, self.explained = None, exc, False
                continue
            self._expect(COMMITS_PER_WRITE if _is_write(request) else 0)

    def _expect(self, moves: int) -> None:
        now, last = self.folder.commits(), self.last
        if len(now) != 4 or len(last) != 4 or int.from_bytes(now, "big") - int.from_bytes(last, "big") != moves:
            self.explained = False
        self.last = now


def _is_write(request: Any) -> bool:
    return isinstance(request, ChromaCall) and request.method in WRITE_CALLS
