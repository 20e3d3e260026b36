"""`rpm build --task-file`: a custom task from YAML or JSON, stored with the profile; one K default (3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from langchain_rpm.cli._parser import DEFAULT_K, build_parser
from langchain_rpm.settings import RPMSettings
from tests.support.cli_run import run_main, write_rows

pytestmark = pytest.mark.enable_socket

ROWS = [
    {"user_id": "yo", "id": "1", "input": "A steel kettle, 1.7 l.", "response": "yes"},
    {"user_id": "yo", "id": "2", "input": "A plastic kettle with a loose lid.", "response": "no"},
    {"user_id": "yo", "id": "3", "input": "A glass kettle with a blue light.", "response": "yes"},
]
YAML_TASK = """\
name: would-buy
kind: label
labels: [yes, no]
instruction: Decide whether this user would buy the product described.
input_description: product description
"""


@pytest.fixture
def rpm(tmp_path, capsys, server):  # type: ignore[no-untyped-def]
    def call(*args: Any):  # type: ignore[no-untyped-def]
        base = ("--store", tmp_path / "store", "--base-url", server.base_url, "--structured-output", "function_calling")
        return run_main(capsys, *base, *args)

    return call


def test_a_yaml_task_file_builds_and_is_stored_with_the_profile(tmp_path, rpm) -> None:  # type: ignore[no-untyped-def]
    task = tmp_path / "task.yaml"
    task.write_text(YAML_TASK)
    result = rpm("build", write_rows(tmp_path / "rows.jsonl", ROWS), "--task-file", task)
    assert result.status == 0, result.err
    spec = rpm("--json", "inspect", "yo").json()["task_spec"]
    assert (spec["name"], spec["kind"], spec["labels"]) == ("would-buy", "classification", ["yes", "no"])
    assert spec["instruction"] == "Decide whether this user would buy the product described."
    assert rpm("ask", "yo", "A copper kettle.").status == 0  # ask uses the stored custom task


def test_a_json_rating_task_file(tmp_path, rpm) -> None:  # type: ignore[no-untyped-def]
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"name": "stars10", "kind": "rating", "scale": [1, 10], "instruction": "Rate it."}))
    rows = [{"user_id": "ra", "id": str(i), "input": f"Kettle {i}.", "response": str(i)} for i in (2, 9, 10)]
    assert rpm("build", write_rows(tmp_path / "r.jsonl", rows), "--task-file", task).status == 0
    assert rpm("--json", "inspect", "ra").json()["task_spec"]["scale"] == [1, 10]


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("kind: label\nlabels: [a, b]\n", ".yaml", "instruction: Field required"),
        ("kind: vibes\ninstruction: x\n", ".yaml", "`kind` must be one of label, rating, option, text"),
        ('{"kind": "label", ', ".json", ":1: not valid JSON"),
        ("name: lamp2\nkind: label\nlabels: [a, b]\ninstruction: x\n", ".yml", "is a preset's"),
    ],
)
def test_a_bad_task_file_is_one_line_naming_the_file(tmp_path, rpm, content, suffix, message) -> None:  # type: ignore[no-untyped-def]
    task = tmp_path / f"task{suffix}"
    task.write_text(content)
    result = rpm("build", write_rows(tmp_path / "rows.jsonl", ROWS), "--task-file", task)
    assert result.status == 2
    assert len(result.errors) == 1 and str(task) in result.errors[0] and message in result.errors[0]
    assert rpm("users").out.strip() == "" or "yo" not in rpm("users").out


def test_task_file_and_labels_together_are_refused(tmp_path, rpm) -> None:  # type: ignore[no-untyped-def]
    task = tmp_path / "task.yaml"
    task.write_text(YAML_TASK)
    result = rpm("build", write_rows(tmp_path / "rows.jsonl", ROWS), "--task-file", task, "--labels", "yes,no")
    assert result.status == 2 and "drop --task and --labels" in result.errors[0]


def test_the_cli_retrieves_as_many_examples_as_the_library_by_default() -> None:
    assert build_parser().parse_args(["ask", "ada", "q"]).k == DEFAULT_K == RPMSettings().k == 3
