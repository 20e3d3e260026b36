"""GlobalOpinionQA files: survey questions with each country's answer distribution.

Two shapes are read. The original ``global_opinions.csv`` of Anthropic's ``llm_global_opinions``
(columns ``question``, ``selections``, ``options``, ``source``; ``selections`` holds a Python repr
``defaultdict(<class 'list'>, {'Country': [p1, p2, ...], ...})`` and ``options`` a Python list repr);
a question's id is its 0-based row. Or a JSON list of survey questions::

    [{"question": "How important is religion in your life?",
      "options": ["Very important", "Somewhat important", "Not too important", "Not at all important"],
      "selections": {"Freedonia": [0.61, 0.25, 0.09, 0.05], "Sylvania": [0.12, 0.2, 0.31, 0.37]},
      "id": "q07"}]   # "id" is optional; the default is the record's position

As in the CSV, ``options`` may be a Python-literal string (``"['Yes', 'No']"``) and ``selections`` a
``"defaultdict(<class 'list'>, {...})"`` string; both are decoded with :func:`ast.literal_eval`
(never ``eval``: the ``defaultdict(<class ...>, `` wrapper is matched as text and stripped, and only
the literal inside is parsed). :func:`read_goqa` validates every record of either shape (one line
naming the file, the record and the field when one is off); :func:`load_goqa` makes each country a
user whose answer to a question is its most-chosen option.

Example:
    >>> import csv, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "global_opinions.csv"
    >>> with path.open("w", newline="") as handle:
    ...     csv.writer(handle).writerows([["question", "selections", "options", "source"],
    ...         ["Tea?", "defaultdict(<class 'list'>, {'Freedonia': [0.9, 0.1]})", "['Yes', 'No']", "GAS"]])
    >>> question = read_goqa(path)[0]
    >>> question.top("Freedonia"), question.id, question.source
    (('Yes', 0.9), '0', 'GAS')
"""

from __future__ import annotations

import ast
import csv
import io
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_rpm.errors import DatasetError
from langchain_rpm.evaluation.files import field, read_json, read_text, record_id, records
from langchain_rpm.evaluation.users import EvalUser
from langchain_rpm.tasks import GLOBAL_OPINION_QA, TaskSpec, get_task
from langchain_rpm.types import HistoryItem

__all__ = ["GOQA_CSV_COLUMNS", "GoqaQuestion", "load_goqa", "read_goqa"]

GOQA_CSV_COLUMNS = ("question", "selections", "options", "source")
"""The columns of the original ``global_opinions.csv`` (``source`` is optional here)."""


@dataclass(frozen=True)
class GoqaQuestion:
    """One survey question: its id, text, options, and each country's share per option."""

    id: str
    question: str
    options: list[str]
    selections: dict[str, list[float]]
    source: str = ""

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
    """Read and validate every survey question of a GlobalOpinionQA file: ``*.csv`` as the original, else JSON.

    A country whose list is empty or holds a NaN has no data for that question and is left out of it.

    Raises:
        DatasetError: naming the file, the record (JSON position and id, or CSV row and line) and the
            field: a missing column or field, a mistyped field, an undecodable literal, fewer than 2
            options, or a share list whose length differs from the options'.
    """
    if Path(path).suffix.lower() == ".csv":
        return [_question(raw, str(index), place) for index, place, raw in _csv_rows(path)]
    questions: list[GoqaQuestion] = []
    seen: set[str] = set()
    for index, (place, raw) in enumerate(records(read_json(path), path, "survey questions")):
        qid = record_id(raw, place) if "id" in raw else str(index)
        if qid in seen:
            raise DatasetError(f"{place}: field 'id' is a duplicate of {qid!r}")
        seen.add(qid)
        questions.append(_question(raw, qid, place))
    return questions


def _question(raw: dict[str, Any], qid: str, place: str) -> GoqaQuestion:
    """One validated survey question from a JSON record or a CSV row."""
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
    source = raw.get("source")
    return GoqaQuestion(qid, question.strip(), list(options), shares, source if isinstance(source, str) else "")


def _csv_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(row index, place, row)`` of a ``global_opinions.csv``; its shape checked against :data:`GOQA_CSV_COLUMNS`."""
    file = Path(path)
    reader = csv.DictReader(io.StringIO(read_text(file), newline=""))
    try:
        header = reader.fieldnames or []
        missing = [name for name in GOQA_CSV_COLUMNS[:3] if name not in header]
        if missing:
            raise DatasetError(
                f"{file}: missing column {missing[0]!r} (the header has {list(header)}); expected the columns "
                f"of global_opinions.csv: {', '.join(GOQA_CSV_COLUMNS)}"
            )
        for index, row in enumerate(reader):
            place = f"{file}: row {index} (line {reader.line_num})"
            if None in row or None in row.values():
                raise DatasetError(f"{place}: the row has {_width(row)} fields where the header has {len(header)}")
            yield index, place, row
    except csv.Error as exc:
        raise DatasetError(f"{file}: line {reader.line_num}: not valid CSV ({exc})") from None


def _width(row: dict[Any, Any]) -> int:
    """How many fields a ``csv.DictReader`` row really had (extras collect under ``None``, gaps are ``None``)."""
    extra = row.get(None)
    return sum(1 for key, value in row.items() if key is not None and value is not None) + len(extra or [])


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
