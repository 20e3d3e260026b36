"""Stage 1 and 5: response-influential feature extraction (history mode and factor-aware mode).

Example:
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> from langchain_rpm.tasks import LAMP2
    >>> extractor = FeatureExtractor(FakeStructuredChatModel(), LAMP2)
    >>> features = extractor.invoke("A crew of astronauts fights a rogue AI on a space station.")
    >>> all(f.name for f in features)
    True
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm.llm import CallLimiter, StructuredCaller
from langchain_rpm.prompts import (
    FACTOR_AWARE_GUIDANCE,
    FEATURE_EXTRACTION,
    HISTORY_GUIDANCE,
    ExtractedFeatures,
    answer_block,
    render_factors,
    render_input,
)
from langchain_rpm.stage import RPMStage
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import Factor, Feature, HistoryItem


class ExtractionInput(BaseModel):
    """What the extractor reads: an input text, optionally its options, known answer and the user's factors.

    With ``factors`` the extractor runs in factor-aware mode (a new query of a known user).
    """

    text: str
    options: list[str] | None = None
    answer: str | None = None
    factors: list[Factor] | None = None


class FeatureExtractor(RPMStage[ExtractionInput, list[Feature]]):
    """Lists the response-influential features of one input with the LLM.

    Args:
        llm: Any chat model with structured output.
        task: The task spec (its instruction and answer format frame the prompt).
        method: Structured-output method passed to ``with_structured_output``.
        show_answer: Show the user's known answer to the extractor in history mode (off by default,
            as in the paper).
        max_retries: Retries for replies that fail the schema.

    Inputs: an :class:`ExtractionInput`, a dict of its fields, a :class:`HistoryItem`, or a plain string.
    Output: a list of :class:`Feature` (names de-duplicated; in factor-aware mode, factor names
    snapped to the user's existing factors, ignoring case).
    """

    input_model = ExtractionInput

    def __init__(
        self,
        llm: BaseChatModel,
        task: TaskSpec,
        *,
        method: str | None = None,
        show_answer: bool = False,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
    ) -> None:
        self.task = task
        self.show_answer = show_answer
        self._caller = StructuredCaller(llm, ExtractedFeatures, method=method, max_retries=max_retries, limiter=limiter)

    def coerce(self, value: Any) -> ExtractionInput:
        if isinstance(value, str):
            return ExtractionInput(text=value)
        if isinstance(value, HistoryItem):
            return ExtractionInput(
                text=value.input, options=value.options, answer=value.response if self.show_answer else None
            )
        return super().coerce(value)

    def prompt(self, request: ExtractionInput) -> PromptValue:
        """The exact prompt sent for ``request`` (useful for auditing)."""
        if request.factors is not None:
            guidance = FACTOR_AWARE_GUIDANCE.format(factors=render_factors(request.factors, self.task))
        else:
            guidance = HISTORY_GUIDANCE
        return FEATURE_EXTRACTION.invoke(
            {
                "instruction": self.task.instruction,
                "answer_format": self.task.answer_format(request.options),
                "input_description": self.task.input_description,
                "factor_guidance": guidance,
                "fenced_input": render_input(request.text, request.options),
                "answer_block": answer_block(self.task, request.answer),
            }
        )

    def _run(self, input: ExtractionInput, config: RunnableConfig) -> list[Feature]:
        return _clean(self._caller.invoke(self.prompt(input), config).features, input.factors)

    async def _arun(self, input: ExtractionInput, config: RunnableConfig) -> list[Feature]:
        return _clean((await self._caller.ainvoke(self.prompt(input), config)).features, input.factors)


def _clean(features: list[Feature], factors: list[Factor] | None) -> list[Feature]:
    """Strip, drop empty and duplicate names; snap factor names to known factors."""
    known = {f.name.lower(): f.name for f in factors or []}
    seen: set[str] = set()
    cleaned = []
    for feature in features:
        name = " ".join(feature.name.split())
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        factor = " ".join(feature.factor.split())
        cleaned.append(Feature(name=name, context=feature.context.strip(), factor=known.get(factor.lower(), factor)))
    return cleaned
