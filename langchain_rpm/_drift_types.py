"""The records of the drift monitor and the recent-window view, as stored on a :class:`UserProfile`.

:mod:`langchain_rpm.drift` measures; :mod:`langchain_rpm._refresh` acts; these are what they leave on the
profile (``UserProfile.drift``, ``UserProfile.recent``), so ``rpm inspect`` can show every decision.

Example:
    >>> record = DriftRecord(trigger="update", new_items=2, window=8, unfit_share=0.5,
    ...                      crossed=["unfit share 0.50 > 0.30"])
    >>> record.drifted, record.action
    (True, 'none')
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

DriftAction = Literal["none", "reported", "scheduled", "incremental", "rebuild", "reclustered"]
"""What followed a measurement: nothing, a report only, an incremental PAS round (``scheduled`` until it
ran), a full rebuild, or the full re-clustering past ``recluster_threshold`` (drift ``"report"``)."""

ACTED = ("incremental", "rebuild", "reclustered")
"""Actions after which the monitor compares against the regime it adapted to (``window_start`` on)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FactorShift(BaseModel):
    """One factor's answers in the recent window against the rest, and the exact test's verdict."""

    factor: str
    recent: dict[str, int] = Field(description="Answer -> count among the window's items that have the factor.")
    rest: dict[str, int] = Field(description="Answer -> count among the older items that have the factor.")
    p_value: float = Field(description="Freeman-Halton exact test (Monte Carlo beyond the enumeration budget).")
    adjusted_p: float = Field(description="Holm-adjusted over the factors tested in this measurement.")
    method: Literal["exact", "monte-carlo"] = "exact"


class DriftRecord(BaseModel):
    """One decision of the drift monitor: when, what was measured, what crossed, what changed, what it cost."""

    at: datetime = Field(default_factory=_utcnow)
    trigger: Literal["update", "refresh"] = "update"
    new_items: int = Field(default=0, description="Items the update added.")
    window: int = Field(default=0, description="Items in the recent window.")
    unfit_share: float = Field(default=0.0, description="Share of the window's features that fit no factor.")
    new_unfit_share: float = Field(default=0.0, description="The same share over the update's new items only.")
    shifts: list[FactorShift] = Field(default_factory=list, description="Per-factor answer-distribution tests.")
    crossed: list[str] = Field(default_factory=list, description="The thresholds crossed, in words.")
    action: DriftAction = "none"
    added_factors: list[str] = Field(default_factory=list)
    retired_factors: list[str] = Field(default_factory=list)
    rewritten_items: list[str] = Field(default_factory=list, description="Items whose reasoning path was rewritten.")
    calls: int = Field(default=0, description="LLM calls the action paid.")
    window_start: str | None = Field(default=None, description="Id of the window's oldest item when measured.")

    @property
    def drifted(self) -> bool:
        """True when some threshold was crossed."""
        return bool(self.crossed)


class RecentWindow(BaseModel):
    """Statistics over the user's newest items only (the view ``rpm inspect`` shows beside the full table)."""

    items: int = Field(description="Items in the window.")
    since: datetime | None = Field(default=None, description="Time of the window's oldest item, when known.")
    statistics: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Factor -> {'count': n, answer or 'mean': share or mean} over the window."
    )
