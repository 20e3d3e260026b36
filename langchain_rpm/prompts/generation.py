"""Generation: the prompt and output schemas of reasoning-aligned generation (DESIGN §2.8).

One prompt, in the paper's order: the retrieved exemplars first (input, features, reasoning, answer),
then the task and three steps, then the user's factors with statistics, then the new input and its
features. The reply is ``{"reasoning", <answer key>}`` (:attr:`TaskSpec.answer_key`). For labels,
ratings and options the answer is an enum of the allowed values (the query's own options for
multiple choice, so that schema is built per query): strict ``json_schema`` mode and grammar-constrained
servers (llama.cpp with ``function_calling``) cannot produce an answer outside it.

Example:
    >>> from langchain_rpm.tasks import LAMP3
    >>> schema = answer_schema(LAMP3)
    >>> schema.model_json_schema()["properties"]["rating"]["enum"]
    [1, 2, 3, 4, 5]
    >>> schema.model_validate({"reasoning": "Shipping decides.", "rating": 2}).answer
    '2'
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any, cast

from langchain_core.prompts import ChatPromptTemplate
from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, create_model

from langchain_rpm._process_caches import empty_on_forget
from langchain_rpm.prompts._render import _DATA_RULE
from langchain_rpm.prompts.schemas import OutputSchema
from langchain_rpm.tasks import TaskKind, TaskSpec


class GeneratedAnswer(OutputSchema):
    """A personalized answer with the reasoning that leads to it (the generic form, used by baselines)."""

    reasoning: str = Field(description="The user's reasoning about the new input, 2-5 sentences.")
    answer: str = Field(description="The final answer only, in the required format.")


ANSWER_SCHEMA_NAME = "PersonalizedAnswer"
"""The name (tool name) of every generation output schema built by :func:`answer_schema`."""

_SCHEMAS: weakref.WeakKeyDictionary[type[Any], dict[Any, str]] = weakref.WeakKeyDictionary()


class _AnswerBase(OutputSchema):
    """Base of the per-task answer schemas: the answer field is ``answer`` in Python, the task's key in JSON."""

    model_config = ConfigDict(populate_by_name=True)

    reasoning: str
    answer: str

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The JSON schema, generated once per schema class (the cache goes when the class does)."""
        texts = _SCHEMAS.setdefault(cls, {})
        key = (args, tuple(sorted(kwargs.items())))
        if key not in texts:
            texts[key] = json.dumps(super(OutputSchema, cls).model_json_schema(*args, **kwargs))
        return cast(dict[str, Any], json.loads(texts[key]))


def _as_text(value: Any) -> Any:
    """Numbers (a rating given as ``4``) become text; the task check validates the value afterwards."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def answer_schema(task: TaskSpec, options: Sequence[str] | None = None) -> type[_AnswerBase]:
    """The generation output schema for ``task`` (and this query's ``options``), built once and cached.

    Its JSON keys are ``reasoning`` then ``task.answer_key``; in Python the answer is always
    ``.answer``. The answer's JSON schema is an enum of :meth:`TaskSpec.answer_values` when the task
    has one; validation stays lenient (the generator checks the answer and retries once), so a reply
    is never lost to an answer outside the enum.
    """
    return _answer_schema(task, tuple(options) if options else None)


@lru_cache(maxsize=256)
def _answer_schema(task: TaskSpec, options: tuple[str, ...] | None) -> type[_AnswerBase]:
    values = task.answer_values(options)
    if values is None:
        description = "The final answer only: " + task.answer_format(options) + "."
        answer: Any = (str, Field(alias=task.answer_key, description=description))
    else:
        kind = "integer" if task.kind is TaskKind.RATING else "string"
        description = "The final answer only, one of the allowed values."
        shown = WithJsonSchema({"type": kind, "enum": values, "description": description})
        answer = (Annotated[str, BeforeValidator(_as_text), shown], Field(alias=task.answer_key))
    reasoning = (
        str,
        Field(description="Your reasoning in the three steps: factors and baseline, exemplars, prediction."),
    )
    model = create_model(ANSWER_SCHEMA_NAME, __base__=_AnswerBase, reasoning=reasoning, answer=answer)
    model.__doc__ = f"This user's reasoning about the new input, then their answer (`{task.answer_key}`)."
    return model


empty_on_forget(_answer_schema.cache_clear)  # keyed by text of users' data (langchain_rpm._process_caches)
empty_on_forget(_SCHEMAS.clear)  # their schema texts name a question's options; the classes go only at a collection

GENERATION = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You predict how {subject} answers a task, by reasoning the way {subject} reasons.\n" + _DATA_RULE,
        ),
        (
            "human",
            "Exemplars: past inputs of {subject} most similar to the new one, each with its features, the "
            "reasoning behind the answer, and that answer.\n{examples}\n\n"
            "Task: {instruction}\n"
            "Answer format: {answer_format}\n\n"
            "Work in three steps.\n"
            "1. Factors: from the statistics below, find the factors that drive the answers of {subject} most and "
            "the pattern each shows; take the baseline row (all items) as the starting point.\n"
            "2. Exemplars: see how particular features shaped earlier answers and which reasoning "
            "led to them; judge how that reasoning carries over to the new input.\n"
            "3. Prediction: start from the baseline, apply the reasoning that worked in the exemplars, and give "
            "the answer {subject} would give, faithful to the new input.\n"
            "Reply with `reasoning` (the three steps, briefly) and `{answer_key}` (the answer only, in the "
            "answer format).\n\n"
            "The factors of {subject}, with statistics from the history:\n{factors}\n\n"
            "New input:\n{fenced_input}\n"
            "Features of the new input:\n<features>\n{features}\n</features>",
        ),
    ]
)

INVALID_ANSWER_FEEDBACK = "Your {answer_key} {answer!r} cannot be used: {error}. Answer again with {answer_format}."
"""The one retry message when a generated answer does not fit the task."""
