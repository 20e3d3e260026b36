"""Reading data files for the evaluation: JSON with errors that name the place, and content digests.

Every loader reads through :func:`read_json`, so a broken file fails with one line naming the file
and, through :func:`where` and :func:`field`, the record (its 0-based position in the JSON list and
its id) and the field. :func:`data_file` records a file's path and SHA-256 digest, which the run
record (:mod:`~langchain_rpm.evaluation.manifest`) compares to refuse resuming over changed data.

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.json"
    >>> _ = path.write_text(json.dumps([{"id": 1, "input": "hi"}]))
    >>> records = read_json(path)
    >>> field(records[0], "input", where(path.name, 0, records[0]))
    'hi'
    >>> data_file(path).sha256 == data_file(path).sha256
    True
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from langchain_rpm.errors import DatasetError

__all__ = [
    "DataFile",
    "data_file",
    "field",
    "list_of_records",
    "read_json",
    "read_text",
    "record_id",
    "records",
    "where",
]


class DataFile(BaseModel):
    """A data file a run read: its absolute path, size and SHA-256 digest of its bytes."""

    model_config = ConfigDict(frozen=True)

    path: str
    bytes: int
    sha256: str


def data_file(path: str | os.PathLike[str]) -> DataFile:
    """Path, size and content digest of ``path`` (read in 1 MiB blocks, so large files are fine)."""
    file = Path(path).resolve()
    digest = hashlib.sha256()
    size = 0
    with file.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return DataFile(path=str(file), bytes=size, sha256=digest.hexdigest())


def read_text(path: str | os.PathLike[str]) -> str:
    """The text of a UTF-8 file (a BOM is accepted); an unreadable or non-UTF-8 file is an error naming it."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{file}: cannot read the file ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{file}: not UTF-8 text (invalid byte at offset {exc.start}); re-save it as UTF-8"
        ) from None


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a UTF-8 JSON file (a BOM is accepted), turning every failure into an error naming the file."""
    file = Path(path)
    text = read_text(file)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def where(file: str | os.PathLike[str], index: int, record: Any, noun: str = "record") -> str:
    """``'<file>: record 3 (id '110')'``: the 0-based position in the JSON list, and the id when there is one."""
    if isinstance(record, dict) and isinstance(record.get("id"), str | int) and not isinstance(record["id"], bool):
        return f"{file}: {noun} {index} (id {str(record['id'])!r})"
    return f"{file}: {noun} {index}"


def field(record: dict[str, Any], name: str, place: str, *, kinds: tuple[type, ...] = (str,)) -> Any:
    """``record[name]``, checked to exist and to be one of ``kinds`` (a bool never counts as a number)."""
    if name not in record:
        raise DatasetError(f"{place} is missing field {name!r}")
    value = record[name]
    if isinstance(value, bool) or not isinstance(value, kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise DatasetError(f"{place}: field {name!r} must be {expected}, got {type(value).__name__}")
    return value


def list_of_records(data: Any, file: str | os.PathLike[str], what: str) -> list[Any]:
    """``data`` when it is a JSON list, else an error saying what the file should hold."""
    if not isinstance(data, list):
        raise DatasetError(f"{file}: expected a JSON list of {what}, got {type(data).__name__}")
    return data


def records(
    data: Any, file: str | os.PathLike[str], what: str, noun: str = "record"
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(place, record)`` for every object of the JSON list ``data``; anything else is refused, naming its place."""
    for index, raw in enumerate(list_of_records(data, file, what)):
        place = where(file, index, raw, noun)
        if not isinstance(raw, dict):
            raise DatasetError(f"{place}: expected an object, got {type(raw).__name__}")
        yield place, raw


def record_id(record: dict[str, Any], place: str, name: str = "id") -> str:
    """The record's ``id`` (or another identifier field, ``name``) as text, refused when empty."""
    value = str(field(record, name, place, kinds=(str, int))).strip()
    if not value:
        raise DatasetError(f"{place}: field {name!r} is empty")
    return value
