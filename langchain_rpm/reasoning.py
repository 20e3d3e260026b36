"""Stage 3: reasoning paths — how *this* user got from an item's features to their known answer.

Example:
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> from langchain_rpm.tasks import LAMP3
    >>> from langchain_rpm.types import HistoryItem, Feature
    >>> builder = ReasoningPathBuilder(FakeStructuredChatModel(), LAMP3)
    >>> example = builder.invoke({"item": HistoryItem(id="1", input="Sturdy but late.", response="4 stars"),
    ...                           "features": [Feature(name="sturdy build", factor="Quality")], "factors": []})
    >>> example.answer
    '4'
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm.llm import CallLimiter, StructuredCaller
from langchain_rpm.prompts import (
    REASONING_PATH,
    ReasoningOutput,
    fence,
    judgment_guidance,
    render_factors,
    render_features,
    render_input,
)
from langchain_rpm.stage import RPMStage
from langchain_rpm.tasks import TaskKind, TaskSpec
from langchain_rpm.types import Factor, Feature, HistoryItem, ReasoningExample


class ReasoningInput(BaseModel):
    """One history item, its features (with final factors) and the user's factors with statistics."""

    item: HistoryItem
    features: list[Feature]
    factors: list[Factor]


class ReasoningPathBuilder(RPMStage[ReasoningInput, ReasoningExample]):
    """Writes the answer-conditioned reasoning path of one history item.

    For open-ended tasks the same call also judges each factor's influence and polarity in the
    user's response (aggregated into the factor statistics), so no extra calls are needed.

    Output: a :class:`ReasoningExample` whose answer is the item's response normalised by the task.
    """

    input_model = ReasoningInput

    def __init__(
        self,
        llm: BaseChatModel,
        task: TaskSpec,
        *,
        method: str | None = None,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
    ) -> None:
        self.task = task
        self._caller = StructuredCaller(llm, ReasoningOutput, method=method, max_retries=max_retries, limiter=limiter)

    def prompt(self, request: ReasoningInput) -> PromptValue:
        """The exact prompt sent for ``request``."""
        return REASONING_PATH.invoke(
            {
                "instruction": self.task.instruction,
                "factors": render_factors(request.factors, self.task),
                "judgment_guidance": judgment_guidance(self.task),
                "fenced_input": render_input(request.item.input, request.item.options),
                "features": render_features(request.features),
                "fenced_answer": fence("answer", self._answer(request.item)),
            }
        )

    def _answer(self, item: HistoryItem) -> str:
        return self.task.check(item.response, item.options).answer

    def _example(self, request: ReasoningInput, output: ReasoningOutput) -> ReasoningExample:
        open_ended = self.task.kind is TaskKind.OPEN_ENDED
        return ReasoningExample(
            item_id=request.item.id,
            input=request.item.input,
            features=request.features,
            reasoning=output.reasoning.strip(),
            answer=self._answer(request.item),
            options=request.item.options,
            factor_judgments=output.factor_judgments if open_ended else [],
        )

    def _run(self, input: ReasoningInput, config: RunnableConfig) -> ReasoningExample:
        return self._example(input, self._caller.invoke(self.prompt(input), config))

    async def _arun(self, input: ReasoningInput, config: RunnableConfig) -> ReasoningExample:
        return self._example(input, await self._caller.ainvoke(self.prompt(input), config))
