"""The `rpm` CLI end to end through the real ChatOpenAI client against a local fake OpenAI server."""

from __future__ import annotations

import json

import pytest

from langchain_rpm import __version__
from tests.support.cli_run import ROOT, run_main, run_process, write_rows

pytestmark = pytest.mark.enable_socket

DEMO_DIR = ROOT / "langchain_rpm" / "data" / "demo"


def run(capsys, server, store, *args):
    return run_main(
        capsys, "--store", store, "--base-url", server.base_url, "--structured-output", "function_calling", *args
    )


def test_build_inspect_ask_add_forget(tmp_path, capsys, server, rows):
    store = tmp_path / "store"
    result = run(capsys, server, store, "--json", "build", rows)
    assert result.status == 0, result.err
    assert result.json()["built"] == 1
    assert run(capsys, server, store, "--json", "users").json() == ["ada"]
    result = run(capsys, server, store, "inspect", "ada")
    assert result.status == 0 and "Science themes" in result.out
    result = run(capsys, server, store, "--json", "ask", "ada", "A robot in space.")
    prediction = result.json()
    assert result.status == 0 and prediction["answer"] == "sci-fi" and prediction["valid"]
    result = run(capsys, server, store, "ask", "ada", "A robot in space.", "--explain")
    assert "Factors used: Science themes" in result.out
    more = write_rows(
        tmp_path / "more.jsonl", [{"user_id": "ada", "id": "n1", "input": "A kiss.", "response": "romance"}]
    )
    result = run(capsys, server, store, "add", more)
    assert result.status == 0 and "1/1 users updated" in result.out
    profile = run(capsys, server, store, "--json", "inspect", "ada").json()
    assert profile["version"] == 2 and profile["num_items"] == 7
    result = run(capsys, server, store, "forget", "ada")
    assert result.status == 0 and "examples removed: 7" in result.out.splitlines()
    assert run(capsys, server, store, "--json", "users").json() == []


def test_options_work_after_the_command_too(tmp_path, capsys, server, rows):
    """The README's own lines: `rpm build FILE --task lamp2`, `rpm ask u q --json` (main: unrecognized arguments)."""
    store = tmp_path / "store"
    after = run_main(
        capsys, "build", rows, "--task", "lamp2", "--store", store, "--base-url", server.base_url,
        "--structured-output", "function_calling", "--json",
    )  # fmt: skip
    assert after.status == 0, after.err
    assert after.json()["built"] == 1
    asked_after = run_main(
        capsys, "ask", "ada", "A robot in space.", "--json", "--store", store, "--base-url", server.base_url,
        "--structured-output", "function_calling", "--k", "2",
    )  # fmt: skip
    asked_before = run(capsys, server, store, "--json", "--k", "2", "ask", "ada", "A robot in space.")
    assert asked_after.status == asked_before.status == 0
    assert asked_after.json()["answer"] == asked_before.json()["answer"] == "sci-fi"
    assert len(asked_after.json()["example_ids"]) == 2  # --k after the command was honoured


def test_build_from_lamp_files_with_options_after_the_command(tmp_path, capsys, server):
    questions, outputs = DEMO_DIR / "lamp3_questions.json", DEMO_DIR / "lamp3_outputs.json"
    store = tmp_path / "store"
    result = run(capsys, server, store, "--json", "build", "--lamp", questions, outputs, "--task", "lamp3")
    assert result.status == 0, result.err
    users = run(capsys, server, store, "--json", "users").json()
    assert len(users) == result.json()["built"] > 0
    assert run(capsys, server, store, "--json", "inspect", users[0]).json()["task"] == "lamp3"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"user_id": "ada", "input": "x", "response": "comedy"}\n{"user_id": "bo", "input": ',
            "rows.jsonl:2: invalid JSON",
        ),
        ('{"user_id": "ada", "input": "x"}\n', "rows.jsonl:1: missing field 'response'"),
        ('{"user_id": "ada", "input": "x", "response": "horror"}\n', "rows.jsonl:1: field 'response'"),
        (
            '[\n {"user_id": "ada", "input": "x", "response": "comedy"},\n {"user_id": 7}\n]',
            "rows.jsonl:3: missing field 'input'",
        ),
        ('{"user_id": "ada", "id": "", "input": "x", "response": "comedy"}\n', "rows.jsonl:1: field 'id' must not be"),
        (
            '{"user_id": "ada", "input": "x", "response": "comedy"}\n{"user_id": "ada", "input": "x", "response": "comedy"}\n',
            "rows.jsonl:2: same input and response as ",
        ),
        ('{"user_id": " ada", "input": "x", "response": "comedy"}\n', "rows.jsonl:1: field 'user_id'"),
    ],
)
def test_bad_files_give_one_line_errors_and_change_nothing(tmp_path, capsys, server, rows, content, message):
    store = tmp_path / "store"
    assert run(capsys, server, store, "build", rows).status == 0
    before = server.stats["chat_requests"]
    bad = tmp_path / "bad" / "rows.jsonl"
    bad.parent.mkdir()
    bad.write_text(content)
    result = run(capsys, server, store, "build", bad)
    assert result.status == 2
    assert message in result.err
    assert len(result.err_lines) == 1, result.err
    assert "line 1" not in result.err or "rows.jsonl:1" in result.err
    assert server.stats["chat_requests"] == before  # failed before any LLM call
    assert run(capsys, server, store, "--json", "inspect", "ada").json()["version"] == 1


