"""Removing (or correcting) single history items: statistics updated, no text of a removed item left behind.

:func:`remove_plan` takes items out of a user's stored profile without a single LLM call:

- the user's examples minus the removed ones are committed as the new set (copy-on-write, under the
  user's lock, refused if another writer committed meanwhile: :meth:`RPMStore.commit_plan
  <langchain_rpm.store.RPMStore.commit_plan>`), and the profile's statistics are recomputed exactly
  over them (Eq. 1-4); a factor no remaining item has is dropped;
- the other items keep their features and reasoning paths: they were written from their own input and
  answer, so nothing else is re-run;
- the copies of the removed items' text are removed as :func:`~langchain_rpm.privacy.forget_user` does it
  for a whole user: the store's old records (then Chroma's files are compacted), LLM-cache entries whose
  prompt holds their text, batch-ledger replies quoting it, and the user's build checkpoints (they hold
  the whole history and serve only to resume an interrupted build).

A correction (same item id, a new response) is a removal followed by
:meth:`~langchain_rpm.RPM.add_interactions` of the corrected items: only their features and reasoning
paths are paid for (:class:`langchain_rpm._corrections_api.CorrectionsMixin`).

Example:
    >>> from langchain_rpm._plans import run
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm()  # the offline demo model, a temporary store, user "ada" built from 3 items
    >>> report = run(remove_plan(rpm.store, "ada", ["2"]))
    >>> report.removed, rpm.profile("ada").num_items
    (('2',), 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_rpm._history import check_user_id
from langchain_rpm._plans import Plan
from langchain_rpm._purged import Purged, compacted_plan
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.personalization import require_profile
from langchain_rpm.privacy import purge_plan
from langchain_rpm.stages.statistics import refresh_factors
from langchain_rpm.tasks import TaskSpec, get_task
from langchain_rpm.types import ReasoningExample, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.store import RPMStore

NO_OWNER = "-"
"""The owner tag passed to cache and ledger purges: no entry has it, so only the removed texts match."""


@dataclass(frozen=True)
class RemovalReport(Purged):
    """What :func:`remove_plan` removed and compacted, and what it could not remove.

    Example:
        >>> print(RemovalReport("ada", ("2",), profile_version=2).lines()[0])
        removed item(s) '2' of user 'ada' (profile version 2)
    """

    user_id: str
    removed: tuple[str, ...]
    profile_version: int

    def lines(self) -> list[str]:
        """The report as text lines."""
        ids = ", ".join(repr(item) for item in self.removed)
        return [
            f"removed item(s) {ids} of user {self.user_id!r} (profile version {self.profile_version})",
            *super().lines(),
        ]


def _checked_ids(user_id: str, ids: Sequence[str], stored: Sequence[ReasoningExample]) -> list[str]:
    wanted = list(dict.fromkeys(str(item) for item in ids))
    if not wanted:
        raise ConfigurationError(f"no item ids given for user {user_id!r}: name the items to remove")
    have = {example.item_id for example in stored}
    missing = [item for item in wanted if item not in have]
    if missing:
        raise ConfigurationError(
            f"user {user_id!r} has no item(s) {', '.join(map(repr, missing))}: nothing was removed "
            "(the stored ids are the `id`s of the history rows)"
        )
    if have <= set(wanted):
        raise ConfigurationError(
            f"removing every item of user {user_id!r} leaves no profile: forget the user instead (RPM.forget / `rpm forget`)"
        )
    return wanted


def _texts(removed: Sequence[ReasoningExample]) -> list[str]:
    """The removed items' own text: inputs, reasoning, and feature contexts long enough to be theirs."""
    texts = [text for ex in removed for text in (ex.input, ex.reasoning) if text]
    texts += [f.context for ex in removed for f in ex.features if len(f.context or "") >= 12]
    return list(dict.fromkeys(texts))


def _task(profile: UserProfile) -> TaskSpec:
    return profile.task_spec if profile.task_spec is not None else get_task(profile.task)


def _without(profile: UserProfile, ids: set[str]) -> Any:
    """``make_profile`` for the commit: exact statistics over the examples that stay, the next version."""

    def make(examples: list[ReasoningExample], previous: UserProfile | None) -> UserProfile:
        base = previous or profile
        factors = [f for f in refresh_factors(_task(base), base.factors, examples) if f.features]
        return base.model_copy(
            update={
                "factors": factors,
                "num_items": len(examples),
                "num_features": sum(len(e.features) for e in examples),
                "version": base.version + 1,
                "failed_items": [f for f in base.failed_items if f.item_id not in ids],
            }
        )

    return make


def remove_plan(
    store: RPMStore,
    user_id: str,
    ids: Sequence[str],
    *,
    checkpointer: Any = None,
    caches: Sequence[Any] = (),
    folder: str | Path | None = None,
    compact: bool = True,
) -> Plan[RemovalReport]:
    """Remove items ``ids`` from ``user_id``'s profile and every copy of their text (no LLM call).

    Args:
        store: The store holding the user's examples and profile.
        user_id: The user.
        ids: Item ids of the history rows to remove (each must be stored).
        checkpointer: The checkpointer of the user's builds (their threads are deleted).
        caches: LLM caches to purge of the removed items' text.
        folder: A state folder as the CLI keeps it (checkpoints, cache, batch ledger files).
        compact: Compact Chroma's files afterwards (embedded stores).
    """
    user_id = check_user_id(user_id)
    profile = require_profile((yield from store.profile_plan(user_id)), user_id)
    stored = yield from store.examples_plan(user_id)
    wanted = _checked_ids(user_id, ids, stored)
    gone = [example for example in stored if example.item_id in wanted]
    keep = [example for example in stored if example.item_id not in wanted]
    committed = yield from store.commit_plan(
        user_id, keep, replace=True, make_profile=_without(profile, set(wanted)), expected_version=profile.version
    )
    copies = yield from purge_plan(
        user_id, _texts(gone), owner=NO_OWNER, checkpointer=checkpointer, caches=caches, folder=folder
    )
    report = yield from compacted_plan(store, copies, compact)
    return RemovalReport(user_id, tuple(wanted), committed.version, **report)
