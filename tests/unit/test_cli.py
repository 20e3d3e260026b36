"""The `rpm` CLI end to end through the real ChatOpenAI client against a local fake OpenAI server."""

from __future__ import annotations

import json

import pytest

from langchain_rpm import cli
from tests.support.fault_server import FaultServer
from tests.support.rpm_fakes import rpm_http_responder
from tests.unit.conftest import MOVIE_HISTORY

pytestmark = pytest.mark.enable_socket


@pytest.fixture
def server():
    with FaultServer(rpm_http_responder) as fake:
        yield fake


@pytest.fixture
def rows(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"user_id": "ada", **item}) + "\n" for item in MOVIE_HISTORY))
    return path


def run(capsys, server, store, *args):
    argv = ["--store", str(store), "--base-url", server.base_url, "--structured-output", "function_calling", *args]
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_build_inspect_ask_add_forget(tmp_path, capsys, server, rows):
    store = tmp_path / "store"
    status, out, _ = run(capsys, server, store, "--json", "build", str(rows))
    assert status == 0, out
    assert json.loads(out)["built"] == 1
    status, out, _ = run(capsys, server, store, "--json", "users")
    assert json.loads(out) == ["ada"]
    status, out, _ = run(capsys, server, store, "inspect", "ada")
    assert status == 0 and "Science themes" in out
    status, out, _ = run(capsys, server, store, "--json", "ask", "ada", "A robot in space.")
    prediction = json.loads(out)
    assert status == 0 and prediction["answer"] == "sci-fi" and prediction["valid"]
    status, out, _ = run(capsys, server, store, "ask", "ada", "A robot in space.", "--explain")
    assert "Factors used: Science themes" in out
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"user_id": "ada", "id": "n1", "input": "A kiss.", "response": "romance"}) + "\n")
    status, out, _ = run(capsys, server, store, "add", str(more))
    assert status == 0 and "1/1 users updated" in out
    status, out, _ = run(capsys, server, store, "--json", "inspect", "ada")
    assert json.loads(out)["version"] == 2 and json.loads(out)["num_items"] == 7
    status, out, _ = run(capsys, server, store, "forget", "ada")
    assert status == 0 and "7 examples" in out
    status, out, _ = run(capsys, server, store, "--json", "users")
    assert json.loads(out) == []


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
    ],
)
def test_bad_files_give_one_line_errors_and_change_nothing(tmp_path, capsys, server, rows, content, message):
    store = tmp_path / "store"
    assert run(capsys, server, store, "build", str(rows))[0] == 0
    before = server.stats["chat_requests"]
    bad = tmp_path / "rows.jsonl"
    bad.write_text(content)
    status, _, err = run(capsys, server, store, "build", str(bad))
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert server.stats["chat_requests"] == before  # failed before any LLM call
    assert run(capsys, server, store, "--json", "inspect", "ada")[1].count('"version": 1') == 1


def test_non_utf8_file_is_named(tmp_path, capsys, server):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"user_id": "é"}'.encode("latin-1"))
    status, _, err = run(capsys, server, tmp_path / "s", "build", str(bad))
    assert status == 2 and "latin1.jsonl: not UTF-8" in err


def test_unknown_user_errors_without_calling_the_model(tmp_path, capsys, server):
    status, _, err = run(capsys, server, tmp_path / "s", "ask", "ghost", "Anything?")
    assert status == 2 and "no profile for user 'ghost'" in err
    assert server.stats["chat_requests"] == 0


def test_no_model_lists_the_three_options(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setattr("langchain_rpm.cli.local_llm.local_llm_available", lambda: False)
    rows = tmp_path / "r.jsonl"
    rows.write_text(json.dumps({"user_id": "a", "input": "x", "response": "comedy"}) + "\n")
    status = cli.main(["--store", str(tmp_path / "s"), "build", str(rows)])
    err = capsys.readouterr().err
    assert status == 2
    assert "OPENAI_API_KEY" in err and "--base-url" in err and "langchain-rpm[local]" in err
