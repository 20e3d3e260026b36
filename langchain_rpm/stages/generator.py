"""Reasoning-aligned generation (DESIGN §2.8): the user's reasoning about a new input, then the answer.

The prompt puts the retrieved exemplars first, then the task and its three steps, the user's factors
with statistics, and the new input with its features. The reply's answer field is an enum of the
allowed answers where the task has them (:func:`~langchain_rpm.prompts.answer_schema`), so constrained
decoding cannot leave the answer space; an answer that still does not fit is asked for once more with
the error, and only then gets what the task's ``on_invalid`` says.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from langchain_rpm._plans import CallLimiter, Plan
from langchain_rpm._process_caches import hold
from langchain_rpm.errors import InvalidAnswerError, StructuredOutputError
from langchain_rpm.models import model_name
from langchain_rpm.prompts import (
    GENERATION,
    INVALID_ANSWER_FEEDBACK,
    answer_schema,
    render_examples,
    render_factors,
    render_features,
    render_input,
)
from langchain_rpm.stages.base import RPMStage, StructuredCaller, render_prompt
from langchain_rpm.tasks import AnswerCheck, TaskSpec
from langchain_rpm.types import Factor, Feature, Prediction, RetrievedExample

_CALLERS_KEPT = 256
"""Structured callers kept per generator (one per answer schema: per query options for multiple choice)."""


class GenerationInput(BaseModel):
    """A new query with its features, the user's factors and the retrieved reasoning examples."""

    user_id: str = ""
    query: str
    options: list[str] | None = None
    features: list[Feature] = Field(default_factory=list)
    factors: list[Factor] = Field(default_factory=list)
    examples: list[RetrievedExample] = Field(default_factory=list)


class ReasoningGenerator(RPMStage[GenerationInput, Prediction]):
    """Writes the user's reasoning about the query, then an answer that fits the task spec.

    Args:
        llm: Any chat model with structured output.
        task: The task spec (its ``answer_key`` names the answer field).
        method: Structured-output method (``json_schema`` strict and llama.cpp's ``function_calling``
            enforce the answer enum).
        max_retries: Retries of a reply that fails the schema.
        limiter: Shared bound on concurrent LLM calls.
        invalid_retries: Calls that re-ask for an answer that does not fit the task (with the error),
            before ``on_invalid`` applies; ``Prediction.retried`` records that it happened.

    Example:
        >>> from langchain_rpm import LAMP3
        >>> from langchain_rpm.testing import demo_chat_model
        >>> generator = ReasoningGenerator(demo_chat_model(), LAMP3)
        >>> prediction = generator.invoke({"user_id": "u1", "query": "Broke after a week."})
        >>> prediction.answer, prediction.valid, prediction.retried
        ('3', True, False)
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
        invalid_retries: int = 1,
    ) -> None:
        """Configure the generator."""
        self.task = task
        self.llm = llm
        self.invalid_retries = invalid_retries
        self._caller_options: dict[str, Any] = {"method": method, "max_retries": max_retries, "limiter": limiter}
        self._callers: OrderedDict[type[BaseModel], StructuredCaller[Any]] = OrderedDict()
        self._lock = threading.Lock()
        hold(self)  # keyed by schemas naming a question's options: emptied at every forget

    def empty_caches(self, user_id: str) -> None:
        """Drop every caller (keyed by schemas naming questions' options, not by user; a forget calls this)."""
        with self._lock:
            self._callers.clear()

    def schema(self, options: list[str] | None = None) -> type[BaseModel]:
        """The output schema of one query: ``{"reasoning", task.answer_key}`` (enum answers where the task has them)."""
        return answer_schema(self.task, options)

    def caller(self, options: list[str] | None = None) -> StructuredCaller[Any]:
        """The structured caller for the schema of a query with ``options`` (bound once, then reused)."""
        schema = self.schema(options)
        with self._lock:
            caller = self._callers.get(schema)
            if caller is None:
                caller = StructuredCaller(self.llm, schema, stage="generate", **self._caller_options)
                self._callers[schema] = caller
                if len(self._callers) > _CALLERS_KEPT:
                    self._callers.popitem(last=False)
            else:
                self._callers.move_to_end(schema)
            return caller

    def prompt(self, request: GenerationInput | Any) -> PromptValue:
        """The exact prompt sent for ``request``."""
        request = self.coerce(request)
        return render_prompt(  # not .invoke: a template is no traced run of its own (~0.4 ms of CPU)
            GENERATION,
            examples=render_examples(request.examples),
            instruction=self.task.instruction,
            subject=self.task.subject,
            answer_format=self.task.answer_format(request.options),
            answer_key=self.task.answer_key,
            factors=render_factors(request.factors, self.task),
            fenced_input=render_input(request.query, request.options),
            features=render_features(request.features),
        )

    def problem(self, answer: str, options: list[str] | None = None) -> str | None:
        """Why ``answer`` does not fit the task, or ``None`` when it does."""
        return self._fit(answer, options)[1]

    def _fit(self, answer: str, options: list[str] | None) -> tuple[AnswerCheck | None, str | None]:
        """The checked answer when it fits (``task.check``'s result, normalized once), else why it does not."""
        try:
            return AnswerCheck(self.task.normalize(answer, options), True), None
        except InvalidAnswerError as exc:
            return None, str(exc)

    def plan(self, input: GenerationInput, config: RunnableConfig) -> Plan[Prediction]:
        """One generation call; an answer that does not fit is asked for again, with the error, once."""
        caller = self.caller(input.options)
        messages = self.prompt(input).to_messages()
        reply = yield from caller.plan(messages, config)
        retried, checked = False, None
        for _ in range(self.invalid_retries):
            checked, error = self._fit(reply.answer, input.options)
            if error is None:
                break
            retried = True
            feedback = INVALID_ANSWER_FEEDBACK.format(
                answer_key=self.task.answer_key,
                answer=reply.answer,
                error=error,
                answer_format=self.task.answer_format(input.options),
            )
            try:
                reply = yield from caller.plan([*messages, HumanMessage(feedback)], config)
            except StructuredOutputError:
                break
            checked = None  # a new reply: not checked yet
        return self._prediction(input, reply, retried, checked)

    def _prediction(
        self, request: GenerationInput, output: Any, retried: bool, checked: AnswerCheck | None = None
    ) -> Prediction:
        """The prediction of ``output``; ``checked``: its answer already found to fit (else checked here)."""
        checked = self.task.check(output.answer, request.options) if checked is None else checked
        known = {f.name.lower(): f.name for f in request.factors}
        named = [name.lower() for feature in request.features for name in feature.factors]
        return Prediction(
            user_id=request.user_id,
            query=request.query,
            answer=checked.answer,
            valid=checked.valid,
            raw_answer=output.answer,
            retried=retried,
            reasoning=output.reasoning.strip(),
            features=request.features,
            factors_used=list(dict.fromkeys(known[name] for name in named if name in known)),
            example_ids=[hit.example.item_id for hit in request.examples],
            examples=request.examples,
            model=model_name(self.llm),
        )