def test_identical_rows_name_the_first_line_not_a_generated_id(tmp_path, capsys, server):
    bad = write_rows(tmp_path / "rows.jsonl", [{"user_id": "ada", "input": "x", "response": "comedy"}] * 2)
    result = run(capsys, server, tmp_path / "s", "build", bad)
    assert result.status == 2
    assert f"{bad}:2: same input and response as {bad}:1" in result.err
    assert "item-" not in result.err


def test_non_utf8_file_is_named(tmp_path, capsys, server):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"user_id": "é"}'.encode("latin-1"))
    result = run(capsys, server, tmp_path / "s", "build", bad)
    assert result.status == 2 and "latin1.jsonl: not UTF-8" in result.err


def test_unknown_user_errors_without_calling_the_model(tmp_path, capsys, server):
    result = run(capsys, server, tmp_path / "s", "ask", "ghost", "Anything?")
    assert result.status == 2 and "no profile for user 'ghost'" in result.err
    assert server.stats["chat_requests"] == 0


def test_json_errors_are_json_on_stderr(tmp_path, capsys, server):
    result = run(capsys, server, tmp_path / "s", "ask", "ghost", "Anything?", "--json")
    assert result.status == 2 and result.out == ""
    error = json.loads(result.err)
    assert error["exit_code"] == 2 and "no profile for user 'ghost'" in error["error"]
    usage = run_main(capsys, "--json", "ask", "ghost", "q", "--k", "-3")
    assert usage.status == 2 and json.loads(usage.err)["exit_code"] == 2


def test_version_and_help(capsys):
    from langchain_rpm.cli._parser import COMMANDS

    assert run_main(capsys, "--version").out.strip() == f"rpm (langchain-rpm) {__version__}"
    top = run_main(capsys, "--help")
    assert top.status == 0
    assert "exit codes: 0 ok, 2 bad input or configuration" in top.out and "130 interrupted" in top.out
    for command in COMMANDS:
        page = run_main(capsys, command, "--help")
        assert page.status == 0
        summary = COMMANDS[command][0]
        assert summary[0].upper() + summary[1:] in page.out  # what it does
        assert "example" in page.out and f"rpm {command}" in page.out  # an example
        assert "(default 8)" in page.out and "(before or after the command)" in page.out  # defaults, options
    assert '"user_id": "ada"' in run_main(capsys, "build", "--help").out  # the row format
    assert '"user_id": "ada"' in run_main(capsys, "add", "--help").out


def test_missing_cli_extra_is_one_line_with_the_pip_command(tmp_path):
    code = "import sys; sys.modules['rich'] = None; from langchain_rpm.cli import main; sys.exit(main(sys.argv[1:]))"
    result = run_process("--store", tmp_path / "s", "users", code=code)
    assert result.status == 2
    assert result.err_lines == ["error: rpm needs the cli extra (rich, langgraph-checkpoint-sqlite): "
                                "pip install 'langchain-rpm[cli]'"]  # fmt: skip


def test_the_entry_point_runs_as_a_program(tmp_path):
    result = run_process("--store", tmp_path / "s", "users", "--json")
    assert result.status == 0 and json.loads(result.out) == []
