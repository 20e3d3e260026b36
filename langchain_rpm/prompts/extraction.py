"""Feature extraction: the prompts and output schemas of stage 1 (history items) and of new queries.

Example:
    >>> FEATURE_EXTRACTION.input_variables[:2]
    ['answer_block', 'answer_format']
"""

from __future__ import annotations

from langchain_core.prompts import ChatPromptTemplate
from pydantic import Field

from langchain_rpm.prompts.render import _DATA_RULE, PACK_RULE
from langchain_rpm.prompts.schemas import OutputSchema, PackedRef
from langchain_rpm.types import Feature


class ExtractedFeatures(OutputSchema):
    """Response-influential features of one input."""

    features: list[Feature] = Field(description="3-6 features of the input that could drive how a person responds.")


class ItemFeatures(ExtractedFeatures, PackedRef):
    """Response-influential features of one item of a pack."""


class PackedFeatures(OutputSchema):
    """Features of every item of a pack, one entry per item."""

    items: list[ItemFeatures] = Field(description="One entry per <item>, in order.")


_EXTRACTION_HEAD = (
    "You analyse inputs for a personalization system.\n"
    "Task the user performs: {instruction}\n"
    "Expected answer: {answer_format}\n\n"
)
_EXTRACTION_BODY = (
    "List the response-influential features of the {input_description}: concrete attributes of it that "
    "could drive how a person answers the task. For each give a short `name` (2-6 words), the `context` "
    "(the supporting span or a paraphrase) and a `factor` (a higher-level category, 1-3 words).\n"
    "{factor_guidance}\n" + _DATA_RULE
)
EXTRACTION_ITEM = "{fenced_input}{answer_block}"
"""One item as the extractor sees it (the human message alone, or the body of one ``<item>`` in a pack)."""

FEATURE_EXTRACTION = ChatPromptTemplate.from_messages(
    [("system", _EXTRACTION_HEAD + _EXTRACTION_BODY), ("human", EXTRACTION_ITEM)]
)
PACKED_FEATURE_EXTRACTION = ChatPromptTemplate.from_messages(
    [("system", _EXTRACTION_HEAD + PACK_RULE + _EXTRACTION_BODY), ("human", "{items}")]
)

FACTOR_AWARE_GUIDANCE = (
    "This user's existing factors are listed below. Set each feature's `factor` to one of these names exactly "
    "when it fits; otherwise give a new short factor name.\nFactors:\n{factors}"
)
HISTORY_GUIDANCE = "Use consistent, reusable factor names across features."
