"""``docs/tasks.md``: its Python example runs offline, its YAML task file is what `rpm build --task-file` reads."""

from __future__ import annotations

import re
from pathlib import Path

from langchain_rpm.cli._task_choice import task_from_file

DOC = (Path(__file__).resolve().parents[1] / "docs" / "tasks.md").read_text(encoding="utf-8")


def test_the_python_example_builds_and_personalizes(capsys) -> None:  # type: ignore[no-untyped-def]
    (code,) = re.findall(r"```python\n(.*?)```", DOC, flags=re.S)
    exec(compile(code, "docs/tasks.md", "exec"), {})
    name, answer = capsys.readouterr().out.split()
    assert name == "would-buy" and answer in ("yes", "no")


def test_the_yaml_task_file_reads_as_documented(tmp_path: Path) -> None:
    (text,) = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)
    path = tmp_path / "task.yaml"
    path.write_text(text)
    spec = task_from_file(path)
    assert (spec.name, spec.kind.value, spec.labels) == ("would-buy", "classification", ("yes", "no"))
    assert spec.input_description == "product description"
