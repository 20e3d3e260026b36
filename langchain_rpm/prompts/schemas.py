"""What every output schema shares: the JSON schema generated once, and the packed-item reference.

Example:
    >>> class Answer(OutputSchema):
    ...     answer: str
    >>> Answer.model_json_schema() == Answer.model_json_schema()
    True
"""

from __future__ import annotations

import json
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
