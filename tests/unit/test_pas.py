"""Propose-Assign-Select on a hand-built feature set, with a scripted model (DESIGN §2 step 2)."""

from __future__ import annotations

import math
import re
import threading
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langchain_rpm import LAMP3, FactorAggregator, HistoryItem
from langchain_rpm.settings import RPMSettings
from langchain_rpm.stages.clustering import clean_candidates, closest_factor, select_factors
from langchain_rpm.testing import FakeStructuredChatModel
from langchain_rpm.types import Factor, FactorStatistics, Feature
from langchain_rpm.usage import UsageTracker

# item -> (feature name, context); 11 features, all distinct.
FEATURES = {
    "1": [("Taste", "the flavor"), ("Texture", "the mouthfeel"), ("Price", "what it cost")],
    "2": [("Discount", "it was on sale"), ("Packaging", "the box it came in"), ("Speed", "how fast it shipped")],
    "3": [("Smell", "the aroma"), ("Brand", "who makes it")],
    "4": [("Color", "how it looks")],
    "5": [("Freshness", "how fresh it was"), ("Warranty", "the guarantee")],
}
ITEMS = [HistoryItem(id=i, input=f"review {i}", response=r) for i, r in zip(FEATURES, "54321", strict=True)]
# What the scripted model proposes in each round (by the factors kept so far) ...
PROPOSALS = {
    "(none yet)": ["Quality", "Value", "Delivery", "General", "quality"],  # "General" and the repeat are dropped
    "Quality, Value, Delivery": ["Brand", "Trust", "Value"],  # "Value" is already kept
    "Quality, Value, Delivery, Brand, Trust": ["Appearance"],
}
# ... and which candidate (by name) it assigns each feature to; anything else gets 0 ("none fits").
ASSIGN = {
    "Taste": "Quality",
    "Texture": "Quality",
    "Smell": "Quality",
    "Freshness": "Quality",
    "Price": "Value",
    "Discount": "Value",
    "Packaging": "Delivery",
    "Speed": "Delivery",
    "Brand": "Brand",
    "Warranty": "Trust",
}
RESIDUAL = {"Color": "Quality", "Warranty": "Value", "Brand": "Value"}


class Scripted:
    """Answers Propose, Assign (single or batched) and the residual pass from the tables above."""

    def __init__(self, fail_assign: set[str] | None = None) -> None:
        self.samples: list[list[str]] = []
        self.fail_assign = fail_assign or set()
        self._lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        system, human = str(messages[0].content), str(messages[-1].content)
        title = schema["title"]
        if title == "ProposedFactors":
            kept = re.search(r"already kept: (.*?)\.$", system, flags=re.M).group(1)
            with self._lock:
                self.samples.append(re.findall(r"^(\w+): ", human, flags=re.M))
            return {"factors": PROPOSALS[kept]}
        head, _, body = human.partition("<features>")
        numbers = {line.split(":")[0]: int(n) for n, line in re.findall(r"^C?(\d+)\. (.*)$", head, flags=re.M)}
        table = RESIDUAL if title.startswith("Residual") else ASSIGN
        if title in ("FactorAssignment", "ResidualAssignment"):
            name = body.strip().split(":")[0]
            if name in self.fail_assign:
                raise RuntimeError(f"no answer for {name}")
            return {"assignments": numbers.get(table.get(name, ""), 0)}
        lines = re.findall(r"^F(\d+)\. (\w+):", body, flags=re.M)
        return {
            "assignments": [
                {"feature": f"F{n}", "feature_name": f, "factor": f"C{numbers.get(table.get(f, ''), 0)}"}
                for n, f in lines
            ]
        }


def aggregate(preset: str = "paper", responder: Any = None, **settings: Any) -> tuple[Any, UsageTracker, Any]:
    responder = responder or Scripted()
    model = FakeStructuredChatModel(responder=responder)
    aggregator = FactorAggregator(model, LAMP3, settings=RPMSettings.for_preset(preset, **settings))
    features = {i: [Feature(name=n, context=c) for n, c in feats] for i, feats in FEATURES.items()}
    tracker = UsageTracker()
    result = aggregator.invoke({"items": ITEMS, "features": features}, {"callbacks": [tracker]})
    return result, tracker, responder


def factor_of(result: Any) -> dict[str, str]:
    return {f.name: f.factor for feats in result.features.values() for f in feats}


