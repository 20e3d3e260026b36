"""GlobalOpinionQA files: survey questions with each country's answer distribution.

The file is a JSON list of survey questions, mirroring Anthropic's ``llm_global_opinions`` dataset::

    [{"question": "How important is religion in your life?",
      "options": ["Very important", "Somewhat important", "Not too important", "Not at all important"],
      "selections": {"Freedonia": [0.61, 0.25, 0.09, 0.05], "Sylvania": [0.12, 0.2, 0.31, 0.37]},
      "id": "q07"}]   # "id" is optional; the default is the record's position

As in the Hugging Face dump of the dataset, ``options`` may be a Python-literal string
(``"['Yes', 'No']"``) and ``selections`` a ``"defaultdict(<class 'list'>, {...})"`` string; both are
decoded with :func:`ast.literal_eval` (never ``eval``). :func:`read_goqa` validates every record;
:func:`load_goqa` makes each country a user whose answer to a question is its most-chosen option.

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "goqa.json"
    >>> _ = path.write_text(json.dumps([{"question": "Tea?", "options": "['Yes', 'No']",
    ...     "selections": "defaultdict(<class 'list'>, {'Freedonia': [0.9, 0.1]})"}]))
    >>> question = read_goqa(path)[0]
    >>> question.top("Freedonia")
    ('Yes', 0.9)
"""

from __future__ import annotations

import ast
import math
import os
import re
from dataclasses import dataclass
from typing import Any

from langchain_rpm.errors import DatasetError
from langchain_rpm.evaluation.files import field, read_json, record_id, records
from langchain_rpm.evaluation.users import EvalUser
from langchain_rpm.tasks import GLOBAL_OPINION_QA, TaskSpec, get_task
from langchain_rpm.types import HistoryItem

__all__ = ["GoqaQuestion", "load_goqa", "read_goqa"]


@dataclass(frozen=True)
class GoqaQuestion:
    """One survey question: its id, text, options, and each country's share per option."""

    id: str
    question: str
    options: list[str]
    selections: dict[str, list[float]]

    def top(self, country: str) -> tuple[str, float] | None:
        """The country's most-chosen option and its share (the first on a tie); ``None`` without data."""
        shares = self.selections.get(country)
        if not shares:
            return None
        best = max(range(len(shares)), key=lambda i: (shares[i], -i))
        return self.options[best], shares[best]

    def item(self, country: str) -> HistoryItem | None:
        """The country's answer as a history item (``None`` when the country has no data)."""
        top = self.top(country)
        if top is None:
            return None
        return HistoryItem(id=self.id, input=self.question, response=top[0], options=list(self.options))


def read_goqa(path: str | os.PathLike[str]) -> list[GoqaQuestion]:
    """Read and validate every survey question of a GlobalOpinionQA file (see the module docstring).

    A country whose list is empty or holds a NaN has no data for that question and is left out of it.

    Raises:
        DatasetError: naming the record and field: a missing or mistyped field, an undecodable
            literal, fewer than 2 options, or a share list whose length differs from the options'.
    """
    questions: list[GoqaQuestion] = []
    seen: set[str] = set()
    for index, (place, raw) in enumerate(records(read_json(path), path, "survey questions")):
        qid = record_id(raw, place) if "id" in raw else str(index)
        if qid in seen:
            raise DatasetError(f"{place}: field 'id' is a duplicate of {qid!r}")
        seen.add(qid)
        question = field(raw, "question", place)
        options = _literal(field(raw, "options", place, kinds=(list, str)), place, "options")
        if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise DatasetError(f"{place}: field 'options' must be a list of at least 2 strings")
        selections = _literal(field(raw, "selections", place, kinds=(dict, str)), place, "selections")
        if not isinstance(selections, dict):
            raise DatasetError(f"{place}: field 'selections' must map country names to probability lists")
        if not question.strip():
            raise DatasetError(f"{place}: field 'question' is empty")
        shares = {
            str(country): checked
            for country, probs in selections.items()
            if (checked := _shares(probs, options, f"{place}: selections for {country!r}")) is not None
        }
        questions.append(GoqaQuestion(qid, question.strip(), list(options), shares))
    return questions


def _literal(value: Any, place: str, name: str) -> Any:
    """Decode the Python-literal strings of the Hugging Face dump of GlobalOpinionQA."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    match = re.fullmatch(r"defaultdict\(<class '\w+'>,\s*(.*)\)", text, re.DOTALL)
    if match:
        text = match.group(1)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise DatasetError(f"{place}: field {name!r} is a string that is not a Python/JSON literal") from None


def _shares(probs: Any, options: list[str], place: str) -> list[float] | None:
    if probs is None or probs == []:
        return None
    if not isinstance(probs, list) or not all(isinstance(p, int | float) and not isinstance(p, bool) for p in probs):
        raise DatasetError(f"{place} must be a list of numbers")
    if len(probs) != len(options):
        raise DatasetError(f"{place} has {len(probs)} probabilities for {len(options)} options")
    if any(math.isnan(p) for p in probs):
        return None
    return [float(p) for p in probs]


def load_goqa(path: str | os.PathLike[str], *, task: TaskSpec | str = GLOBAL_OPINION_QA) -> list[EvalUser]:
    """Load GlobalOpinionQA: one :class:`EvalUser` per country, sorted by country name, without queries.

    A country's answer to a question is its most-chosen option (the first on a tie); a question a
    country has no data for is skipped for it. Every history item carries its ``options``; use
    :func:`~langchain_rpm.evaluation.datasets.split_users` (or the paper protocol) to hold queries out.
    """
    spec = get_task(task)
    by_country: dict[str, list[HistoryItem]] = {}
    for question in read_goqa(path):
        for country in question.selections:
            item = question.item(country)
            if item is not None:
                by_country.setdefault(country, []).append(item)
    return [EvalUser(user_id=country, task=spec.name, history=items) for country, items in sorted(by_country.items())]
