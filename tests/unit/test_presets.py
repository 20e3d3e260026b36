"""The two presets: LLM calls by stage of a whole profile build (DESIGN §2), K = 3, and the cost record."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langchain_rpm import LAMP2, LAMP5, RPM, RPMStore
from langchain_rpm.settings import PRESETS, RPMSettings
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import CATEGORY_OF, CountingEmbeddings, extract_features, rpm_responder
from tests.unit.conftest import MOVIE_HISTORY

STAGES = ("extract", "propose", "assign", "residual", "judge", "reason")

TITLES = [
    {"id": "p1", "input": "Robots learn to fight in space.", "response": "Robot Combat in Orbit"},
    {"id": "p2", "input": "A love story of robots.", "response": "Robot Romance"},
    {"id": "p3", "input": "A wedding after a car chase.", "response": "Wedding Chase"},
    {"id": "p4", "input": "Aliens and explosions.", "response": "Alien Explosions"},
]


def unique_features(history: list[dict[str, str]]) -> list[str]:
    return list(dict.fromkeys(f["feature_name"] for item in history for f in extract_features(item["input"])))


class OneFactorPerRound:
    """``rpm_responder``, except that Propose offers one category per round: Science, Romance, then Lighting.

    So round 1 covers the Science features, round 2 the Romance ones, round 3 nothing (no feature fits
    Lighting), and the Action features go to the residual pass.
    """

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("title") == "ProposedFactors":
            kept = re.search(r"already kept: (.*?)\.$", str(messages[0].content), flags=re.M).group(1)
            offer = {"(none yet)": ["Science themes"], "Science themes": ["Romance"]}.get(kept, ["Lighting"])
            return {"factors": offer}
        return rpm_responder(messages, schema)


def build(tmp_path, preset: str, task: Any, history: list[dict[str, str]], responder: Any = rpm_responder):
    model = FakeStructuredChatModel(responder=responder)
    rpm = RPM(model, task=task, store=RPMStore(tmp_path / preset, embeddings=CountingEmbeddings()), preset=preset)
    return rpm, rpm.build_user("ada", history), model


@pytest.mark.parametrize("task", [LAMP2, LAMP5])
def test_paper_preset_pays_one_call_per_item_per_feature_and_per_leftover(tmp_path, task):
    history = MOVIE_HISTORY if task is LAMP2 else TITLES
    n = len(history)
    features = unique_features(history)
    science = [f for f in features if CATEGORY_OF[f] == "Science themes"]
    romance = [f for f in features if CATEGORY_OF[f] == "Romance"]
    rpm, profile, model = build(tmp_path, "paper", task, history, OneFactorPerRound())
    expected = {
        "extract": n,
        "propose": 3,
        # one Assign call per uncovered feature per round: all, then all but Science, then Action alone
        "assign": len(features) + (len(features) - len(science)) + (len(features) - len(science) - len(romance)),
        "residual": len(features) - len(science) - len(romance),  # the Action features, one call each
        "reason": n,
    }
    if task is LAMP5:
        expected["judge"] = n  # open-ended tasks: one judge call per history item
    assert profile.cost.calls_by_stage == expected
    assert profile.cost.llm_calls == model.call_count == sum(expected.values())
    assert all(profile.cost.tokens_by_stage[stage] > 0 for stage in expected)
    assert {f.name for f in profile.factors} == {"Science themes", "Romance"}  # Action went to the nearest one
    assert profile.preset == "paper" and rpm.components.settings.k == 3


@pytest.mark.parametrize("task", [LAMP2, LAMP5])
def test_default_preset_batches_assignment_and_folds_the_judge(tmp_path, task):
    history = MOVIE_HISTORY if task is LAMP2 else TITLES
    n = len(history)
    features = unique_features(history)
    science = sum(CATEGORY_OF[f] == "Science themes" for f in features)
    romance = sum(CATEGORY_OF[f] == "Romance" for f in features)
    batch = RPMSettings.for_preset("default").assign_batch_size
    _, profile, model = build(tmp_path, "default", task, history, OneFactorPerRound())
    uncovered = [len(features), len(features) - science, len(features) - science - romance]
    assert profile.cost.calls_by_stage == {
        "extract": n,
        "propose": 3,
        "assign": sum(math.ceil(u / batch) for u in uncovered),
        "residual": 1,  # the Action features in one batch
        "reason": n,  # open-ended tasks: the judge is folded into these calls
    }
    assert profile.cost.llm_calls == model.call_count


def test_both_presets_judge_the_same_and_retrieve_k_3(tmp_path):
    paper, paper_profile, _ = build(tmp_path, "paper", LAMP5, TITLES)
    default, default_profile, _ = build(tmp_path, "default", LAMP5, TITLES)
    assert paper_profile.factors == default_profile.factors  # same statistics: the fake judges alike both ways
    for rpm in (paper, default):
        assert rpm.components.settings.k == 3
        prediction = rpm.personalize("ada", "Robots in space.")
        assert len(prediction.example_ids) == 3
        assert prediction.usage.calls_by_stage == {"query_extract": 1, "generate": 1}


def test_presets_differ_only_in_the_named_cost_deviations():
    paper, default = RPMSettings.for_preset("paper"), RPMSettings.for_preset("default")
    differing = {k for k, v in paper.model_dump().items() if default.model_dump()[k] != v}
    # and the drift monitor, beyond the paper (measuring costs no call; the paper has no monitor)
    named = {
        "preset",
        "assign_batch_size",
        "residual_batch_size",
        "judge",
        "leak_retries",
        "option_statistics",
        "drift",
    }
    assert differing == named == set(PRESETS["paper"])
    assert (paper.leak_retries, default.leak_retries, paper.max_total_factors) == (0, 1, None)
    assert (paper.drift, paper.recency_half_life, default.drift, default.recency_half_life) == (
        "off",
        None,
        "report",
        None,
    )
    assert (paper.num_candidates, paper.max_factors, paper.max_rounds) == (16, 8, 3)
    assert (paper.sample_fraction, paper.coverage_target, paper.k) == (0.3, 0.95, 3)
    assert (paper.assign_batch_size, paper.residual_batch_size, paper.judge) == (1, 1, "separate")


def test_cost_accumulates_over_builds_and_updates(tmp_path):
    rpm, first, _ = build(tmp_path, "default", LAMP2, MOVIE_HISTORY)
    rebuilt = rpm.build_user("ada", MOVIE_HISTORY[:4])
    assert rebuilt.cost.calls_by_stage["extract"] == len(MOVIE_HISTORY) + 4
    updated = rpm.add_interactions("ada", [{"id": "n", "input": "A robot.", "response": "sci-fi"}])
    assert updated.cost.calls_by_stage["extract"] == len(MOVIE_HISTORY) + 4 + 1
    assert updated.cost.llm_calls == first.cost.llm_calls + (rebuilt.cost.llm_calls - first.cost.llm_calls) + 2


def test_an_update_under_the_paper_preset_judges_its_new_items(tmp_path):
    rpm, before, _ = build(tmp_path, "paper", LAMP5, TITLES)
    new = [{"id": "n1", "input": "Robots kiss.", "response": "Robot Love"}]
    after = rpm.add_interactions("ada", new)
    calls = after.cost.calls_by_stage
    spent = {stage: calls.get(stage, 0) - before.cost.calls_by_stage.get(stage, 0) for stage in STAGES}
    assert spent == {"extract": 1, "propose": 0, "assign": 0, "residual": 0, "judge": 1, "reason": 1}
    example = next(e for e in rpm.store.get_examples("ada") if e.item_id == "n1")
    assert [(f.name, f.factor, f.influenced) for f in example.features] == [
        ("robots", "Science themes", True),
        ("kiss", "Romance", False),
    ]


def test_an_item_whose_judge_call_fails_is_recorded_at_the_judge_stage(tmp_path):
    def responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("title") == "FeatureJudgments" and "Wedding Chase" in str(messages[-1].content):
            raise RuntimeError("judge unavailable")
        return rpm_responder(messages, schema)

    _, profile, _ = build(tmp_path, "paper", LAMP5, TITLES, responder)
    assert [(f.item_id, f.stage) for f in profile.failed_items] == [("p3", "judge")]
    assert profile.num_items == len(TITLES) - 1


def test_the_paper_preset_sets_temperature_zero_on_model_objects_too(tmp_path, caplog):
    from langchain_openai import ChatOpenAI

    from langchain_rpm.components import RPMComponents

    store = RPMStore(tmp_path, embeddings=CountingEmbeddings())
    warm = ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", temperature=0.7)
    builder = ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", temperature=1.0)
    paper = RPMComponents.create(warm, "lamp2", preset="paper", store=store, build_model=builder)
    assert (paper.llm.temperature, paper.build_llm.temperature, warm.temperature) == (0.0, 0.0, 0.7)
    default = RPMComponents.create(warm, "lamp2", store=store)
    assert default.llm is warm  # the default preset leaves the caller's model alone
    with caplog.at_level("WARNING", logger="langchain_rpm.models"):
        RPMComponents.create(FakeStructuredChatModel(), "lamp2", preset="paper", store=store)
    assert [r.getMessage() for r in caplog.records] == [
        "preset='paper': FakeStructuredChatModel has no temperature setting; its sampling is left as is"
    ]


@pytest.mark.parametrize(("preset", "judge_calls"), [("paper", 3), ("default", 0)])
def test_goqa_under_the_paper_preset_uses_the_judges_label_free_statistics(tmp_path, preset, judge_calls):
    from langchain_rpm import GLOBAL_OPINION_QA
    from langchain_rpm.usage import UsageTracker

    options = ["Agree", "Disagree"]
    history = [
        {"id": f"q{i}", "input": text, "response": "Agree", "options": options}
        for i, text in enumerate(["Robots at work?", "A wedding law?", "Space programs?"])
    ]
    store = RPMStore(tmp_path, embeddings=CountingEmbeddings())
    rpm = RPM(FakeStructuredChatModel(responder=rpm_responder), task=GLOBAL_OPINION_QA, store=store, preset=preset)
    tracker = UsageTracker()
    profile = rpm.build_user("Japan", history, config={"callbacks": [tracker]})
    assert tracker.usage.calls_by_stage.get("judge", 0) == judge_calls
    stats = [f.statistics for f in profile.factors]
    if preset == "paper":
        assert all(s.influence is not None and not s.propensity for s in stats)
    else:
        assert all(s.influence is None and set(s.propensity) <= {"option A", "option B"} for s in stats)
