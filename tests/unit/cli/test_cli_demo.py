"""`rpm demo` through the real entry point against a fake OpenAI server: what it shows, and no dead end after it."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.support.cli_run import clean_env, run_main, run_process, write_rows
from tests.support.fault_server import FaultServer
from tests.support.rpm_fakes import edited_http_responder
from tests.unit.conftest import MOVIE_HISTORY

pytestmark = pytest.mark.enable_socket


def model_options(server):
    return ["--base-url", server.base_url, "--structured-output", "function_calling"]


def run_one_user_demo(capsys, tmp_path, server):
    """``rpm demo --users 1`` against ``server`` into a store of the test's own."""
    return run_main(capsys, "--store", tmp_path / "s", *model_options(server), "demo", "--users", "1")


def test_demo_json_prints_one_json_document(tmp_path, capsys, server):
    """main: `rpm demo --json` printed rules and tables on stdout."""
    result = run_main(capsys, "--store", tmp_path / "store", *model_options(server), "demo", "--users", "1", "--json")
    assert result.status == 0, result.err
    document = result.json()  # the whole of stdout is one JSON document
    assert (document["task"], document["build"]["built"], document["build"]["users"]) == ("lamp2", 1, 1)
    user = document["users"][0]
    assert user["profile"]["factors"] and user["example"]["reasoning"]
    assert user["profile"]["num_items"] == 4  # the demo's default size, sized to a small model
    assert {"answer", "valid", "reasoning"} <= set(user["prediction"]) and user["truth"]
    assert isinstance(user["correct"], bool) and document["right"] == int(user["correct"])


def test_the_commands_the_demo_ends_with_work(tmp_path, capsys, server, monkeypatch):
    """Issue 23: `rpm inspect lamp2-u1` said "no profile" right after the demo showed that user."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    result = run_main(capsys, *model_options(server), "demo", "--users", "1", "--items", "4")
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("The demo users are stored in"))
    commands = [shlex.split(line.strip()) for line in lines[start + 1 :] if line.strip().startswith("rpm ")]
    assert [c[3] for c in commands] == ["users", "inspect", "ask", "forget"]
    assert commands[1][2] == str(tmp_path / "home" / ".langchain_rpm" / "demo")  # its own folder by default
    users, inspect, ask, forget = ([*c[1:3], *model_options(server), *c[3:]] for c in commands)
    assert run_main(capsys, *users[:2], "--json", *users[-1:]).json() == ["lamp2-u1"]
    shown = run_main(capsys, *inspect)
    assert shown.status == 0 and "lamp2-u1" in shown.out and "4 items" in shown.out
    asked = run_main(capsys, *ask)
    assert asked.status == 0 and "Reasoning:" in asked.out, asked.err
    gone = run_main(capsys, *forget)
    assert gone.status == 0 and "examples removed: 4" in gone.out.splitlines()


def test_the_demo_says_what_it_built_answered_and_why_in_words(tmp_path, capsys, server):
    result = run_main(capsys, "--store", tmp_path / "s", *model_options(server), "demo", "--users", "2")
    assert result.status == 0, result.err
    out = result.out
    assert out.count("What RPM learned about") == 2 and "One reasoning path RPM wrote" in out
    assert "RPM answered" in out and "the user's own answer was" in out
    assert "held-out answers matched the user's own" in out and "What a real model would add" in out


def test_piped_demo_lines_are_not_cut_at_80_columns(tmp_path, capsys, server):
    """Seen in a fresh-clone demo piped to a log: "the user answered" on one line, "'dystopia'" on the next."""
    result = run_main(capsys, "--store", tmp_path / "s", *model_options(server), "demo", "--users", "2")
    assert result.status == 0, result.err
    similar = [line for line in result.out.splitlines() if "a similar past item" in line]
    assert similar and all(re.search(r"the user answered '[^']+'$", line) for line in similar), similar
    assert any(len(line) > 80 for line in similar)  # the case that was cut: a line longer than rich's default


def test_a_piped_build_prints_progress_lines(tmp_path, server):
    """Issue 23: piped output showed nothing for minutes (progress bars need a terminal)."""
    rows = write_rows(tmp_path / "rows.jsonl", [{"user_id": "ada", **item} for item in MOVIE_HISTORY])
    result = run_process(
        "--store", tmp_path / "s", *model_options(server), "--task", "lamp2", "build", rows, env=clean_env()
    )
    assert result.status == 0, result.err
    progress = [line for line in result.err_lines if line.split()[0] in ("features", "factors", "users")]
    assert any(line.startswith("features 6/6") for line in progress), result.err
    assert any(line.startswith("users 1/1") for line in progress), result.err


@edited_http_responder
def junk_reasoning_responder(call, request):
    """RPM's fake replies, except that every reasoning is JSON debris, as SmolLM2 sometimes writes."""
    if "reasoning" in call["arguments"]:
        return {**call["arguments"], "reasoning": "{ { the AI's distress signal }}"}
    return None


def test_unreadable_reasoning_is_left_out_and_counted(tmp_path, capsys):
    """Issue 19: the demo showed "{ {" and "][" as a user's reasoning paths and as why it answered."""
    with FaultServer(junk_reasoning_responder) as junk:
        result = run_one_user_demo(capsys, tmp_path, junk)
    assert result.status == 0, result.err
    assert "{ {" not in result.out and "One reasoning path" not in result.out
    assert "the model's reasoning" not in result.out
    assert "unreadable model output(s) (not words) were left out" in result.out


