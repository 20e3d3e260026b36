"""The run record (``results_dir/run.json``): what a results folder was computed from, checked on every resume.

A results folder is resumable: finished predictions and profile builds are reused. That is only
honest when nothing they depend on changed, so the record keeps the settings (model, embeddings,
protocol, preset, K, seed, users, structured output, prompt versions, method options) and, per task,
every data file's absolute path and SHA-256 digest plus a digest of the users and queries the run
built from those files. A run into the same folder with **any** difference is refused with one line
saying what changed (the CLI exits with status 2); nothing in the folder is touched. To start over,
use another ``--out`` or delete the folder. Adding tasks, methods or runs (``--runs``) is allowed: a
task new to the folder is added to the record.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> record = RunRecord(settings={"model": "m", "seed": 0},
    ...                    tasks={"lamp3": TaskRecord(users=1, queries=1, users_digest="ab")})
    >>> check_and_record(out, record).settings["seed"]
    0
    >>> check_and_record(out, record.model_copy(update={"settings": {"model": "m", "seed": 1}}))
    Traceback (most recent call last):
    ...
    langchain_rpm.errors.RunMismatchError: ... holds a run with other settings (seed: 0 -> 1); ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from langchain_rpm.errors import RunMismatchError
from langchain_rpm.evaluation.files import DataFile

__all__ = ["RUN_FILE", "RunRecord", "TaskRecord", "check_and_record"]

RUN_FILE = "run.json"
SCHEMA_VERSION = 2


class TaskRecord(BaseModel):
    """One task of a run: where its users came from, and a digest of them."""

    source: str = ""
    files: list[DataFile] = Field(default_factory=list)
    users: int
    queries: int
    users_digest: str = Field(description="SHA-256 of every user's history and queries (see users_digest).")


class RunRecord(BaseModel):
    """What a results folder was computed from (``run.json``)."""

    schema_version: int = SCHEMA_VERSION
    settings: dict[str, Any]
    tasks: dict[str, TaskRecord] = Field(default_factory=dict)


def _short(digest: str) -> str:
    return digest[:12] + "…"


def _task_changes(name: str, old: TaskRecord, new: TaskRecord) -> list[str]:
    changes = []
    old_files = {f.path: f for f in old.files}
    new_files = {f.path: f for f in new.files}
    if set(old_files) != set(new_files):
        changes.append(f"{name} data files {sorted(old_files)} -> {sorted(new_files)}")
    for path in sorted(set(old_files) & set(new_files)):
        if old_files[path].sha256 != new_files[path].sha256:
            before, after = _short(old_files[path].sha256), _short(new_files[path].sha256)
            changes.append(f"{name} data file {path} changed (sha256 {before} -> {after})")
    if not changes and old.users_digest != new.users_digest:
        changes.append(f"{name} users or queries changed ({old.users} users -> {new.users})")
    return changes


def _read(path: Path) -> RunRecord:
    try:
        return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError):
        raise RunMismatchError(
            f"{path.parent} holds a run written by another version of the harness ({path.name} is not a run "
            "record it can compare); use another --out, or delete the folder to start over"
        ) from None


def check_and_record(results_dir: str | Path, record: RunRecord) -> RunRecord:
    """Refuse to resume ``results_dir`` when ``record`` differs from what is there; else write the merged record.

    Raises:
        RunMismatchError: one line naming every difference (settings, data files, users).
    """
    folder = Path(results_dir)
    path = folder / RUN_FILE
    merged = record
    if path.exists():
        stored = _read(path)
        keys = sorted(set(stored.settings) | set(record.settings))
        changes = [
            f"{k}: {stored.settings.get(k)!r} -> {record.settings.get(k)!r}"
            for k in keys
            if stored.settings.get(k) != record.settings.get(k)
        ]
        what = "settings" if changes else "data"
        for name in sorted(set(stored.tasks) & set(record.tasks)):
            changes += _task_changes(name, stored.tasks[name], record.tasks[name])
        if changes:
            raise RunMismatchError(
                f"{folder} holds a run with other {what} ({'; '.join(changes)}); resume with the same data and "
                "settings, or use another --out (or delete the folder) to start over"
            )
        merged = stored.model_copy(update={"tasks": {**stored.tasks, **record.tasks}})
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged.model_dump(mode="json"), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return merged
