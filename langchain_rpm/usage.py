"""Counting what RPM spends: LLM calls and tokens, in total, by model and by stage, through LangChain callbacks.

Every RPM model call carries its stage in the run metadata (``{"rpm_stage": "extract"}``, set by
:func:`stage_config`); :class:`UsageTracker` is langchain-core's ``UsageMetadataCallbackHandler``
(usage by model) that also sums the models' usage metadata per stage. It is the one counter: the
build graph's nodes (:func:`tracked_plan`) and the facade's queries count with it too. Pass it in ``config={"callbacks": [tracker]}``; it sees every chat-model call
below that point, RPM's or not (calls without a stage count under ``"other"``).

Example:
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> tracker = UsageTracker()
    >>> _ = FakeStructuredChatModel().invoke("hi", stage_config({"callbacks": [tracker]}, "generate"))
    >>> tracker.usage.calls_by_stage
    {'generate': 1}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast
from uuid import UUID

from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs

from langchain_rpm._plans import Plan
from langchain_rpm.types import TokenUsage, Usage

STAGE_KEY = "rpm_stage"
"""Run-metadata key that names the RPM stage of a model call."""


def stage_config(config: RunnableConfig | None, stage: str) -> RunnableConfig:
    """``config`` with the stage recorded in its metadata (inherited by the model call).

    A shallow copy with new metadata: ``merge_configs`` would also copy the callback manager, which
    costs more CPU than the rest of a call's bookkeeping (every model call passes here).

    Example:
        >>> stage_config({"metadata": {"run": 1}, "tags": ["t"]}, "extract")
        {'metadata': {'run': 1, 'rpm_stage': 'extract'}, 'tags': ['t']}
    """
    base = config or {}
    return cast(RunnableConfig, {**base, "metadata": {**(base.get("metadata") or {}), STAGE_KEY: stage}})


class UsageTracker(UsageMetadataCallbackHandler):
    """LangChain's usage handler, counting by RPM stage too: calls and tokens; thread-safe.

    ``usage_metadata`` is langchain-core's count per model name; ``usage`` is a
    :class:`~langchain_rpm.types.Usage` (totals plus ``by_stage``). It runs inline (also under async
    callback managers, which would otherwise hand each event to a worker thread) and ignores chain,
    retriever and agent events. An LLM-cache hit spends nothing and is not counted.
    """

    run_inline = True
    ignore_chain = True
    ignore_retriever = True
    ignore_agent = True

    def __init__(self) -> None:
        """Start from zero."""
        super().__init__()
        self._stages: dict[UUID, str] = {}
        self._spent: dict[str, list[int]] = {}  # stage -> [calls, input tokens, output tokens]

    @property
    def usage(self) -> Usage:
        """What the calls seen so far spent: totals and ``by_stage`` (built when read, not per call)."""
        with self._lock:
            spent = {
                stage: TokenUsage(llm_calls=c, input_tokens=i, output_tokens=o)
                for stage, (c, i, o) in self._spent.items()
            }
        usage = Usage()
        for stage, tokens in spent.items():
            usage = usage.plus(stage, tokens)
        return usage

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember the stage of the call that starts."""
        with self._lock:
            self._stages[run_id] = str((metadata or {}).get(STAGE_KEY) or "other")

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any) -> None:
        """Completion models: remember the stage too."""
        with self._lock:
            self._stages[run_id] = str((kwargs.get("metadata") or {}).get(STAGE_KEY) or "other")

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Add the finished call's tokens under its model (langchain-core's count) and its stage."""
        input_tokens = output_tokens = 0
        cached = bool(response.generations)
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                meta = getattr(message, "usage_metadata", None) or {}
                input_tokens += int(meta.get("input_tokens", 0))
                output_tokens += int(meta.get("output_tokens", 0))
                cached = cached and meta.get("total_cost", None) == 0  # LangChain zeroes the cost of cache hits
        with self._lock:
            stage = self._stages.pop(kwargs.get("run_id"), "other")  # type: ignore[arg-type]
        if cached:
            return
        super().on_llm_end(response, **kwargs)
        with self._lock:
            counts = self._spent.setdefault(stage, [0, 0, 0])
            counts[0] += 1
            counts[1] += input_tokens
            counts[2] += output_tokens

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A failed call spends nothing we can count; forget its stage."""
        with self._lock:
            self._stages.pop(run_id, None)


def with_tracker(config: RunnableConfig | None, tracker: UsageTracker) -> RunnableConfig:
    """``config`` whose model calls ``tracker`` also counts."""
    return merge_configs(config, {"callbacks": [tracker]})


NodeStep = Callable[[Any, RunnableConfig], Plan[dict[str, Any]]]
"""A graph step: ``(state, config) -> plan of a partial state update``."""


def tracked_plan(step: NodeStep) -> NodeStep:
    """``step`` with a :class:`UsageTracker` on its model calls; what they spent is added under ``usage``.

    The build graph's nodes run this way, so its ``usage`` state key (an additive reducer) sums the
    spend of every node and task by stage.

    Example:
        >>> from langchain_rpm._plans import Invoke, run
        >>> from langchain_rpm.testing import FakeStructuredChatModel
        >>> def step(state, config):
        ...     reply = yield Invoke(FakeStructuredChatModel(), "hi", stage_config(config, "extract"))
        ...     return {"done": True}
        >>> update = run(tracked_plan(step)({}, {}))
        >>> update["done"], update["usage"]["by_stage"]["extract"]["llm_calls"]
        (True, 1)
    """

    def plan(state: Any, config: RunnableConfig) -> Plan[dict[str, Any]]:
        tracker = UsageTracker()
        update = yield from step(state, with_tracker(config, tracker))
        return {**update, "usage": tracker.usage.model_dump()}

    return plan
