"""Where a task's data comes from: the demo data or the official files in a data folder, under a protocol.

Two protocols (``docs/evaluation.md`` has the folder layouts):

- ``"lamp"``: LaMP's own questions: every record of ``{split}_questions.json`` is a user whose single
  query is the record's input, scored against ``{split}_outputs.json``; GlobalOpinionQA holds out
  ``goqa_test`` seeded questions per country. ``--users`` samples users (seeded).
- ``"paper"``: the splits RPM's paper reports (:mod:`~langchain_rpm.evaluation.protocol`), built
  from the *time-based* LaMP validation questions and the GlobalOpinionQA file (the original
  ``global_opinions.csv`` as downloaded, or a JSON export: :data:`GOQA_FILES`).

:func:`load_task` returns a :class:`TaskData`: the users, and every file read with its SHA-256
digest, which the run record keeps so a later run over changed files is refused.

Example:
    >>> data = load_task("lamp2")
    >>> len(data.users), data.files, data.source
    (4, [], 'demo')
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from langchain_rpm.errors import DatasetError
from langchain_rpm.evaluation.datasets import demo_dataset, split_users
from langchain_rpm.evaluation.files import DataFile, data_file
from langchain_rpm.evaluation.goqa import load_goqa, read_goqa
from langchain_rpm.evaluation.lamp import load_lamp, read_lamp_questions
from langchain_rpm.evaluation.protocol import PAPER_SPLITS, paper_goqa_users, paper_lamp_users
from langchain_rpm.evaluation.users import EvalUser
from langchain_rpm.tasks import get_task

__all__ = ["GOQA_FILES", "PROTOCOLS", "Protocol", "TaskData", "lamp_files", "load_task", "load_task_users"]

Protocol = Literal["lamp", "paper"]
PROTOCOLS: tuple[Protocol, ...] = ("lamp", "paper")
LAMP_TASKS = ("lamp2", "lamp3", "lamp5")
GOQA_FILES = ("global_opinions.csv", "goqa.json")
"""GlobalOpinionQA's file names in a data folder, first found wins: the original CSV, then a JSON export."""


@dataclass
class TaskData:
    """One task's users, the files they were read from (with digests) and a short description."""

    task: str
    users: list[EvalUser]
    files: list[DataFile] = field(default_factory=list)
    source: str = "custom"


def lamp_files(root: Path, task: str, split: str, protocol: Protocol) -> list[tuple[Path, Path | None]]:
    """Candidate ``(questions, outputs)`` paths of a LaMP task under ``root``, first match wins.

    The paper protocol reads only the time-based questions (the split uses the profiles' dates).
    LaMP-2 is the movie-tagging task, which LaMP's download serves under ``LaMP_2/new/``.
    """
    number = task.removeprefix("lamp")
    sub = f"LaMP_{number}/new" if task == "lamp2" else f"LaMP_{number}"
    if protocol == "paper":
        return [
            (root / "time" / sub / split / f"{split}_questions.json", None),
            (root / task / "time" / f"{split}_questions.json", None),
        ]
    folders = dict.fromkeys([task, f"{sub}/{split}", f"LaMP_{number}/{split}", f"LaMP_{number}"])
    found = [(root / d / f"{split}_questions.json", root / d / f"{split}_outputs.json") for d in folders]
    return [*found, (root / f"{task}_questions.json", root / f"{task}_outputs.json")]


def _lamp(
    name: str, root: Path, split: str, protocol: Protocol, questions: Path | None, outputs: Path | None
) -> tuple[Path, Path | None]:
    if questions is not None:
        if protocol == "lamp" and outputs is None:
            raise ValueError(f"{name}: give both a questions and an outputs file")
        return questions, outputs
    candidates = lamp_files(root, name, split, protocol)
    for q_path, o_path in candidates:
        if q_path.exists() and (o_path is None or o_path.exists()):
            return q_path, o_path
    tried = "\n  ".join(f"{q}" + (f" + {o.name}" if o else "") for q, o in candidates)
    raise FileNotFoundError(f"{name}: no {protocol}-protocol files under {root}; looked for:\n  {tried}")


