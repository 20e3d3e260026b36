"""The reasoning leak guard: a path that concludes the gold answer is retried (``leak_retries``), then flagged."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langchain_rpm import GLOBAL_OPINION_QA, LAMP2, LAMP3, LAMP5, RPM, ReasoningPathBuilder, RPMStore
from langchain_rpm.stages._leaks import find_leak
from langchain_rpm.testing import FakeStructuredChatModel
from langchain_rpm.types import Feature, HistoryItem
from tests.support.rpm_fakes import CountingEmbeddings, Scripted, rpm_responder

TITLE = "Sign Language Translation: A Keypoint Transformer Approach"


@pytest.mark.parametrize(
    ("task", "reasoning", "answer", "leaks"),
    [
        (LAMP2, "So the tag is Sci Fi.", "sci-fi", True),  # case, hyphen and spacing ignored
        (LAMP2, "A Sci Fi premise drives this user.", "sci-fi", False),  # a label as a content word
        (LAMP2, "The action sequences and violence drive this user.", "action", False),
        (LAMP2, "A classic setup, like the classics this user rates.", "classic", False),
        (LAMP2, "3 of 4 dystopian plots got the same tag.", "dystopia", False),  # citing the statistics
        (LAMP2, "Setting shows dystopia 3/4 (75.0%); such items were tagged dystopia.", "dystopia", False),
        (LAMP2, "They would tag it as dystopia.", "dystopia", True),
        (LAMP2, "Dystopia is the obvious tag here.", "dystopia", True),
        (LAMP2, "Their answer would likely be a dark comedy.", "dark comedy", True),
        (LAMP2, "Dark humour about crime, so the tag is comedy.", "dark comedy", False),  # the phrase, not a word
        (LAMP2, "The answer is science fiction, but it's not the conclusion.", "sci-fi", True),  # a paraphrase
        (LAMP2, "They would call it a book adaptation.", "based on a book", True),
        (LAMP2, "Science fiction settings drive this user.", "sci-fi", False),  # a paraphrase as a content word
        (GLOBAL_OPINION_QA, "Religion matters: it is important here.", "Not too important", False),
        (GLOBAL_OPINION_QA, "Most would say not too important.", "Not too important", True),
        (GLOBAL_OPINION_QA, "Most people here agree that faith matters; yes, it is central.", "Agree", False),
        (GLOBAL_OPINION_QA, "Yes, the question is about religion.", "Yes", False),
        (GLOBAL_OPINION_QA, "So the country would choose Agree.", "Agree", True),
        (GLOBAL_OPINION_QA, "The answer is yes.", "Yes", True),
        (LAMP3, "Shipping shows in 4 of 6 items, mean 4.50, P(4)=0.50.", "4", False),  # counts and decimals
        (LAMP3, "Late delivery means a 2-star review.", "2", True),
        (LAMP3, "That is worth 4 out of 5 to this user.", "4", True),
        (LAMP3, "So this user would rate it a four.", "4", True),
        (LAMP3, "The rating pattern across 4 items is stable.", "4", False),
        (LAMP3, "They gave it 2/5 before.", "2", True),
        (LAMP5, "Keypoints and a transformer suit this author's method-first style.", TITLE, False),
        (LAMP5, "A keypoint transformer approach, named after the method.", TITLE, False),  # 4 of 7 words < 5
        (LAMP5, "Sign language translation: a keypoint transformer, as usual.", TITLE, True),  # 6 of 7 words
        (LAMP5, "It is about robot romance.", "Robot Romance", True),  # a two-word answer: both words
        (LAMP5, "Robots and romance.", "Robot Romance", False),
    ],
)
def test_the_leak_rule(task, reasoning, answer, leaks):
    assert (find_leak(task, reasoning, answer) is not None) is leaks


def reasoning_replies(*texts: str) -> Scripted:
    """Reasoning replies in turn."""
    return Scripted(*({"reasoning": text} for text in texts))


REQUEST = {
    "item": HistoryItem(id="1", input="Robots rebel on a space station.", response="sci-fi"),
    "features": [Feature(name="robots", factor="Science themes")],
    "factors": [],
}


def test_a_leaking_path_is_retried_once_with_feedback_and_the_clean_retry_is_kept():
    script = reasoning_replies("Robots decide it: the tag is sci-fi.", "Robots and space dominate this user's tags.")
    model = FakeStructuredChatModel(responder=script)
    example = ReasoningPathBuilder(model, LAMP2).invoke(REQUEST)
    assert model.call_count == 2
    assert example.reasoning == "Robots and space dominate this user's tags." and not example.leak
    feedback = str(script.prompts[1][-1].content)
    assert "'sci-fi'" in feedback and "Robots decide it: the tag is sci-fi." in feedback  # what leaked, and where
    assert script.prompts[1][:-1] == script.prompts[0]  # the same prompt, plus the feedback


def test_a_path_that_still_leaks_after_the_retry_is_kept_and_flagged():
    model = FakeStructuredChatModel(responder=reasoning_replies("The tag is sci-fi.", "Still, the answer is sci-fi."))
    example = ReasoningPathBuilder(model, LAMP2).invoke(REQUEST)
    assert model.call_count == 2
    assert example.leak and example.reasoning == "Still, the answer is sci-fi."


def test_leak_retries_zero_only_flags():
    model = FakeStructuredChatModel(responder=reasoning_replies("The tag is sci-fi."))
    example = ReasoningPathBuilder(model, LAMP2, leak_retries=0).invoke(REQUEST)
    assert model.call_count == 1 and example.leak


def test_a_clean_path_costs_one_call():
    model = FakeStructuredChatModel(responder=reasoning_replies("Robots and space dominate this user's tags."))
    example = ReasoningPathBuilder(model, LAMP2).invoke(REQUEST)
    assert model.call_count == 1 and not example.leak


def test_in_a_pack_only_the_leaking_item_is_retried_alone():
    def reply(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        if "items" in schema["properties"]:  # the packed call: item 2 names its answer
            return {
                "items": [
                    {"item_id": 1, "reasoning": "Robots decide this user's tag."},
                    {"item_id": 2, "reasoning": "A wedding: the tag is romance, of course."},
                ]
            }
        return {"reasoning": "A wedding and a courtship decide this user's tag."}

    model = FakeStructuredChatModel(responder=reply)
    builder = ReasoningPathBuilder(model, LAMP2)
    second = {**REQUEST, "item": HistoryItem(id="2", input="A wedding in Paris.", response="romance")}
    first_out, second_out = builder.invoke_pack([REQUEST, second])
    assert model.call_count == 2  # the pack, then item 2 alone with the feedback
    assert first_out.reasoning == "Robots decide this user's tag." and not first_out.leak
    assert second_out.reasoning == "A wedding and a courtship decide this user's tag." and not second_out.leak


def test_the_flag_is_stored_with_the_example(tmp_path):
    def leaky(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("title") == "ReasoningOutput":
            return {"reasoning": "Plainly, the tag is sci-fi."}
        return rpm_responder(messages, schema)

    history = [
        {"id": "m1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
        {"id": "m2", "input": "A wedding turns into a love story.", "response": "romance"},
    ]
    rpm = RPM(
        FakeStructuredChatModel(responder=leaky), task=LAMP2, store=RPMStore(tmp_path, embeddings=CountingEmbeddings())
    )
    rpm.build_user("ada", history)
    flags = {e.item_id: e.leak for e in rpm.store.get_examples("ada")}
    assert flags == {"m1": True, "m2": False}  # "sci-fi" concludes m1's answer, not m2's


@pytest.mark.parametrize(("preset", "reason_calls"), [("paper", 2), ("default", 3)])
def test_the_paper_preset_makes_exactly_one_reason_call_per_item(tmp_path, preset, reason_calls):
    calls: list[str] = []

    def leaky(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("title") == "ReasoningOutput":
            calls.append("reason")
            return {"reasoning": "Plainly, the tag is sci-fi."}
        return rpm_responder(messages, schema)

    history = [
        {"id": "m1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
        {"id": "m2", "input": "A wedding turns into a love story.", "response": "romance"},
    ]
    store = RPMStore(tmp_path, embeddings=CountingEmbeddings())
    rpm = RPM(FakeStructuredChatModel(responder=leaky), task=LAMP2, store=store, preset=preset)
    assert rpm.components.settings.leak_retries == (0 if preset == "paper" else 1)
    rpm.build_user("ada", history)
    assert len(calls) == reason_calls  # paper: N; default: N plus one retry of the leaking m1
    assert {e.item_id: e.leak for e in rpm.store.get_examples("ada")} == {"m1": True, "m2": False}
