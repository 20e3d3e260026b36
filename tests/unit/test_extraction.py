"""Feature extraction: every feature from the input alone; factor-aware mode limited to the user's factors."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langchain_rpm import GLOBAL_OPINION_QA, LAMP2, LAMP3, LAMP5, FeatureExtractor
from langchain_rpm.stages import FeatureJudge
from langchain_rpm.testing import FakeStructuredChatModel
from langchain_rpm.types import Factor, FactorStatistics, Feature, HistoryItem

FACTORS = [
    Factor(name="Quality", features=["taste", "texture"], statistics=FactorStatistics(support=2, coverage=2)),
    Factor(name="Delivery", features=["late arrival"], statistics=FactorStatistics(support=5, coverage=5)),
]


class Replies:
    """Replies from a queue, recording each call's messages and tool schema."""

    def __init__(self, *replies: dict[str, Any]) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[list[BaseMessage], dict[str, Any]]] = []

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((messages, schema))
        return self.replies.pop(0)


def test_history_extraction_sees_the_input_only_and_asks_for_every_feature():
    replies = Replies(
        {
            "features": [
                {"feature_name": "Taste", "context": "the flavor"},
                {"feature_name": "taste", "context": "tastes great"},
            ]
        }
    )
    extractor = FeatureExtractor(FakeStructuredChatModel(responder=replies), LAMP3)
    features = extractor.invoke(HistoryItem(id="1", input="Tastes great.", response="5"))
    assert features == [Feature(name="Taste", context="the flavor")]  # names de-duplicated, no factor yet
    (system, human), schema = replies.calls[0][0], replies.calls[0][1]
    assert "explicit" in system.content and "implicit" in system.content and "product review" in system.content
    assert "<answer>" not in human.content and "Tastes great." in human.content  # the answer is not shown
    assert schema["title"] == "ExtractedFeatures"
    assert set(schema["properties"]["features"]["items"]["properties"]) == {"feature_name", "context"}


def test_factor_aware_schema_allows_only_the_users_factor_names():
    replies = Replies(
        {"features": [{"feature_name": "flavor", "factors": ["Quality", "Invented"]}]},  # not a factor: rejected
        {"features": [{"feature_name": "flavor", "context": "sweet", "factors": ["Quality", "Delivery"]}]},
    )
    model = FakeStructuredChatModel(responder=replies)
    features = FeatureExtractor(model, LAMP3).invoke({"text": "Sweet, arrived late.", "factors": FACTORS})
    enum = replies.calls[0][1]["properties"]["features"]["items"]["properties"]["factors"]["items"]["enum"]
    assert enum == ["Quality", "Delivery"] and replies.calls[0][1]["title"] == "FactorAwareFeatures"
    assert model.call_count == 2  # the invented factor failed the schema and was retried with the error
    assert "Invented" in str(replies.calls[1][0][-1].content)
    assert features == [Feature(name="flavor", context="sweet", factor="Quality", extra_factors=["Delivery"])]
    assert features[0].factors == ["Quality", "Delivery"]
    assert "- Quality: taste, texture" in str(replies.calls[0][0][0].content)  # the factors, with members


def test_a_feature_that_fits_no_factor_is_soft_assigned_to_the_closest():
    replies = Replies(
        {
            "features": [
                {"feature_name": "tasty", "context": "tastes of lemon", "factors": []},  # shares "taste"
                {"feature_name": "colour", "context": "bright red", "factors": []},  # shares nothing: most support
                {"feature_name": "texture", "context": "crisp", "factors": ["Quality"]},
            ]
        }
    )
    features = FeatureExtractor(FakeStructuredChatModel(responder=replies), LAMP3).invoke(
        {"text": "x", "factors": FACTORS}
    )
    assert [(f.name, f.factor, f.soft_assigned) for f in features] == [
        ("tasty", "Quality", True),
        ("colour", "Delivery", True),
        ("texture", "Quality", False),
    ]


def test_each_factor_set_binds_its_schema_once():
    model = FakeStructuredChatModel(responder=lambda m, s: {"features": []})
    extractor = FeatureExtractor(model, LAMP3)
    for _ in range(3):
        extractor.invoke({"text": "x", "factors": FACTORS})
    extractor.invoke({"text": "x", "factors": FACTORS[:1]})
    names = [s["function"]["name"] for s in model.bound_schemas]
    assert names.count("FactorAwareFeatures") == 2 and "PackedFactorAwareFeatures" not in names


