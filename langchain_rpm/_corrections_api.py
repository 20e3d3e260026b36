"""The facade's part for single items: remove some of a user's interactions, or correct their responses.

:class:`CorrectionsMixin` is one of :class:`~langchain_rpm.RPM`'s bases; the work is
:func:`langchain_rpm._corrections.remove_plan` (no LLM call for a removal) and, for a correction,
:meth:`~langchain_rpm.RPM.add_interactions` of the corrected items.

Example:
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm()  # user "ada": items "1" (rated 1), "2" (5), "3" (3)
    >>> rpm.remove_interactions("ada", ["3"]).removed
    ('3',)
    >>> rpm.correct_interactions("ada", [{"id": "2", "input": "Sturdy build and fast delivery.",
    ...                                   "response": "4"}]).num_items
    2
    >>> sorted((e.item_id, e.answer) for e in rpm.store.get_examples("ada"))
    [('1', '1'), ('2', '4')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig

from langchain_rpm._corrections import RemovalReport, remove_plan
from langchain_rpm._history import check_user_id, validate_history
from langchain_rpm._plans import Plan, arun, run
from langchain_rpm.types import HistoryItem, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.components import RPMComponents

ItemsLike = Sequence[HistoryItem | Mapping[str, Any]]


class CorrectionsMixin:
    """``remove_interactions`` / ``correct_interactions`` (and async) of the :class:`~langchain_rpm.RPM` facade."""

    components: RPMComponents

    if TYPE_CHECKING:  # provided by RPM

        def _saver(self) -> Any: ...
        def _caches(self) -> list[Any]: ...
        def add_interactions(
            self, user_id: str, items: ItemsLike, *, config: RunnableConfig | None = None, on_progress: Any = None
        ) -> UserProfile: ...
        async def aadd_interactions(
            self, user_id: str, items: ItemsLike, *, config: RunnableConfig | None = None, on_progress: Any = None
        ) -> UserProfile: ...

    def _remove(self, user_id: str, ids: Sequence[str]) -> Plan[RemovalReport]:
        return remove_plan(self.components.store, user_id, ids, checkpointer=self._saver(), caches=self._caches())

    def remove_interactions(self, user_id: str, ids: Sequence[str]) -> RemovalReport:
        """Remove items ``ids`` from the user's profile with no LLM call, and every copy of their text.

        Statistics are recomputed exactly over the remaining items (a factor none of them has is
        dropped); the other items' features and reasoning paths stay as they are. The removed items'
        text leaves the store (compacted), the LLM caches and the batch ledgers, and the user's build
        checkpoints are deleted (:mod:`langchain_rpm._corrections`). Unknown ids are refused, nothing
        removed; removing every item is :meth:`forget`'s job.
        """
        return run(self._remove(user_id, ids))

    async def aremove_interactions(self, user_id: str, ids: Sequence[str]) -> RemovalReport:
        """Async :meth:`remove_interactions`."""
        return await arun(self._remove(user_id, ids))

    def _corrected_ids(self, user_id: str, items: ItemsLike) -> list[str]:
        check_user_id(user_id)
        return [item.id for item in validate_history(self.components.task, items)]

    def correct_interactions(
        self, user_id: str, items: ItemsLike, *, config: RunnableConfig | None = None
    ) -> UserProfile:
        """Replace stored items by corrected ones (same ``id``, e.g. a new response); LLM calls only for them.

        The old items are removed as by :meth:`remove_interactions` (their text too), then the
        corrected ones are added as by :meth:`add_interactions`: features and a reasoning path for
        each corrected item, exact statistics, nobody else's reasoning re-run.
        """
        self.remove_interactions(user_id, self._corrected_ids(user_id, items))
        return self.add_interactions(user_id, items, config=config)

    async def acorrect_interactions(
        self, user_id: str, items: ItemsLike, *, config: RunnableConfig | None = None
    ) -> UserProfile:
        """Async :meth:`correct_interactions`."""
        await self.aremove_interactions(user_id, self._corrected_ids(user_id, items))
        return await self.aadd_interactions(user_id, items, config=config)
