"""The input rules for a user's history, one set for the Python API and the command line.

- a user id is a non-empty string without leading or trailing spaces or control characters;
- an item has an ``input`` (non-empty text, cut to ``MAX_INPUT_CHARS`` with a logged warning), a
  ``response`` (text; a number is accepted and written as text, ``4.0`` -> ``"4"``), optionally
  ``options`` (a list of strings, for multiple choice) and an ``id`` (text or number; when missing,
  a stable one derived from the input, response and options) and a ``time`` (ISO 8601 or epoch
  seconds; LaMP's ``date`` key is read as it, where a number is a year), which orders the history: items come out oldest first,
  an item without a time after the item before it (:func:`~langchain_rpm._recency.chronological`);
- ids are unique within a user's history; two identical rows are reported as such;
- for labels, ratings and options the response must fit the task and is stored in canonical form
  (``"4 stars"`` -> ``"4"``, ``"Sci Fi"`` -> ``"sci-fi"``).

A bad item raises :class:`~langchain_rpm.errors.InvalidHistoryError` naming the item and the field.

Example:
    >>> from langchain_rpm.tasks import LAMP3
    >>> [item.response for item in validate_history(LAMP3, [{"input": "Late.", "response": 2.0}])]
    ['2']
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_rpm._recency import chronological, parse_time
from langchain_rpm.errors import InvalidAnswerError, InvalidHistoryError
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import HistoryItem

logger = logging.getLogger("langchain_rpm")

MAX_INPUT_CHARS = 20_000
"""Longer inputs are cut (with a logged warning) so one huge item cannot overflow a context window."""


def check_user_id(user_id: object) -> str:
    """Return ``user_id`` if it follows the rules, else raise :class:`InvalidHistoryError` saying why.

    Example:
        >>> check_user_id("ada")
        'ada'
    """
    if isinstance(user_id, bool) or not isinstance(user_id, str | int):
        raise InvalidHistoryError(f"user id must be a string, got {type(user_id).__name__}")
    text = str(user_id)
    if not text.strip():
        raise InvalidHistoryError("user id must not be empty")
    if text != text.strip():
        raise InvalidHistoryError(f"user id {text!r} has leading or trailing spaces; remove them")
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise InvalidHistoryError(f"user id {text!r} contains control characters")
    return text


def derived_item_id(input: str, response: str, options: Sequence[str] | None = None) -> str:
    """The stable id of an item given without one: a digest of its input, response and options.

    Example:
        >>> derived_item_id("Late.", "2") == derived_item_id("Late.", "2")
        True
    """
    payload = json.dumps([input, response, list(options or [])])
    return "item-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def item_digest(user_id: str, item: HistoryItem) -> str:
    """A digest of everything an item's results depend on (user, id, input, response, options)."""
    parts: list[Any] = [user_id, item.id, item.input, item.response, item.options]
    payload = json.dumps(parts + ([item.time.isoformat()] if item.time is not None else []))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _text(value: Any, field: str, *, numbers: bool = False) -> str:
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if not isinstance(value, str):
        raise InvalidHistoryError(f"field {field!r} must be text, got {type(value).__name__}")
    if not value.strip():
        raise InvalidHistoryError(f"field {field!r} must not be empty")
    return value


def coerce_item(
    raw: HistoryItem | Mapping[str, Any],
    task: TaskSpec,
    *,
    max_input_chars: int = MAX_INPUT_CHARS,
    where: str = "an item",
) -> HistoryItem:
    """One item checked against the rules (errors name the field; the caller adds ``where`` it came from).

    ``where`` only labels the warning logged when the input is cut (``"rows.jsonl:3"``, ``"history item 2"``).

    Example:
        >>> from langchain_rpm.tasks import LAMP3
        >>> coerce_item({"id": 7, "input": "Late.", "response": 2}, LAMP3)
        HistoryItem(id='7', input='Late.', response='2', options=None, time=None)
    """
    if isinstance(raw, HistoryItem):
        raw = raw.model_dump()
    if not isinstance(raw, Mapping):
        raise InvalidHistoryError(f"expected an object with input and response, got {type(raw).__name__}")
    for field in ("input", "response"):
        if field not in raw:
            raise InvalidHistoryError(f"missing field {field!r}")
    text = _text(raw["input"], "input")
    response = _text(raw["response"], "response", numbers=True)
    options = raw.get("options")
    if options is not None and (
        not isinstance(options, list) or not options or not all(isinstance(o, str) and o.strip() for o in options)
    ):
        raise InvalidHistoryError("field 'options' must be a non-empty list of non-empty strings")
    if len(text) > max_input_chars:
        logger.warning("%s: input of %d characters cut to %d", where, len(text), max_input_chars)
        text = text[:max_input_chars]
    if task.is_discrete:
        try:
            response = task.normalize(response, options)
        except InvalidAnswerError as exc:
            raise InvalidHistoryError(f"field 'response': {exc}") from None
    raw_id = raw.get("id")
    item_id = derived_item_id(text, response, options) if raw_id is None else _text(raw_id, "id", numbers=True)
    return HistoryItem(id=item_id.strip(), input=text, response=response, options=options, time=_time(raw))


