r"""Reading users' interactions from files: JSONL or JSON rows of ``user_id, input, response``.

Every row is checked before anything is stored, and a bad row gives one error naming the file,
line and field, e.g. ``data.jsonl:3: missing field 'response'``.

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
    >>> _ = path.write_text(json.dumps({"user_id": "ada", "input": "Late.", "response": "2"}) + "\n")
    >>> {user: len(items) for user, items in read_interactions(path, "lamp3").items()}
    {'ada': 1}
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

from langchain_rpm.errors import InputFileError, InvalidAnswerError
from langchain_rpm.tasks import TaskSpec, get_task
from langchain_rpm.types import HistoryItem

MAX_INPUT_CHARS = 20_000
"""Longer inputs are truncated (with a warning) so one huge row cannot blow a context window."""


def read_interactions(
    path: str | Path, task: TaskSpec | str, *, max_input_chars: int = MAX_INPUT_CHARS
) -> dict[str, list[HistoryItem]]:
    """Read ``{user_id: [HistoryItem, ...]}`` from a ``.jsonl`` (an object a line) or ``.json`` (a list) file.

    Each row: ``user_id``, ``input``, ``response`` (strings; a numeric rating may be a number), and
    optionally ``id`` (default: a digest of input and response) and ``options`` (a list of strings,
    multiple-choice tasks). Responses must fit the task (labels, scale, options).
    """
    spec = get_task(task)
    file = Path(path)
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(f"{file}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{file}: not UTF-8 text (invalid byte at offset {exc.start}); re-save it as UTF-8"
        ) from None
    users: dict[str, list[HistoryItem]] = {}
    seen: dict[tuple[str, str], int] = {}
    for line, row in _rows(file, text):
        where = f"{file}:{line}"
        item, user_id = _item(row, where, spec, max_input_chars)
        if (user_id, item.id) in seen:
            raise InputFileError(
                f"{where}: duplicate id {item.id!r} for user {user_id!r} (first on line {seen[(user_id, item.id)]})"
            )
        seen[(user_id, item.id)] = line
        users.setdefault(user_id, []).append(item)
    if not users:
        raise InputFileError(f"{file}: no rows found")
    return users


def _rows(file: Path, text: str) -> list[tuple[int, Any]]:
    """``(line number, parsed object)`` for each row of a JSONL or JSON file."""
    if file.suffix.lower() == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{file}:{exc.lineno}: invalid JSON (column {exc.colno}): {exc.msg}") from None
        if not isinstance(data, list):
            raise InputFileError(f"{file}: expected a JSON list of rows, got {type(data).__name__}")
        lines = _object_lines(text, len(data))
        return list(zip(lines, data, strict=True))
    rows = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rows.append((number, json.loads(raw)))
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{file}:{number}: invalid JSON (column {exc.colno}): {exc.msg}") from None
    return rows


def _object_lines(text: str, count: int) -> list[int]:
    """Best-effort line number of each top-level object in a JSON list (for error messages)."""
    lines, depth, line = [], 0, 1
    in_string = escaped = False
    for char in text:
        if char == "\n":
            line += 1
        if in_string:
            escaped = not escaped and char == "\\"
            if char == '"' and not escaped:
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth == 2:
                lines.append(line)
        elif char in "]}":
            depth -= 1
    return (lines + [line] * count)[:count]


def _text(row: dict[str, Any], field: str, where: str, *, numbers: bool = False) -> str:
    if field not in row:
        raise InputFileError(f"{where}: missing field {field!r}")
    value = row[field]
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if not isinstance(value, str) or not value.strip():
        raise InputFileError(f"{where}: field {field!r} must be a non-empty string")
    return value


def _item(row: Any, where: str, spec: TaskSpec, max_chars: int) -> tuple[HistoryItem, str]:
    if not isinstance(row, dict):
        raise InputFileError(f"{where}: expected an object, got {type(row).__name__}")
    user_id = _text(row, "user_id", where, numbers=True)
    text = _text(row, "input", where)
    response = _text(row, "response", where, numbers=True)
    options = row.get("options")
    if options is not None and (not isinstance(options, list) or not all(isinstance(o, str) for o in options)):
        raise InputFileError(f"{where}: field 'options' must be a list of strings")
    if len(text) > max_chars:
        warnings.warn(f"{where}: input of {len(text)} characters truncated to {max_chars}", stacklevel=3)
        text = text[:max_chars]
    if spec.is_discrete:
        try:
            response = spec.normalize(response, options)
        except InvalidAnswerError as exc:
            raise InputFileError(f"{where}: field 'response': {exc}") from None
    item_id = row.get("id")
    if item_id is None:
        item_id = hashlib.sha256(f"{text}\x00{response}".encode()).hexdigest()[:12]
    return HistoryItem(id=str(item_id), input=text, response=response, options=options), user_id
