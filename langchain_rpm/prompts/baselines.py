"""Prompts of the evaluation's baselines and ablations (the paper prints none of them; these are our own words).

One prompt per thing the model is shown, following the rows of the paper's Tables 1-3:

=============================  ===================================================================
prompt                         used by
=============================  ===================================================================
:data:`ZERO_SHOT`              ``zero_shot``: the task and the input
:data:`FEW_SHOT`               ``icl``, ``rag``, ``bm25``, ``raw_by_features``: + (input, answer) pairs
:data:`PAG_SUMMARY`            ``pag``, ``pag_cot``: a profile of the user written from their top-10 pairs
:data:`PAG_ANSWER`             ``pag``: + that profile and the top-3 pairs
:data:`ZERO_SHOT_COT`          ``zero_shot_cot``: as ``ZERO_SHOT``, reasoning step by step, then the answer
:data:`FEW_SHOT_COT`           ``icl_cot``, ``rag_cot``: as ``FEW_SHOT``, reasoning, then the answer
:data:`PAG_ANSWER_COT`         ``pag_cot``: as ``PAG_ANSWER``, reasoning, then the answer
:data:`FEATURES_FACTORS`       ladder: + the input's features and the user's factors with statistics
:data:`FEATURES_FACTORS_PAIRS` ladder: + retrieved (input, answer) pairs, or (input, features, answer)
:data:`GENERIC_REASONING`      ladder: a task-generic explanation of a past answer, r^CoT = M(p, q; a)
:data:`GENERIC_COT`            ladder: (input, generic explanation, answer) examples -> reasoning, answer
:data:`RPM_NO_REASONING`       ``rpm_no_reasoning``: RPM's prompt, but the answer only
=============================  ===================================================================

Bump :data:`BASELINE_PROMPT_VERSION` when any of them changes (the evaluation's run record keeps it).

Example:
    >>> ZERO_SHOT.input_variables
    ['answer_format', 'fenced_input', 'instruction']
    >>> print(render_shots([Shot(input="Late parcel.", answer="2")]))
    Example 1:
    <example>
    Input: Late parcel.
    Answer: 2
    </example>
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, Field

from langchain_rpm.prompts._render import _DATA_RULE, fence

BASELINE_PROMPT_VERSION = "4"


class DirectAnswer(BaseModel):
    """An answer without reasoning (baselines and the no-reasoning ablations)."""

    answer: str = Field(description="The final answer only, in the required format.")


class ReasonedAnswer(BaseModel):
    """Reasoning first, then the answer (the "+CoT" baselines and the generic chain-of-thought ablation)."""

    reasoning: str = Field(description="Step-by-step reasoning about the new input, 2-5 sentences.")
    answer: str = Field(description="The final answer only, in the required format.")


class ProfileSummary(BaseModel):
    """A natural-language profile of a user, written from their past items (PAG)."""

    summary: str = Field(description="What these past items show about this user's preferences, 3-6 sentences.")


class GenericReasoning(BaseModel):
    """A task-generic explanation of why an answer fits an input (the ablation's r^CoT)."""

    reasoning: str = Field(description="Step-by-step explanation, 2-4 sentences, of why the answer fits the input.")


@dataclass(frozen=True)
class Shot:
    """One past item shown to the model; the optional parts appear only when given."""

    input: str
    answer: str
    options: Sequence[str] | None = None
    features: str | None = None
    reasoning: str | None = None


def render_shots(shots: Sequence[Shot]) -> str:
    """Past items of the user, each fenced, most relevant first (``(no examples)`` when there are none)."""
    if not shots:
        return "(no examples)"
    blocks = []
    for i, shot in enumerate(shots, 1):
        body = f"Input: {shot.input}\n"
        if shot.options:
            body += f"Options: {' | '.join(shot.options)}\n"
        if shot.features is not None:
            body += f"Features:\n{shot.features}\n"
        if shot.reasoning is not None:
            body += f"Reasoning: {shot.reasoning}\n"
        blocks.append(f"Example {i}:\n" + fence("example", body + f"Answer: {shot.answer}"))
    return "\n\n".join(blocks)


def render_pairs(pairs: Sequence[tuple[str, Sequence[str] | None, str]]) -> str:
    """Past ``(input, options, answer)`` pairs of the user (see :func:`render_shots`)."""
    return render_shots([Shot(input=text, options=options, answer=answer) for text, options, answer in pairs])


_HEAD = "Task: {instruction}\nAnswer format: {answer_format}\n\n"
_AS_USER = "You answer exactly as one specific user would.\n"
_ANSWER_ONLY = "Give only the answer, in the required format.\n"
_STEP_BY_STEP = (
    "Think step by step: first write your reasoning about the new input, then give the answer in the required format.\n"
)
_WITH_FEATURES = "{fenced_input}\n<features>\n{features}\n</features>"


def _prompt(system: str, human: str = "{fenced_input}") -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", system + _DATA_RULE), ("human", human)])


def _answer_and_cot(system: str) -> tuple[ChatPromptTemplate, ChatPromptTemplate]:
    """The answer-only prompt and its "+CoT" twin: the same ``system`` text, then the closing instruction."""
    return _prompt(system + _ANSWER_ONLY), _prompt(system + _STEP_BY_STEP)


ZERO_SHOT, ZERO_SHOT_COT = _answer_and_cot("You answer a task for a user.\n" + _HEAD)

FEW_SHOT, FEW_SHOT_COT = _answer_and_cot(
    _AS_USER + _HEAD + "Some of this user's past inputs, with the answers they gave:\n{pairs}\n\n"
    "Answer the new input the way this user would, consistent with their past answers. "
)

PAG_SUMMARY = _prompt(
    "You write short profiles of users from what they did before.\nTask the user performs: {instruction}\n\n"
    "These are some of the user's past inputs, with the answers they gave:\n{pairs}\n\n"
    "Describe this user as a person answering this task: what they tend to choose or write, which aspects of "
    "an input matter to them and how, and any consistent habits. Describe the user, not the individual items.\n",
    "Write the profile of this user.",
)

PAG_ANSWER, PAG_ANSWER_COT = _answer_and_cot(
    _AS_USER + _HEAD + "A profile of this user, written from their history:\n<profile>\n{profile}\n</profile>\n\n"
    "Some of this user's past inputs, with the answers they gave:\n{pairs}\n\n"
    "Answer the new input the way the user this profile describes would. "
)

FEATURES_FACTORS = _prompt(
    _AS_USER + _HEAD + "This user's factors, with statistics from their history:\n{factors}\n\n"
    "Use the new input's features and this user's factors to predict their answer. " + _ANSWER_ONLY,
    _WITH_FEATURES,
)

FEATURES_FACTORS_PAIRS = _prompt(
    _AS_USER + _HEAD + "This user's factors, with statistics from their history:\n{factors}\n\n"
    "This user's past inputs most similar to the new one, with the answers they gave:\n{pairs}\n\n"
    "Use the new input's features, this user's factors and their past answers to predict their answer. " + _ANSWER_ONLY,
    _WITH_FEATURES,
)

GENERIC_REASONING = _prompt(
    "You explain answers to a task.\n" + _HEAD + "An input and the answer that was given to it follow. Explain, "
    "step by step and in general terms, why this answer fits this input. Do not describe any particular person.\n",
    "{fenced_input}\n<answer>\n{answer}\n</answer>",
)

GENERIC_COT = _prompt(
    _AS_USER + _HEAD + "Some of this user's past inputs, each with an explanation of its answer and the answer "
    "they gave:\n{pairs}\n\nThink step by step about the new input, as in the explanations above, then give "
    "the answer in the required format.\n"
)

RPM_NO_REASONING = _prompt(
    "You answer exactly as one specific user would.\nHow this user reasoned on similar past inputs:\n{examples}\n\n"
    + _HEAD
    + "Use this user's factors and statistics as the baseline, compare the new input with the examples and the "
    "reasoning that led to their answers, and predict the answer. Do not write out any reasoning: "
    + _ANSWER_ONLY
    + "\nThis user's factors, with statistics from their history:\n{factors}\n\n",
    _WITH_FEATURES,
)