def test_the_demo_shows_a_path_the_leak_guard_did_not_flag_first():
    """Seen in a fresh-clone demo: "The answer is romance, but ..." shown as why the user answered."""
    from langchain_rpm.cli._demo import _shown_example
    from langchain_rpm.types import ReasoningExample

    def example(item: str, leak: bool) -> ReasoningExample:
        text = "The answer is romance, no doubt." if leak else "Friends who reunite suggest a love story here."
        return ReasoningExample(item_id=item, input="x", features=[], reasoning=text, answer="romance", leak=leak)

    shown, unreadable = _shown_example([example("1", True), example("2", False)])
    assert shown is not None and shown.item_id == "2" and unreadable == 0
    shown, _ = _shown_example([example("1", True)])
    assert shown is not None and shown.leak  # shown, and the demo prints that the guard flagged it


@edited_http_responder
def answerless_responder(call, request):
    """RPM's fake replies, except that the answer call never fits its schema (the reply drops the answer)."""
    return {"reasoning": "Plots with robots suit this user."} if call.get("name") == "PersonalizedAnswer" else None


def test_a_model_that_never_answers_validly_is_counted_not_a_crash(tmp_path, capsys):
    """Seen in a fresh-clone demo on SmolLM2: 'PersonalizedAnswer: no valid reply after 3 tries', exit 2."""
    with FaultServer(answerless_responder) as server:
        result = run_one_user_demo(capsys, tmp_path, server)
    assert result.status == 0, result.err
    assert "the model gave no valid reply after its retries" in result.out
    assert "0 of 1 held-out answers matched" in result.out


def test_a_path_that_announces_a_paraphrased_answer_is_shown_last_and_labelled():
    """Seen on SmolLM2: "The answer is science fiction, but it's not the conclusion." shown as why a user answered
    sci-fi (the leak guard matches the label, not the paraphrase)."""
    from langchain_rpm.cli._demo import _shown_example
    from langchain_rpm.types import ReasoningExample

    def example(item: str, text: str) -> ReasoningExample:
        return ReasoningExample(item_id=item, input="x", features=[], reasoning=text, answer="sci-fi", leak=False)

    framed = example("1", "The answer is science fiction, but it's not the conclusion.")
    opening = example("3", "sci-fi; sci-fi is the only one that makes sense to me.")  # seen with 'action'
    good = example("2", "A ship's AI hiding a signal puts robots at the centre.")
    shown, _ = _shown_example([framed, opening, good])
    assert shown is not None and shown.item_id == "2"


def test_an_answers_reasoning_that_only_announces_an_answer_is_not_shown():
    """Seen on SmolLM2: RPM answered 'action', shown beside "the model's reasoning: The answer is science fiction"."""
    from langchain_rpm.cli._demo import _explanation
    from langchain_rpm.types import Prediction

    def prediction(reasoning: str) -> Prediction:
        return Prediction(user_id="u", query="q", answer="action", valid=True, raw_answer="action", reasoning=reasoning)

    lines, hidden = _explanation(prediction("The answer is science fiction, but it's not the conclusion."))
    assert "science fiction" not in " ".join(lines) and hidden == 0
    assert "the model's reasoning only announced an answer" in lines[0]
    lines, _ = _explanation(prediction("A rescue up a skyscraper is what this user tags by its fights."))
    assert lines[0].startswith("  the model's reasoning: A rescue")


@edited_http_responder
def assignless_responder(call, request):
    """RPM's fake replies, except that Assign groups no feature, as SmolLM2's `{"assignments": []}` does."""
    if call.get("name") in ("FactorAssignments", "FactorAssignment"):
        return {"assignments": []}
    if "reasoning" in call["arguments"] and call.get("name") != "PersonalizedAnswer":
        return {**call["arguments"], "reasoning": "The answer is science fiction, but not yet."}
    return None


def test_a_build_with_no_factor_but_other_is_explained_and_an_announcing_path_labelled(tmp_path, capsys):
    """Seen on SmolLM2: every feature in factor "Other", shown with no word on what that means."""
    with FaultServer(assignless_responder) as server:
        result = run_one_user_demo(capsys, tmp_path, server)
    assert result.status == 0, result.err
    assert "The model named no factor that RPM could keep" in result.out
    assert "this user's overall mix of" in result.out
    assert "None of the 4 reasoning paths the model wrote reasons toward its item's answer" in result.out
    assert "but not yet" not in result.out  # no announcing path is shown as why


def test_the_default_demo_does_not_explain_factors_it_did_keep(tmp_path, capsys, server):
    result = run_one_user_demo(capsys, tmp_path, server)
    assert result.status == 0 and "The model named no factor" not in result.out


@edited_http_responder
def one_junk_path_responder(call, request):
    """RPM's fake replies, except that the reasoning path of the mining-crew item is punctuation only."""
    prompt = " ".join(str(m.get("content") or "") for m in request["messages"])
    if call.get("name") in ("ReasoningOutput", "JudgedReasoningOutput") and "mining crew" in prompt:
        return {**call["arguments"], "reasoning": "{ {"}
    return None


def test_an_item_the_build_left_out_is_named_with_its_reason(tmp_path, capsys):
    """Seen on SmolLM2: 'What RPM learned about lamp2-u1 from 3 past items' with no word on the fourth."""
    with FaultServer(one_junk_path_responder) as server:
        result = run_one_user_demo(capsys, tmp_path, server)
    assert result.status == 0, result.err
    assert "from 3 past items" in result.out
    assert "item lamp2-u1-h1 was left out: the model's 'reason' step gave no usable reply" in result.out
