"""The evaluation runner end to end with the demo model: scoring, cost sums, runs, resuming, checks, report, CLI."""

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

from langchain_rpm import cli as rpm_cli
from langchain_rpm.errors import DatasetError
from langchain_rpm.evaluation import (
    PAPER_METHODS,
    EvalQuery,
    EvalResults,
    EvalUser,
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
PROFILE_METHODS = [
    "rpm_no_reasoning",
    "ladder_features_factors",
    "ladder_pairs",
    "ladder_example_features",
    "raw_by_features",
    "reasoned_random",
    "reasoned_bm25",
    "reasoned_by_query",
    "rpm",
]
QUERY_CALLS = (
    {"zero_shot": 1, "icl": 1, "rag": 1, "bm25": 1, "pag": 2}
    | {"zero_shot_cot": 1, "icl_cot": 1, "rag_cot": 1, "pag_cot": 2}
    | dict.fromkeys(PROFILE_METHODS, 2)
)
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
    """The paper's methods on every demo task, once for the module."""
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
    assert results.methods == list(PAPER_METHODS)
    assert results.tasks == TASKS
    for task in TASKS:
        for method in PAPER_METHODS:
            result = results.get(task, method)
            assert result is not None, (task, method)
            assert result.queries == QUERIES[task] and result.users == 4
            assert result.errors == 0
            assert set(result.metrics) == METRICS[task]
            assert result.score is not None
            low, high = (0.0, 4.0) if task == "lamp3" else (0.0, 1.0)
            assert all(low <= v <= high for v in result.metrics.values())


def test_the_report_scores_the_answers_the_methods_returned(full_run):
    # The runner scores what each method returned (the ledger's strings), unrepaired; methods normalise.
    out, results, _ = full_run
    from langchain_rpm.evaluation import compute_metrics, demo_dataset
    from langchain_rpm.tasks import get_task

    ledger = Ledger(out / "predictions.jsonl")
    for task in TASKS:
        users = demo_dataset(task)
        for method in PAPER_METHODS:
            records = [ledger.get("prediction", task, method, u.user_id, q.id) for u in users for q in u.queries]
            assert all(r is not None and r.error is None for r in records)
            preds = [r.prediction for r in records]  # type: ignore[union-attr]
            golds = [q.gold for u in users for q in u.queries]
            options = [q.options for u in users for q in u.queries]
            if get_task(task).is_discrete:  # the demo model answers within the spec; answers are canonical
                assert all(get_task(task).check(p, o).valid for p, o in zip(preds, options, strict=True))
            assert results.get(task, method).metrics == compute_metrics(task, preds, golds, options)  # type: ignore[union-attr]


def test_examples_from_the_history_beat_zero_shot_on_the_demo_with_the_demo_model(full_run):
    # The demo model answers with the examples it is shown, so any method that shows the user's past tags
    # does better than zero-shot on the demo's LaMP-2 users.
    _, results, _ = full_run
    zero = results.get("lamp2", "zero_shot").score  # type: ignore[union-attr]
    assert results.get("lamp2", "rpm").score > zero  # type: ignore[operator,union-attr]


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
        for method in PAPER_METHODS:
            cost = results.get(task, method).cost  # type: ignore[union-attr]
            assert cost.builds == 4 and cost.queries == QUERIES[task]
            assert cost.build_usage.llm_calls == (build_calls if method in PROFILE_METHODS else 0)
            if method in QUERY_CALLS:  # features + answer, summary + answer, or one answer
                assert cost.query_usage.llm_calls == QUERY_CALLS[method] * QUERIES[task]
            else:  # ladder_generic_cot: one explanation per retrieved item (once per item), then the answer
                assert QUERIES[task] < cost.query_usage.llm_calls <= (1 + 3) * QUERIES[task]
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
        out, TallyModel(responder=flaky, model="demo-deterministic"), tasks=["lamp3"], methods=["zero_shot", "rag"]
    )
    for method in ("zero_shot", "rag"):
        result = results.get("lamp3", method)
        assert result is not None and result.errors == 1 and result.queries == 4
    assert "1 failed" in results.to_markdown()
    healthy = tally_model()
    results = evaluate(out, healthy, tasks=["lamp3"], methods=["zero_shot", "rag"])
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
    assert raw["data"]["lamp2"]["source"] == "demo" and raw["protocol"] == "lamp" and raw["k"] == 3
    markdown = (out / "results.md").read_text()
    lines = markdown.splitlines()
    for task, head in [("lamp2", "accuracy ↑ | paper | f1 ↑ | paper"), ("lamp3", "mae ↓ | paper | rmse ↓ | paper")]:
        at = lines.index(next(line for line in lines if line.startswith(f"**{task}**")))
        assert head in lines[at + 2]
    rpm_lamp2 = next(line for line in lines if line.startswith("| rpm |"))  # the first table is lamp2
    assert rpm_lamp2.endswith("| 0.561 | " + rpm_lamp2.split(" | ")[3] + " | 0.463 |")  # the paper, side by side
    cost_rows = [line for line in lines if line.startswith("| rpm | ") and "$" in line]
    assert cost_rows and "$0.0581" in cost_rows[0] and "$0.0037" in cost_rows[0]
    rows = [line.split(" | ")[0].strip("| ") for line in lines if line.startswith("| ")]
    assert set(PAPER_METHODS) <= set(rows)
    assert "Contriever" in markdown and "bootstrap" in markdown  # the deviations are named
    for name in ("metric_by_method.png", "metric_vs_cost.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    record = json.loads((out / "run.json").read_text())
    assert record["settings"]["model"] == "demo-deterministic" and record["settings"]["seed"] == 0
    assert record["tasks"]["lamp3"]["users"] == 4 and len(record["tasks"]["lamp3"]["users_digest"]) == 64


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
    assert "| method | mae ↓ | paper |" in printed and "| rpm |" in printed
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


# -- issue 13: honest resumes and whole-run validation --------------------------------------------------


def _lamp3_files(folder: Path, score: str, *, users: int = 2, empty_last: bool = False) -> tuple[Path, Path]:
    """LaMP-3 question and gold files: every profile rating and every gold is ``score``."""
    folder.mkdir(parents=True, exist_ok=True)
    records, golds = [], []
    for u in range(users):
        profile = [
            {"id": f"{u}-{i}", "text": f"review {i} of user {u} about a kettle", "score": score} for i in range(3)
        ]
        if empty_last and u == users - 1:
            profile = []
        records.append({"id": f"q{u}", "input": f"review: another kettle review {u}", "profile": profile})
        golds.append({"id": f"q{u}", "output": score})
    questions, outputs = folder / "lamp3_questions.json", folder / "lamp3_outputs.json"
    questions.write_text(json.dumps(records))
    outputs.write_text(json.dumps({"task": "LaMP_3", "golds": golds}))
    return questions, outputs


def _cli_args(questions: Path, outputs: Path, out: Path, *extra: str) -> argparse.Namespace:
    argv = ["--tasks", "lamp3", "--methods", "rpm", "--questions", f"lamp3={questions}"]
    return build_parser().parse_args(
        [*argv, "--outputs", f"lamp3={outputs}", "--out", str(out), "--no-progress", *extra]
    )


def test_a_rerun_over_changed_data_files_is_refused(tmp_path, capsys):
    # Issue 13, defect 6: the second run used to reuse the stale profiles and predictions (MAE 4.0 here,
    # where a fresh run scores 0.0) and recorded "data": "demo" for custom files.
    questions, outputs = _lamp3_files(tmp_path / "data", "5")
    out = tmp_path / "out"
    assert run_eval(_cli_args(questions, outputs, out), llm=tally_model(), embeddings=embeddings()) == 0
    first = EvalResults.model_validate_json((out / "results.json").read_text())
    assert first.get("lamp3", "rpm").metrics["mae"] == 0.0  # type: ignore[union-attr]
    capsys.readouterr()

    _lamp3_files(tmp_path / "data", "1")  # the same paths, other contents
    model = tally_model()
    assert run_eval(_cli_args(questions, outputs, out), llm=model, embeddings=embeddings()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lamp3_questions.json changed (sha256" in err and "another --out" in err
    assert model.call_count == 0
    assert EvalResults.model_validate_json((out / "results.json").read_text()) == first  # nothing touched
    files = {f.path: f.sha256 for f in first.data["lamp3"].files}  # the run names its files, not "demo"
    assert files.keys() == {str(questions.resolve()), str(outputs.resolve())}
    assert all(len(digest) == 64 for digest in files.values())

    fresh = tmp_path / "fresh"
    assert run_eval(_cli_args(questions, outputs, fresh), llm=tally_model(), embeddings=embeddings()) == 0
    assert (
        EvalResults.model_validate_json((fresh / "results.json").read_text()).get("lamp3", "rpm").metrics["mae"] == 0.0
    )  # type: ignore[union-attr]


def test_other_settings_or_users_are_refused_too(full_run, tmp_path):
    out = fresh_copy(full_run, tmp_path)
    with pytest.raises(RunMismatchError, match=r"preset: 'default' -> 'paper'"):
        evaluate(out, tally_model(), preset="paper")
    with pytest.raises(RunMismatchError, match=r"k: 3 -> 2"):
        evaluate(out, tally_model(), k=2)
    users = {"lamp3": load_task_users("lamp3")[:3]}  # the same task, other users
    with pytest.raises(RunMismatchError, match=r"lamp3 users or queries changed \(4 users -> 3\)"):
        evaluate(out, tally_model(), tasks=users)


def test_a_record_without_history_fails_the_run_before_anything_is_built(tmp_path, capsys):
    # Issue 13, defect 7b: the empty fourth profile used to surface only after three users were built and stored.
    questions, outputs = _lamp3_files(tmp_path / "data", "4", users=4, empty_last=True)
    model = tally_model()
    out = tmp_path / "out"
    assert run_eval(_cli_args(questions, outputs, out, "--concurrency", "1"), llm=model, embeddings=embeddings()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "record 3 (id 'q3')" in err and "profile" in err
    assert model.call_count == 0 and not (out / "predictions.jsonl").exists() and not (out / "store").exists()


def test_every_user_is_validated_before_the_first_call(tmp_path):
    good = load_task_users("lamp3")
    broken = good[2].model_copy(update={"history": []})
    model = tally_model()
    with pytest.raises(DatasetError, match=r"lamp3 user 'lamp3-u3': the history is empty"):
        evaluate(tmp_path / "a", model, tasks={"lamp3": [good[0], good[1], broken, good[3]]}, methods=["rpm"])
    odd_gold = good[0].model_copy(update={"queries": [EvalQuery(id="q", input="Fine.", gold="4 stars")]})
    with pytest.raises(DatasetError, match=r"gold '4 stars' is not in canonical form '4'"):
        evaluate(tmp_path / "b", model, tasks={"lamp3": [odd_gold]}, methods=["rpm"])
    nameless = EvalUser(user_id=" x", task="lamp3", history=good[0].history, queries=good[0].queries)
    with pytest.raises(DatasetError, match="leading or trailing spaces"):
        evaluate(tmp_path / "c", model, tasks={"lamp3": [nameless]}, methods=["rpm"])
    assert model.call_count == 0 and not (tmp_path / "a").exists()


# -- runs ------------------------------------------------------------------------------------------------


def test_runs_repeat_with_their_own_seed_and_builds_and_report_mean_and_std(tmp_path):
    out = tmp_path / "run"
    model = tally_model()
    results = evaluate(out, model, tasks=["lamp3"], methods=["icl", "rpm"], runs=2, seed=5)
    ledger = Ledger(out / "predictions.jsonl")
    profiles = [r for r in ledger.records.values() if r.kind == "profile"]
    assert sorted({r.run for r in profiles}) == [0, 1] and len(profiles) == 8  # 4 users, built once per run
    for method in ("icl", "rpm"):
        row = results.get("lamp3", method)
        assert row is not None and row.runs == 2 and len(row.per_run) == 2 and row.queries == 4
        maes = [r["mae"] for r in row.per_run]
        assert row.metrics["mae"] == pytest.approx(sum(maes) / 2)
        assert row.metrics_std["mae"] == pytest.approx(abs(maes[0] - maes[1]) / 2**0.5)  # sample std of two
        assert row.cost.queries == 8
    assert "± " in results.to_markdown() and "2 run(s) from seed 5" in results.to_markdown()
    more = tally_model()
    again = evaluate(out, more, tasks=["lamp3"], methods=["icl", "rpm"], runs=3, seed=5)  # adding a run is fine
    assert again.get("lamp3", "rpm").runs == 3  # type: ignore[union-attr]
    assert 0 < more.call_count < model.call_count  # only the third run was paid for


# -- the paper protocol through `rpm eval` ----------------------------------------------------------------


def _paper_data(root: Path) -> Path:
    """Time-based LaMP-2 questions (3 users x 42 dated items) and a GOQA file (3 confident countries, 45 questions)."""
    tags = ["sci-fi", "comedy", "action"]
    records = []
    for u in range(3):
        profile = [
            {
                "id": f"{u}-{d}",
                "description": f"film {d} of fan {u}",
                "tag": tags[(u + d) % 3],
                "date": f"2011-{1 + d // 28:02d}-{1 + d % 28:02d}",
            }
            for d in range(42)
        ]
        records.append({"id": f"fan{u}", "input": "description: the query film", "profile": profile[::-1]})
    lamp2 = root / "time" / "LaMP_2" / "new" / "dev" / "dev_questions.json"
    lamp2.parent.mkdir(parents=True)
    lamp2.write_text(json.dumps(records))
    goqa = []
    for i in range(45):
        shares = {c: [0.9 if j == (i + n) % 3 else 0.05 for j in range(3)] for n, c in enumerate(["Aa", "Bb", "Cc"])}
        goqa.append(
            {
                "question": f"Q{i}?",
                "options": str(["Yes", "No", "Maybe"]),
                "selections": f"defaultdict(<class 'list'>, {shares})",
            }
        )
    (root / "goqa.json").write_text(json.dumps(goqa))
    return root


def test_rpm_eval_runs_the_paper_protocol_end_to_end_with_the_demo_model(tmp_path, capsys):
    data, out = _paper_data(tmp_path / "data"), tmp_path / "out"
    argv = ["eval", "--protocol", "paper", "--preset", "paper", "--runs", "2", "--users", "2", "--tasks", "lamp2,goqa"]
    argv += [
        "--methods",
        "zero_shot,icl,rpm",
        "--data",
        str(data),
        "--out",
        str(out),
        "--model",
        "demo",
        "--no-progress",
    ]
    assert rpm_cli.main(argv) == 0, capsys.readouterr().err[-2000:]
    results = EvalResults.model_validate_json((out / "results.json").read_text())
    assert (results.protocol, results.preset, results.runs, results.k) == ("paper", "paper", 2, 3)
    for task in ("lamp2", "goqa"):
        for method in ("zero_shot", "icl", "rpm"):
            row = results.get(task, method)
            assert row is not None and row.users == 2 and row.queries == 8 and row.runs == 2 and not row.errors
            assert set(row.metrics_std) == set(row.metrics)
        assert len(results.data[task].files) == 1 and len(results.data[task].files[0].sha256) == 64
    ledger = Ledger(out / "predictions.jsonl")
    lamp2_queries = {r.query for r in ledger.records.values() if r.kind == "prediction" and r.task == "lamp2"}
    assert all(int(q.rsplit("-", 1)[1]) >= 38 for q in lamp2_queries)  # the 4 latest items of each user
    markdown = (out / "results.md").read_text()
    assert "protocol `paper`" in markdown and "| 0.561 |" in markdown and "| 0.852 |" in markdown


def test_k_is_the_papers_3_even_when_a_parent_cli_defaults_otherwise():
    root = argparse.ArgumentParser(prog="rpm")
    root.add_argument("--k", type=int, default=4)
    add_eval_parser(root.add_subparsers(dest="command"))
    assert root.parse_args(["eval"]).k == 3
    assert root.parse_args(["eval", "--k", "5"]).k == 5


def test_embeddings_are_named_on_the_command_line_and_errors_are_one_line(tmp_path, capsys):
    args = build_parser().parse_args(["--tasks", "lamp3", "--embeddings", "nope:model", "--out", str(tmp_path)])
    assert run_eval(args, llm=tally_model()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--embeddings nope:model: Provider 'nope' is not supported" in err
    args = build_parser().parse_args(["--tasks", "lamp3", "--embeddings", "contriever", "--out", str(tmp_path)])
    assert run_eval(args, llm=tally_model()) == 2
    assert "expects provider:model" in capsys.readouterr().err
