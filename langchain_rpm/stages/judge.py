"""Stage 3 for open-ended tasks: the judge, one call per history item (DESIGN §2 step 3).

:class:`FeatureJudge` sees an item's answer and features and marks each feature ``influenced`` (and its
``evaluation``: pos / neu / neg); :func:`apply_judgments` writes such verdicts onto the features, and
the statistics (Eq. 3-4) count them. The default preset folds the same verdicts into the reasoning
call instead (``RPMSettings.judge="in_reasoning"``), which also uses :func:`apply_judgments`.

Example:
    >>> from langchain_rpm import LAMP5
    >>> from langchain_rpm.testing import demo_chat_model
    >>> from langchain_rpm.types import Feature, HistoryItem
    >>> judge = FeatureJudge(demo_chat_model(), LAMP5)
    >>> item = HistoryItem(id="1", input="We train robots with rewards.", response="Reward Learning for Robots")
    >>> judged = judge.invoke({"item": item, "features": [Feature(name="robots"), Feature(name="speech")]})
    >>> [(f.name, f.influenced, f.evaluation) for f in judged]
    [('robots', True, 'pos'), ('speech', False, None)]
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from langchain_rpm._plans import CallLimiter, Plan
from langchain_rpm.prompts import FEATURE_JUDGE, FeatureJudgments, fence, render_indexed_features
from langchain_rpm.stages.base import RPMStage, StructuredCaller
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import Feature, FeatureJudgment, HistoryItem


class JudgeInput(BaseModel):
    """One history item and its features."""

    item: HistoryItem
    features: list[Feature]


def apply_judgments(features: Sequence[Feature], judgments: Sequence[FeatureJudgment]) -> list[Feature]:
    """``features`` with the verdicts of ``judgments`` (matched by ``feature_index``; the first one wins).

    A feature without a verdict counts as not influential; ``evaluation`` is kept only for
    influential features.

    Example:
        >>> judged = apply_judgments([Feature(name="a"), Feature(name="b")],
        ...                          [FeatureJudgment(feature_index=1, influenced=True, evaluation="neg")])
        >>> [(f.influenced, f.evaluation) for f in judged]
        [(False, None), (True, 'neg')]
    """
    verdicts: dict[int, FeatureJudgment] = {}
    for judgment in judgments:
        verdicts.setdefault(judgment.feature_index, judgment)
    judged = []
    for index, feature in enumerate(features):
        verdict = verdicts.get(index)
        influenced = bool(verdict and verdict.influenced)
        evaluation = verdict.evaluation if verdict and influenced else None
        judged.append(feature.model_copy(update={"influenced": influenced, "evaluation": evaluation}))
    return judged


class FeatureJudge(RPMStage[JudgeInput, list[Feature]]):
    """Judges which features of one history item influenced the user's answer (one LLM call per item).

    Args:
        llm: Any chat model with structured output.
        task: The task spec (its instruction frames the prompt; the answer is normalised by it).
        method: Structured-output method.
        max_retries: Retries for replies that fail the schema.
        limiter: Shared bound on concurrent LLM calls.

    Output: the item's features with ``influenced`` and ``evaluation`` filled. An item without
    features costs no call.
    """

    input_model = JudgeInput
    output_type = list[Feature]

    def __init__(
        self,
        llm: BaseChatModel,
        task: TaskSpec,
        *,
        method: str | None = None,
        max_retries: int = 2,
        limiter: CallLimiter | None = None,
    ) -> None:
        """Configure the judge."""
        self.task = task
        self.caller = StructuredCaller(
            llm, FeatureJudgments, stage="judge", method=method, max_retries=max_retries, limiter=limiter
        )

    def prompt(self, request: JudgeInput | dict[str, object]) -> PromptValue:
        """The exact prompt sent for ``request``."""
        request = self.coerce(request)
        answer = self.task.check(request.item.response, request.item.options).answer
        return FEATURE_JUDGE.format_prompt(
            instruction=self.task.instruction,
            input_description=self.task.input_description,
            fenced_answer=fence("answer", answer),
            features=render_indexed_features(request.features),
        )

    def plan(self, input: JudgeInput, config: RunnableConfig) -> Plan[list[Feature]]:
        """Judge the item's features with one call."""
        if not input.features:
            return []
        reply = yield from self.caller.plan(self.prompt(input), config)
        return apply_judgments(input.features, reply.influences)
