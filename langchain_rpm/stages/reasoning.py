"""Personalized reasoning paths (DESIGN §2.4): how *this* user arrives at an item's known answer.

One call per history item (or per pack, :mod:`~langchain_rpm.stages._packing`) sees the input, its
features, the user's factors with statistics and the real answer as a reference the reasoning must not
state. A stored path that still names the answer (:func:`~langchain_rpm.stages._leaks.find_leak`) is
retried ``leak_retries`` times with that feedback (0: flag only, the paper preset); a path that still
leaks is kept and flagged ``leak=True``.
For open-ended tasks the call can also judge every feature (the judge folded in, ``fold_judge=True``).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm._plans import CallLimiter, Plan
from langchain_rpm.errors import StructuredOutputError
from langchain_rpm.prompts import (
    ANSWER_RULES,
    JUDGMENT_GUIDANCE,
    LEAK_FEEDBACK,
    PACKED_REASONING_PATH,
    REASONING_ITEM,
    REASONING_PATH,
    STATISTICS_STEPS,
    JudgedReasoningOutput,
    PackedJudgedReasoning,
    PackedReasoning,
    ReasoningOutput,
    fence,
    render_factors,
    render_features,
    render_input,
    render_pack,
)
from langchain_rpm.stages._leaks import find_leak
from langchain_rpm.stages._packing import PackableStage
from langchain_rpm.stages.base import render_prompt
from langchain_rpm.stages.judge import apply_judgments
from langchain_rpm.tasks import TaskKind, TaskSpec
from langchain_rpm.types import Factor, Feature, HistoryItem, ReasoningExample


class ReasoningInput(BaseModel):
    """One history item, its features (with final factors) and the user's factors with statistics."""

    item: HistoryItem
    features: list[Feature]
    factors: list[Factor]