def test_rounds_keep_the_greedy_cover_until_the_residual_pass():
    result, tracker, responder = aggregate("paper")
    # Round 1: Quality covers 4, Value and Delivery 2 each (the tie goes to the earlier candidate): 8 of 11.
    # Round 2 (on Brand, Color, Warranty): Brand and Trust, 1 each: 10 of 11. Round 3: Appearance fits nothing.
    assert [(r.candidates, r.kept) for r in result.rounds] == [
        (["Quality", "Value", "Delivery"], ["Quality", "Value", "Delivery"]),
        (["Brand", "Trust"], ["Brand", "Trust"]),
        (["Appearance"], []),
    ]
    assert [r.coverage for r in result.rounds] == pytest.approx([8 / 11, 10 / 11, 10 / 11])
    assert result.residual == 1  # Color, force-assigned to its nearest kept factor
    assert factor_of(result) == {**ASSIGN, "Color": "Quality"}
    assert [f.name for f in result.factors] == ["Quality", "Value", "Delivery", "Brand", "Trust"]
    quality = result.factors[0]
    assert quality.features == ["Taste", "Texture", "Smell", "Color", "Freshness"]
    assert quality.statistics.coverage == 4  # items 1, 3, 4, 5
    # The paper: one Propose per round, one Assign call per uncovered feature per round, one residual per leftover.
    assert tracker.usage.calls_by_stage == {"propose": 3, "assign": 11 + 3 + 1, "residual": 1}
    # Propose sees a seeded sample sized 30 % of the whole pool (4 of 11), drawn from the uncovered only.
    assert [len(sample) for sample in responder.samples] == [math.ceil(0.3 * 11), 3, 1]
    assert set(responder.samples[1]) <= {"Brand", "Color", "Warranty"} and responder.samples[2] == ["Color"]


def test_batched_assignment_gives_the_same_factors_with_fewer_calls():
    paper, _, _ = aggregate("paper")
    default, tracker, _ = aggregate("default")
    assert factor_of(default) == factor_of(paper) and default.rounds == paper.rounds
    assert default.factors == paper.factors
    # 11, 3 and 1 uncovered features in batches of 20; one batched residual call.
    assert tracker.usage.calls_by_stage == {"propose": 3, "assign": 3, "residual": 1}
    _, tracker, _ = aggregate("default", assign_batch_size=4, residual_batch_size=4)
    assert tracker.usage.calls_by_stage["assign"] == math.ceil(11 / 4) + 1 + 1


def test_max_total_factors_caps_the_factors_kept_over_all_rounds():
    result, tracker, _ = aggregate("paper", max_total_factors=4)
    assert [r.kept for r in result.rounds] == [["Quality", "Value", "Delivery"], ["Brand"]]
    # No room for a fifth factor: no third round; Color and Warranty go to the residual pass.
    assert tracker.usage.calls_by_stage == {"propose": 2, "assign": 11 + 3, "residual": 2}
    assert factor_of(result)["Warranty"] == "Value" and factor_of(result)["Color"] == "Quality"
    assert len(result.factors) == 4


def test_rounds_stop_once_the_coverage_target_is_met():
    result, tracker, _ = aggregate("paper", coverage_target=0.7)
    assert len(result.rounds) == 1 and result.rounds[0].coverage >= 0.7
    assert tracker.usage.calls_by_stage == {"propose": 1, "assign": 11, "residual": 3}
    assert set(factor_of(result).values()) <= {"Quality", "Value", "Delivery"}


def test_the_sample_is_seeded():
    _, _, first = aggregate("paper", seed=7)
    _, _, again = aggregate("paper", seed=7)
    assert first.samples == again.samples


def test_a_failed_assign_call_leaves_the_feature_uncovered():
    result, tracker, _ = aggregate("paper", responder=Scripted(fail_assign={"Taste"}))
    assert result.rounds[0].coverage == pytest.approx(7 / 11)
    # Its residual call fails too: it goes to the closest kept factor (no shared stem: the first one).
    assert result.residual == 2 and factor_of(result)["Taste"] == "Quality"
    assert tracker.usage.calls_by_stage["residual"] == 1  # failed calls are not counted as spent
    with pytest.raises(RuntimeError, match="no answer for"):  # when every call of a round fails, the error shows
        aggregate("paper", responder=Scripted(fail_assign=set(ASSIGN) | {"Color"}))


def test_only_generic_candidates_leave_every_feature_in_other():
    responder = lambda messages, schema: {"factors": ["General", "Misc", "Other"]}  # noqa: E731
    result, tracker, _ = aggregate("paper", responder=responder)
    assert [f.name for f in result.factors] == ["Other"] and set(factor_of(result).values()) == {"Other"}
    assert tracker.usage.calls_by_stage == {"propose": 3}


def test_select_is_greedy_maximum_coverage():
    # candidate 1 covers 3 features, 2 covers 2, 0 covers 1; room for 2 -> [1, 2]
    assert select_factors({0: 1, 1: 1, 2: 0, 3: 2, 4: 1, 5: 2}, 3, room=2) == [1, 2]
    assert select_factors({0: 2, 1: 0}, 3, room=8) == [0, 2]  # ties: the lower index; empty candidates never
    assert select_factors({}, 3, room=8) == []


def test_candidates_are_cleaned():
    raw = ["  Quality ", "quality", "Dimension 3", "Aspects", "Value.", "Kept", "Style"]
    assert clean_candidates(raw, ["kept"], limit=2) == ["Quality", "Value"]


def test_closest_factor_shares_the_most_word_stems_then_has_the_most_support():
    def factor(name: str, features: list[str], support: int) -> Factor:
        return Factor(name=name, features=features, statistics=FactorStatistics(support=support, coverage=support))

    factors = [factor("Quality", ["taste", "texture"], 2), factor("Delivery", ["shipping speed"], 5)]
    assert closest_factor(Feature(name="Tasty", context="tastes of lemon"), factors) == "Quality"  # "taste"
    assert closest_factor(Feature(name="Shipped", context="fast"), factors) == "Delivery"  # "shipp"
    assert closest_factor(Feature(name="Color", context="bright red"), factors) == "Delivery"  # no stem: support
    assert closest_factor(Feature(name="Color"), []) == "Other"


