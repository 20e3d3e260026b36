"""Prompts of the evaluation baselines and the paper's ablation ladder (zero-shot, few-shot, ablations).

Example:
    >>> ZERO_SHOT.input_variables
    ['answer_format', 'fenced_input', 'instruction']
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, Field

from langchain_rpm.prompts.render import _DATA_RULE, fence


class DirectAnswer(BaseModel):
    """An answer without reasoning (baselines and the no-reasoning ablations)."""

    answer: str = Field(description="The final answer only, in the required format.")


def render_pairs(pairs: Sequence[tuple[str, Sequence[str] | None, str]]) -> str:
    """Past ``(input, options, answer)`` pairs of the user, each fenced, most relevant first."""
    if not pairs:
        return "(no examples)"
    blocks = []
    for i, (text, options, answer) in enumerate(pairs, 1):
        body = f"Input: {text}\n" + (f"Options: {' | '.join(options)}\n" if options else "") + f"Answer: {answer}"
        blocks.append(f"Example {i}:\n" + fence("example", body))
    return "\n\n".join(blocks)


_HEAD = "Task: {instruction}\nAnswer format: {answer_format}\n\n"
_ANSWER_ONLY = "Give only the answer, in the required format.\n"

ZERO_SHOT = ChatPromptTemplate.from_messages(
    [("system", "You answer a task for a user.\n" + _HEAD + _ANSWER_ONLY + _DATA_RULE), ("human", "{fenced_input}")]
)

FEW_SHOT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You answer exactly as one specific user would.\n" + _HEAD + "Some of this user's past inputs, with the "
            "answers they gave:\n{pairs}\n\nAnswer the new input the way this user would, consistent with their past "
            "answers. " + _ANSWER_ONLY + _DATA_RULE,
        ),
        ("human", "{fenced_input}"),
    ]
)

FEATURES_FACTORS = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You answer exactly as one specific user would.\n" + _HEAD + "This user's factors, with statistics from "
            "their history:\n{factors}\n\nUse the new input's features and this user's factors to predict their "
            "answer. " + _ANSWER_ONLY + _DATA_RULE,
        ),
        ("human", "{fenced_input}\n<features>\n{features}\n</features>"),
    ]
)

FEATURES_FACTORS_PAIRS = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You answer exactly as one specific user would.\n" + _HEAD + "This user's factors, with statistics from "
            "their history:\n{factors}\n\nThis user's past inputs with similar features, with the answers they "
            "gave:\n{pairs}\n\nUse the new input's features, this user's factors and their past answers to predict "
            "their answer. " + _ANSWER_ONLY + _DATA_RULE,
        ),
        ("human", "{fenced_input}\n<features>\n{features}\n</features>"),
    ]
)

FEATURES_FACTORS_PAIRS_COT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You answer exactly as one specific user would.\n" + _HEAD + "This user's factors, with statistics from "
            "their history:\n{factors}\n\nThis user's past inputs with similar features, with the answers they "
            "gave:\n{pairs}\n\nThink step by step: first reason about the new input (what it is, which answers fit "
            "it and why), then give the answer in the required format.\n" + _DATA_RULE,
        ),
        ("human", "{fenced_input}\n<features>\n{features}\n</features>"),
    ]
)
