"""Reasoning paths: the prompts and output schemas of stage 3 (how the user got to their answer).

Example:
    >>> REASONING_PATH.input_variables[:2]
    ['factors', 'features']
"""

from __future__ import annotations

from langchain_core.prompts import ChatPromptTemplate
from pydantic import Field

from langchain_rpm.prompts.render import _DATA_RULE, PACK_RULE
from langchain_rpm.prompts.schemas import OutputSchema, PackedRef
from langchain_rpm.tasks import TaskKind, TaskSpec
from langchain_rpm.types import FeatureJudgment


class ReasoningOutput(OutputSchema):
    """The user's reasoning from the input's features to their known answer."""

    reasoning: str = Field(description="3-5 sentences of this user's reasoning, ending at their answer.")
    influences: list[FeatureJudgment] = Field(
        default_factory=list, description="Open-ended tasks only: one judgment per listed feature (0 = first)."
    )


class ItemReasoning(ReasoningOutput, PackedRef):
    """The user's reasoning for one item of a pack."""


class PackedReasoning(OutputSchema):
    """Reasoning paths of every item of a pack, one entry per item."""

    items: list[ItemReasoning] = Field(description="One entry per <item>, in order.")


_REASONING_HEAD = (
    "You reconstruct how one specific user reasons.\n"
    "Task the user performs: {instruction}\n\n"
    "This user's factors, with statistics from their whole history:\n{factors}\n\n"
)
_REASONING_BODY = (
    "Given an input, its features and the answer this user actually gave, write the reasoning by which "
    "this user got from the features, in the light of their factors, to exactly that answer. Be concrete: "
    "name the features and factors that mattered and how. Do not question the answer.\n"
    "{judgment_guidance}\n" + _DATA_RULE
)
REASONING_ITEM = "{fenced_input}\n<features>\n{features}\n</features>\n{fenced_answer}"
"""One item as the reasoning stage sees it (alone, or as the body of one ``<item>`` in a pack)."""

REASONING_PATH = ChatPromptTemplate.from_messages(
    [("system", _REASONING_HEAD + _REASONING_BODY), ("human", REASONING_ITEM)]
)
PACKED_REASONING_PATH = ChatPromptTemplate.from_messages(
    [("system", _REASONING_HEAD + PACK_RULE + _REASONING_BODY), ("human", "{items}")]
)

JUDGMENT_GUIDANCE = (
    "Also fill `influences`, one entry per listed feature (`feature_index` 0 is the first): whether the feature "
    "directly influenced this user's answer (`influenced`) and how (`evaluation`: pos, neu or neg)."
)


def judgment_guidance(task: TaskSpec) -> str:
    """Judgment instructions for open-ended tasks, nothing otherwise."""
    return JUDGMENT_GUIDANCE if task.kind is TaskKind.OPEN_ENDED else ""
