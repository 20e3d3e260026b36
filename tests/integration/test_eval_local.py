"""`rpm eval` runs Table 1's methods end to end on a one-task slice with the embedded local LLM (SmolLM2).

The 135M model's scores say nothing about quality; this shows that the methods run against a real
OpenAI-compatible server through every output schema the evaluation uses (answer only, profile
summary, generic explanation, reasoning + answer, RPM's own), and that the report, the run record
and the plots are written. One LaMP-2 demo user cut to three history items, and Table 1 plus the
generic-CoT rung: a whole 8-item user took 3:52 alone at load 1.3 and hit the 600 s timeout at load
11-15; the unit suite runs every method on whole users with the demo model. The slice is movies: on
product reviews SmolLM2 copies the prompt's worked example into every feature, which the build refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import langchain_rpm
from langchain_rpm import cli
from langchain_rpm.evaluation import METHOD_GROUPS, EvalResults, Ledger, in_answer_space
from langchain_rpm.evaluation.paper import paper_score

METHODS = [*METHOD_GROUPS["table1"], "ladder_generic_cot"]
DEMO_DATA = Path(langchain_rpm.__file__).parent / "data" / "demo"
HISTORY_ITEMS = 3


def small_lamp2_user(folder: Path) -> list[str]:
    """The first LaMP-2 demo user with its first ``HISTORY_ITEMS`` items, as LaMP files; the ``eval`` options."""
    user = json.loads((DEMO_DATA / "lamp2_questions.json").read_text())[0]
    user["profile"] = user["profile"][:HISTORY_ITEMS]
    golds = json.loads((DEMO_DATA / "lamp2_outputs.json").read_text())
    golds["golds"] = [gold for gold in golds["golds"] if gold["id"] == user["id"]]
    (folder / "q.json").write_text(json.dumps([user]))
    (folder / "o.json").write_text(json.dumps(golds))
    return ["--questions", f"lamp2={folder / 'q.json'}", "--outputs", f"lamp2={folder / 'o.json'}"]


pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]


def test_rpm_eval_with_the_local_llm_runs_table_1_and_the_generic_cot_rung(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    out = tmp_path / "out"
    argv = ["--store", str(tmp_path / "store"), "--local", "eval", "--tasks", "lamp2", *small_lamp2_user(tmp_path)]
    status = cli.main([*argv, "--methods", ",".join(METHODS), "--out", str(out), "--no-progress"])
    assert status == 0, capsys.readouterr().err[-2000:]
    results = EvalResults.model_validate(json.loads((out / "results.json").read_text()))
    assert results.methods == METHODS and results.k == 3
    assert {row.method for row in results.results} == set(METHODS)
    assert all(row.task == "lamp2" and row.queries == 1 and not row.errors for row in results.results)
    assert all("accuracy" in row.metrics for row in results.results)
    ledger = Ledger(out / "predictions.jsonl")
    answers = [r.prediction for r in ledger.records.values() if r.kind == "prediction"]
    invalid = sum(not in_answer_space("lamp2", a) for a in answers)
    print(f"invalid answers of the local model: {invalid}/{len(answers)}")  # reported, not asserted: a 135M model
    text = (out / "results.md").read_text()
    assert all(f"| {method} |" in text for method in METHODS)
    assert f"| {paper_score('rpm', 'lamp2', 'accuracy'):.3f} |" in text  # the paper's RPM accuracy beside ours
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list(out.glob("*.png"))) == 2
    assert json.loads((out / "run.json").read_text())["settings"]["k"] == 3
