"""Which task a command works with: the one the user's profile was built for, unless a build says otherwise.

A profile stores its full :class:`~langchain_rpm.tasks.TaskSpec` (``profile.task_spec``), so
``rpm ask``, ``rpm inspect`` and ``rpm add`` use the user's own task, a custom ``--labels`` task
included. A ``--task`` or ``--labels`` that contradicts it is refused
(:class:`~langchain_rpm.errors.TaskMismatchError`); only ``rpm build --replace`` may change a
user's task.

Example:
    >>> from langchain_rpm.tasks import LAMP3
    >>> requested_task(task=None, labels="good, bad").labels
    ('good', 'bad')
    >>> same_task(LAMP3, requested_task(task="lamp3", labels=None))
    True
"""

from __future__ import annotations

import json
from pathlib import Path

from langchain_rpm.cli.text import quoted
from langchain_rpm.errors import ConfigurationError, DatasetError, TaskMismatchError
from langchain_rpm.tasks import PRESETS, TaskKind, TaskSpec, get_task
from langchain_rpm.types import UserProfile

DEFAULT_TASK = "lamp2"
CUSTOM_TASK = "custom"
CUSTOM_INSTRUCTION = "Choose the label this user would give the input."


def requested_task(*, task: str | None, labels: str | None) -> TaskSpec | None:
    """The task ``--task`` / ``--labels`` ask for, or ``None`` when neither is given."""
    if labels is not None:
        names = [label.strip() for label in labels.split(",") if label.strip()]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ConfigurationError(f"--labels needs two or more distinct comma-separated labels, got {labels!r}")
        name = (task or CUSTOM_TASK).strip()
        if name.lower() in PRESETS:
            raise ConfigurationError(
                f"--task {name} is a preset with its own labels; give a new name with --labels, or drop --labels"
            )
        return TaskSpec.classification(name, names, instruction=CUSTOM_INSTRUCTION)
    if task is None:
        return None
    try:
        return get_task(task)
    except ValueError:
        raise ConfigurationError(
            f"unknown task {task!r}: use one of {', '.join(PRESETS)}, or --labels A,B,... for a custom task"
        ) from None


def same_task(stored: TaskSpec, asked: TaskSpec) -> bool:
    """Whether ``asked`` describes the task ``stored`` (same kind, labels and scale; same name for presets)."""
    if asked.name.lower() in PRESETS and asked.name != stored.name:
        return False
    return (stored.kind, sorted(stored.labels), stored.scale) == (asked.kind, sorted(asked.labels), asked.scale)


def describe_task(spec: TaskSpec) -> str:
    """``lamp3 (rating 1-5)``, ``custom (labels good, bad)``."""
    if spec.kind is TaskKind.CLASSIFICATION:
        detail = "labels " + ", ".join(spec.labels) if spec.name not in PRESETS else "classification"
    elif spec.kind is TaskKind.RATING and spec.scale is not None:
        detail = f"rating {spec.scale[0]}-{spec.scale[1]}"
    else:
        detail = spec.kind.value.replace("_", "-")
    return f"{spec.name} ({detail})"


def stored_task(profile: UserProfile) -> TaskSpec:
    """The task ``profile`` was built for (its stored spec; a preset name for profiles older than specs)."""
    if profile.task_spec is not None:
        return profile.task_spec
    try:
        return get_task(profile.task)
    except ValueError:
        raise ConfigurationError(
            f"the profile of user {quoted(profile.user_id)} names task {profile.task!r} but stores no task spec "
            "(built by an older version): rebuild it with `rpm build FILE --labels ... --replace`"
        ) from None


def task_for_profile(profile: UserProfile, asked: TaskSpec | None, *, may_change: bool = False) -> TaskSpec:
    """The task to use for a user who has ``profile``; a contradicting ``asked`` task is refused.

    Args:
        profile: The stored profile.
        asked: What ``--task`` / ``--labels`` ask for (``None``: nothing).
        may_change: ``rpm build --replace``: the asked task replaces the stored one.
    """
    stored = stored_task(profile)
    if asked is None or same_task(stored, asked):
        return stored
    if may_change:
        return asked
    raise TaskMismatchError(
        f"user {quoted(profile.user_id)} was built for task {describe_task(stored)}, not {describe_task(asked)}: "
        "drop --task/--labels (the profile's task is used), or rebuild the user with `rpm build FILE --replace`"
    )


def lamp_task(gold_file: Path) -> TaskSpec:
    """The task a LaMP gold file declares (``{"task": "LaMP_3", "golds": [...]}``)."""
    try:
        data = json.loads(gold_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{gold_file}: cannot read the LaMP gold file ({exc}); or give --task") from None
    declared = data.get("task") if isinstance(data, dict) else None
    name = "".join(ch for ch in str(declared or "").lower() if ch.isalnum())
    if name not in PRESETS or not name.startswith("lamp"):
        raise DatasetError(
            f"{gold_file}: the gold file declares no LaMP task I know (task: {declared!r}); give --task lamp2|lamp3|lamp5"
        )
    return get_task(name)
