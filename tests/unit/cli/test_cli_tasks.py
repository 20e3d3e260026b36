"""Profiles remember their task; rebuilds never lose items silently; the model starts only after every check."""

from __future__ import annotations

import json
from typing import Any

import pytest

from langchain_rpm._history import validate_history
from langchain_rpm.cli._files import read_interactions
from langchain_rpm.errors import InvalidHistoryError
from langchain_rpm.tasks import LAMP2, LAMP3
from tests.support.cli_run import ROOT, run_main, write_rows
from tests.support.fault_server import FaultServer
from tests.support.rpm_fakes import edited_http_responder, rpm_http_responder
from tests.unit.conftest import MOVIE_HISTORY

pytestmark = pytest.mark.enable_socket

DEMO = ROOT / "langchain_rpm" / "data" / "demo"
REVIEWS = [
    {"id": "r1", "input": "Arrived broken.", "response": "1"},
    {"id": "r2", "input": "Sturdy and fast.", "response": 5},
    {"id": "r3", "input": "Fine for the price.", "response": "3"},
]


@pytest.fixture
def rpm(tmp_path, capsys, server):
    """``rpm(*args)``: the CLI on a fresh store and the fake model server."""
    store = tmp_path / "store"

    def call(*args: Any, url: str | None = None):
        return run_main(
            capsys, "--store", store, "--base-url", url or server.base_url, "--structured-output", "function_calling",
            *args,
        )  # fmt: skip

    return call


def test_add_checks_rows_against_the_users_task(tmp_path, rpm):
    assert (
        rpm(
            "build", write_rows(tmp_path / "r.jsonl", [{"user_id": "bo", **r} for r in REVIEWS]), "--task", "lamp3"
        ).status
        == 0
    )
    more = write_rows(tmp_path / "more.jsonl", [{"user_id": "bo", "id": "r4", "input": "Meh.", "response": 2}])
    result = rpm("add", more)
    assert result.status == 0, result.err
    assert rpm("--json", "inspect", "bo").json()["num_items"] == 4


def test_a_custom_label_task_is_remembered_and_a_conflict_refused(tmp_path, rpm):
    rows = [
        {"user_id": "cy", "input": f"Item {i}.", "response": label} for i, label in enumerate(["good", "bad", "good"])
    ]
    assert rpm("build", write_rows(tmp_path / "c.jsonl", rows), "--labels", "good,bad").status == 0
    inspected = rpm("inspect", "cy")
    assert inspected.status == 0 and "task custom (labels good, bad)" in inspected.out
    asked = rpm("--json", "ask", "cy", "Item 9.")
    assert asked.status in (0, 3), asked.err
    assert asked.json()["answer"] in ("good", "bad") or asked.status == 3
    refused = rpm("ask", "cy", "Item 9.", "--labels", "good,ugly")
    assert refused.status == 2 and "was built for task custom (labels good, bad)" in refused.err


def test_asking_a_user_with_another_task_is_refused(tmp_path, rpm, server):
    assert (
        rpm(
            "build", write_rows(tmp_path / "r.jsonl", [{"user_id": "bo", **r} for r in REVIEWS]), "--task", "lamp3"
        ).status
        == 0
    )
    before = server.stats["chat_requests"]
    result = rpm("--task", "lamp2", "ask", "bo", "A robot.")
    assert result.status == 2 and result.errors == [
        "error: user 'bo' was built for task lamp3 (rating 1-5), not lamp2 (classification): drop --task/--labels "
        "(the profile's task is used), or rebuild the user with `rpm build FILE --replace`"
    ]
    assert server.stats["chat_requests"] == before
    rebuild = rpm(
        "build", write_rows(tmp_path / "m.jsonl", [{"user_id": "bo", **m} for m in MOVIE_HISTORY]), "--task", "lamp2"
    )
    assert rebuild.status == 2 and "was built for task lamp3" in rebuild.err


def test_lamp_without_task_reads_the_gold_file_and_a_file_with_lamp_is_refused(tmp_path, rpm):
    questions, outputs = DEMO / "lamp3_questions.json", DEMO / "lamp3_outputs.json"
    both = rpm("build", tmp_path / "rows.jsonl", "--lamp", questions, outputs)
    assert both.status == 2 and "not both" in both.err
    built = rpm("--json", "build", "--lamp", questions, outputs)
    assert built.status == 0, built.err
    user = rpm("--json", "users").json()[0]
    assert rpm("--json", "inspect", user).json()["task_spec"]["name"] == "lamp3"


