"""Packing: several history items in one LLM call, for the stages that run once per item.

A :class:`PackableStage` answers one input with its single-item prompt (the paper's setting) and a
*pack* of inputs with one packed prompt whose reply lists one entry per item, keyed by the item's
position in the pack (``<item id="N">``, numbered by us, never read from the text). Both paths share
the stage's result handling (:meth:`PackableStage.result`) and its follow-up on each result
(:meth:`PackableStage.revise`, e.g. the reasoning leak guard). An item the packed reply leaves out,
or answers under an unknown id, is retried alone with the single-item prompt; only when that call
fails too is the item reported failed. A packed call that fails outright fails every item of the pack.

Example:
    >>> from langchain_rpm.stages.extractor import FeatureExtractor
    >>> from langchain_rpm.tasks import LAMP2
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> def reply(messages, schema):  # a packed reply for items 1 and 2
    ...     return {"items": [{"item_id": i, "features": [{"feature_name": f"feature {i}", "context": "it"}]}
    ...                       for i in (1, 2)]}
    >>> model = FakeStructuredChatModel(responder=reply)
    >>> results = FeatureExtractor(model, LAMP2).invoke_pack(["A robot film.", "A wedding film."])
    >>> [[f.name for f in features] for features in results], model.call_count
    ([['feature 1'], ['feature 2']], 1)
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm._plans import Plan, arun, gather, run, value
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.stages.base import InputT, OutputT, RPMStage, StructuredCaller

ReplyT = TypeVar("ReplyT", bound=BaseModel)


class PackableStage(RPMStage[InputT, OutputT], Generic[InputT, OutputT, ReplyT]):
    """An :class:`RPMStage` that can also answer several inputs with one LLM call.

    Subclasses call :meth:`_set_callers` with the single-item schema and the packed schema (a model
    with an ``items`` list whose entries extend the single-item schema with ``item_id``), and
    implement :meth:`prompt`, :meth:`pack_prompt` and :meth:`result`; they may override
    :meth:`revise` to follow a result up with more calls (run on every item, single or packed).
    """

    caller: StructuredCaller[ReplyT]

    @abstractmethod
    def prompt(self, request: InputT) -> PromptValue:
        """The single-item prompt."""

    @abstractmethod
    def pack_prompt(self, requests: Sequence[InputT]) -> PromptValue:
        """The packed prompt for several requests (items numbered 1..n)."""

    @abstractmethod
    def result(self, request: InputT, reply: ReplyT) -> OutputT:
        """Turn the model's reply for one request (single or one entry of a pack) into the output."""

    def revise(self, request: InputT, output: OutputT, config: RunnableConfig) -> Plan[OutputT]:
        """A follow-up on one result, as a plan (default: the result as it is, no call)."""
        return value(output)

    def plan(self, input: InputT, config: RunnableConfig) -> Plan[OutputT]:
        """One item, one call (plus what :meth:`revise` asks for)."""
        reply = yield from self.caller_for(input).plan(self.prompt(input), config)
        return (yield from self.revise(input, self.result(input, reply), config))

    def caller_for(self, request: InputT) -> StructuredCaller[Any]:
        """The caller of a single-item request (a stage whose schema depends on the request overrides it)."""
        return self.caller

    def pack_caller_for(self, requests: Sequence[InputT]) -> StructuredCaller[Any]:
        """The caller of a packed request."""
        return self._pack_caller

    def pack_plan(self, inputs: Sequence[Any], config: RunnableConfig | None = None) -> Plan[list[Any]]:
        """Answer ``inputs`` with one LLM call; the result lists one output or exception per input, in order.

        A single input uses the single-item prompt. Items the packed reply misses are retried alone.
        """
        requests = [self.coerce(raw) for raw in inputs]
        if len(requests) == 1:  # the single-item prompt, in this plan (no concurrent sub-plan to start)
            try:
                return [(yield from self.plan(requests[0], config or {}))]
            except Exception as exc:
                return [exc]
        found: dict[int, Any] = {}
        if len(requests) > 1:
            try:
                reply = yield from self.pack_caller_for(requests).plan(self.pack_prompt(requests), config)
            except Exception as exc:
                return [exc] * len(requests)
            found = self._unpack(requests, reply)
            order = sorted(found)
            revised = yield from gather(
                [self.revise(requests[i], found[i], config or {}) for i in order], return_exceptions=True
            )
            found = dict(zip(order, revised, strict=True))
        missing = [i for i in range(len(requests)) if i not in found]
        alone = yield from gather([self.plan(requests[i], config or {}) for i in missing], return_exceptions=True)
        found.update(zip(missing, alone, strict=True))
        return [found[i] for i in range(len(requests))]

    def invoke_pack(self, inputs: Sequence[Any], config: RunnableConfig | None = None) -> list[OutputT | Exception]:
        """Blocking :meth:`pack_plan`."""
        return run(self.pack_plan(inputs, config))

    async def ainvoke_pack(
        self, inputs: Sequence[Any], config: RunnableConfig | None = None
    ) -> list[OutputT | Exception]:
        """Async :meth:`pack_plan`."""
        return await arun(self.pack_plan(inputs, config))

    def _unpack(self, requests: list[InputT], reply: BaseModel) -> dict[int, OutputT]:
        """Results by position for the entries whose ``item_id`` names an item of the pack (first one wins)."""
        found: dict[int, OutputT] = {}
        for entry in getattr(reply, "items", []):
            index = entry.item_id - 1
            if 0 <= index < len(requests) and index not in found:
                found[index] = self.result(requests[index], entry)
        return found

    def _set_callers(
        self, llm: BaseChatModel, schema: type[ReplyT], pack_schema: type[BaseModel], **options: Any
    ) -> None:
        """Create the single-item caller now and keep what the packed one needs for first use."""
        self.caller = StructuredCaller(llm, schema, **options)
        self._pack_args = (llm, pack_schema, options)

    @cached_property
    def _pack_caller(self) -> StructuredCaller[Any]:
        llm, schema, options = self._pack_args
        return StructuredCaller(llm, schema, **options)


def packs(items: Sequence[Any], size: int) -> list[list[Any]]:
    """Consecutive packs of at most ``size`` items.

    Example:
        >>> packs([1, 2, 3, 4, 5], 2)
        [[1, 2], [3, 4], [5]]
    """
    if size < 1:
        raise ConfigurationError(f"pack_size must be at least 1, got {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
