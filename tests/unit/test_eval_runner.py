"""The evaluation runner end to end on the demo data: metrics plumbing, cost sums, resumability, report files, CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from langchain_rpm.evaluation import (
    ALL_METHODS,
    EvalResults,
    Ledger,
    LedgerRecord,
    Prices,
    RunMismatchError,
    arun_evaluation,
    load_task_users,
    run_evaluation,
)
from langchain_rpm.evaluation.cli import add_eval_parser, build_parser, run_eval
from langchain_rpm.testing import FakeStructuredChatModel, demo_responder

TASKS = ["lamp2", "lamp3", "lamp5", "goqa"]
QUERIES = {"lamp2": 4, "lamp3": 4, "lamp5": 4, "goqa": 8}  # demo data: 4 users x 1 query, GOQA 4 x 2
METRICS = {"lamp2": {"accuracy", "f1"}, "lamp3": {"mae", "rmse"}, "lamp5": {"rouge1", "rougeL"}, "goqa": {"accuracy"}}
PROFILE_METHODS = ["features_factors", "features_factors_pairs", "features_factors_pairs_cot", "rpm"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class TallyModel(FakeStructuredChatModel):
    """The demo model, also summing the tokens it reports in ``usage_metadata``."""

    _tally_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _input_tokens: int = PrivateAttr(default=0)
    _output_tokens: int = PrivateAttr(default=0)

    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]] | None) -> ChatResult:
        result = super()._reply(messages, tools)
        meta = result.generations[0].message.usage_metadata or {}  # type: ignore[attr-defined]
        with self._tally_lock:
            self._input_tokens += meta.get("input_tokens", 0)
            self._output_tokens += meta.get("output_tokens", 0)
        return result


def tally_model(**kwargs: Any) -> TallyModel:
    return TallyModel(responder=demo_responder, model="demo-deterministic", **kwargs)


def embeddings() -> DeterministicFakeEmbedding:
    return DeterministicFakeEmbedding(size=16)


def evaluate(out: Path, llm: FakeStructuredChatModel, **kwargs: Any) -> EvalResults:
    kwargs.setdefault("progress", False)
    return run_evaluation(
        kwargs.pop("tasks", TASKS), kwargs.pop("methods", None), llm, results_dir=out, embeddings=embeddings(), **kwargs
    )


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EvalResults, TallyModel]:
    """Every method on every demo task, once for the module."""
    out = tmp_path_factory.mktemp("full") / "run"
    model = tally_model()
    return out, evaluate(out, model), model


def fresh_copy(full_run: tuple[Path, EvalResults, TallyModel], tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(full_run[0], target)
    return target


# -- plumbing -------------------------------------------------------------------------------------------


def test_every_method_is_scored_on_every_task(full_run):
    _, results, _ = full_run
    assert results.methods == list(ALL_METHODS)
    assert results.tasks == TASKS
    for task in TASKS:
        for method in ALL_METHODS:
            result = results.get(task, method)
            assert result is not None, (task, method)
            assert result.queries == QUERIES[task] and result.users == 4
            assert result.errors == 0
            assert set(result.metrics) == METRICS[task]
            assert result.score is not None
            low, high = (0.0, 4.0) if task == "lamp3" else (0.0, 1.0)
            assert all(low <= v <= high for v in result.metrics.values())


def test_answers_in_the_ledger_are_checked_and_metrics_match_them(full_run):
    out, results, _ = full_run
    from langchain_rpm.evaluation import compute_metrics, demo_dataset
    from langchain_rpm.tasks import get_task

    ledger = Ledger(out / "predictions.jsonl")
    for task in TASKS:
        users = demo_dataset(task)
        for method in ALL_METHODS:
            records = [ledger.get("prediction", task, method, u.user_id, q.id) for u in users for q in u.queries]
            assert all(r is not None and r.error is None for r in records)
            preds = [r.prediction for r in records]  # type: ignore[union-attr]
            golds = [q.gold for u in users for q in u.queries]
            options = [q.options for u in users for q in u.queries]
            if get_task(task).is_discrete:  # the demo model answers within the spec; answers are canonical
                assert all(get_task(task).check(p, o).valid for p, o in zip(preds, options, strict=True))
            assert results.get(task, method).metrics == compute_metrics(task, preds, golds, options)  # type: ignore[union-attr]


def test_lexical_retrieval_beats_zero_shot_on_the_demo_with_the_demo_model(full_run):
    # The demo model answers with the examples it is shown; BM25 finds the user's similar movies.
    # (Feature and dense retrieval use random fake embeddings here, so they are not compared.)
    _, results, _ = full_run
    zero = results.get("lamp2", "zero_shot").score  # type: ignore[union-attr]
    assert results.get("lamp2", "bm25").score > zero  # type: ignore[operator,union-attr]


# -- cost -----------------------------------------------------------------------------------------------


def test_cost_accounting_matches_the_models_own_counts(full_run):
    out, results, model = full_run
    ledger = Ledger(out / "predictions.jsonl")
    paid = [r for r in ledger.records.values() if r.kind in ("prediction", "profile")]
    assert sum(r.spend.usage.llm_calls for r in paid) == model.call_count
    assert sum(r.spend.usage.input_tokens for r in paid) == model._input_tokens
    assert sum(r.spend.usage.output_tokens for r in paid) == model._output_tokens
    # Each profile method is charged the full shared profile build; the others build for free.
    for task in TASKS:
        profiles = [r for r in ledger.records.values() if r.kind == "profile" and r.task == task]
        assert len(profiles) == 4
        build_calls = sum(r.spend.usage.llm_calls for r in profiles)
        assert build_calls > 0
        for method in ALL_METHODS:
            cost = results.get(task, method).cost  # type: ignore[union-attr]
            assert cost.builds == 4 and cost.queries == QUERIES[task]
            assert cost.build_usage.llm_calls == (build_calls if method in PROFILE_METHODS else 0)
            expected_calls = 2 if method in PROFILE_METHODS else 1  # feature extraction + answer, or one answer
            assert cost.query_usage.llm_calls == expected_calls * QUERIES[task]
            assert cost.build_dollars == pytest.approx(results.prices.dollars(cost.build_usage))
            assert cost.query_dollars == pytest.approx(results.prices.dollars(cost.query_usage))
            assert cost.dollars_per_query == pytest.approx(cost.query_dollars / cost.queries)


def test_prices_are_configurable(tmp_path):
    model = tally_model()
    results = evaluate(
        tmp_path / "run",
        model,
        tasks=["lamp3"],
        methods=["zero_shot"],
        prices=Prices(input_per_million=1.0, output_per_million=2.0),
    )
    cost = results.get("lamp3", "zero_shot").cost  # type: ignore[union-attr]
    expected = (model._input_tokens * 1.0 + model._output_tokens * 2.0) / 1e6
    assert cost.total_dollars == pytest.approx(expected)
    assert "$1 / $2 per 1M" in results.to_markdown()


# -- resumability ---------------------------------------------------------------------------------------


def test_a_finished_run_resumes_with_zero_llm_calls(full_run, tmp_path):
    out = fresh_copy(full_run, tmp_path)
    model = tally_model()
    again = evaluate(out, model)
    assert model.call_count == 0
    for first, second in zip(full_run[1].results, again.results, strict=True):
        assert (first.task, first.method, first.metrics) == (second.task, second.method, second.metrics)
        assert first.cost.build_usage == second.cost.build_usage
        assert first.cost.query_usage == second.cost.query_usage


def test_resume_pays_only_for_missing_predictions(full_run, tmp_path):
    out = fresh_copy(full_run, tmp_path)
    ledger_file = out / "predictions.jsonl"
    lines = ledger_file.read_text().splitlines()

    def dropped(record: dict[str, Any]) -> bool:
        return record["kind"] == "prediction" and (
            (record["task"] == "lamp3" and record["method"] == "rpm")
            or (record["task"] == "goqa" and record["method"] == "zero_shot")
        )

    kept = [line for line in lines if not dropped(json.loads(line))]
    assert len(lines) - len(kept) == QUERIES["lamp3"] + QUERIES["goqa"]
    ledger_file.write_text("\n".join(kept) + "\n")
    model = tally_model()
    results = evaluate(out, model)
    # No profile is rebuilt: rpm pays 2 calls per query, zero-shot 1.
    assert model.call_count == 2 * QUERIES["lamp3"] + 1 * QUERIES["goqa"]
    assert results.get("lamp3", "rpm").metrics == full_run[1].get("lamp3", "rpm").metrics  # type: ignore[union-attr]


async def test_an_interrupted_run_continues_without_repaying(tmp_path):
    out = tmp_path / "run"
    slow = tally_model(delay=0.02)
    task = asyncio.ensure_future(
        arun_evaluation(
            ["lamp3"],
            ["zero_shot", "rpm"],
            slow,
            results_dir=out,
            embeddings=embeddings(),
            progress=False,
            max_concurrency=2,
        )
    )
    ledger_file = out / "predictions.jsonl"
    for _ in range(500):  # interrupt as soon as two predictions are finished
        await asyncio.sleep(0.01)
        if ledger_file.exists() and ledger_file.read_text().count('"kind":"prediction"') >= 2:
            break
    assert not task.done(), "the run finished before it could be interrupted; raise the delay"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ledger = Ledger(out / "predictions.jsonl")
    finished = [r for r in ledger.records.values() if r.kind == "prediction" and r.error is None]
    assert finished, "nothing finished before the interruption"

    resumed = tally_model()
    await arun_evaluation(
        ["lamp3"], ["zero_shot", "rpm"], resumed, results_dir=out, embeddings=embeddings(), progress=False
    )
    clean = tally_model()
    await arun_evaluation(
        ["lamp3"], ["zero_shot", "rpm"], clean, results_dir=tmp_path / "clean", embeddings=embeddings(), progress=False
    )
    paid_before = sum(r.spend.usage.llm_calls for r in finished)
    assert 0 < resumed.call_count <= clean.call_count - paid_before
    final = Ledger(out / "predictions.jsonl")
    for record in finished:  # finished predictions were not redone
        assert final.get("prediction", record.task, record.method, record.user, record.query) == record


def test_failed_predictions_are_recorded_and_retried_on_resume(tmp_path):
    def flaky(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        if "answer" in schema.get("properties", {}) and "toolbox" in str(messages[-1].content):
            raise RuntimeError("server fell over")
        return demo_responder(messages, schema)

    out = tmp_path / "run"
    results = evaluate(
        out, TallyModel(responder=flaky, model="demo-deterministic"), tasks=["lamp3"], methods=["zero_shot", "bm25"]
    )
    for method in ("zero_shot", "bm25"):
        result = results.get("lamp3", method)
        assert result is not None and result.errors == 1 and result.queries == 4
    assert "1 failed" in results.to_markdown()
    healthy = tally_model()
    results = evaluate(out, healthy, tasks=["lamp3"], methods=["zero_shot", "bm25"])
    assert healthy.call_count == 2  # only the two failed predictions
    assert all(r.errors == 0 for r in results.results)


def test_fail_fast_raises_the_first_error(tmp_path):
    def broken(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        evaluate(tmp_path / "run", TallyModel(responder=broken), tasks=["lamp3"], methods=["zero_shot"], fail_fast=True)


def test_resuming_with_other_settings_is_refused(full_run, tmp_path):
    out = fresh_copy(full_run, tmp_path)
    with pytest.raises(RunMismatchError, match="seed"):
        evaluate(out, tally_model(), seed=1)


def test_a_torn_last_line_is_skipped_and_not_glued_to_the_next(tmp_path):
    path = tmp_path / "predictions.jsonl"
    good = LedgerRecord(kind="prediction", task="lamp2", method="rpm", user="u", query="q1", prediction="comedy")
    path.write_text(good.model_dump_json() + "\n" + good.model_dump_json()[:25])
    ledger = Ledger(path)
    assert ledger.done("lamp2", "rpm", "u", "q1")
    ledger.append(good.model_copy(update={"query": "q2"}))
    assert Ledger(path).done("lamp2", "rpm", "u", "q2")


# -- report files ---------------------------------------------------------------------------------------


def test_results_files_are_written_and_schema_valid(full_run):
    out, results, _ = full_run
    loaded = EvalResults.model_validate_json((out / "results.json").read_text())
    assert loaded == results
    raw = json.loads((out / "results.json").read_text())
    assert raw["results"][0]["cost"]["dollars_per_query"] >= 0  # derived columns are in the JSON too
    markdown = (out / "results.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| method | lamp2"))
    for column in ("lamp2 accuracy ↑", "lamp3 mae ↓", "lamp5 rouge1 ↑", "goqa accuracy ↑", "$/user build", "$/query"):
        assert column in header
    rows = [line.split(" | ")[0].strip("| ") for line in markdown.splitlines() if line.startswith("| ")]
    assert set(ALL_METHODS) <= set(rows)
    assert "0.561" in markdown  # the paper's reference table
    for name in ("metric_by_method.png", "metric_vs_cost.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    settings = json.loads((out / "run.json").read_text())
    assert settings["model"] == "demo-deterministic" and settings["seed"] == 0


# -- data and CLI ---------------------------------------------------------------------------------------


def test_lamp_folder_layouts_are_found(tmp_path):
    demo = Path(__file__).resolve().parents[2] / "langchain_rpm" / "data" / "demo"
    layout = tmp_path / "LaMP_3" / "dev"
    layout.mkdir(parents=True)
    shutil.copy(demo / "lamp3_questions.json", layout / "dev_questions.json")
    shutil.copy(demo / "lamp3_outputs.json", layout / "dev_outputs.json")
    assert len(load_task_users("lamp3", tmp_path)) == 4
    assert len(load_task_users("lamp2", demo)) == 4  # the flat demo layout
    with pytest.raises(FileNotFoundError, match="LaMP_5"):
        load_task_users("lamp5", tmp_path)
    shutil.copy(demo / "goqa.json", tmp_path / "goqa.json")
    goqa = load_task_users("goqa", tmp_path, goqa_test=3)
    assert all(len(u.queries) == 3 for u in goqa)


def test_cli_runs_and_writes_the_report(tmp_path, capsys):
    args = build_parser().parse_args(
        [
            "--tasks",
            "lamp3,goqa",
            "--methods",
            "zero_shot,rpm",
            "--users",
            "2",
            "--out",
            str(tmp_path / "cli"),
            "--no-progress",
            "--price-in",
            "0.3",
        ]
    )
    assert run_eval(args, llm=tally_model(), embeddings=embeddings()) == 0
    printed = capsys.readouterr().out
    assert "| method | lamp3 mae" in printed and "| rpm |" in printed
    results = EvalResults.model_validate_json((tmp_path / "cli" / "results.json").read_text())
    assert results.prices.input_per_million == 0.3
    assert all(r.users == 2 for r in results.results)


def test_cli_reports_usage_errors(tmp_path, capsys):
    args = build_parser().parse_args(["--tasks", "lamp2", "--questions", "nonsense", "--out", str(tmp_path)])
    assert run_eval(args, llm=tally_model(), embeddings=embeddings()) == 2
    assert "TASK=PATH" in capsys.readouterr().err
    args = build_parser().parse_args(["--tasks", "lamp2", "--methods", "nope", "--out", str(tmp_path)])
    assert run_eval(args, llm=tally_model(), embeddings=embeddings()) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err


def test_eval_subcommand_plugs_into_a_parent_cli():
    root = argparse.ArgumentParser(prog="rpm")
    add_eval_parser(root.add_subparsers(dest="command"))
    args = root.parse_args(["eval", "--structured-output", "function_calling", "--model", "demo"])
    assert args.func is run_eval and args.structured_output == "function_calling" and args.command == "eval"


def test_options_a_parent_cli_defines_globally_are_inherited():
    root = argparse.ArgumentParser(prog="rpm")
    root.add_argument("--model")
    root.add_argument("--concurrency", type=int, default=8)
    add_eval_parser(root.add_subparsers(dest="command"))
    assert root.parse_args(["--model", "parent", "--concurrency", "3", "eval"]).model == "parent"
    assert root.parse_args(["--concurrency", "3", "eval"]).concurrency == 3
    assert root.parse_args(["eval", "--model", "child"]).model == "child"
    assert build_parser().parse_args([]).model == "gpt-4o-mini"  # standalone: real defaults


def test_the_harness_runs_as_a_module():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "langchain_rpm.evaluation", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "--structured-output" in done.stdout