class ReasoningPathBuilder(PackableStage[ReasoningInput, ReasoningExample, ReasoningOutput]):
    """Writes the personalized reasoning path of one history item (or of a pack of items).

    Args:
        llm: Any chat model with structured output.
        task: The task spec.
        method: Structured-output method.
        max_retries: Retries of a reply that fails the schema.
        limiter: Shared bound on concurrent LLM calls.
        fold_judge: For open-ended tasks, also judge every feature in the same call (``influenced``,
            ``evaluation``); the verdicts land on the example's features. Ignored for
            discrete tasks, whose schema has no judge field at all.
        leak_retries: Retries of a reasoning path that names the answer (0: only flag it).

    Output: a :class:`ReasoningExample` whose answer is the item's response normalised by the task.

    Example:
        >>> from langchain_rpm import LAMP3
        >>> from langchain_rpm.testing import demo_chat_model
        >>> from langchain_rpm.types import HistoryItem, Feature
        >>> builder = ReasoningPathBuilder(demo_chat_model(), LAMP3)
        >>> example = builder.invoke({"item": HistoryItem(id="1", input="Sturdy but late.", response="4 stars"),
        ...                           "features": [Feature(name="sturdy build", factor="Quality")], "factors": []})
        >>> example.answer, example.leak
        ('4', False)
        >>> example.reasoning
        'The input shows sturdy build; Quality weighs on this user, so the answer follows from it.'
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
        leak_retries: int = 1,
    ) -> None:
        """Configure the reasoning stage."""
        self.task = task
        self.fold_judge = fold_judge and task.kind is TaskKind.OPEN_ENDED
        self.leak_retries = leak_retries
        schema, packed = (
            (JudgedReasoningOutput, PackedJudgedReasoning) if self.fold_judge else (ReasoningOutput, PackedReasoning)
        )
        self._set_callers(llm, schema, packed, stage="reason", method=method, max_retries=max_retries, limiter=limiter)
        self._last_frame: tuple[tuple[Factor, ...], dict[str, str]] | None = None

    def prompt(self, request: ReasoningInput | Any) -> PromptValue:
        """The exact prompt sent for ``request``."""
        request = self.coerce(request)
        return render_prompt(REASONING_PATH, **self._frame(request.factors), **self._item(request))

    def pack_prompt(self, requests: Sequence[ReasoningInput]) -> PromptValue:
        """The exact prompt sent for a pack of requests (which must share their ``factors``)."""
        factors = requests[0].factors
        if any(r.factors is not factors and r.factors != factors for r in requests[1:]):
            raise ValueError("the items of one pack must share the same factors")
        items = render_pack([REASONING_ITEM.format(**self._item(r)) for r in requests])
        return render_prompt(PACKED_REASONING_PATH, **self._frame(factors), count=len(requests), items=items)

    def _frame(self, factors: list[Factor]) -> dict[str, str]:
        """The prompt's parts that depend on the factors only, rendered again only for other factor objects.

        A build's reasoning calls share one set of factor objects (the build validates them once), so the
        factor table, a few hundred microseconds of formatting, is rendered once per build, not per call.
        """
        last = self._last_frame
        if last is not None and len(last[0]) == len(factors) and all(map(operator.is_, last[0], factors)):
            return last[1]
        frame = self._render_frame(factors)
        self._last_frame = (tuple(factors), frame)
        return frame

    def _render_frame(self, factors: list[Factor]) -> dict[str, str]:
        judged = any(f.statistics is not None and f.statistics.influence is not None for f in factors)
        counts_only = self.task.kind is TaskKind.OPEN_ENDED and not judged
        return {
            "instruction": self.task.instruction,
            "subject": self.task.subject,
            "statistics_step": STATISTICS_STEPS["counts" if counts_only else "full"].format(subject=self.task.subject),
            "answer_rule": ANSWER_RULES[_rule_kind(self.task)],
            "factors": render_factors(factors, self.task),
            "judgment_guidance": JUDGMENT_GUIDANCE if self.fold_judge else "",
        }

    def _item(self, request: ReasoningInput) -> dict[str, str]:
        return {
            "fenced_input": render_input(request.item.input, request.item.options),
            "features": render_features(request.features, numbered=self.fold_judge),
            "fenced_answer": fence("answer", self._answer(request.item)),
        }

    def _answer(self, item: HistoryItem) -> str:
        return self.task.check(item.response, item.options).answer

    def result(self, request: ReasoningInput, reply: ReasoningOutput) -> ReasoningExample:
        """The stored example of one reply (with the folded judge, its verdicts on the features)."""
        features = request.features
        if self.fold_judge and isinstance(reply, JudgedReasoningOutput):
            features = apply_judgments(request.features, reply.influences)
        return ReasoningExample(
            item_id=request.item.id,
            input=request.item.input,
            features=features,
            reasoning=reply.reasoning.strip(),
            answer=self._answer(request.item),
            options=request.item.options,
            time=request.item.time,
        )

    def leak(self, example: ReasoningExample) -> str | None:
        """How ``example``'s reasoning gives its answer away, or ``None`` (the rule of :mod:`.leaks`)."""
        return find_leak(self.task, example.reasoning, example.answer, example.options)

    def revise(
        self, request: ReasoningInput, output: ReasoningExample, config: RunnableConfig
    ) -> Plan[ReasoningExample]:
        """The leak guard: a path that names the answer is asked again with that feedback, then flagged."""
        problem = self.leak(output)
        for _ in range(self.leak_retries if problem else 0):
            feedback = LEAK_FEEDBACK.format(problem=problem, fenced_reasoning=fence("reasoning", output.reasoning))
            messages = [*self.prompt(request).to_messages(), HumanMessage(feedback)]
            try:
                reply = yield from self.caller_for(request).plan(messages, config)
            except StructuredOutputError:
                break
            retried = self.result(request, reply)
            if self.fold_judge and not getattr(reply, "influences", None):  # keep the first call's verdicts
                retried = retried.model_copy(update={"features": output.features})
            output = retried
            problem = self.leak(output)
            if problem is None:
                return output
        return output.model_copy(update={"leak": True}) if problem else output


def _rule_kind(task: TaskSpec) -> str:
    if task.kind is TaskKind.RATING:
        return "rating"
    return "text" if task.kind is TaskKind.OPEN_ENDED else "discrete"