def load_task(
    task: str,
    data: str | os.PathLike[str] = "demo",
    *,
    protocol: Protocol = "lamp",
    split: str = "dev",
    questions: str | os.PathLike[str] | None = None,
    outputs: str | os.PathLike[str] | None = None,
    n_users: int | None = None,
    goqa_test: int = 10,
    seed: int = 0,
) -> TaskData:
    """Load one task's users from the demo data or a data folder, under ``protocol``.

    Args:
        task: ``lamp2``, ``lamp3``, ``lamp5`` or ``goqa``.
        data: ``"demo"`` (the shipped demo data; ``"lamp"`` protocol only) or a data folder.
        protocol: ``"lamp"`` or ``"paper"`` (see the module docstring).
        split: The LaMP split whose files to read (``dev``: the validation split).
        questions: A task's questions file (GlobalOpinionQA: its CSV or JSON file), instead of the folder's.
        outputs: A LaMP task's gold file (``"lamp"`` protocol only).
        n_users: Users to sample (seeded); ``None``: the protocol's count (``"lamp"``: all).
        goqa_test: ``"lamp"`` protocol: held-out questions per country.
        seed: Seeds the choice of users and the random splits.

    Raises:
        FileNotFoundError: no file at the documented places.
        DatasetError: a file does not follow the format (every record is checked before returning).
    """
    name = get_task(task).name
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {list(PROTOCOLS)}")
    q_path, o_path = (Path(p) if p is not None else None for p in (questions, outputs))
    if str(data) == "demo" and q_path is None:
        if protocol == "paper":
            raise DatasetError(
                "the paper protocol needs the official LaMP / GlobalOpinionQA files: pass --data DIR "
                "(layout in docs/evaluation.md); the demo data has no dated profiles"
            )
        return TaskData(name, split_users(demo_dataset(name), n_users=n_users, seed=seed), source="demo")
    root = Path(data)
    if name == "goqa":
        found = [root / file for file in GOQA_FILES if (root / file).exists()]
        path = q_path if q_path is not None else (found or [root / GOQA_FILES[0]])[0]
        if not path.exists():
            looked = path if q_path is not None else " or ".join(str(root / file) for file in GOQA_FILES)
            raise FileNotFoundError(f"GlobalOpinionQA file not found: {looked} (pass --questions goqa=PATH)")
        if protocol == "paper":
            users = paper_goqa_users(read_goqa(path), n_users=n_users, seed=seed)
        else:
            users = split_users(load_goqa(path), n_users=n_users, n_test=goqa_test, seed=seed)
        return TaskData(name, users, [data_file(path)], f"{protocol} protocol, {path}")
    if name not in LAMP_TASKS:
        raise ValueError(f"no loader for task {name!r}; pass its users as a mapping instead")
    q_file, o_file = _lamp(name, root, split, protocol, q_path, o_path)
    if protocol == "paper":
        records = read_lamp_questions(q_file, name, require_dates=True)
        users = paper_lamp_users(records, name, n_users=n_users, seed=seed)
        return TaskData(name, users, [data_file(q_file)], f"paper protocol {PAPER_SPLITS[name]}, {q_file}")
    assert o_file is not None
    users = split_users(load_lamp(q_file, o_file, name), n_users=n_users, seed=seed)
    return TaskData(name, users, [data_file(q_file), data_file(o_file)], f"lamp protocol, {q_file}")


def load_task_users(task: str, data: str | os.PathLike[str] = "demo", **options: object) -> list[EvalUser]:
    """The users of :func:`load_task` (same arguments).

    Example:
        >>> len(load_task_users("lamp2"))
        4
    """
    return load_task(task, data, **options).users  # type: ignore[arg-type]
