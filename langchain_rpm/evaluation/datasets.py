"""Evaluation datasets: LaMP and GlobalOpinionQA loaders, a user/query split, and the shipped demo data.

Every loader returns :class:`EvalUser` objects: a user's history (``HistoryItem``s, what RPM builds
the profile from) and the held-out :class:`EvalQuery`s to predict.

- :func:`load_lamp` reads LaMP question and gold files (LaMP-2, LaMP-3 and LaMP-5 profiles). Each
  question record is one user; its prompt wrapper ("Which tag does this movie relate to ...
  description: ...") is stripped so the query input is the bare description, review or abstract.
- :func:`load_goqa` reads GlobalOpinionQA in the JSON format documented there; users are countries
  and hold no queries until :func:`split_users` carves them out of the history.
- :func:`demo_dataset` loads the small synthetic dataset under ``langchain_rpm/data/demo/``.

Bad files raise :class:`DatasetError` naming the file, the record (0-based position in the JSON
list, plus its id) and the field, e.g.
``lamp2_questions.json: record 3 (id '110'): profile item 2 is missing field 'tag'``.

Example:
    >>> users = demo_dataset("lamp3")
    >>> len(users), len(users[0].history), users[0].queries[0].gold
    (4, 8, '2')
"""

from __future__ import annotations

import ast
import json
import math
import os
import random
import re
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from langchain_rpm.errors import DatasetError, InvalidAnswerError
from langchain_rpm.tasks import GLOBAL_OPINION_QA, TaskKind, TaskSpec, get_task
from langchain_rpm.types import HistoryItem

