"""LaMP files: question records with per-user profiles, gold files, and dated profile items.

A LaMP ``*_questions.json`` is a JSON list with one record per user::

    [{"id": "110", "input": "Which tag does this movie relate to ... description: A space probe wakes up.",
      "profile": [{"id": "1100", "description": "A robot uprising.", "tag": "sci-fi", "date": "2011-03-25"}, ...]}]

and ``*_outputs.json`` is ``{"task": "LaMP_2", "golds": [{"id": "110", "output": "sci-fi"}]}``. Profile
items hold the user's earlier (input, response) pairs: LaMP-2 ``description`` -> ``tag``, LaMP-3
``text`` -> ``score``, LaMP-5 ``abstract`` -> ``title``. The time-based split's profile items also
carry a ``date`` (``"2011-03-25"``, or a year such as ``2008``), which the paper protocol sorts by; a
record may carry the ``user_id`` it belongs to. Any other key of a record or an item is ignored.

:class:`~langchain_rpm.types.HistoryItem` has no place for a date, so the loader keeps it beside the
item: :attr:`DatedItem.date` (parsed, for ordering) and :attr:`DatedItem.date_text` (as the file wrote it).

:func:`read_lamp_questions` validates *every* record before returning any (a record whose profile is
empty is refused here, not discovered after other users were built); :func:`load_lamp` turns the
records into one :class:`~langchain_rpm.evaluation.users.EvalUser` per record, whose single query is
the record's own input with its gold output.

Example:
    >>> strip_lamp_prompt("Generate a title for the following abstract of a paper: We study X.", "lamp5")
    'We study X.'
    >>> lamp_date("2011-03-25", "here"), lamp_date(2008, "here")
    ((2011, 3, 25), (2008,))
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from langchain_rpm.errors import DatasetError, InvalidAnswerError
from langchain_rpm.evaluation.files import field, read_json, record_id, records
from langchain_rpm.evaluation.users import EvalQuery, EvalUser
from langchain_rpm.tasks import TaskKind, TaskSpec, get_task
from langchain_rpm.types import HistoryItem

__all__ = [
    "LAMP_PROFILE_FIELDS",
    "DatedItem",
    "LampRecord",
    "lamp_date",
    "load_lamp",
    "read_lamp_golds",
    "read_lamp_questions",
    "strip_lamp_prompt",
]

LAMP_PROFILE_FIELDS: dict[str, tuple[str, str]] = {
    "lamp2": ("description", "tag"),
    "lamp3": ("text", "score"),
    "lamp5": ("abstract", "title"),
}
"""For each LaMP task: the profile field that is the item's input, and the one that is the user's response."""

# The text after the first match is the bare input; patterns are tried in order.
_LAMP_PROMPT_MARKERS: dict[str, tuple[re.Pattern[str], ...]] = {
    "lamp2": (re.compile(r"\bdescription\s*:\s*", re.IGNORECASE),),
    "lamp3": (re.compile(r"\breview\s*:\s*", re.IGNORECASE),),
    "lamp5": (
        re.compile(r"\babstract of (?:a|the) paper\s*:\s*", re.IGNORECASE),
        re.compile(r"\bpaper\s*:\s*", re.IGNORECASE),
        re.compile(r"\babstract\s*:\s*", re.IGNORECASE),
    ),
}
_DATE = re.compile(r"\d+(?:[-/:T .]\d+)*")


@dataclass(frozen=True)
class DatedItem:
    """A profile item, its date (``None`` when the file has none), its position in the profile, the date's text."""

    item: HistoryItem
    date: tuple[int, ...] | None
    position: int
    date_text: str | None = None


@dataclass(frozen=True)
class LampRecord:
    """One question record: its id, the query input, the validated profile, and the ``user_id`` when the file has one."""

    id: str
    query: str
    profile: list[DatedItem]
    user_id: str | None = None

    @property
    def user(self) -> str:
        """Whose record this is: its ``user_id``, else the record id (one record per user, as in LaMP)."""
        return self.user_id or self.id


