"""The facade's refresh methods (a mixin of :class:`~langchain_rpm.RPM`): ``refresh`` / ``arefresh``, ``plan_refresh``.

``refresh(user)`` re-derives a stale profile paying only for what changed (:mod:`langchain_rpm._refresh`
has the rules); ``dry_run=True`` returns the plan and its cost without spending anything. After an
update whose drift monitor crossed a threshold under ``drift="on"``, the facade runs the same
incremental round (:mod:`langchain_rpm._drift_round`) before returning.

Example:
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm()
    >>> report = rpm.refresh("ada", dry_run=True)
    >>> report.plan.action, report.profile is None, report.calls
    ('none', True, 0)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphBubbleUp
from pydantic import BaseModel, Field

from langchain_rpm._drift_round import incremental_plan
from langchain_rpm._history import check_user_id
from langchain_rpm._plans import Plan, arun, run
from langchain_rpm._refresh import RefreshPlan, plan_refresh
from langchain_rpm.drift import measure_drift
from langchain_rpm.personalization import require_profile
from langchain_rpm.types import ReasoningExample, UserProfile

if TYPE_CHECKING:
    from langchain_rpm.components import RPMComponents

logger = logging.getLogger("langchain_rpm")


class RefreshReport(BaseModel):
    """What ``RPM.refresh`` planned and did: the plan, the new profile (``None``: nothing done), the calls paid."""

    plan: RefreshPlan
    profile: UserProfile | None = None
    calls: int = Field(default=0, description="LLM calls actually paid.")


class RefreshAPI:
    """``refresh`` / ``arefresh`` / ``plan_refresh`` and the drift response after an update (mixed into RPM)."""

    components: RPMComponents
    if TYPE_CHECKING:

        def build_user(self, user_id: str, history: Any, *, config: RunnableConfig | None = ...) -> UserProfile: ...

        async def abuild_user(
            self, user_id: str, history: Any, *, config: RunnableConfig | None = ...
        ) -> UserProfile: ...

    def _plan_plan(self, user_id: str) -> Plan[tuple[RefreshPlan, UserProfile, list[ReasoningExample]]]:
        store = self.components.store
        profile = require_profile((yield from store.profile_plan(check_user_id(user_id))), user_id)
        examples = yield from store.examples_plan(user_id)
        return plan_refresh(self.components, profile, examples), profile, examples

    def plan_refresh(self, user_id: str) -> RefreshPlan:
        """What :meth:`refresh` would do for ``user_id`` and at most how many calls it would pay (no LLM call)."""
        return run(self._plan_plan(user_id))[0]

    def refresh(self, user_id: str, *, dry_run: bool = False, config: RunnableConfig | None = None) -> RefreshReport:
        """Re-derive ``user_id``'s profile if stale (drifted, older prompts, another model); ``dry_run``: plan only."""
        plan, profile, examples = run(self._plan_plan(user_id))
        if dry_run or plan.action == "none":
            return RefreshReport(plan=plan)
        if plan.action == "incremental":
            done = run(incremental_plan(self.components, plan.user_id, config, trigger="refresh"))
        else:
            built = self.build_user(plan.user_id, _history(examples), config=config)
            done = self._record_rebuild(built, profile, examples)
            self.components.store.save_profile(done)
        return RefreshReport(plan=plan, profile=done, calls=done.cost.llm_calls - profile.cost.llm_calls)

    async def arefresh(
        self, user_id: str, *, dry_run: bool = False, config: RunnableConfig | None = None
    ) -> RefreshReport:
        """Async :meth:`refresh`."""
        plan, profile, examples = await arun(self._plan_plan(user_id))
        if dry_run or plan.action == "none":
            return RefreshReport(plan=plan)
        if plan.action == "incremental":
            done = await arun(incremental_plan(self.components, plan.user_id, config, trigger="refresh"))
        else:
            built = await self.abuild_user(plan.user_id, _history(examples), config=config)
            done = self._record_rebuild(built, profile, examples)
            await self.components.store.asave_profile(done)
        return RefreshReport(plan=plan, profile=done, calls=done.cost.llm_calls - profile.cost.llm_calls)

    def _record_rebuild(self, built: UserProfile, before: UserProfile, examples: list[ReasoningExample]) -> UserProfile:
        """``built`` with a drift record of the rebuild (trigger refresh, calls paid, factors added and retired)."""
        record = measure_drift(self.components.task, built.factors, examples, (), self.components.settings)
        old, new = {f.name for f in before.factors}, {f.name for f in built.factors}
        record = record.model_copy(
            update={
                "trigger": "refresh",
                "action": "rebuild",
                "crossed": [f"stale: prompt {before.prompt_version}, model {before.model}"],
                "added_factors": sorted(new - old),
                "retired_factors": sorted(old - new),
                "rewritten_items": sorted(ex.item_id for ex in examples),
                "calls": built.cost.llm_calls - before.cost.llm_calls,
            }
        )
        return built.model_copy(update={"drift": [*built.drift, record]})

    def _after_update(self, profile: UserProfile, config: RunnableConfig | None = None) -> UserProfile:
        """The drift response of an update: the incremental round when the monitor scheduled one."""
        return run(self._response_plan(profile, config))

    async def _aafter_update(self, profile: UserProfile, config: RunnableConfig | None = None) -> UserProfile:
        """Async :meth:`_after_update`."""
        return await arun(self._response_plan(profile, config))

    def _response_plan(self, profile: UserProfile, config: RunnableConfig | None) -> Plan[UserProfile]:
        """The round, if scheduled (else ``profile`` as it is).

        The update is already stored: a round that fails (a concurrent writer, a model that does not
        answer) is logged and leaves the record ``scheduled`` for :meth:`refresh`.
        """
        if not (profile.drift and profile.drift[-1].action == "scheduled"):
            return profile
        try:
            return (yield from incremental_plan(self.components, profile.user_id, config))
        except Exception as exc:
            if isinstance(exc, GraphBubbleUp):
                raise
            logger.warning(
                "user %r: drift round not run (%s: %s); run RPM.refresh",
                profile.user_id,
                type(exc).__name__,
                str(exc)[:200],
            )
            return profile


def _history(examples: list[ReasoningExample]) -> list[dict[str, Any]]:
    """The stored examples as a history to build from (their answers are the responses)."""
    return [
        {
            "id": ex.item_id,
            "input": ex.input,
            "response": ex.answer,
            "options": ex.options,
            "time": ex.time.isoformat() if ex.time else None,
        }
        for ex in examples
    ]