__all__ = [
    "LAMP_PROFILE_FIELDS",
    "DatasetError",
    "EvalQuery",
    "EvalUser",
    "demo_dataset",
    "load_goqa",
    "load_lamp",
    "split_users",
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

_DEMO_TASKS = ("lamp2", "lamp3", "lamp5", "goqa")
_DEMO_GOQA_TEST = 2
_DEMO_SEED = 0


class EvalQuery(BaseModel):
    """A held-out query of a user, with its gold answer."""

    id: str
    input: str
    gold: str
    options: list[str] | None = Field(default=None, description="Per-query options (multiple choice).")


class EvalUser(BaseModel):
    """A user to evaluate: the history to build the profile from and the queries to predict."""

    user_id: str
    task: str = Field(description="Name of the task spec, e.g. 'lamp2'.")
    history: list[HistoryItem]
    queries: list[EvalQuery] = Field(default_factory=list)


# -- reading files ---------------------------------------------------------------------------------------


def _read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a UTF-8 JSON file, turning every failure into an error that names the file."""
    file = Path(path)
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{file}: not UTF-8 text (invalid byte at offset {exc.start}); re-save it as UTF-8"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def _where(file: str | os.PathLike[str], index: int, record: Any, noun: str = "record") -> str:
    """``'<file>: record 3 (id '110')'`` — the 0-based position in the JSON list, and the id when there is one."""
    if isinstance(record, dict) and isinstance(record.get("id"), str | int) and not isinstance(record["id"], bool):
        return f"{file}: {noun} {index} (id {str(record['id'])!r})"
    return f"{file}: {noun} {index}"


def _field(record: dict[str, Any], name: str, where: str, *, kinds: tuple[type, ...] = (str,)) -> Any:
    """``record[name]``, checked to exist and to be one of ``kinds`` (bool never counts as int)."""
    if name not in record:
        raise DatasetError(f"{where} is missing field {name!r}")
    value = record[name]
    if isinstance(value, bool) or not isinstance(value, kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise DatasetError(f"{where}: field {name!r} must be {expected}, got {type(value).__name__}")
    return value


def _list_of_records(data: Any, file: str | os.PathLike[str], what: str) -> list[Any]:
    if not isinstance(data, list):
        raise DatasetError(f"{file}: expected a JSON list of {what}, got {type(data).__name__}")
    return data


# -- LaMP -------------------------------------------------------------------------------------------------


def strip_lamp_prompt(text: str, task: TaskSpec | str) -> str:
    """Remove LaMP's prompt wrapper from a question ``input``, leaving the bare description/review/abstract.

    Falls back to the whole (stripped) input when no marker is found.

    Example:
        >>> strip_lamp_prompt("Generate a title for the following abstract of a paper: We study X.", "lamp5")
        'We study X.'
    """
    for pattern in _LAMP_PROMPT_MARKERS.get(get_task(task).name, ()):
        match = pattern.search(text)
        if match and text[match.end() :].strip():
            return text[match.end() :].strip()
    return text.strip()


def _canonical_answer(task: TaskSpec, value: Any, where: str) -> str:
    """Validate a gold/profile answer against the task and return its canonical string."""
    if task.kind is TaskKind.RATING and isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if task.kind is TaskKind.OPEN_ENDED:
        if not text:
            raise DatasetError(f"{where} is empty")
        return text
    try:
        return task.normalize(text)
    except InvalidAnswerError as exc:
        raise DatasetError(f"{where}: {exc}") from None


def load_lamp(
    questions_path: str | os.PathLike[str],
    golds_path: str | os.PathLike[str],
    task: TaskSpec | str,
    *,
    strip_prompt: bool = True,
    profile_fields: tuple[str, str] | None = None,
) -> list[EvalUser]:
    """Load a LaMP question file and its gold file as one :class:`EvalUser` per question record.

    The user id is the question id; the history comes from the record's profile (LaMP-2:
    description -> tag, LaMP-3: text -> score, LaMP-5: abstract -> title) and the single query is
    the record's input with its gold output. Ratings and labels are validated against ``task`` and
    stored in canonical form (``"5"``, ``"sci-fi"``). Profile items whose input is blank are skipped;
    repeated profile ids get a ``#2``, ``#3`` ... suffix so ids stay unique within a history.

    Args:
        questions_path: JSON list of ``{"id", "input", "profile": [...]}``.
        golds_path: JSON ``{"task", "golds": [{"id", "output"}]}``.
        task: ``"lamp2"``, ``"lamp3"``, ``"lamp5"`` or a custom spec (then pass ``profile_fields``).
        strip_prompt: Remove LaMP's prompt wrapper from each query input (see :func:`strip_lamp_prompt`).
        profile_fields: ``(input_field, response_field)`` of the profile items; defaults to
            :data:`LAMP_PROFILE_FIELDS` for the task.

    Raises:
        DatasetError: unreadable file, malformed JSON, a missing or mistyped field, a duplicate
            question id, a question without a gold answer, or an answer that does not fit the task.
    """
    spec = get_task(task)
    fields = profile_fields or LAMP_PROFILE_FIELDS.get(spec.name)
    if fields is None:
        raise ValueError(f"task {spec.name!r} has no known LaMP profile fields; pass profile_fields=(input, response)")
    golds = _read_lamp_golds(golds_path, spec)
    records = _list_of_records(_read_json(questions_path), questions_path, "question records")
    users: list[EvalUser] = []
    seen: set[str] = set()
    for index, record in enumerate(records):
        where = _where(questions_path, index, record)
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected an object, got {type(record).__name__}")
        qid = str(_field(record, "id", where, kinds=(str, int))).strip()
        if not qid:
            raise DatasetError(f"{where}: field 'id' is empty")
        if qid in seen:
            raise DatasetError(f"{where}: duplicate question id {qid!r}")
        seen.add(qid)
        text = _field(record, "input", where)
        if not text.strip():
            raise DatasetError(f"{where}: field 'input' is empty")
        profile = _field(record, "profile", where, kinds=(list,))
        if qid not in golds:
            raise DatasetError(
                f"{golds_path}: no gold output for question id {qid!r} ({questions_path}, record {index})"
            )
        query = EvalQuery(id=qid, input=strip_lamp_prompt(text, spec) if strip_prompt else text, gold=golds[qid])
        history = list(_profile_items(profile, fields, spec, where))
        users.append(EvalUser(user_id=qid, task=spec.name, history=history, queries=[query]))
    return users


def _read_lamp_golds(path: str | os.PathLike[str], spec: TaskSpec) -> dict[str, str]:
    data = _read_json(path)
    if isinstance(data, dict):
        declared = data.get("task")
        declared_name = _lamp_name(declared) if isinstance(declared, str) else None
        if declared_name and spec.name in LAMP_PROFILE_FIELDS and declared_name != spec.name:
            raise DatasetError(f"{path}: this gold file is for task {declared!r}, not {spec.name!r}")
        if "golds" not in data:
            raise DatasetError(f"{path}: missing field 'golds'")
        data = data["golds"]
    items = _list_of_records(data, path, "gold records")
    golds: dict[str, str] = {}
    for index, item in enumerate(items):
        where = _where(path, index, item, "gold record")
        if not isinstance(item, dict):
            raise DatasetError(f"{where}: expected an object, got {type(item).__name__}")
        gid = str(_field(item, "id", where, kinds=(str, int)))
        output = _field(item, "output", where, kinds=(str, int, float))
        golds[gid] = _canonical_answer(spec, output, f"{where}: field 'output'")
    return golds


def _lamp_name(declared: str) -> str | None:
    key = re.sub(r"[^0-9a-z]+", "", declared.lower())
    return key if re.fullmatch(r"lamp\d+", key) else None


def _profile_items(profile: list[Any], fields: tuple[str, str], spec: TaskSpec, where: str) -> Iterator[HistoryItem]:
    input_field, response_field = fields
    response_kinds: tuple[type, ...] = (str, int, float) if spec.kind is TaskKind.RATING else (str,)
    used: set[str] = set()
    for position, item in enumerate(profile):
        item_where = f"{where}: profile item {position}"
        if not isinstance(item, dict):
            raise DatasetError(f"{item_where}: expected an object, got {type(item).__name__}")
        pid = str(_field(item, "id", item_where, kinds=(str, int))).strip()
        if not pid:
            raise DatasetError(f"{item_where}: field 'id' is empty")
        text = _field(item, input_field, item_where)
        response = _field(item, response_field, item_where, kinds=response_kinds)
        answer = _canonical_answer(spec, response, f"{item_where}: field {response_field!r}")
        if not text.strip():
            continue
        unique, n = pid, 1
        while unique in used:
            n += 1
            unique = f"{pid}#{n}"
        used.add(unique)
        yield HistoryItem(id=unique, input=text.strip(), response=answer)


# -- GlobalOpinionQA --------------------------------------------------------------------------------------


def load_goqa(path: str | os.PathLike[str], *, task: TaskSpec | str = GLOBAL_OPINION_QA) -> list[EvalUser]:
    """Load GlobalOpinionQA: one :class:`EvalUser` per country, sorted by country name, without queries.

    The file is a JSON list of survey questions, mirroring ``Anthropic/llm_global_opinions``::

        [{"question": "How important is religion in your life?",
          "options": ["Very important", "Somewhat important", "Not too important", "Not at all important"],
          "selections": {"Freedonia": [0.61, 0.25, 0.09, 0.05], "Sylvania": [0.12, 0.2, 0.31, 0.37]},
          "id": "q07"}]   # "id" is optional; the default is the record's position

    A country's answer to a question is the option with the highest probability (the first on a
    tie). A question a country has no selections for is skipped for that country. As in the Hugging
    Face dump of the original dataset, ``options`` may also be a Python-literal string
    (``"['Yes', 'No']"``) and ``selections`` a ``"defaultdict(<class 'list'>, {...})"`` string.
    Every history item carries its ``options``; use :func:`split_users` to hold queries out.
    """
    spec = get_task(task)
    records = _list_of_records(_read_json(path), path, "survey questions")
    by_country: dict[str, list[HistoryItem]] = {}
    seen: set[str] = set()
    for index, record in enumerate(records):
        where = _where(path, index, record)
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected an object, got {type(record).__name__}")
        qid = str(_field(record, "id", where, kinds=(str, int))).strip() if "id" in record else str(index)
        if not qid or qid in seen:
            raise DatasetError(f"{where}: field 'id' is {'empty' if not qid else f'a duplicate of {qid!r}'}")
        seen.add(qid)
        question = _field(record, "question", where)
        options = _literal(_field(record, "options", where, kinds=(list, str)), where, "options")
        if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise DatasetError(f"{where}: field 'options' must be a list of at least 2 strings")
        selections = _literal(_field(record, "selections", where, kinds=(dict, str)), where, "selections")
        if not isinstance(selections, dict):
            raise DatasetError(f"{where}: field 'selections' must map country names to probability lists")
        if not question.strip():
            raise DatasetError(f"{where}: field 'question' is empty")
        for country, probs in selections.items():
            answer = _goqa_answer(probs, options, f"{where}: selections for {country!r}")
            if answer is not None:
                item = HistoryItem(id=qid, input=question.strip(), response=answer, options=list(options))
                by_country.setdefault(str(country), []).append(item)
    return [
        EvalUser(user_id=country, task=spec.name, history=items, queries=[])
        for country, items in sorted(by_country.items())
    ]


def _literal(value: Any, where: str, name: str) -> Any:
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
        raise DatasetError(f"{where}: field {name!r} is a string that is not a Python/JSON literal") from None


def _goqa_answer(probs: Any, options: list[str], where: str) -> str | None:
    if probs is None or probs == []:
        return None
    if not isinstance(probs, list) or not all(isinstance(p, int | float) and not isinstance(p, bool) for p in probs):
        raise DatasetError(f"{where} must be a list of numbers")
    if len(probs) != len(options):
        raise DatasetError(f"{where} has {len(probs)} probabilities for {len(options)} options")
    if any(math.isnan(p) for p in probs):
        return None
    best = max(range(len(probs)), key=lambda i: (probs[i], -i))
    return options[best]


# -- splitting ----------------------------------------------------------------------------------------------


def split_users(
    users: Sequence[EvalUser], *, n_users: int | None = None, n_test: int = 1, seed: int = 0
) -> list[EvalUser]:
    """Sample users and hold out test queries, reproducibly.

    A user without queries (GlobalOpinionQA, custom data) gets its history shuffled with a
    generator seeded by ``(seed, user_id)``; the last ``n_test`` items of the shuffled history
    become its queries (gold = the recorded response) and the rest, in their original order, stay
    as history. A user that already has queries (LaMP) is kept as it is. Users with fewer than
    ``n_test + 1`` history items and no queries are dropped. When ``n_users`` is given, that many
    of the remaining users are sampled with ``seed``; the input order is preserved.

    Raises:
        ValueError: ``n_test < 1``, ``n_users < 1``, or fewer eligible users than ``n_users``.

    Example:
        >>> users = split_users(demo_dataset("goqa"), n_users=2, seed=1)
        >>> len(users)
        2
    """
    if n_test < 1:
        raise ValueError(f"n_test must be at least 1, got {n_test}")
    eligible = [u for u in users if u.queries or len(u.history) > n_test]
    if n_users is not None:
        if n_users < 1:
            raise ValueError(f"n_users must be at least 1, got {n_users}")
        if n_users > len(eligible):
            raise ValueError(
                f"asked for {n_users} users but only {len(eligible)} have a query or more than {n_test} history items"
            )
        chosen = set(random.Random(seed).sample(range(len(eligible)), n_users))
        eligible = [u for i, u in enumerate(eligible) if i in chosen]
    return [u if u.queries else _carve(u, n_test, seed) for u in eligible]


def _carve(user: EvalUser, n_test: int, seed: int) -> EvalUser:
    order = list(range(len(user.history)))
    random.Random(f"{seed}:{user.user_id}").shuffle(order)
    test = order[-n_test:]
    held = set(test)
    history = [item for i, item in enumerate(user.history) if i not in held]
    queries = [
        EvalQuery(
            id=user.history[i].id,
            input=user.history[i].input,
            gold=user.history[i].response,
            options=user.history[i].options,
        )
        for i in test
    ]
    return user.model_copy(update={"history": history, "queries": queries})


# -- demo data ----------------------------------------------------------------------------------------------


def demo_dataset(task_name: str) -> list[EvalUser]:
    """The synthetic demo dataset shipped with the package (see ``langchain_rpm/data/demo/README.md``).

    ``"lamp2"``, ``"lamp3"`` and ``"lamp5"`` give 4 users with 8 history items and 1 query each;
    ``"goqa"`` gives 4 countries with 2 queries each, held out by ``split_users(n_test=2, seed=0)``.
    """
    name = task_name.lower().replace("-", "").replace("_", "")
    if name not in _DEMO_TASKS:
        raise ValueError(f"unknown demo task {task_name!r}; use one of {list(_DEMO_TASKS)}")
    demo = resources.files("langchain_rpm") / "data" / "demo"
    with ExitStack() as stack:
        if name == "goqa":
            path = stack.enter_context(resources.as_file(demo / "goqa.json"))
            return split_users(load_goqa(path), n_test=_DEMO_GOQA_TEST, seed=_DEMO_SEED)
        questions = stack.enter_context(resources.as_file(demo / f"{name}_questions.json"))
        outputs = stack.enter_context(resources.as_file(demo / f"{name}_outputs.json"))
        return load_lamp(questions, outputs, name)
