r"""The judge (open-ended tasks, DESIGN §2 step 3): which features of a history item shaped the user's answer.

One call per history item sees the item's answer and its features (numbered from 0) and returns, per
feature, ``influenced`` and ``evaluation`` (pos / neu / neg); the statistics' Eq. 3-4 count them.

Example:
    >>> print(render_indexed_features([Feature(name="Taste", context="the flavor of the product")]))
    0. Taste: the flavor of the product
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.prompts import ChatPromptTemplate
from pydantic import Field

from langchain_rpm.prompts._render import _DATA_RULE
from langchain_rpm.prompts.schemas import OutputSchema
from langchain_rpm.types import Feature, FeatureJudgment


class FeatureJudgments(OutputSchema):
    """The judge's verdict on every feature of one history item."""

    reasoning: str = Field(default="", description="A brief account of what shaped the answer.")
    influences: list[FeatureJudgment] = Field(description="One entry per listed feature, by its number.")


FEATURE_JUDGE = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You judge which features of an input shaped the answer one user gave.\n"
            "Task domain: {instruction} Each input is a {input_description}.\n\n"
            "Below are the answer this user gave and the features of the input, numbered from 0. For every feature "
            "decide whether it directly influenced the answer (`influenced`), and if it did, how (`evaluation`): "
            "pos when the answer follows or supports it, neg when the answer goes against it, neu otherwise. "
            "Explain briefly in `reasoning` first, then give one entry per feature in `influences`, each with its "
            "`feature_index`.\n" + _DATA_RULE,
        ),
        ("human", "{fenced_answer}\n<features>\n{features}\n</features>"),
    ]
)


def render_indexed_features(features: Sequence[Feature]) -> str:
    """One ``N. name: context`` line per feature, numbered from 0 (the judge's ``feature_index``)."""
    if not features:
        return "(none)"
    return "\n".join(f"{i}. {f.name}: {f.context}".rstrip(": ") for i, f in enumerate(features))
