"""The input rules for a user's history, one set for the Python API and the command line.

- a user id is a non-empty string without leading or trailing spaces or control characters;
- an item has an ``input`` (non-empty text, cut to ``MAX_INPUT_CHARS`` with a logged warning), a
  ``response`` (text; a number is accepted and written as text, ``4.0`` -> ``"4"``), optionally
  ``options`` (a list of strings, for multiple choice) and an ``id`` (text or number; when missing,
  a stable one derived from the input, response and options);
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
    payload = json.dumps([user_id, item.id, item.input, item.response, item.options])
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
    raw: HistoryItem | Mapping[str, Any], task: TaskSpec, *, max_input_chars: int = MAX_INPUT_CHARS
) -> HistoryItem:
    """One item checked against the rules (errors name the field; the caller adds where it came from)."""
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
        logger.warning("input of %d characters cut to %d", len(text), max_input_chars)
        text = text[:max_input_chars]
    if task.is_discrete:
        try:
            response = task.normalize(response, options)
        except InvalidAnswerError as exc:
            raise InvalidHistoryError(f"field 'response': {exc}") from None
    raw_id = raw.get("id")
    item_id = derived_item_id(text, response, options) if raw_id is None else _text(raw_id, "id", numbers=True)
    return HistoryItem(id=item_id.strip(), input=text, response=response, options=options)


def validate_history(
    task: TaskSpec, history: Sequence[HistoryItem | Mapping[str, Any]], *, allow_empty: bool = False
) -> list[HistoryItem]:
    """Parse and check a whole history; raise :class:`InvalidHistoryError` naming the first bad item."""
    if isinstance(history, str | bytes | Mapping) or not isinstance(history, Sequence):
        raise InvalidHistoryError(f"a history is a list of items, got {type(history).__name__}")
    if not history and not allow_empty:
        raise InvalidHistoryError("the history is empty: a profile needs at least one (input, response) item")
    items: list[HistoryItem] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(history):
        try:
            item = coerce_item(raw, task)
        except InvalidHistoryError as exc:
            raw_id = raw.get("id") if isinstance(raw, Mapping) else getattr(raw, "id", None)
            where = f"history item {position}" + (f" (id {str(raw_id)!r})" if raw_id is not None else "")
            raise InvalidHistoryError(f"{where}: {exc}") from None
        if item.id in seen:
            first = items[seen[item.id]]
            same = (first.input, first.response, first.options) == (item.input, item.response, item.options)
            detail = (
                f"same input and response as item {seen[item.id]}" if same else f"first used by item {seen[item.id]}"
            )
            raise InvalidHistoryError(f"history item {position}: duplicate item id {item.id!r} ({detail})")
        seen[item.id] = position
        items.append(item)
    return items
