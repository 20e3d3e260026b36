"""Reasoning paths: the paper's slots in order, the optional folded judge, and replies never lost to it."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage

from langchain_rpm import LAMP2, LAMP5, RPM, ReasoningPathBuilder, RPMStore
from langchain_rpm.testing import FakeStructuredChatModel
from langchain_rpm.types import Factor, Feature, HistoryItem
from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder

FEATURES = [Feature(name="keypoints", factor="Method"), Feature(name="sign language", factor="Problem")]
TITLED = {
    "item": HistoryItem(id="1", input="We track hand keypoints.", response="Keypoint Tracking: A Practical Approach"),
    "features": FEATURES,
    "factors": [Factor(name="Method"), Factor(name="Problem")],
}


def test_the_prompt_holds_input_features_factors_then_the_reference_answer():
    builder = ReasoningPathBuilder(FakeStructuredChatModel(), LAMP2)
    human = str(
        builder.prompt(
            {
                "item": {"id": "1", "input": "Robots rebel.", "response": "Sci Fi"},
                "features": [{"name": "robots", "factor": "Science"}],
                "factors": [{"name": "Science"}],
            }
        )
        .to_messages()[-1]
        .content
    )
    slots = [human.index(s) for s in ("<input>", "<features>", "\nScience | ", "<answer>\nsci-fi\n</answer>")]
    assert slots == sorted(slots)  # the paper's order; the answer is the task-normalised gold


def test_discrete_tasks_bind_no_judge_field_and_keep_a_reply_with_junk_judgments(tmp_path):
    """Issue 13 defect 7: junk judgments in a discrete task's reasoning reply no longer discard the reply."""
    titles: list[str] = []

    def junk(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        titles.append(schema.get("title", ""))
        reply = rpm_responder(messages, schema)
        if schema.get("title") == "ReasoningOutput":  # the reasoning call
            reply["influences"] = [{"feature_index": -3, "influenced": "very", "evaluation": 7}]
        return reply

    llm = FakeStructuredChatModel(responder=junk)
    rpm = RPM(llm, task=LAMP2, store=RPMStore(tmp_path, embeddings=CountingEmbeddings()))
    history = [{"id": "m1", "input": "A wedding turns into a love story.", "response": "romance"}]
    profile = rpm.build_user("ada", history)
    assert profile.num_items == 1 and not profile.failed_items
    assert titles.count("ReasoningOutput") == 1  # one reasoning call: no retry was needed
    reasoning_schema = next(s for s in llm.bound_schemas if s["function"]["name"] == "ReasoningOutput")
    assert set(reasoning_schema["function"]["parameters"]["properties"]) == {"reasoning"}
    assert all(f.influenced is None for ex in rpm.store.get_examples("ada") for f in ex.features)  # nothing judged


def test_the_folded_judge_marks_the_features_by_number_and_drops_bad_verdicts():
    def judge(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "reasoning": "Method-first titles: the keypoints carry it.",
            "influences": [
                {"feature_index": 1, "influenced": False},
                {"feature_index": 0, "influenced": True, "evaluation": "pos"},
                {"feature_index": 0, "influenced": False},  # a second verdict on feature 0: the first wins
                {"feature_index": 5, "influenced": True, "evaluation": "neg"},  # no such feature
                {"feature_index": 1, "influenced": True, "evaluation": "very positive"},  # not an evaluation
                "nonsense",
            ],
        }

    llm = FakeStructuredChatModel(responder=judge)
    example = ReasoningPathBuilder(llm, LAMP5).invoke(TITLED)
    assert llm.call_count == 1  # the reply was kept, bad verdicts and all
    assert [(f.name, f.influenced, f.evaluation) for f in example.features] == [
        ("keypoints", True, "pos"),
        ("sign language", False, None),
    ]
    schema = llm.bound_schemas[0]["function"]
    assert schema["name"] == "JudgedReasoningOutput" and "influences" in schema["parameters"]["properties"]
    human = str(ReasoningPathBuilder(llm, LAMP5).prompt(TITLED).to_messages()[-1].content)
    assert "0. keypoints [Method]" in human and "1. sign language [Problem]" in human  # numbered for the judge


def test_without_the_folded_judge_an_open_ended_task_binds_the_plain_schema():
    llm = FakeStructuredChatModel(responder=lambda m, s: {"reasoning": "Method-first titles."})
    example = ReasoningPathBuilder(llm, LAMP5, fold_judge=False).invoke(TITLED)
    assert llm.bound_schemas[0]["function"]["name"] == "ReasoningOutput"
    assert all(f.influenced is None for f in example.features)  # the paper preset judges in its own call


def test_junk_reasoning_is_an_invalid_reply_and_the_item_is_left_out_with_the_reason(tmp_path):
    from langchain_rpm import LAMP2, RPM, RPMStore
    from langchain_rpm.testing import FakeStructuredChatModel
    from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder

    junk = iter(["{ {", "][", "   ", "{ {"])  # the first reply and its retries for the wedding item, all junk

    def reply(messages: list[Any], schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("title") == "ReasoningOutput" and "wedding" in str(messages[1].content):
            return {"reasoning": next(junk)}
        return rpm_responder(messages, schema)

    history = [
        {"id": "m1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
        {"id": "m2", "input": "A wedding turns into a love story.", "response": "romance"},
    ]
    rpm = RPM(
        FakeStructuredChatModel(responder=reply), task=LAMP2, store=RPMStore(tmp_path, embeddings=CountingEmbeddings())
    )
    profile = rpm.build_user("ada", history)
    assert [e.item_id for e in rpm.store.get_examples("ada")] == ["m1"]  # never stored, never shown
    (failed,) = profile.failed_items
    assert failed.item_id == "m2" and failed.stage == "reason" and "not prose" in failed.error


def test_lamp5_reasoning_asks_only_what_the_counts_support_when_the_judge_is_folded():
    from langchain_rpm import LAMP5
    from langchain_rpm.prompts.catalog import record_prompts

    default = "\n".join(str(m.content) for m in record_prompts(LAMP5, "default")["JudgedReasoningOutput"])
    paper = "\n".join(str(m.content) for m in record_prompts(LAMP5, "paper")["ReasoningOutput"])
    # default: the folded judge has not run yet, the table holds counts only
    assert "directly influenced" not in default and "gives only how many history items" in default
    assert "what their numbers show" not in default
    # paper: the separate judge ran first, the table has influence and polarity to reason from
    assert "directly influenced" in paper and "what their numbers show" in paper
