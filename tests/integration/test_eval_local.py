"""The evaluation CLI runs every method end to end with the embedded local LLM and writes table and plots."""

from __future__ import annotations

import json

import pytest

from langchain_rpm import cli
from langchain_rpm.evaluation import EvalResults

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]


def test_rpm_eval_with_the_local_llm_runs_every_method(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    out = tmp_path / "out"
    status = cli.main(
        ["--store", str(tmp_path / "store"), "--local", "eval", "--tasks", "lamp3", "--users", "1", "--out", str(out)]
    )
    assert status == 0, capsys.readouterr().err[-2000:]
    results = EvalResults.model_validate(json.loads((out / "results.json").read_text()))
    every = [
        "zero_shot",
        "random_k",
        "bm25",
        "dense",
        "features_factors",
        "features_factors_pairs",
        "features_factors_pairs_cot",
        "rpm",
    ]
    assert results.methods == every
    assert {row.method for row in results.results} == set(every)
    assert all(row.task == "lamp3" and row.queries == 1 and not row.errors for row in results.results)
    assert all("mae" in row.metrics for row in results.results)
    text = (out / "results.md").read_text()
    assert all(f"| {method} |" in text for method in every)
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list(out.glob("*.png"))) == 2
