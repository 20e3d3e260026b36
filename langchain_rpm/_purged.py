"""What a removal did outside the store: the report facts forgetting a user and removing an item share.

:func:`~langchain_rpm.privacy.purge_plan` finds and deletes a user's copies in checkpoints, LLM caches and
batch ledgers and returns them as a :class:`Purged`; :func:`compacted_plan` adds the store's compaction.
:class:`~langchain_rpm.privacy.ForgetReport` and the single-item removal report extend it.

Example:
    >>> print(Purged(checkpoint_threads_removed=2, kept=("kept: a.sqlite (no handler)",)))
    checkpoint threads removed: 2
    cached LLM replies removed: 0
    batch ledger replies removed: 0
    kept: a.sqlite (no handler)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_rpm._plans import Plan
from langchain_rpm.store._compaction import report_compaction_plan

if TYPE_CHECKING:
    from langchain_rpm.store import RPMStore


@dataclass(frozen=True, kw_only=True)
class Purged:
    """What was removed outside the store (checkpoints, LLM caches, batch ledgers), compacted, or kept.

    The common part of :class:`ForgetReport` and of a single item's removal report.
    """

    checkpoint_threads_removed: int = 0
    cache_entries_removed: int = 0
    batch_lines_removed: int = 0
    compacted: tuple[str, ...] = field(default_factory=tuple)
    kept: tuple[str, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        """One line per fact (what the CLI prints)."""
        return [
            f"checkpoint threads removed: {self.checkpoint_threads_removed}",
            f"cached LLM replies removed: {self.cache_entries_removed}",
            f"batch ledger replies removed: {self.batch_lines_removed}",
            *self.compacted,
            *self.kept,
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``--json``)."""
        return {**asdict(self), "compacted": list(self.compacted), "kept": list(self.kept)}

    def __str__(self) -> str:
        """The lines, joined."""
        return "\n".join(self.lines())


def compacted_plan(store: RPMStore, copies: Purged, compact: bool) -> Plan[dict[str, Any]]:
    """``copies``'s facts as report fields, with the store's compaction (if ``compact``) added to them."""
    done, left = yield from report_compaction_plan(store, compact)
    return {**copies.__dict__, "compacted": (*copies.compacted, *done), "kept": (*copies.kept, *left)}