class TenGroups:
    """20 features in 10 groups of 2; Propose offers every group not kept yet, Assign puts a feature in its group."""

    def __init__(self) -> None:
        self.samples: list[int] = []

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        system, human = str(messages[0].content), str(messages[-1].content)
        if schema["title"] == "ProposedFactors":
            kept = re.search(r"already kept: (.*?)\.$", system, flags=re.M).group(1).split(", ")
            self.samples.append(len(re.findall(r"^Grp\d+ ", human, flags=re.M)))
            return {"factors": [f"Grp{g}" for g in range(1, 11) if f"Grp{g}" not in kept]}
        head, _, body = human.partition("<features>")
        numbers = {name: int(n) for n, name in re.findall(r"^(\d+)\. (Grp\d+)", head, flags=re.M)}
        none = 0 if schema["title"] == "FactorAssignment" else 1  # the residual pass always places a feature
        return {"assignments": numbers.get(body.split()[0], none)}


def ten_groups(**settings: Any) -> tuple[Any, UsageTracker, TenGroups]:
    responder = TenGroups()
    model = FakeStructuredChatModel(responder=responder)
    aggregator = FactorAggregator(model, LAMP3, settings=RPMSettings.for_preset("paper", **settings))
    features = {str(g): [Feature(name=f"Grp{g} {x}", context=f"part {x}") for x in "ab"] for g in range(1, 11)}
    items = [HistoryItem(id=str(g), input=f"review {g}", response="4") for g in range(1, 11)]
    tracker = UsageTracker()
    result = aggregator.invoke({"items": items, "features": features}, {"callbacks": [tracker]})
    return result, tracker, responder


def test_round_two_runs_when_round_one_keeps_p_max_factors_below_the_coverage_target():
    # App. C: P_max = 8 factors per round. Round 1 keeps Grp1..Grp8 (16 of 20 features, 80 % < 95 %), so round 2
    # proposes again on the 4 uncovered features and keeps Grp9 and Grp10; nothing is left for the residual pass.
    result, tracker, responder = ten_groups()
    assert [r.kept for r in result.rounds] == [[f"Grp{g}" for g in range(1, 9)], ["Grp9", "Grp10"]]
    assert [r.coverage for r in result.rounds] == [0.8, 1.0]
    assert result.residual == 0 and len(result.factors) == 10
    # The sample is 30 % of the whole pool (6 of 20), drawn from the uncovered: all 4 of them in round 2.
    assert responder.samples == [6, 4]
    assert tracker.usage.calls_by_stage == {"propose": 2, "assign": 20 + 4}


def test_a_global_factor_cap_stops_after_round_one_and_leaves_the_rest_to_the_residual_pass():
    result, tracker, _ = ten_groups(max_total_factors=8)
    assert [r.kept for r in result.rounds] == [[f"Grp{g}" for g in range(1, 9)]]
    assert result.residual == 4 and len(result.factors) == 8
    assert tracker.usage.calls_by_stage == {"propose": 1, "assign": 20, "residual": 4}


def test_batched_prompts_use_identifiers_and_features_a_reply_leaves_out_are_asked_again():
    prompts: list[str] = []

    def reply(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        human = str(messages[-1].content)
        if schema["title"] == "ProposedFactors":
            return {"factors": ["Quality", "Value"]}
        prompts.append(human)
        listed = re.findall(r"^F(\d+)\. (\w+):", human.partition("<features>")[2], flags=re.M)
        if len(prompts) == 1:  # the first reply skips Price and swaps identifiers, the names echoed tell them apart
            return {
                "assignments": [
                    {"feature": "F1", "feature_name": "Taste", "factor": "C1"},
                    {"feature": "F2", "feature_name": "Discount", "factor": "C2"},
                ]
            }
        return {"assignments": [{"feature": f"F{n}", "feature_name": f, "factor": "C2"} for n, f in listed]}

    model = FakeStructuredChatModel(responder=reply)
    aggregator = FactorAggregator(model, LAMP3, settings=RPMSettings.for_preset("default", coverage_target=0.5))
    features = {"1": [Feature(name="Discount", context="on sale"), Feature(name="Taste", context="sweet")]}
    features["2"] = [Feature(name="Price", context="what it cost")]
    items = [HistoryItem(id="1", input="a", response="5"), HistoryItem(id="2", input="b", response="3")]
    result = aggregator.invoke({"items": items, "features": features})
    assert "C1. Quality\nC2. Value" in prompts[0] and "F1. Discount: on sale" in prompts[0]
    assert re.findall(r"^F\d+\. .*$", prompts[1].partition("<features>")[2], flags=re.M) == ["F1. Price: what it cost"]
    assert factor_of(result) == {"Discount": "Value", "Taste": "Quality", "Price": "Value"}
    assert result.residual == 0
