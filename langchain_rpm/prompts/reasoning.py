"""Reasoning paths: the prompts and output schemas of the personalized-reasoning stage (DESIGN §2.4).

One call per history item sees the input, its features, the user's factors with statistics and the
user's real answer as a *reference*: the reasoning is grounded in the statistics, then the preferences
they reveal, then the input's features, and never states the answer. For open-ended tasks the call
can also judge each feature (the judge folded in, :class:`JudgedReasoningOutput`); its verdicts are
parsed leniently, so a malformed verdict is dropped and never costs the reasoning.

Example:
    >>> REASONING_PATH.input_variables
    ['answer_rule', 'factors', 'features', 'fenced_answer', 'fenced_input', 'instruction', 'judgment_guidance', 'statistics_step', 'subject']
    >>> sorted(JudgedReasoningOutput.model_json_schema()["properties"])
    ['influences', 'reasoning']
"""

from __future__ import annotations

from typing import Any

from langchain_core.prompts import ChatPromptTemplate
from pydantic import Field, ValidationError, field_validator

from langchain_rpm.prompts._render import _DATA_RULE, PACK_RULE
from langchain_rpm.prompts.schemas import OutputSchema, PackedRef, check_prose
from langchain_rpm.types import FeatureJudgment


class ReasoningOutput(OutputSchema):
    """How this user arrives at their answer, reasoned from the statistics, preferences and features."""

    reasoning: str = Field(description="The user's reasoning path, one paragraph that never states the answer itself.")

    @field_validator("reasoning")
    @classmethod
    def _prose(cls, value: str) -> str:
        """Empty, punctuation-only or JSON-fragment reasoning is an invalid reply (retried, then the item fails)."""
        return check_prose(value)


class JudgedReasoningOutput(ReasoningOutput):
    """The reasoning path, plus the judge's verdict on every feature (open-ended tasks)."""

    influences: list[FeatureJudgment] = Field(
        default_factory=list, description="One verdict per feature of the input, by number."
    )

    @field_validator("influences", mode="before")
    @classmethod
    def _keep_valid_verdicts(cls, value: Any) -> list[Any]:
        """Drop verdicts that do not fit (an unknown evaluation, a missing index) instead of the reply."""
        if not isinstance(value, list):
            return []
        kept = []
        for entry in value:
            try:
                kept.append(FeatureJudgment.model_validate(entry))
            except ValidationError:
                continue
        return kept


class ItemReasoning(ReasoningOutput, PackedRef):
    """The reasoning path of one item of a pack."""


class ItemJudgedReasoning(JudgedReasoningOutput, PackedRef):
    """The reasoning path and feature verdicts of one item of a pack."""


class PackedReasoning(OutputSchema):
    """Reasoning paths of every item of a pack, one entry per item."""

    items: list[ItemReasoning] = Field(description="One entry per <item>, in order.")


class PackedJudgedReasoning(OutputSchema):
    """Reasoning paths and feature verdicts of every item of a pack, one entry per item."""

    items: list[ItemJudgedReasoning] = Field(description="One entry per <item>, in order.")


_ROLE = (
    "You reconstruct how {subject} reasons when doing a task.\n"
    "The task: {instruction}\n\n"
    "What you are given about an item of the history of {subject}:\n"
    "- the input: the item {subject} responded to, in full;\n"
    "- its features: explicit or implicit elements of the input that can sway the answer, each "
    "with its factor;\n"
    "- the factors of {subject}: general themes of the whole history, each with statistics on how it relates "
    "to the answers;\n"
    "- the reference answer: what {subject} actually answered.\n\n"
)
_INSTRUCTIONS = (
    "Write the reasoning path by which {subject}, with its preferences, arrives at their answer, step by "
    "step:\n"
    "{statistics_step}\n"
    "2. Then use the preferences and habits those factors reveal.\n"
    "3. Then use the input's features for what is particular to this input.\n"
    "Rely only on the input, its features and the factors. The reference answer serves one purpose: to tell "
    "you which features and factors mattered to {subject}. {answer_rule} The reasoning must make sense to a "
    "reader who does not know the answer, and still lead naturally toward it. One paragraph.\n"
    "{judgment_guidance}\n" + _DATA_RULE
)
STATISTICS_STEPS = {
    "full": "1. Start from the factor statistics: name the factors present in this input and what their numbers "
    "show about {subject}.",
    "counts": "1. Start from the factors present in this input. Their table gives only how many history items "
    "show each factor: use it to say which themes recur in the history of {subject}, not how {subject} reacts "
    "to them (the counts cannot tell).",
}
"""Step 1 of the instructions: ``full`` statistics, or ``counts`` only (open-ended, features not judged yet)."""

ANSWER_RULES = {
    "discrete": "You may cite what the statistics show, answer names and counts included (e.g. '3 of the 4 "
    "items with this factor got the same answer'), but do not conclude: never present the reference answer as "
    "the result ('so the answer is ...', 'they would choose ...').",
    "rating": "You may cite the statistics, means included, but never state this item's rating as a rating "
    "('4 stars', 'would rate it a 4').",
    "text": "Never write, copy or paraphrase the reference text itself.",
}
"""What the reasoning may and may not say about the answer, by answer kind (labels/options, ratings, text)."""

REASONING_ITEM = "{fenced_input}\n<features>\n{features}\n</features>\n{fenced_answer}"
"""One item as a pack shows it (the factors are shared, in the system message)."""

REASONING_PATH = ChatPromptTemplate.from_messages(
    [
        ("system", _ROLE + _INSTRUCTIONS),
        (
            "human",
            "{fenced_input}\n<features>\n{features}\n</features>\n"
            "The factors of {subject}, with statistics from the whole history:\n{factors}\n\n"
            "Reference answer (it guides you; do not state it as the conclusion):\n{fenced_answer}",
        ),
    ]
)
PACKED_REASONING_PATH = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            _ROLE
            + "The factors of {subject}, with statistics from the whole history:\n{factors}\n\n"
            + PACK_RULE
            + "Each item holds its input, its features and its reference answer.\n"
            + _INSTRUCTIONS,
        ),
        ("human", "{items}"),
    ]
)

JUDGMENT_GUIDANCE = (
    "Also judge every feature, by its number: in `influences`, give one entry per feature with "
    "`feature_index`, `influenced` (true when the feature directly shaped the answer) and, for an "
    "influence, `evaluation`: pos when the answer supports or emphasises it, neg when it opposes or plays it "
    "down, neu otherwise."
)

LEAK_FEEDBACK = (
    "Your reasoning gives the answer away: {problem}. Write it again so that it leads toward the answer without "
    "stating it; you may still cite the statistics and the features that decided this item. Your previous "
    "reasoning, as data:\n{fenced_reasoning}"
)
"""The retry message when a reasoning path names the reference answer (:mod:`langchain_rpm.stages._leaks`)."""
