r"""Reading users' interactions from files: JSONL or JSON rows of ``user_id, input, response``.

Every row is checked with the same rules as the Python API (:mod:`langchain_rpm._history`) before
anything is stored, and a bad row gives one error naming the file, line and field, e.g.
``data.jsonl:3: missing field 'response'``. Rows are read in two steps, so each user's rows can be
checked against that user's own task: :func:`read_rows` (the file's shape and the user ids), then
:func:`check_rows` (each item against its user's task).

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
    >>> _ = path.write_text(json.dumps({"user_id": "ada", "input": "Late.", "response": 2}) + "\n")
    >>> {user: [item.response for item in items] for user, items in read_interactions(path, "lamp3").items()}
    {'ada': ['2']}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_rpm._history import HistoryChecker, check_user_id
from langchain_rpm.errors import InputFileError, InvalidHistoryError
from langchain_rpm.tasks import TaskSpec, get_task
from langchain_rpm.types import HistoryItem

ROW_FORMAT = (
    'one JSON object a line (.jsonl) or a JSON list (.json): {"user_id": "ada", "input": "...", '
    '"response": "...", "id": "1" (optional, default: derived from input and response), '
    '"options": ["...", "..."] (multiple-choice tasks only), "time": "2024-03-01T12:00:00Z" or epoch seconds '
    '(optional, also read from "date"; orders the history)}'
)
"""The row format, as the command line's help states it."""


@dataclass(frozen=True)
class Row:
    """One row of a data file: where it is, whose it is, and its fields."""

    where: str
    user_id: str
    fields: Mapping[str, Any]


def read_rows(path: str | Path) -> list[Row]:
    """The rows of a ``.jsonl`` or ``.json`` file, with their user ids checked (items are not checked yet)."""
    file = Path(path)
    text = _read_text(file)
    rows: list[Row] = []
    for line, row in _parsed(file, text):
        where = f"{file}:{line}"
        if not isinstance(row, dict):
            raise InputFileError(f"{where}: expected an object with user_id, input and response, got {_kind(row)}")
        if "user_id" not in row:
            raise InputFileError(f"{where}: missing field 'user_id'")
        try:
            user_id = check_user_id(row["user_id"])
        except InvalidHistoryError as exc:
            raise InputFileError(f"{where}: field 'user_id': {exc}") from None
        rows.append(Row(where, user_id, row))
    if not rows:
        raise InputFileError(f"{file}: no rows found; expected {ROW_FORMAT}")
    return rows


def check_rows(rows: list[Row], task_for: Callable[[str], TaskSpec]) -> dict[str, HistoryChecker]:
    """Each user's rows checked against ``task_for(user_id)`` (errors name file and line).

    Returns each user's :class:`~langchain_rpm._history.HistoryChecker`: ``.items`` holds the history
    items, ``.where(item_id)`` the file and line each came from.
    """
    checkers: dict[str, HistoryChecker] = {}
    for row in rows:
        if row.user_id not in checkers:
            checkers[row.user_id] = HistoryChecker(task_for(row.user_id))
        fields = {key: value for key, value in row.fields.items() if key != "user_id"}
        try:
            checkers[row.user_id].add(fields, row.where)
        except InvalidHistoryError as exc:
            raise InputFileError(str(exc)) from None
    return checkers


def read_interactions(
    path: str | Path, task: TaskSpec | str | Callable[[str], TaskSpec]
) -> dict[str, list[HistoryItem]]:
    """Read ``{user_id: [HistoryItem, ...]}`` from a ``.jsonl`` (an object a line) or ``.json`` (a list) file.

    Each row: ``user_id``, ``input``, ``response`` (strings; a numeric rating may be a number), and
    optionally ``id`` (default: a digest of input, response and options) and ``options`` (a list of
    strings, multiple-choice tasks). Responses must fit the task (labels, scale, options).

    Args:
        path: The data file.
        task: The task every row must fit, or a function giving each user's task.
    """
    task_for = task if callable(task) else _constant(get_task(task))
    return {user: checker.items for user, checker in check_rows(read_rows(path), task_for).items()}


def _constant(spec: TaskSpec) -> Callable[[str], TaskSpec]:
    return lambda _user: spec


def _read_text(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{file}: is a folder, not a file; give a .jsonl or .json file of rows") from None
    except PermissionError:
        raise InputFileError(f"{file}: permission denied; make the file readable") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{file}: not UTF-8 text (invalid byte at offset {exc.start}); re-save it as UTF-8"
        ) from None
    except OSError as exc:
        raise InputFileError(f"{file}: cannot be read ({exc.strerror or exc})") from None


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _parsed(file: Path, text: str) -> list[tuple[int, Any]]:
    """``(line number, parsed object)`` for each row of a JSONL or JSON file."""
    if file.suffix.lower() == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{file}:{exc.lineno}: invalid JSON (column {exc.colno}): {exc.msg}") from None
        if not isinstance(data, list):
            raise InputFileError(f"{file}: expected a JSON list of rows, got {_kind(data)}")
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
    """Best-effort line number of each top-level value in a JSON list (for error messages)."""
    lines, depth, line = [], 0, 1
    in_string = escaped = False
    for char in text:
        if char == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
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