def test_the_judge_sees_the_answer_and_the_numbered_features():
    replies = Replies(
        {
            "reasoning": "r",
            "influences": [
                {"feature_index": 1, "influenced": True, "evaluation": "neg"},
                {"feature_index": 1, "influenced": False},  # a repeat: the first verdict wins
                {"feature_index": 7, "influenced": True},  # no such feature: ignored
            ],
        }
    )
    judge = FeatureJudge(FakeStructuredChatModel(responder=replies), LAMP5)
    item = HistoryItem(id="1", input="An abstract about robots.", response="Robots Without Rewards")
    judged = judge.invoke({"item": item, "features": [Feature(name="robots"), Feature(name="rewards", context="RL")]})
    assert [(f.influenced, f.evaluation) for f in judged] == [(False, None), (True, "neg")]
    human = str(replies.calls[0][0][-1].content)
    assert "<answer>\nRobots Without Rewards\n</answer>" in human and "0. robots\n1. rewards: RL" in human
    assert replies.calls[0][1]["title"] == "FeatureJudgments"
    assert judge.invoke({"item": item, "features": []}) == [] and len(replies.calls) == 1  # nothing to judge


def test_context_is_required_in_the_extraction_schemas():
    from langchain_rpm.prompts import ExtractedFeature, factor_aware_schemas

    assert ExtractedFeature.model_json_schema()["required"] == ["feature_name", "context"]
    aware = factor_aware_schemas(("Quality",))[0].model_json_schema()["$defs"]["FactorAwareFeature"]
    assert set(aware["required"]) == {"feature_name", "context"}


@pytest.mark.parametrize("task", [LAMP2, LAMP3, LAMP5, GLOBAL_OPINION_QA], ids=lambda t: t.name)
def test_the_extraction_prompt_describes_the_task_and_shows_an_example_of_its_own_kind(task):
    from langchain_rpm.testing import demo_chat_model

    system = FeatureExtractor(demo_chat_model(), task).prompt("Some input.").to_messages()[0].content
    assert f"'{task.worked_example[0]}'" in system and f"'{task.worked_example[1]}'" in system
    assert task.instruction not in system  # context, not an order
    if task is not LAMP3:
        assert "product" not in system and "flavor" not in system
    if task is LAMP2:
        assert "twist ending" not in system  # no tag list priming label-named features


COPY = {"feature_name": "Atmosphere", "context": "a bleak, rain-soaked city under constant surveillance"}
OWN = {"feature_name": "Memory erasure", "context": "the state erases memories"}


@pytest.mark.parametrize(
    ("replies", "calls", "names"),
    [
        ([[COPY, OWN], [OWN]], 2, ["Memory erasure"]),  # rejected, retried, the retry kept
        ([[COPY], [COPY, OWN]], 2, ["Memory erasure"]),  # the retry copies again: the copy is dropped
        ([[OWN]], 1, ["Memory erasure"]),
    ],
)
def test_features_that_copy_the_prompts_example_are_rejected_and_retried(replies, calls, names):
    from langchain_rpm.testing import FakeStructuredChatModel

    script = iter(replies)
    model = FakeStructuredChatModel(responder=lambda messages, schema: {"features": next(script)})
    features = FeatureExtractor(model, LAMP2).invoke("In a future where the state erases memories, a clerk runs.")
    assert [f.name for f in features] == names and model.call_count == calls


JUNK = {"feature_name": "{ {", "context": "]["}


def test_a_reply_with_no_usable_feature_is_retried_once():
    """Seen on SmolLM2 after the copy filter: items stored with no features (no retrieval key)."""
    script = iter([[JUNK], [OWN]])
    model = FakeStructuredChatModel(responder=lambda messages, schema: {"features": next(script)})
    features = FeatureExtractor(model, LAMP2).invoke("In a future where the state erases memories, a clerk runs.")
    assert [f.name for f in features] == ["Memory erasure"] and model.call_count == 2


def test_a_history_item_left_without_features_fails_and_is_never_stored_keyless(tmp_path):
    from langchain_rpm import RPM, RPMStore
    from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder

    def responder(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        reply = rpm_responder(messages, schema)
        if "features" in reply and any("Mars" in str(m.content) for m in messages):
            return {**reply, "features": [JUNK]}  # this item's extraction never gives a usable feature
        return reply

    rpm = RPM(
        FakeStructuredChatModel(responder=responder), "lamp2", store=RPMStore(tmp_path, embeddings=CountingEmbeddings())
    )
    history = [
        {"id": "1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
        {"id": "2", "input": "Two robots get married on Mars.", "response": "romance"},
    ]
    profile = rpm.build_user("ada", history)
    assert [f.item_id for f in profile.failed_items] == ["2"] and "no usable feature" in profile.failed_items[0].error
    assert [e.item_id for e in rpm.store.get_examples("ada")] == ["1"]
    assert all(e.features for e in rpm.store.get_examples("ada"))
