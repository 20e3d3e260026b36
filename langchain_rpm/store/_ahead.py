"""A build's examples embedded ahead of its commit (private), while its reasoning calls still run.

A build's examples are ready window by window, long before its last LLM call; embedding them all at the
commit puts the whole embedding (MiniLM: about 5 ms of CPU a text) after the last call, on the build's
critical path. :class:`EmbedAhead` embeds them as they come, in a few halving batches (half of what is
left, then half again), and leaves the last few, fewer than :data:`AHEAD_MIN_BATCH`, to the commit; the
commit (:mod:`~langchain_rpm.store._writes`) takes the vector of an example embedded ahead when the
example is exactly the one committed (same text, same vector) and embeds the rest.

Nothing is stored before the commit, so the copy-on-write guarantees are those of any write. Writing
the records ahead as well was built and measured, and dropped: embedded Chroma holds the interpreter for
a whole ``add``, so an add moved into the reasoning phase stalls the calls there instead of the tail
(one async build, 6 interleaved pairs: 1.308x vs main's 1.262x the ideal), and each extra ``add`` costs
about 7.5 ms of CPU besides 0.4 ms a record (0.05-0.14 s more CPU per 200-item build).

Example:
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.store._backend import Embedder
    >>> from langchain_rpm.types import ReasoningExample
    >>> ahead = EmbedAhead(remaining=40)
    >>> examples = [ReasoningExample(item_id=str(i), input="Late.", features=[], reasoning="r", answer="2")
    ...             for i in range(40)]
    >>> run(embed_ahead_plan(Embedder(DeterministicFakeEmbedding(size=8)), ahead, examples[:32]))
    >>> len(ahead.embedded), len(vectors_ahead(examples, ahead.embedded))
    (32, 32)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from langchain_rpm._plans import Plan
from langchain_rpm.store._records import features_text
from langchain_rpm.types import ReasoningExample

AHEAD_MIN_BATCH = 32
"""The smallest batch embedded ahead; fewer examples left are embedded at the commit."""

Embedded = tuple[ReasoningExample, list[float]]
"""An example and its vector (the vector of its :func:`~langchain_rpm.store._records.features_text`)."""


class Embeds(Protocol):
    """Anything that embeds texts as a plan (a store backend, :class:`~langchain_rpm.store._backend.Embedder`)."""

    def embed(self, texts: list[str], *, query: bool = False) -> Plan[list[list[float]]]:
        """Embed ``texts``."""
        ...


@dataclass
class EmbedAhead:
    """One build's examples embedded ahead of its commit, and those still gathering for the next batch."""

    remaining: int  # examples expected and not yet embedded
    embedded: dict[str, Embedded] = field(default_factory=dict)  # by item id
    gathering: list[ReasoningExample] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, examples: Sequence[ReasoningExample]) -> list[ReasoningExample]:
        """Add ``examples`` to those gathering; the lot once it is half of what is left (else nothing).

        Example:
            >>> ahead, example = EmbedAhead(remaining=100), ReasoningExample.model_construct()
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

    def keep(self, examples: Sequence[ReasoningExample], vectors: list[list[float]]) -> None:
        """Keep the vectors of ``examples``."""
        with self._lock:
            self.embedded.update((ex.item_id, (ex, vector)) for ex, vector in zip(examples, vectors, strict=True))

    def clear(self) -> None:
        """Drop what is held (the commit is done, or failed)."""
        with self._lock:
            self.embedded = {}
            self.gathering = []


def embed_ahead_plan(embedder: Embeds, ahead: EmbedAhead, examples: Sequence[ReasoningExample]) -> Plan[None]:
    """Gather ``examples``; once a batch is ready, embed it (one call) and keep the vectors."""
    ready = ahead.take(examples)
    if ready:
        ahead.keep(ready, (yield from embedder.embed([features_text(ex.features) or ex.input for ex in ready])))


def vectors_ahead(examples: Sequence[ReasoningExample], ahead: Mapping[str, Embedded] | None) -> dict[int, list[float]]:
    """The vectors embedded ahead of ``examples`` exactly as they are, by position in ``examples``."""
    if not ahead:
        return {}
    known: dict[int, list[float]] = {}
    for position, example in enumerate(examples):
        hit = ahead.get(example.item_id)
        if hit is not None and hit[0] == example:
            known[position] = hit[1]
    return known
