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

from langchain_rpm._drift_types import DriftRecord, RecentWindow
from langchain_rpm.tasks import TaskSpec

OTHER_FACTOR = "Other"
"""Factor of last resort: holds the features of a build whose clustering kept no factor at all."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HistoryItem(BaseModel):
    """One past interaction of a user: an input and this user's response to it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable id of the item, unique within the user's history.")
    input: str
    response: str
    options: list[str] | None = Field(default=None, description="Per-query options (multiple choice).")
    time: datetime | None = Field(default=None, description="When it happened (UTC); orders the history.")

    @field_validator("id", "input")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


Evaluation = Literal["pos", "neu", "neg"]
"""How an influential feature bears on the answer: positive (supports it), neutral, negative (works against it)."""


class Feature(BaseModel):
    """A response-influential feature of an input: ``(name, context, factor)`` (DESIGN §2 step 1).

    ``factor`` is the feature's factor: after a profile build every history feature has exactly one
    (Propose-Assign-Select, then the residual pass). Factor-aware extraction of a new input may give a
    feature several factors: the first is ``factor``, the others ``extra_factors``; a feature that fits
    none of the user's factors gets the closest one with ``soft_assigned=True``. Open-ended tasks also
    record the judge's verdict on history features (``influenced``, ``evaluation``; Eq. 3-4).

    Example:
        >>> feature = Feature(name="Taste", context="the flavor of the product", factor="Quality",
        ...                   extra_factors=["Sensory"])
        >>> feature.factors
        ['Quality', 'Sensory']
    """

    name: str = Field(description="Concise semantic label, e.g. 'Taste'.")
    context: str = Field(default="", description="Phrase grounding it in this input, e.g. 'the flavor of the product'.")
    factor: str = Field(default="", description="The feature's factor (the first one when it has several).")
    extra_factors: tuple[str, ...] = Field(
        default_factory=tuple, description="Further factors of a factor-aware feature."
    )
    soft_assigned: bool = Field(default=False, description="True when it fit no factor and got the closest one.")
    influenced: bool | None = Field(default=None, description="Open-ended tasks: did it influence the answer?")
    evaluation: Evaluation | None = Field(default=None, description="Open-ended tasks: its polarity, if influenced.")

    @property
    def factors(self) -> list[str]:
        """Every factor of the feature, ``factor`` first, without duplicates."""
        return list(dict.fromkeys(name for name in (self.factor, *self.extra_factors) if name))


class FactorStatistics(BaseModel):
    """How a factor relates to this user's answers, exactly as Eq. 1-4 of the paper (DESIGN §2 step 3).

    An item *has* the factor when any of its features is assigned to it. Every task: ``support`` =
    ``coverage`` = the number of items that have it (Eq. 2, a count) out of ``history_size``. Discrete
    tasks: ``propensity[y]`` = ``#{i has F, a_i = y} / support`` (Eq. 1); ratings add the factor's
    ``mean_rating`` and the user's ``overall_mean_rating``. Open-ended tasks: ``influence`` = the items
    where at least one feature of the factor was judged influential (Eq. 3, a count) and ``polarity``
    = the pos/neu/neg shares among the ``influenced_features`` of the factor over all items (Eq. 4).

    Example:
        >>> stats = FactorStatistics(support=4, coverage=4, history_size=10, influence=3,
        ...                          influenced_features=5, polarity={"pos": 0.8, "neu": 0.2, "neg": 0.0})
        >>> stats.share, stats.polarity_counts()
        (0.4, {'pos': 4, 'neu': 1, 'neg': 0})
    """

    support: int = Field(ge=0, description="n_F: history items that have the factor.")
    coverage: int = Field(ge=0, description="Eq. 2: history items that have the factor (a count, = support).")
    history_size: int = Field(default=0, ge=0, description="N: history items the statistics were computed over.")
    propensity: dict[str, float] = Field(default_factory=dict, description="Eq. 1: P(y | F) for every answer y.")
    mean_rating: float | None = Field(default=None, description="Ratings: mean answer of the items with F.")
    overall_mean_rating: float | None = Field(default=None, description="Ratings: the user's mean over all items.")
    overall_propensity: dict[str, float] = Field(
        default_factory=dict, description="Discrete tasks: the user's answer distribution over all items (baseline)."
    )
    answer_style: str = Field(default="", description="Open-ended tasks: the typical length and form of answers.")
    influence: int | None = Field(default=None, description="Eq. 3: items where a feature of F was influential.")
    influenced_features: int | None = Field(default=None, description="Influential features of F, all items.")
    polarity: dict[str, float] | None = Field(default=None, description="Eq. 4: pos/neu/neg shares of those.")
    weighted_coverage: float | None = Field(
        default=None, description="With recency_half_life: Eq. 2 as a sum of recency weights (the shares are weighted)."
    )
    weighted_influence: float | None = Field(default=None, description="With recency_half_life: Eq. 3 weighted.")

    @property
    def share(self) -> float:
        """``coverage / history_size`` (0 for an empty history)."""
        return self.coverage / self.history_size if self.history_size else 0.0

    def polarity_counts(self) -> dict[str, int]:
        """The polarity shares as counts of influential features."""
        total = self.influenced_features or 0
        return {label: round(share * total) for label, share in (self.polarity or {}).items()}


class Factor(BaseModel):
    """A user-level factor: a semantic cluster of features, with statistics."""

    name: str
    description: str = ""
    features: list[str] = Field(default_factory=list, description="Names of the member features.")
    statistics: FactorStatistics | None = None


class FeatureJudgment(BaseModel):
    """The judge's verdict on one feature of a history item (open-ended tasks, DESIGN §2 step 3).

    The model reads the short description of ``model_config`` in the judge's schemas, not this docstring.

    Example:
        >>> FeatureJudgment(feature_index=0, influenced=True, evaluation="pos").evaluation
        'pos'
    """

    model_config = ConfigDict(json_schema_extra={"description": "The verdict on one listed feature, by its number."})

    feature_index: int = Field(ge=0, description="Position of the feature in the listed features (0 = first).")
    influenced: bool = Field(description="Did this feature directly influence the answer?")
    evaluation: Evaluation = Field(default="neu", description="pos / neu / neg: how it bears on the answer.")


class ReasoningExample(BaseModel):
    """A reasoning-enhanced history item: ``(q_i, G_i, reasoning_i, a_i)``.

    For open-ended tasks the judge's verdicts sit on the features (``influenced``, ``evaluation``).
    ``leak`` is true when the stored reasoning still names the answer after one retry with feedback
    (:mod:`langchain_rpm.stages._leaks` has the rule).
    """

    item_id: str
    input: str
    features: list[Feature]
    reasoning: str
    answer: str
    options: list[str] | None = None
    leak: bool = Field(default=False, description="The reasoning names the answer (after one retry).")
    time: datetime | None = Field(default=None, description="The history item's time, if it had one.")


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
        default=0,
        description="Features added since the last clustering that fit no factor (soft-assigned to the closest).",
    )
    task_spec: TaskSpec | None = Field(default=None, description="The full task the profile was built for.")
    preset: str = Field(default="", description="The settings preset of the build ('paper' or 'default').")
    cost: Usage = Field(
        default_factory=Usage,
        description="LLM calls and tokens spent on this profile, by stage, summed over every build and update.",
    )
    recent: RecentWindow | None = Field(default=None, description="Statistics over the newest items (drift on).")
    drift: list[DriftRecord] = Field(default_factory=list, description="The drift monitor's decisions, oldest first.")

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
    model: str = Field(default="", description="The model that answered (the profile's ``model`` built the memory).")

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
