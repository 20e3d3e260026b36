"""Which task a command works with: the one the user's profile was built for, unless a build says otherwise.

A profile stores its full :class:`~langchain_rpm.tasks.TaskSpec` (``profile.task_spec``), so
``rpm ask``, ``rpm inspect`` and ``rpm add`` use the user's own task, a custom ``--labels`` or
``--task-file`` task included (``--task-file task.yaml|task.json``: :func:`task_from_file`, the fields of
``TaskSpec``; ``docs/tasks.md``). A ``--task`` or ``--labels`` that contradicts it is refused
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
from typing import Any

from pydantic import ValidationError

from langchain_rpm.cli._text import quoted
from langchain_rpm.errors import ConfigurationError, DatasetError, TaskMismatchError
from langchain_rpm.tasks import PRESETS, TaskKind, TaskSpec, get_task
from langchain_rpm.types import UserProfile

DEFAULT_TASK = "lamp2"
CUSTOM_TASK = "custom"
CUSTOM_INSTRUCTION = "Choose the label this user would give the input."


TASK_KINDS: dict[str, TaskKind] = {
    "label": TaskKind.CLASSIFICATION,
    "labels": TaskKind.CLASSIFICATION,
    "rating": TaskKind.RATING,
    "option": TaskKind.MULTIPLE_CHOICE,
    "options": TaskKind.MULTIPLE_CHOICE,
    "text": TaskKind.OPEN_ENDED,
    **{kind.value: kind for kind in TaskKind},
}
"""A task file's ``kind``: the short names of ``rpm``'s docs, or ``TaskKind``'s own values."""


def _yaml_loader() -> Any:
    """PyYAML's safe loader, with YAML 1.2 booleans: ``labels: [yes, no]`` stays two strings."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type stubs here
        pass

    bool_tag = "tag:yaml.org,2002:bool"
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    return Loader


def _read_task_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read the task file ({exc.__class__.__name__}: {exc})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # PyYAML comes with langchain-core

        try:
            return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); or name it .yaml") from None


def task_from_file(path: Path) -> TaskSpec:
    """A custom task from a YAML (``.yaml``/``.yml``) or JSON file of :class:`TaskSpec` fields.

    ``kind`` is ``label``, ``rating``, ``option`` or ``text``; ``instruction`` is required; then
    ``labels`` (label), ``scale: [min, max]`` (rating), and optionally ``name`` (default ``custom``),
    ``input_description``, ``answer_key``, ``on_invalid``, ``fallback_answer``.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "task.json"
        >>> _ = path.write_text('{"kind": "label", "labels": ["yes", "no"], "instruction": "Would they buy it?"}')
        >>> spec = task_from_file(path)
        >>> spec.name, spec.kind.value, spec.labels
        ('custom', 'classification', ('yes', 'no'))
    """
    data = _read_task_file(path)
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: a task file holds one mapping of TaskSpec fields (kind, instruction, ...)")
    kind = str(data.get("kind", "")).strip().lower()
    if kind not in TASK_KINDS:
        raise ConfigurationError(f"{path}: `kind` must be one of label, rating, option, text; got {data.get('kind')!r}")
    fields = {**data, "kind": TASK_KINDS[kind], "name": str(data.get("name") or CUSTOM_TASK)}
    if fields["name"].lower() in PRESETS:
        raise ConfigurationError(f"{path}: name {fields['name']!r} is a preset's; give the custom task its own name")
    try:
        return TaskSpec.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "task"
        raise ConfigurationError(f"{path}: {where}: {error['msg']}") from None


def requested_task(*, task: str | None, labels: str | None, task_file: Path | None = None) -> TaskSpec | None:
    """The task ``--task`` / ``--labels`` / ``--task-file`` ask for, or ``None`` when none is given."""
    if task_file is not None:
        if task is not None or labels is not None:
            raise ConfigurationError("--task-file describes the whole task: drop --task and --labels")
        return task_from_file(task_file)
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
