"""What every output schema shares: the JSON schema generated once, and the packed-item reference.

Example:
    >>> class Answer(OutputSchema):
    ...     answer: str
    >>> Answer.model_json_schema() == Answer.model_json_schema()
    True
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from pydantic import BaseModel, Field

_SCHEMA_CACHE: dict[Any, str] = {}


class OutputSchema(BaseModel):
    """Base of the output schemas: their JSON schema is generated once per class and argument set.

    LangChain converts the structured-output schema to JSON on *every* model call (tracing metadata);
    pydantic regenerates it each time, which was the largest CPU cost per call outside the model.

    Example:
        >>> OutputSchema.model_json_schema() == OutputSchema.model_json_schema()
        True
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The JSON schema, generated once per class and arguments (a fresh copy each call)."""
        key = (cls, args, tuple(sorted(kwargs.items())))
        text = _SCHEMA_CACHE.get(key)
        if text is None:
            text = _SCHEMA_CACHE[key] = json.dumps(super().model_json_schema(*args, **kwargs))
        return cast(dict[str, Any], json.loads(text))  # a fresh copy: callers mutate what they get


class PackedRef(OutputSchema):
    """The reference of one entry of a packed reply to its item (`<item id="N">`)."""

    item_id: int = Field(description='The number in the item\'s <item id="N"> tag.')


def check_prose(text: str, *, min_words: int = 3) -> str:
    """``text`` stripped, or ``ValueError`` when it is not prose: empty, punctuation, a fragment of JSON.

    Prose has at least ``min_words`` words of two or more letters, and letters make at least half of its
    non-space characters. Used by output schemas whose text is stored and shown (reasoning paths).

    Example:
        >>> check_prose("  Setting recurs in 3 of 4 items for this user. ")
        'Setting recurs in 3 of 4 items for this user.'
        >>> for junk in ("{ {", "][", '{"reasoning": "x"}', ""):
        ...     try:
        ...         check_prose(junk)
        ...     except ValueError as exc:
        ...         print(exc)
        not prose: '{ {' (a reasoning needs at least 3 words of text)
        not prose: '][' (a reasoning needs at least 3 words of text)
        not prose: '{"reasoning": "x"}' (a reasoning needs at least 3 words of text)
        not prose: '' (a reasoning needs at least 3 words of text)
    """
    text = text.strip()
    visible = re.sub(r"\s+", "", text)
    letters = sum(ch.isalpha() for ch in visible)
    if len(re.findall(r"[^\W\d_]{2,}", text)) < min_words or letters < len(visible) / 2:
        raise ValueError(f"not prose: {text[:60]!r} (a reasoning needs at least {min_words} words of text)")
    return text


def is_word_name(name: str) -> bool:
    """Whether ``name`` reads as a name (a factor's, a feature's): starts with a letter, has 2+ letters, no JSON marks.

    Example:
        >>> [is_word_name(n) for n in ("Taste", "sci-fi setting", "][", "{ {", "3", "'x'")]
        [True, True, False, False, False, False]
    """
    return bool(re.fullmatch(r"[^\W\d_][\w\s'&/.,()-]*", name)) and sum(ch.isalpha() for ch in name) >= 2
