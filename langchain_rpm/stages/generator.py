"""Stage 7: reasoning-aligned generation — the user's reasoning about a new input, then the answer."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from langchain_rpm.plans import CallLimiter, Plan
from langchain_rpm.prompts import (
    GENERATION,
    GeneratedAnswer,
    render_examples,
    render_factors,
    render_features,
    render_input,
)
from langchain_rpm.stages.base import RPMStage, StructuredCaller
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import Factor, Feature, Prediction, RetrievedExample


class GenerationInput(BaseModel):
    """A new query with its features, the user's factors and the retrieved reasoning examples."""

    user_id: str = ""
    query: str
    options: list[str] | None = None
    features: list[Feature] = Field(default_factory=list)
    factors: list[Factor] = Field(default_factory=list)
    examples: list[RetrievedExample] = Field(default_factory=list)


class ReasoningGenerator(RPMStage[GenerationInput, Prediction]):
    """Writes the user's reasoning about the query, then an answer validated against the task spec.

    An answer that does not fit the spec gets what the spec's ``on_invalid`` says (by default it is
    kept, marked ``valid=False``); no hidden retry calls are made.

    Example:
        >>> from langchain_rpm import LAMP3
        >>> from langchain_rpm.testing import demo_chat_model
        >>> generator = ReasoningGenerator(demo_chat_model(), LAMP3)
        >>> prediction = generator.invoke({"user_id": "u1", "query": "Broke after a week."})
        >>> prediction.answer, prediction.valid
        ('3', True)
    """

    input_model = GenerationInput
    output_type = Prediction

    def __init__(
        self,
        llm: BaseChatModel,
        task: TaskSpec,
        *,
        method: str | None = None,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
    ) -> None:
        """Configure the generator."""
        self.task = task
        self.caller = StructuredCaller(
            llm, GeneratedAnswer, stage="generate", method=method, max_retries=max_retries, limiter=limiter
        )

    def prompt(self, request: GenerationInput | Any) -> PromptValue:
        """The exact prompt sent for ``request``."""
        request = self.coerce(request)
        return GENERATION.invoke(
            {
                "instruction": self.task.instruction,
                "answer_format": self.task.answer_format(request.options),
                "factors": render_factors(request.factors, self.task),
                "examples": render_examples(request.examples),
                "fenced_input": render_input(request.query, request.options),
                "features": render_features(request.features),
            }
        )

    def _prediction(self, request: GenerationInput, output: GeneratedAnswer) -> Prediction:
        checked = self.task.check(output.answer, request.options)
        known = {f.name.lower(): f.name for f in request.factors}
        used = list(dict.fromkeys(known[f.factor.lower()] for f in request.features if f.factor.lower() in known))
        return Prediction(
            user_id=request.user_id,
            query=request.query,
            answer=checked.answer,
            valid=checked.valid,
            raw_answer=output.answer,
            reasoning=output.reasoning.strip(),
            features=request.features,
            factors_used=used,
            example_ids=[hit.example.item_id for hit in request.examples],
            examples=request.examples,
        )

    def plan(self, input: GenerationInput, config: RunnableConfig) -> Plan[Prediction]:
        """One generation call, then the answer checked against the task."""
        reply = yield from self.caller.plan(self.prompt(input), config)
        return self._prediction(input, reply)
