"""The output schemas: what the model must return at each stage (pydantic models bound as tools).

Example:
    >>> sorted(ExtractedFeatures.model_json_schema()["properties"])
    ['features']
"""

from __future__ import annotations

import json
from typing import Any, cast

from pydantic import BaseModel, Field

from langchain_rpm.types import FactorJudgment, Feature


class OutputSchema(BaseModel):
    """Base of the output schemas: their JSON schema is generated once per class and argument set.

    LangChain converts the structured-output schema to JSON on *every* model call (tracing metadata);
    pydantic regenerates it each time, which was the largest CPU cost per call outside the model.

    Example:
        >>> ExtractedFeatures.model_json_schema() == ExtractedFeatures.model_json_schema()
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


_SCHEMA_CACHE: dict[Any, str] = {}


class ExtractedFeatures(OutputSchema):
    """Response-influential features of one input."""

    features: list[Feature] = Field(description="3-6 features of the input that could drive how a person responds.")


class FeatureCluster(OutputSchema):
    """One factor: a group of related items."""

    name: str = Field(description="Short factor name, 1-4 words.")
    description: str = Field(default="", description="One sentence on what the factor captures.")
    members: list[int] = Field(description="Ids (the numbers before the colon) of the items in this factor.")


class FactorClusters(OutputSchema):
    """A grouping of items into factors; every item id belongs to exactly one factor."""

    factors: list[FeatureCluster]


class ReasoningOutput(OutputSchema):
    """The user's reasoning from the input's features to their known answer."""

    reasoning: str = Field(description="3-5 sentences of this user's reasoning, ending at their answer.")
    factor_judgments: list[FactorJudgment] = Field(
        default_factory=list, description="Open-ended tasks only: one judgment per factor present in the input."
    )


class _PackedRef(OutputSchema):
    item_id: int = Field(description='The number in the item\'s <item id="N"> tag.')


class ItemFeatures(ExtractedFeatures, _PackedRef):
    """Response-influential features of one item of a pack."""


class PackedFeatures(OutputSchema):
    """Features of every item of a pack, one entry per item."""

    items: list[ItemFeatures] = Field(description="One entry per <item>, in order.")


class ItemReasoning(ReasoningOutput, _PackedRef):
    """The user's reasoning for one item of a pack."""


class PackedReasoning(OutputSchema):
    """Reasoning paths of every item of a pack, one entry per item."""

    items: list[ItemReasoning] = Field(description="One entry per <item>, in order.")


class GeneratedAnswer(OutputSchema):
    """A personalized answer with the reasoning that leads to it."""

    reasoning: str = Field(description="The user's reasoning about the new input, 2-5 sentences.")
    answer: str = Field(description="The final answer only, in the required format.")
