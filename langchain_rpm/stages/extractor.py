"""Stage 1 and 5: response-influential feature extraction (history mode and factor-aware mode)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel

from langchain_rpm.plans import CallLimiter
from langchain_rpm.prompts import (
    EXTRACTION_ITEM,
    FACTOR_AWARE_GUIDANCE,
    FEATURE_EXTRACTION,
    HISTORY_GUIDANCE,
    PACKED_FEATURE_EXTRACTION,
    ExtractedFeatures,
    PackedFeatures,
    answer_block,
    render_factors,
    render_input,
    render_pack,
)
from langchain_rpm.stages.packing import PackableStage
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


class FeatureExtractor(PackableStage[ExtractionInput, list[Feature], ExtractedFeatures]):
    """Lists the response-influential features of one input with the LLM (or of a pack of inputs).

    Args:
        llm: Any chat model with structured output.
        task: The task spec (its instruction and answer format frame the prompt).
        method: Structured-output method passed to ``with_structured_output``.
        show_answer: Show the user's known answer to the extractor in history mode (off by default,
            as in the paper).
        max_retries: Retries for replies that fail the schema.
        limiter: Shared bound on concurrent LLM calls.

    Inputs: an :class:`ExtractionInput`, a dict of its fields, a :class:`HistoryItem`, or a plain string.
    Output: a list of :class:`Feature` (names de-duplicated; in factor-aware mode, factor names
    snapped to the user's existing factors, ignoring case). :meth:`invoke_pack` answers several
    inputs (sharing one ``factors`` list) with one call.

    Example:
        >>> from langchain_rpm import LAMP2
        >>> from langchain_rpm.testing import demo_chat_model
        >>> extractor = FeatureExtractor(demo_chat_model(), LAMP2)
        >>> [f.name for f in extractor.invoke("A crew of astronauts fights a rogue AI on a space station.")]
        ['astronauts', 'station', 'fights', 'rogue']
        >>> len(extractor.batch(["A wedding in Paris.", "A heist with a twist."]))
        2
    """

    input_model = ExtractionInput
    output_type = list[Feature]

    def __init__(
        self,
        llm: BaseChatModel,
        task: TaskSpec,
        *,
        method: str | None = None,
        show_answer: bool = False,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
        stage: str = "extract",
    ) -> None:
        """Configure the extractor (``stage`` names its calls in cost accounting)."""
        self.task = task
        self.show_answer = show_answer
        self._set_callers(
            llm, ExtractedFeatures, PackedFeatures, stage=stage, method=method, max_retries=max_retries, limiter=limiter
        )

    def coerce(self, value: Any) -> ExtractionInput:
        """Also accept a plain string or a :class:`HistoryItem`."""
        if isinstance(value, str):
            return ExtractionInput(text=value)
        if isinstance(value, HistoryItem):
            return ExtractionInput(
                text=value.input, options=value.options, answer=value.response if self.show_answer else None
            )
        return super().coerce(value)

    def prompt(self, request: ExtractionInput | Any) -> PromptValue:
        """The exact prompt sent for ``request`` (useful for auditing)."""
        request = self.coerce(request)
        return FEATURE_EXTRACTION.format_prompt(**self._frame(request.factors, request.options), **self._item(request))

    def pack_prompt(self, requests: Sequence[ExtractionInput]) -> PromptValue:
        """The exact prompt sent for a pack of requests (which must share their ``factors``)."""
        factors = requests[0].factors
        if any(r.factors is not factors and r.factors != factors for r in requests[1:]):
            raise ValueError("the inputs of one pack must share the same factors")
        items = render_pack([EXTRACTION_ITEM.format(**self._item(r)) for r in requests])
        return PACKED_FEATURE_EXTRACTION.format_prompt(**self._frame(factors, None), count=len(requests), items=items)

    def _frame(self, factors: list[Factor] | None, options: list[str] | None) -> dict[str, str]:
        """The system-prompt variables (shared by every item of a pack)."""
        if factors is not None:
            guidance = FACTOR_AWARE_GUIDANCE.format(factors=render_factors(factors, self.task))
        else:
            guidance = HISTORY_GUIDANCE
        return {
            "instruction": self.task.instruction,
            "answer_format": self.task.answer_format(options),
            "input_description": self.task.input_description,
            "factor_guidance": guidance,
        }

    def _item(self, request: ExtractionInput) -> dict[str, str]:
        return {
            "fenced_input": render_input(request.text, request.options),
            "answer_block": answer_block(self.task, request.answer),
        }

    def result(self, request: ExtractionInput, reply: ExtractedFeatures) -> list[Feature]:
        """The cleaned features of one reply."""
        return _clean(reply.features, request.factors)


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
