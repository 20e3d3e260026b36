"""Factor construction: the prompts and output schemas that group a user's features into factors.

Example:
    >>> FACTOR_CLUSTERING.input_variables
    ['instruction', 'item_kind', 'items', 'max_factors']
"""

from __future__ import annotations

from langchain_core.prompts import ChatPromptTemplate
from pydantic import Field

from langchain_rpm.prompts.render import _DATA_RULE
from langchain_rpm.prompts.schemas import OutputSchema


class FeatureCluster(OutputSchema):
    """One factor: a group of related items."""

    name: str = Field(description="Short factor name, 1-4 words.")
    description: str = Field(default="", description="One sentence on what the factor captures.")
    members: list[int] = Field(description="Ids (the numbers before the colon) of the items in this factor.")


class FactorClusters(OutputSchema):
    """A grouping of items into factors; every item id belongs to exactly one factor."""

    factors: list[FeatureCluster]


FACTOR_CLUSTERING = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You group a user's {item_kind} into user-level factors for a personalization system.\n"
            "Task the user performs: {instruction}\n\n"
            "Group the numbered items below into at most {max_factors} factors: semantic clusters of things that "
            "shape how this user responds. Give each factor a short `name`, a one-sentence `description` and its "
            "`members` (the item numbers). Every item number must appear in exactly one factor.\n" + _DATA_RULE,
        ),
        ("human", "<features>\n{items}\n</features>"),
    ]
)