def _time(raw: Mapping[str, Any]) -> Any:
    """The item's ``time`` (or LaMP's ``date``), parsed; ``None`` when it has neither."""
    field = "time" if raw.get("time") is not None else "date"
    value = raw.get(field)
    if value is None:
        return None
    try:
        return parse_time(value, lamp_date=field == "date")
    except ValueError as exc:
        raise InvalidHistoryError(f"field {field!r}: {exc}") from None


class HistoryChecker:
    """Checks one user's items one at a time, so every error names the place the item came from.

    The rules are those of :func:`coerce_item`, plus unique ids: a repeated id is reported with the
    place that first used it, and a repeated row without an id (same input and response) as such.
    :func:`validate_history` (the Python API) and the command line's file reader both use it.

    Args:
        task: The task the responses must fit.
        max_input_chars: Longer inputs are cut, with a logged warning.

    Example:
        >>> from langchain_rpm.tasks import LAMP3
        >>> checker = HistoryChecker(LAMP3)
        >>> _ = checker.add({"input": "Late.", "response": "2"}, "rows.jsonl:1")
        >>> checker.add({"input": "Late.", "response": 2}, "rows.jsonl:2")
        Traceback (most recent call last):
        ...
        langchain_rpm.errors.InvalidHistoryError: rows.jsonl:2: same input and response as rows.jsonl:1 (a repeated row): remove it, or give each row its own "id"
    """

    def __init__(self, task: TaskSpec, *, max_input_chars: int = MAX_INPUT_CHARS) -> None:
        self.task = task
        self.max_input_chars = max_input_chars
        self.items: list[HistoryItem] = []
        self._first: dict[str, tuple[HistoryItem, str]] = {}

    def add(self, raw: HistoryItem | Mapping[str, Any], where: str) -> HistoryItem:
        """Check ``raw`` (found at ``where``), remember it and return it as a :class:`HistoryItem`."""
        try:
            item = coerce_item(raw, self.task, max_input_chars=self.max_input_chars, where=where)
        except InvalidHistoryError as exc:
            raise InvalidHistoryError(f"{where}: {exc}") from None
        if item.id in self._first:
            first, first_where = self._first[item.id]
            same = (first.input, first.response, first.options) == (item.input, item.response, item.options)
            given = not isinstance(raw, Mapping) or raw.get("id") is not None
            if same and not given:
                raise InvalidHistoryError(
                    f"{where}: same input and response as {first_where} (a repeated row): "
                    'remove it, or give each row its own "id"'
                )
            detail = f"same input and response as {first_where}" if same else f"first used by {first_where}"
            raise InvalidHistoryError(f"{where}: duplicate item id {item.id!r} ({detail})")
        self._first[item.id] = (item, where)
        self.items.append(item)
        return item

    def where(self, item_id: str) -> str:
        """Where the item with ``item_id`` came from."""
        return self._first[item_id][1]


def validate_history(
    task: TaskSpec, history: Sequence[HistoryItem | Mapping[str, Any]], *, allow_empty: bool = False
) -> list[HistoryItem]:
    """Parse and check a whole history; raise :class:`InvalidHistoryError` naming the first bad item."""
    if isinstance(history, str | bytes | Mapping) or not isinstance(history, Sequence):
        raise InvalidHistoryError(f"a history is a list of items, got {type(history).__name__}")
    if not history and not allow_empty:
        raise InvalidHistoryError("the history is empty: a profile needs at least one (input, response) item")
    checker = HistoryChecker(task)
    for position, raw in enumerate(history):
        raw_id = raw.get("id") if isinstance(raw, Mapping) else getattr(raw, "id", None)
        checker.add(raw, f"history item {position}" + (f" (id {str(raw_id)!r})" if raw_id is not None else ""))
    return chronological(checker.items)
