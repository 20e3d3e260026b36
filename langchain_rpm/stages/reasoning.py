"""Stage 3: reasoning paths — how *this* user got from an item's features to their known answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel

from langchain_rpm.plans import CallLimiter
from langchain_rpm.prompts import (
    PACKED_REASONING_PATH,
    REASONING_ITEM,
    REASONING_PATH,
    PackedReasoning,
    ReasoningOutput,
    fence,
    judgment_guidance,
    render_factors,
    render_features,
    render_input,
    render_pack,
)
from langchain_rpm.stages.judge import apply_judgments
from langchain_rpm.stages.packing import PackableStage
from langchain_rpm.tasks import TaskKind, TaskSpec
from langchain_rpm.types import Factor, Feature, HistoryItem, ReasoningExample


class ReasoningInput(BaseModel):
    """One history item, its features (with final factors) and the user's factors with statistics."""

    item: HistoryItem
    features: list[Feature]
    factors: list[Factor]


class ReasoningPathBuilder(PackableStage[ReasoningInput, ReasoningExample, ReasoningOutput]):
    """Writes the answer-conditioned reasoning path of one history item (or of a pack of items).

    For open-ended tasks with ``fold_judge`` (the default preset) the same call also judges each
    feature's influence on the answer (the statistics' Eq. 3-4), so no separate judge call is needed.

    Output: a :class:`ReasoningExample` whose answer is the item's response normalised by the task.
    :meth:`invoke_pack` answers several items (sharing one ``factors`` list) with one call.

    Example:
        >>> from langchain_rpm import LAMP3
        >>> from langchain_rpm.testing import demo_chat_model
        >>> from langchain_rpm.types import HistoryItem, Feature
        >>> builder = ReasoningPathBuilder(demo_chat_model(), LAMP3)
        >>> example = builder.invoke({"item": HistoryItem(id="1", input="Sturdy but late.", response="4 stars"),
        ...                           "features": [Feature(name="sturdy build", factor="Quality")], "factors": []})
        >>> example.answer, example.reasoning
        ('4', 'I noticed sturdy build, so I answered 4.')
    """

    input_model = ReasoningInput
    output_type = ReasoningExample

    def __init__(
        self,
        llm: BaseChatModel,
        task: TaskSpec,
        *,
        method: str | None = None,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
        fold_judge: bool = True,
    ) -> None:
        """Configure the reasoning stage (``fold_judge``: open-ended tasks judge the features in this call)."""
        self.task = task
        self.fold_judge = fold_judge and task.kind is TaskKind.OPEN_ENDED
        self._set_callers(
            llm,
            ReasoningOutput,
            PackedReasoning,
            stage="reason",
            method=method,
            max_retries=max_retries,
            limiter=limiter,
        )

    def prompt(self, request: ReasoningInput | Any) -> PromptValue:
        """The exact prompt sent for ``request``."""
        request = self.coerce(request)
        return REASONING_PATH.format_prompt(**self._frame(request.factors), **self._item(request))

    def pack_prompt(self, requests: Sequence[ReasoningInput]) -> PromptValue:
        """The exact prompt sent for a pack of requests (which must share their ``factors``)."""
        factors = requests[0].factors
        if any(r.factors is not factors and r.factors != factors for r in requests[1:]):
            raise ValueError("the items of one pack must share the same factors")
        items = render_pack([REASONING_ITEM.format(**self._item(r)) for r in requests])
        return PACKED_REASONING_PATH.format_prompt(**self._frame(factors), count=len(requests), items=items)

    def _frame(self, factors: list[Factor]) -> dict[str, str]:
        return {
            "instruction": self.task.instruction,
            "factors": render_factors(factors, self.task),
            "judgment_guidance": judgment_guidance(self.task) if self.fold_judge else "",
        }

    def _item(self, request: ReasoningInput) -> dict[str, str]:
        return {
            "fenced_input": render_input(request.item.input, request.item.options),
            "features": render_features(request.features),
            "fenced_answer": fence("answer", self._answer(request.item)),
        }

    def _answer(self, item: HistoryItem) -> str:
        return self.task.check(item.response, item.options).answer

    def result(self, request: ReasoningInput, reply: ReasoningOutput) -> ReasoningExample:
        """The stored example of one reply."""
        features = apply_judgments(request.features, reply.influences) if self.fold_judge else request.features
        return ReasoningExample(
            item_id=request.item.id,
            input=request.item.input,
            features=features,
            reasoning=reply.reasoning.strip(),
            answer=self._answer(request.item),
            options=request.item.options,
        )