def test_rebuilding_with_fewer_rows_says_so_and_offers_replace_or_merge(tmp_path, rpm):
    full = write_rows(tmp_path / "full.jsonl", [{"user_id": "ada", **item} for item in MOVIE_HISTORY])
    assert rpm("build", full).status == 0
    fewer = write_rows(tmp_path / "fewer.jsonl", [{"user_id": "ada", **item} for item in MOVIE_HISTORY[:2]])
    refused = rpm("build", fewer)
    assert refused.status == 2 and "has 6 stored items" in refused.err and "lacks 4 of them" in refused.err
    assert "--replace" in refused.err and "--merge" in refused.err
    assert rpm("--json", "inspect", "ada").json()["num_items"] == 6
    extra = {"user_id": "ada", "id": "m7", "input": "A heist with a twist.", "response": "twist ending"}
    merged = rpm(
        "build",
        write_rows(tmp_path / "merge.jsonl", [*map(lambda i: {"user_id": "ada", **i}, MOVIE_HISTORY[:2]), extra]),
        "--merge",
    )
    assert merged.status == 0 and "2 row(s) already stored, skipped" in merged.err
    assert rpm("--json", "inspect", "ada").json()["num_items"] == 7
    replaced = rpm("build", fewer, "--replace")
    assert replaced.status == 0 and "5 stored item(s) dropped" in replaced.err
    assert rpm("--json", "inspect", "ada").json()["num_items"] == 2


def _fail_one_item(request: dict[str, Any]) -> dict[str, Any]:
    reply = rpm_http_responder(request)
    if "FAILME" in json.dumps(request["messages"]):  # any call that carries this item gets a reply that fits no schema
        return {"tool_calls": [{"name": call["name"], "arguments": {}} for call in reply.get("tool_calls", [])]}
    return reply


def test_failed_items_reasons_are_shown_without_json(tmp_path, rpm):
    items = [*MOVIE_HISTORY, {"id": "bad", "input": "FAILME: a film.", "response": "comedy"}]
    rows = write_rows(tmp_path / "rows.jsonl", [{"user_id": "ada", **item} for item in items])
    with FaultServer(_fail_one_item) as server:
        result = rpm("--no-cache", "build", rows, url=server.base_url)
    assert result.status == 0, result.err
    warning = next(line for line in result.err_lines if line.startswith("warning: user 'ada'"))
    assert "1 item(s) failed and were left out: bad (" in warning and "StructuredOutputError" in warning


@edited_http_responder
def _answer_not_a_label(call: dict[str, Any], request: dict[str, Any]) -> dict[str, Any] | None:
    if LAMP2.answer_key in call["arguments"]:  # the generation call (its answer field is named per task)
        return {**call["arguments"], LAMP2.answer_key: "not a tag at all"}
    return None


def test_an_invalid_answer_exits_3_and_says_why(tmp_path, rpm):
    assert rpm("build", write_rows(tmp_path / "r.jsonl", [{"user_id": "ada", **i} for i in MOVIE_HISTORY])).status == 0
    with FaultServer(_answer_not_a_label) as odd:
        result = rpm("--no-cache", "ask", "ada", "A robot in space.", url=odd.base_url)
    assert result.status == 3, result.err
    assert "invalid model answer" in result.out
    assert result.errors == [
        f"error: the model's answer 'not a tag at all' does not fit the task: task 'lamp2': 'not a tag at all' "
        f"is not one of {list(LAMP2.labels)}"
    ]


def test_checks_that_need_no_model_run_before_the_local_model_starts(tmp_path, capsys, rpm, monkeypatch):
    def refuse(self):
        raise AssertionError("the local LLM server was started")

    monkeypatch.setattr("langchain_rpm.cli._local_llm.LocalLLMServer.start", refuse)
    assert rpm("build", write_rows(tmp_path / "r.jsonl", [{"user_id": "ada", **i} for i in MOVIE_HISTORY])).status == 0
    store = tmp_path / "store"
    goqa = write_rows(
        tmp_path / "g.jsonl", [{"user_id": "gus", "input": "Q?", "response": "Yes", "options": ["Yes", "No"]}]
    )
    assert rpm("build", goqa, "--task", "goqa").status == 0
    for argv, message in [
        (["ask", "ada", " "], "the query is empty"),
        (["ask", "gus", "Q2?"], "multiple-choice task: give --options"),
        (["ask", "ada", "q", "--options", "a", "b"], "--options is for multiple-choice tasks"),
        (["build", tmp_path / "missing.jsonl"], "no such file"),
        (
            ["add", write_rows(tmp_path / "x.jsonl", [{"user_id": "zed", "input": "x", "response": "comedy"}])],
            "no profile",
        ),
    ]:
        result = run_main(capsys, "--store", store, "--local", *argv)
        assert result.status == 2 and message in result.err, result.err


def test_the_cli_and_the_api_follow_the_same_input_rules(tmp_path):
    rows = [{"input": "Late.", "response": 2.0}, {"id": 7, "input": "Great.", "response": "5 stars"}]
    path = write_rows(tmp_path / "rows.jsonl", [{"user_id": 42, **row} for row in rows])
    assert read_interactions(path, "lamp3") == {"42": validate_history(LAMP3, rows)}
    for bad, field in [({"input": " ", "response": "2"}, "input"), ({"input": "x", "response": "9"}, "response")]:
        with pytest.raises(InvalidHistoryError, match=f"field '{field}'"):
            validate_history(LAMP3, [bad])
        with pytest.raises(ValueError, match=f"rows.jsonl:1: field '{field}'"):
            read_interactions(write_rows(tmp_path / "rows.jsonl", [{"user_id": "u", **bad}]), "lamp3")
