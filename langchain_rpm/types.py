"""Data types shared by every stage: history items, features, factors, examples, profiles, predictions.

These are pydantic models at the LLM and API boundary; inside LangGraph state they travel as
``model_dump()`` dicts (checkpointers serialize JSON-like values cleanly).

Example:
    >>> from langchain_rpm.types import HistoryItem
    >>> HistoryItem(id="1", input="A heist movie with a twist.", response="twist ending").id
    '1'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from langchain_rpm.tasks import TaskSpec

OTHER_FACTOR = "Other"
"""Factor that receives features the clustering left unassigned, so every feature has exactly one."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HistoryItem(BaseModel):
    """One past interaction of a user: an input and this user's response to it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable id of the item, unique within the user's history.")
    input: str
    response: str
    options: list[str] | None = Field(default=None, description="Per-query options (multiple choice).")

    @field_validator("id", "input")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class Feature(BaseModel):
    """A response-influential feature of an input."""

    name: str = Field(description="Short name of the attribute, e.g. 'dystopian setting'.")
    context: str = Field(default="", description="The span or paraphrase of the input that shows it.")
    factor: str = Field(default="", description="The higher-level factor this feature belongs to.")


class FactorStatistics(BaseModel):
    """How a factor relates to this user's responses (DESIGN §2).

    Discrete tasks fill ``propensity`` (``P(y | F)`` for every label ``y``) and, for ratings,
    ``mean_rating``. Open-ended tasks fill ``influence`` (0..1) and ``polarity`` (-1..1).
    """

    support: int = Field(description="n_F: number of history items that have the factor.")
    coverage: float = Field(description="n_F / N.")
    propensity: dict[str, float] = Field(default_factory=dict)
    mean_rating: float | None = None
    influence: float | None = None
    polarity: float | None = None


class Factor(BaseModel):
    """A user-level factor: a semantic cluster of features, with statistics."""

    name: str
    description: str = ""
    features: list[str] = Field(default_factory=list, description="Names of the member features.")
    statistics: FactorStatistics | None = None


class FeatureJudgment(BaseModel):
    """How one feature of a history item shows in the user's answer (the open-ended judge, DESIGN §2.3).

    Example:
        >>> FeatureJudgment(feature="robots", influenced=True, evaluation="pos").evaluation
        'pos'
    """

    feature: str = Field(description="The judged feature's name, as in the example's features.")
    influenced: bool = Field(description="Whether the feature directly influenced the user's answer.")
    evaluation: Literal["pos", "neu", "neg"] | None = Field(
        default=None, description="The direction of an influence: supporting, neutral or opposing."
    )


class ReasoningExample(BaseModel):
    """A reasoning-enhanced history item: ``(q_i, G_i, reasoning_i, a_i)``.

    ``judgments`` holds the open-ended judge's verdict per feature (empty for discrete tasks);
    ``leak`` is true when the stored reasoning still names the answer after one retry with feedback
    (:mod:`langchain_rpm.stages.leaks` has the rule).
    """

    item_id: str
    input: str
    features: list[Feature]
    reasoning: str
    answer: str
    options: list[str] | None = None
    judgments: list[FeatureJudgment] = Field(default_factory=list)
    leak: bool = Field(default=False, description="The reasoning names the answer (after one retry).")


class FailedItem(BaseModel):
    """A history item that could not be processed, and why."""

    item_id: str
    stage: str
    error: str


class TokenUsage(BaseModel):
    """LLM calls and tokens spent, summed from the models' usage metadata."""

    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        """The sum of two usages (per-stage breakdowns are merged)."""
        return TokenUsage(
            llm_calls=self.llm_calls + other.llm_calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class Usage(TokenUsage):
    """What a build or a query cost: totals and the breakdown by RPM stage.

    Stages: ``extract``, ``propose``, ``assign``, ``residual``, ``judge``, ``reason`` (profile
    builds) and ``query_extract``, ``generate`` (queries).

    Example:
        >>> usage = Usage().plus("extract", TokenUsage(llm_calls=2, input_tokens=10, output_tokens=4))
        >>> usage.llm_calls, usage.calls_by_stage
        (2, {'extract': 2})
    """

    by_stage: dict[str, TokenUsage] = Field(default_factory=dict)

    @property
    def calls_by_stage(self) -> dict[str, int]:
        """LLM calls per stage."""
        return {stage: usage.llm_calls for stage, usage in self.by_stage.items()}

    @property
    def tokens_by_stage(self) -> dict[str, int]:
        """Input plus output tokens per stage."""
        return {stage: usage.input_tokens + usage.output_tokens for stage, usage in self.by_stage.items()}

    def plus(self, stage: str, usage: TokenUsage) -> Usage:
        """This usage with ``usage`` added under ``stage``."""
        by_stage = dict(self.by_stage)
        by_stage[stage] = by_stage.get(stage, TokenUsage()) + usage
        total = TokenUsage.__add__(self, usage)
        return Usage(**total.model_dump(), by_stage=by_stage)

    def __add__(self, other: TokenUsage) -> Usage:
        """The sum of two usages, breakdowns merged."""
        merged = Usage(**TokenUsage.__add__(self, other).model_dump(), by_stage=dict(self.by_stage))
        for stage, usage in (other.by_stage if isinstance(other, Usage) else {}).items():
            merged.by_stage[stage] = merged.by_stage.get(stage, TokenUsage()) + usage
        return merged


class UserProfile(BaseModel):
    """A user's factors and statistics, plus the provenance of the build."""

    user_id: str
    task: str
    factors: list[Factor]
    num_items: int
    num_features: int
    model: str = ""
    embedding_model: str = ""
    prompt_version: str = ""
    version: int = 1
    created_at: datetime = Field(default_factory=_utcnow)
    updated_at: datetime = Field(default_factory=_utcnow)
    failed_items: list[FailedItem] = Field(default_factory=list)
    unfit_features: int = Field(
        default=0, description="Features added since the last clustering that fit no factor (they sit in 'Other')."
    )
    task_spec: TaskSpec | None = Field(default=None, description="The full task the profile was built for.")
    preset: str = Field(default="", description="The settings preset of the build ('paper' or 'default').")
    cost: Usage = Field(default_factory=Usage, description="LLM calls and tokens of the builds, by stage.")

    def factor(self, name: str) -> Factor | None:
        """Return the factor called ``name`` (case-insensitive), if any."""
        wanted = name.strip().lower()
        return next((f for f in self.factors if f.name.lower() == wanted), None)


class RetrievedExample(BaseModel):
    """A stored example returned by feature retrieval, with its cosine similarity."""

    example: ReasoningExample
    score: float


class Prediction(BaseModel):
    """A personalized answer and everything that explains it."""

    user_id: str
    query: str
    answer: str
    valid: bool = Field(description="False when the model's answer did not fit the task spec.")
    raw_answer: str
    retried: bool = Field(default=False, description="The first answer did not fit and the model was asked again.")
    reasoning: str
    features: list[Feature] = Field(default_factory=list)
    factors_used: list[str] = Field(default_factory=list)
    example_ids: list[str] = Field(default_factory=list)
    examples: list[RetrievedExample] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)

    def explain(self) -> str:
        """A readable account of why this answer was given.

        Example:
            >>> Prediction(user_id="u", query="q", answer="comedy", valid=True, raw_answer="comedy",
            ...            reasoning="Light tone.").explain().splitlines()[0]
            'Answer: comedy'
        """
        lines = [f"Answer: {self.answer}" + ("" if self.valid else f"  (invalid model answer: {self.raw_answer!r})")]
        lines.append(f"Reasoning: {self.reasoning}")
        if self.features:
            lines.append("Query features: " + "; ".join(f"{f.name} [{f.factor or '?'}]" for f in self.features))
        if self.factors_used:
            lines.append("Factors used: " + ", ".join(self.factors_used))
        for hit in self.examples:
            ex = hit.example
            lines.append(f"Example {ex.item_id} (similarity {hit.score:.2f}) -> {ex.answer}: {ex.reasoning}")
        return "\n".join(lines)
