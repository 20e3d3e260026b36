"""Packing: several history items in one LLM call, for the stages that run once per item.

A :class:`PackableStage` answers one input with its single-item prompt (the paper's setting) and a
*pack* of inputs with one packed prompt whose reply lists one entry per item, keyed by the item's
position in the pack (``<item id="N">``, numbered by us, never read from the text). Both paths share
the stage's result handling (:meth:`PackableStage._result`). An item the packed reply leaves out,
or answers under an unknown id, is retried alone with the single-item prompt; only when that call
fails too is the item reported failed. A packed call that fails outright fails every item of the pack.

Example:
    >>> from langchain_rpm.extractor import FeatureExtractor
    >>> from langchain_rpm.tasks import LAMP2
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> def reply(messages, schema):  # a packed reply for items 1 and 2
    ...     return {"items": [{"item_id": i, "features": [{"name": f"feature {i}"}]} for i in (1, 2)]}
    >>> model = FakeStructuredChatModel(responder=reply)
    >>> results = FeatureExtractor(model, LAMP2).invoke_pack(["A robot film.", "A wedding film."])
    >>> [[f.name for f in features] for features in results], model.call_count
    ([['feature 1'], ['feature 2']], 1)
"""

from __future__ import annotations

import asyncio
import threading
from abc import abstractmethod
from collections.abc import Sequence
from functools import partial
from typing import Any, Generic, TypeVar, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import patch_config
from pydantic import BaseModel

from langchain_rpm.llm import StructuredCaller
from langchain_rpm.stage import InputT, OutputT, RPMStage

ReplyT = TypeVar("ReplyT", bound=BaseModel)


class PackableStage(RPMStage[InputT, OutputT], Generic[InputT, OutputT, ReplyT]):
    """An :class:`RPMStage` that can also answer several inputs with one LLM call.

    Subclasses call :meth:`_set_callers` with the single-item schema and the packed schema (a model
    with an ``items`` list whose entries extend the single-item schema with ``item_id``), and
    implement :meth:`prompt`, :meth:`pack_prompt` and :meth:`_result`.
    """

    _caller: StructuredCaller[ReplyT]

    @abstractmethod
    def prompt(self, request: InputT) -> PromptValue:
        """The single-item prompt."""

    @abstractmethod
    def pack_prompt(self, requests: Sequence[InputT]) -> PromptValue:
        """The packed prompt for several requests (items numbered 1..n)."""

    @abstractmethod
    def _result(self, request: InputT, reply: ReplyT) -> OutputT:
        """Turn the model's reply for one request (single or one entry of a pack) into the output."""

    # -- single item -------------------------------------------------------------------------------------
    def _run(self, input: InputT, config: RunnableConfig) -> OutputT:
        return self._result(input, self._caller.invoke(self.prompt(input), config))

    async def _arun(self, input: InputT, config: RunnableConfig) -> OutputT:
        return self._result(input, await self._caller.ainvoke(self.prompt(input), config))

    # -- packs -------------------------------------------------------------------------------------------
    def invoke_pack(self, inputs: Sequence[Any], config: RunnableConfig | None = None) -> list[OutputT | Exception]:
        """Answer ``inputs`` with one LLM call; returns one output or exception per input, in order.

        A single input uses the single-item prompt. Items the packed reply misses are retried alone.
        """
        requests = [self.coerce(value) for value in inputs]
        found: dict[int, OutputT | Exception] = {}
        if len(requests) > 1:
            try:
                found = cast(dict[int, Any], self._call_with_config(self._run_pack, requests, self._traced(config)))  # type: ignore[arg-type]
            except Exception as exc:
                return [exc] * len(requests)
        for i in range(len(requests)):
            if i not in found:  # alone: the single item, or one the packed reply left out
                try:
                    found[i] = self.invoke(requests[i], config)
                except Exception as exc:
                    found[i] = exc
        return [found[i] for i in range(len(requests))]

    async def ainvoke_pack(
        self, inputs: Sequence[Any], config: RunnableConfig | None = None
    ) -> list[OutputT | Exception]:
        """Async twin of :meth:`invoke_pack`."""
        requests = [self.coerce(value) for value in inputs]
        found: dict[int, OutputT | Exception] = {}
        if len(requests) > 1:
            try:
                traced = self._traced(config)
                found = cast(dict[int, Any], await self._acall_with_config(self._arun_pack, requests, traced))  # type: ignore[arg-type]
            except Exception as exc:
                return [exc] * len(requests)

        async def alone(request: InputT) -> OutputT | Exception:
            try:
                return await self.ainvoke(request, config)
            except Exception as exc:
                return exc

        missing = [i for i in range(len(requests)) if i not in found]
        retried = await asyncio.gather(*(alone(requests[i]) for i in missing))
        found.update(zip(missing, retried, strict=True))
        return [found[i] for i in range(len(requests))]

    def _traced(self, config: RunnableConfig | None) -> RunnableConfig:
        """``config`` with the pack's run name (``FeatureExtractorPack``) for tracing."""
        return patch_config(config, run_name=f"{self.get_name()}Pack")

    def _run_pack(self, requests: list[InputT], config: RunnableConfig) -> dict[int, OutputT]:
        return self._unpack(requests, self._pack_caller.invoke(self.pack_prompt(requests), config))

    async def _arun_pack(self, requests: list[InputT], config: RunnableConfig) -> dict[int, OutputT]:
        return self._unpack(requests, await self._pack_caller.ainvoke(self.pack_prompt(requests), config))

    def _unpack(self, requests: list[InputT], reply: BaseModel) -> dict[int, OutputT]:
        """Results by position for the entries whose ``item_id`` names an item of the pack (first one wins)."""
        found: dict[int, OutputT] = {}
        for entry in reply.items:  # type: ignore[attr-defined]
            index = entry.item_id - 1
            if 0 <= index < len(requests) and index not in found:
                found[index] = self._result(requests[index], entry)
        return found

    def _set_callers(
        self, llm: BaseChatModel, schema: type[ReplyT], pack_schema: type[BaseModel], **options: Any
    ) -> None:
        """Create the single-item caller now and the packed one on first use (so unpacked runs never bind it)."""
        self._caller = StructuredCaller(llm, schema, **options)
        self._pack_factory = partial(StructuredCaller, llm, pack_schema, **options)
        self._pack_caller_instance: StructuredCaller[Any] | None = None

    @property
    def _pack_caller(self) -> StructuredCaller[Any]:
        if self._pack_caller_instance is None:
            with _BIND_LOCK:
                if self._pack_caller_instance is None:
                    self._pack_caller_instance = self._pack_factory()
        return self._pack_caller_instance


_BIND_LOCK = threading.Lock()


def packs(items: Sequence[Any], size: int) -> list[list[Any]]:
    """Consecutive packs of at most ``size`` items.

    Example:
        >>> packs([1, 2, 3, 4, 5], 2)
        [[1, 2], [3, 4], [5]]
    """
    if size < 1:
        raise ValueError("pack_size must be at least 1")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
