"""Factor construction by Propose-Assign-Select (DESIGN §2 step 2): the prompts and output schemas.

*Propose* sees a sample of the still-uncovered features and the factors kept so far, and proposes
L one-word factors. *Assign* matches features to the numbered candidates (``0`` = none fits): one
feature per call as in the paper (``{"assignments": <number>}``), or several per call. The
*residual* pass puts every feature left uncovered into the closest kept factor (never none).

Example:
    >>> PROPOSE_FACTORS.input_variables
    ['domain', 'features', 'input_description', 'kept_factors', 'num_candidates', 'subject']
    >>> print(render_candidates(["Quality", "Price"]))
    1. Quality
    2. Price
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.prompts import ChatPromptTemplate
from pydantic import Field, field_validator

from langchain_rpm.prompts._render import _DATA_RULE
from langchain_rpm.prompts.schemas import OutputSchema


class ProposedFactors(OutputSchema):
    """Candidate factors proposed from a sample of features."""

    factors: list[str] = Field(description="The proposed factors, one word each.")


class FactorAssignment(OutputSchema):
    """The candidate factor one feature belongs to."""

    assignments: int = Field(ge=0, description="The number of the best-fitting candidate factor; 0 when none fits.")


class NumberedAssignment(OutputSchema):
    """One feature of a batch, by its identifier and echoed name, and its factor's identifier."""

    feature: str = Field(description="The feature's identifier as listed, e.g. 'F3'.")
    feature_name: str = Field(default="", description="The feature's name, copied as listed (before the colon).")
    factor: str = Field(description="Its factor's identifier as listed, e.g. 'C2' ('C0' = none fits, where allowed).")

    @field_validator("feature", "factor", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    def number(self, field: str) -> int | None:
        """The number inside ``feature`` or ``factor`` (``'F3'`` -> 3), or ``None``.

        Example:
            >>> NumberedAssignment(feature="F3", factor="c12").number("factor")
            12
        """
        found = re.fullmatch(r"\s*[A-Za-z]?\s*(\d+)\s*\.?\s*", getattr(self, field))
        return int(found.group(1)) if found else None


class FactorAssignments(OutputSchema):
    """The candidate factor of every feature of a batch."""

    assignments: list[NumberedAssignment] = Field(description="One entry per numbered feature.")


class ResidualAssignment(OutputSchema):
    """The kept factor an otherwise unassigned feature is closest to."""

    assignments: int = Field(ge=1, description="The number of the closest factor.")


class ResidualAssignments(OutputSchema):
    """The closest kept factor of every feature of a batch."""

    assignments: list[NumberedAssignment] = Field(description="One entry per numbered feature.")


_FRAME = "Task domain: a task in which {domain}. Each input is a {input_description}.\n\n"

PROPOSE_FACTORS = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You organise the features that shape the answers of {subject} into factors.\n" + _FRAME + "The "
            "features below (each `name: context`) were extracted from the history of {subject}. Propose exactly "
            "{num_candidates} factors that group such features and that explain the answers {subject} gives.\n"
            "Guidelines:\n"
            "- each factor is a single word, clear and descriptive;\n"
            "- the factors are distinct, do not overlap, and are orthogonal to one another;\n"
            "- each is fundamental (it cannot be split into simpler factors) and general enough to hold across "
            "many inputs and domains;\n"
            "- no generic labels such as 'General', 'Other', 'Miscellaneous' or 'Aspect 1';\n"
            "- do not repeat or rename a factor already kept: {kept_factors}.\n"
            "Work in steps: find the main aspects by which such features are judged, group the features that share "
            "a criterion, name each group by its unifying concept in one word, then check that every factor is "
            "distinct and holds across domains. Return exactly {num_candidates} factors in `factors`.\n" + _DATA_RULE,
        ),
        ("human", "<features>\n{features}\n</features>"),
    ]
)

_ASSIGN_HEAD = (
    "You match features to the factor that captures them.\n" + _FRAME + "The features were extracted from the "
    "history of {subject}, explicit and implicit aspects that shape their answers; the candidate factors were proposed "
    "by grouping such features, so most features fit one of them: look for the best match even when it is not "
    "obvious. For a feature, find its main evaluative aspect and the judgment criterion behind it, then pick the "
    "single candidate that captures that criterion best.\n"
)
ASSIGN_FACTOR = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            _ASSIGN_HEAD
            + "Answer with that candidate's number in `assignments`, or 0 when no candidate fits.\n"
            + _DATA_RULE,
        ),
        ("human", "Candidate factors:\n{candidates}\n\n<features>\n{feature}\n</features>"),
    ]
)
ASSIGN_FACTORS = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            _ASSIGN_HEAD + "The features are listed as F1, F2, ... and the candidates as C1, C2, .... Give one entry "
            "per feature in `assignments`, none left out: its identifier in `feature` (e.g. 'F3'), its name as listed "
            "in `feature_name`, and its candidate's identifier in `factor` (e.g. 'C2'), or 'C0' when no candidate "
            "fits.\n" + _DATA_RULE,
        ),
        ("human", "Candidate factors:\n{candidates}\n\n<features>\n{features}\n</features>"),
    ]
)

_RESIDUAL_HEAD = (
    "You place features in the existing factors of {subject}.\n" + _FRAME + "Each factor below is shown with some of "
    "its features. The features to place fit none of the factors closely, yet every feature must belong to one: "
    "pick the factor each is semantically closest to.\n"
)
RESIDUAL_FACTOR = ChatPromptTemplate.from_messages(
    [
        ("system", _RESIDUAL_HEAD + "Answer with that factor's number in `assignments`.\n" + _DATA_RULE),
        ("human", "Factors:\n{factors}\n\n<features>\n{feature}\n</features>"),
    ]
)
RESIDUAL_FACTORS = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            _RESIDUAL_HEAD + "The features are listed as F1, F2, ... and the factors as C1, C2, .... Give one entry "
            "per feature in `assignments`, none left out: its identifier in `feature` (e.g. 'F3'), its name as listed "
            "in `feature_name`, and its factor's identifier in `factor` (e.g. 'C2').\n" + _DATA_RULE,
        ),
        ("human", "Factors:\n{factors}\n\n<features>\n{features}\n</features>"),
    ]
)


def render_candidates(
    names: Sequence[str], members: Mapping[str, Sequence[str]] | None = None, *, limit: int = 5, prefix: str = ""
) -> str:
    """The factors, numbered from 1 (0 means "none"); with ``members``, some of each factor's features.

    ``prefix`` makes the numbers identifiers (``C1``, ``C2``...), as batched prompts list them.

    Example:
        >>> render_candidates(["Price"], {"Price": ["low price", "discount"]})
        '1. Price: low price, discount'
        >>> print(render_candidates(["Price", "Speed"], prefix="C"))
        C1. Price
        C2. Speed
    """
    lines = []
    for number, name in enumerate(names, 1):
        shown = list((members or {}).get(name, []))
        listed = ", ".join(shown[:limit]) + (", ..." if len(shown) > limit else "")
        lines.append(f"{prefix}{number}. {name}: {listed}" if listed else f"{prefix}{number}. {name}")
    return "\n".join(lines)
