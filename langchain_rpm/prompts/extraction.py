"""Feature extraction: the prompts and output schemas of stage 1 (history items) and of factor-aware extraction.

History mode (DESIGN §2 step 1) sees the input only and asks for *every* relevant feature, explicit
and implicit, each a ``{feature_name, context}`` pair (no fixed count, no factor). Factor-aware mode
(step 6: a new query, or new items of an update) also sees the user's factors, and each feature
names the factors it belongs to; the schema's ``factors`` field is an enum of exactly those names
(:func:`factor_aware_schemas`), so a model cannot invent a factor.

Example:
    >>> FEATURE_EXTRACTION.input_variables
    ['answer_block', 'domain', 'example_context', 'example_name', 'factor_guidance', 'fenced_input', 'input_description', 'respondent']
    >>> single, packed = factor_aware_schemas(("Quality", "Price"))
    >>> single.model_json_schema()["$defs"]["FactorAwareFeature"]["properties"]["factors"]["items"]["enum"]
    ['Quality', 'Price']
"""

from __future__ import annotations

import json
import weakref
from functools import lru_cache
from typing import Annotated, Any, Literal, cast

from langchain_core.prompts import ChatPromptTemplate
from pydantic import AliasChoices, BaseModel, Field, WithJsonSchema, create_model

from langchain_rpm._process_caches import empty_on_forget
from langchain_rpm.prompts._render import _DATA_RULE, PACK_RULE
from langchain_rpm.prompts.schemas import OutputSchema, PackedRef


def _name_field() -> Any:
    return Field(
        validation_alias=AliasChoices("feature_name", "name"),
        description="Concise semantic label of the feature: a word or a short phrase.",
    )


def _context_field() -> Any:
    return Field(description="Short phrase grounding the feature in this particular input (required).")


class ExtractedFeature(OutputSchema):
    """One feature of the input: a concise label and the phrase that grounds it in this input."""

    feature_name: str = _name_field()
    context: str = _context_field()


class ExtractedFeatures(OutputSchema):
    """Every feature of one input that could shape the person's answer."""

    features: list[ExtractedFeature] = Field(description="All relevant features, explicit and implicit.")


class ItemFeatures(ExtractedFeatures, PackedRef):
    """The features of one item of a pack."""


class PackedFeatures(OutputSchema):
    """Features of every item of a pack, one entry per item."""

    items: list[ItemFeatures] = Field(description="One entry per <item>, in order.")


_EXTRACTION_HEAD = (
    "You analyse inputs for a personalization system.\n"
    "Context: the inputs come from a task in which {domain}. Each input is a {input_description}. You do not "
    "answer the task; you describe the input.\n\n"
)
_EXTRACTION_BODY = (
    "Identify every feature of the {input_description} that could shape the answer {respondent} gives: explicit "
    "features stated in the text and implicit ones a careful reader would infer from it. List all relevant "
    "features, however many there are. Each feature needs both fields: `feature_name`, a concise semantic label "
    "(a word or a short phrase), and `context`, a short phrase that grounds the feature in this particular input. "
    "For illustration only, another {input_description} could yield `feature_name` '{example_name}' with "
    "`context` '{example_context}'; do not reuse that example: name the features of the input you are given, "
    "in its own terms.\n{factor_guidance}" + _DATA_RULE
)
COPIED_EXAMPLE_FEEDBACK = (
    "Some features you listed copy the illustration of the instructions ({copied}) instead of describing this "
    "input. List the features of the input itself again, each with `feature_name` and `context`."
)
"""The retry message when extracted features copy the prompt's worked example."""

NO_FEATURE_FEEDBACK = (
    "None of the features you listed can be used (each needs a `feature_name` of words, different from the others). "
    "List the features of the input again, each with `feature_name` and `context`."
)
"""The retry message when a reply leaves no usable feature (only non-words, duplicates or copies of the example)."""

EXTRACTION_ITEM = "{fenced_input}{answer_block}"
"""One item as the extractor sees it (the human message alone, or the body of one ``<item>`` in a pack)."""

FEATURE_EXTRACTION = ChatPromptTemplate.from_messages(
    [("system", _EXTRACTION_HEAD + _EXTRACTION_BODY), ("human", EXTRACTION_ITEM)]
)
PACKED_FEATURE_EXTRACTION = ChatPromptTemplate.from_messages(
    [("system", _EXTRACTION_HEAD + PACK_RULE + _EXTRACTION_BODY), ("human", "{items}")]
)

FACTOR_AWARE_GUIDANCE = (
    "This user's factors are listed below, each with some of the features it groups. For every feature, list in "
    "`factors` the user's factors it belongs to: usually one, several when it clearly bears on several. Use only "
    "the names listed. When a feature fits none of them, leave its `factors` empty.\n"
    "<factors>\n{factors}\n</factors>\n"
)
HISTORY_GUIDANCE = ""
"""History mode adds nothing: factors come later, from Propose-Assign-Select."""


# -- factor-aware schemas: the factor field is an enum of the user's factor names ------------------------
class _DynamicSchema(BaseModel):
    """Base of the per-factor-set schemas: JSON schema cached per class, released with the class."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The JSON schema, generated once per class (a fresh copy each call)."""
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        text = _DYNAMIC_SCHEMAS.get(cls)
        if text is None:
            text = _DYNAMIC_SCHEMAS[cls] = json.dumps(super().model_json_schema())
        return cast(dict[str, Any], json.loads(text))


_DYNAMIC_SCHEMAS: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


@lru_cache(maxsize=256)
def factor_aware_schemas(names: tuple[str, ...]) -> tuple[type[BaseModel], type[BaseModel]]:
    """The single-item and packed output schemas of factor-aware extraction against ``names``.

    Both are titled ``FactorAwareFeatures`` / ``PackedFactorAwareFeatures`` whatever the names.
    """
    if not names:
        raise ValueError("factor-aware extraction needs at least one factor name")
    # An explicit enum even for one name (pydantic would write a single literal as ``const``).
    factor_name: Any = Annotated[Literal[names], WithJsonSchema({"type": "string", "enum": list(names)})]
    factors_field: Any = Field(
        default_factory=list, description="The user's factors this feature belongs to; empty when none fits."
    )
    feature: Any = create_model(
        "FactorAwareFeature",
        __base__=_DynamicSchema,
        feature_name=(str, _name_field()),
        context=(str, _context_field()),
        factors=(list[factor_name], factors_field),
    )
    features_field = Field(description="All relevant features, explicit and implicit, each with its factors.")
    single = create_model("FactorAwareFeatures", __base__=_DynamicSchema, features=(list[feature], features_field))
    item: Any = create_model(
        "FactorAwareItemFeatures",
        __base__=single,
        item_id=(int, Field(description='The number in the item\'s <item id="N"> tag.')),
    )
    items_field = Field(description="One entry per <item>, in order.")
    packed = create_model("PackedFactorAwareFeatures", __base__=_DynamicSchema, items=(list[item], items_field))
    return single, packed


empty_on_forget(factor_aware_schemas.cache_clear)  # keyed by text of users' data (langchain_rpm._process_caches)
empty_on_forget(_DYNAMIC_SCHEMAS.clear)  # their schema texts name the factors; the classes go only at a collection