def strip_lamp_prompt(text: str, task: TaskSpec | str) -> str:
    """Remove LaMP's prompt wrapper from a question ``input``, leaving the bare description/review/abstract.

    Falls back to the whole (stripped) input when no marker is found.

    Example:
        >>> strip_lamp_prompt("What is the score of this review? review: Great kettle.", "lamp3")
        'Great kettle.'
    """
    for pattern in _LAMP_PROMPT_MARKERS.get(get_task(task).name, ()):
        match = pattern.search(text)
        if match and text[match.end() :].strip():
            return text[match.end() :].strip()
    return text.strip()


def lamp_date(value: Any, place: str) -> tuple[int, ...]:
    """A profile item's ``date`` as a tuple of integers, as LaMP's recency ranking orders them.

    LaMP sorts by ``tuple(map(int, str(date).split("-")))``; this also accepts a year as a number and
    ISO times (``"2011-03-25T10:00:00Z"``). Anything else is refused, naming ``place``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    text = value.strip().removesuffix("Z") if isinstance(value, str) else None
    if text is None or not _DATE.fullmatch(text):
        raise DatasetError(f"{place}: field 'date' must be a date such as '2011-03-25' or a year, got {value!r}")
    return tuple(int(part) for part in re.findall(r"\d+", text))


def canonical_answer(task: TaskSpec, value: Any, place: str) -> str:
    """Validate a gold/profile answer against the task and return its canonical string."""
    if task.kind is TaskKind.RATING and isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if task.kind is TaskKind.OPEN_ENDED:
        if not text:
            raise DatasetError(f"{place} is empty")
        return text
    try:
        return task.normalize(text)
    except InvalidAnswerError as exc:
        raise DatasetError(f"{place}: {exc}") from None


def read_lamp_questions(
    path: str | os.PathLike[str],
    task: TaskSpec | str,
    *,
    profile_fields: tuple[str, str] | None = None,
    strip_prompt: bool = True,
    require_dates: bool = False,
) -> list[LampRecord]:
    """Read and validate every record of a LaMP questions file.

    Profile items whose input is blank are skipped; repeated profile ids get a ``#2``, ``#3`` ...
    suffix so ids stay unique within a history. ``require_dates`` makes a missing ``date`` an error.

    Raises:
        DatasetError: unreadable file, malformed JSON, a missing or mistyped field, a duplicate
            record id, an empty profile, an answer that does not fit the task, or a bad date.
    """
    spec = get_task(task)
    fields = profile_fields or LAMP_PROFILE_FIELDS.get(spec.name)
    if fields is None:
        raise ValueError(f"task {spec.name!r} has no known LaMP profile fields; pass profile_fields=(input, response)")
    found: list[LampRecord] = []
    seen: set[str] = set()
    for place, raw in records(read_json(path), path, "question records"):
        qid = record_id(raw, place)
        if qid in seen:
            raise DatasetError(f"{place}: duplicate question id {qid!r}")
        seen.add(qid)
        text = field(raw, "input", place)
        if not text.strip():
            raise DatasetError(f"{place}: field 'input' is empty")
        profile = list(_profile_items(field(raw, "profile", place, kinds=(list,)), fields, spec, place, require_dates))
        if not profile:
            raise DatasetError(
                f"{place}: the profile has no usable item (empty, or every input blank); every user needs a "
                "history to build from: remove the record or fix its profile"
            )
        query = strip_lamp_prompt(text, spec) if strip_prompt else text.strip()
        user_id = record_id(raw, place, "user_id") if "user_id" in raw else None
        found.append(LampRecord(qid, query, profile, user_id))
    return found


def _profile_items(
    profile: list[Any], fields: tuple[str, str], spec: TaskSpec, place: str, require_dates: bool
) -> Iterator[DatedItem]:
    input_field, response_field = fields
    response_kinds: tuple[type, ...] = (str, int, float) if spec.kind is TaskKind.RATING else (str,)
    used: set[str] = set()
    for position, raw in enumerate(profile):
        item_place = f"{place}: profile item {position}"
        if not isinstance(raw, dict):
            raise DatasetError(f"{item_place}: expected an object, got {type(raw).__name__}")
        pid = record_id(raw, item_place)
        text = field(raw, input_field, item_place)
        response = field(raw, response_field, item_place, kinds=response_kinds)
        answer = canonical_answer(spec, response, f"{item_place}: field {response_field!r}")
        if "date" in raw:
            date: tuple[int, ...] | None = lamp_date(raw["date"], item_place)
        elif require_dates:
            raise DatasetError(f"{item_place} is missing field 'date' (the time-based split's profiles have one)")
        else:
            date = None
        if not text.strip():
            continue
        unique, n = pid, 1
        while unique in used:
            n += 1
            unique = f"{pid}#{n}"
        used.add(unique)
        item = HistoryItem(id=unique, input=text.strip(), response=answer)
        yield DatedItem(item, date, position, None if date is None else str(raw["date"]).strip())


def read_lamp_golds(path: str | os.PathLike[str], spec: TaskSpec) -> dict[str, str]:
    """Gold outputs by question id, validated against the task (a file for another LaMP task is refused)."""
    data = read_json(path)
    if isinstance(data, dict):
        declared = data.get("task")
        declared_name = _lamp_name(declared) if isinstance(declared, str) else None
        if declared_name and spec.name in LAMP_PROFILE_FIELDS and declared_name != spec.name:
            raise DatasetError(f"{path}: this gold file is for task {declared!r}, not {spec.name!r}")
        if "golds" not in data:
            raise DatasetError(f"{path}: missing field 'golds'")
        data = data["golds"]
    golds: dict[str, str] = {}
    for place, item in records(data, path, "gold records", "gold record"):
        gid = str(field(item, "id", place, kinds=(str, int)))
        output = field(item, "output", place, kinds=(str, int, float))
        golds[gid] = canonical_answer(spec, output, f"{place}: field 'output'")
    return golds


def _lamp_name(declared: str) -> str | None:
    key = re.sub(r"[^0-9a-z]+", "", declared.lower())
    return key if re.fullmatch(r"lamp\d+", key) else None


def load_lamp(
    questions_path: str | os.PathLike[str],
    golds_path: str | os.PathLike[str],
    task: TaskSpec | str,
    *,
    strip_prompt: bool = True,
    profile_fields: tuple[str, str] | None = None,
) -> list[EvalUser]:
    """Load a LaMP question file and its gold file as one :class:`EvalUser` per question record.

    The user id is the question id; the history is the record's profile and the single query is the
    record's input with its gold output. Ratings and labels are validated against ``task`` and stored
    in canonical form (``"5"``, ``"sci-fi"``).

    Args:
        questions_path: JSON list of ``{"id", "input", "profile": [...]}``.
        golds_path: JSON ``{"task", "golds": [{"id", "output"}]}``.
        task: ``"lamp2"``, ``"lamp3"``, ``"lamp5"`` or a custom spec (then pass ``profile_fields``).
        strip_prompt: Remove LaMP's prompt wrapper from each query input (see :func:`strip_lamp_prompt`).
        profile_fields: ``(input_field, response_field)`` of the profile items; defaults to
            :data:`LAMP_PROFILE_FIELDS` for the task.

    Raises:
        DatasetError: see :func:`read_lamp_questions`; also a question without a gold answer.
    """
    spec = get_task(task)
    read = read_lamp_questions(questions_path, spec, profile_fields=profile_fields, strip_prompt=strip_prompt)
    golds = read_lamp_golds(golds_path, spec)
    users = []
    for index, record in enumerate(read):
        if record.id not in golds:
            raise DatasetError(
                f"{golds_path}: no gold output for question id {record.id!r} ({questions_path}, record {index})"
            )
        query = EvalQuery(id=record.id, input=record.query, gold=golds[record.id])
        history = [dated.item for dated in record.profile]
        users.append(EvalUser(user_id=record.id, task=spec.name, history=history, queries=[query]))
    return users
