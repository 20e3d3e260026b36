"""Generation: the paper's prompt order, an answer key per task, enum answers, and one retry of an invalid answer."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_rpm import GLOBAL_OPINION_QA, LAMP2, LAMP3, LAMP5, ReasoningGenerator, TaskSpec
from langchain_rpm.errors import InvalidAnswerError
from langchain_rpm.testing import FakeStructuredChatModel
from langchain_rpm.types import Factor, Feature, ReasoningExample, RetrievedExample
from tests.support.rpm_fakes import Scripted

EXAMPLE = RetrievedExample(
    score=0.8,
    example=ReasoningExample(
        item_id="h1",
        input="Arrived late, works fine.",
        features=[Feature(name="late delivery", factor="Shipping")],
        reasoning="Shipping outweighs everything for this user.",
        answer="2",
    ),
)
REQUEST = {
    "query": "Sturdy, but three weeks late.",
    "features": [Feature(name="slow shipping", factor="Shipping")],
    "factors": [Factor(name="Shipping", description="How delivery went.")],
    "examples": [EXAMPLE],
}


def _answer_property(model: FakeStructuredChatModel) -> tuple[str, dict[str, Any]]:
    parameters = model.bound_schemas[-1]["function"]["parameters"]
    assert parameters["required"][0] == "reasoning"  # the reasoning comes before the answer
    (key,) = set(parameters["properties"]) - {"reasoning"}
    return key, parameters["properties"][key]


@pytest.mark.parametrize(
    ("task", "options", "key", "enum"),
    [
        (LAMP2, None, "tag", list(LAMP2.labels)),
        (LAMP3, None, "rating", [1, 2, 3, 4, 5]),
        (GLOBAL_OPINION_QA, ["Agree", "Disagree"], "option", ["Agree", "Disagree"]),
        (LAMP5, None, "title", None),
    ],
)
def test_the_answer_field_is_named_per_task_and_an_enum_of_the_allowed_answers(task, options, key, enum):
    model = FakeStructuredChatModel(responder=lambda m, s: {"reasoning": "r", key: (enum or ["A Title"])[0]})
    prediction = ReasoningGenerator(model, task).invoke({**REQUEST, "options": options})
    bound_key, prop = _answer_property(model)
    assert bound_key == key == task.answer_key
    assert prop.get("enum") == enum
    assert prediction.valid and prediction.answer == str((enum or ["A Title"])[0])


def test_a_custom_task_gets_an_answer_key_from_its_kind():
    spec = TaskSpec.classification("mood", ["calm", "tense"], instruction="Pick the mood.")
    assert spec.answer_key == "label"
    with pytest.raises(ValueError, match="answer_key"):
        TaskSpec.open_ended("t", instruction="x", answer_key="reasoning")


def test_multiple_choice_schemas_are_built_per_query_and_bound_once_per_option_set():
    model = FakeStructuredChatModel(
        responder=lambda m, s: {"reasoning": "r", "option": s["properties"]["option"]["enum"][-1]}
    )
    generator = ReasoningGenerator(model, GLOBAL_OPINION_QA)
    first = generator.invoke({"query": "Q1?", "options": ["Yes", "No"]})
    second = generator.invoke({"query": "Q2?", "options": ["Often", "Rarely", "Never"]})
    again = generator.invoke({"query": "Q3?", "options": ["Yes", "No"]})
    assert (first.answer, second.answer, again.answer) == ("No", "Never", "No")
    enums = [s["function"]["parameters"]["properties"]["option"]["enum"] for s in model.bound_schemas]
    assert enums == [["Yes", "No"], ["Often", "Rarely", "Never"]]  # the third query reused the first binding


def test_the_prompt_follows_the_papers_order():
    prompt = ReasoningGenerator(FakeStructuredChatModel(), LAMP3).prompt(REQUEST).to_messages()
    human = str(prompt[-1].content)
    marks = ["<example>", "Shipping outweighs everything", "Task: ", "1. ", "2. ", "3. ", "\nShipping | ", "<input>"]
    marks.append("<features>\n- slow shipping")
    positions = [human.index(mark) for mark in marks]
    assert positions == sorted(positions)  # exemplars, task and steps, factors, new input, its features
    assert "`rating`" in human  # the reply names the task's answer key


def test_a_number_answer_for_a_rating_becomes_text():
    model = FakeStructuredChatModel(responder=lambda m, s: {"reasoning": "r", "rating": 4})
    prediction = ReasoningGenerator(model, LAMP3).invoke(REQUEST)
    assert (prediction.answer, prediction.raw_answer, prediction.valid) == ("4", "4", True)


def rating_replies(*ratings: Any) -> Scripted:
    """Generation replies with ``ratings`` in turn."""
    return Scripted(*({"reasoning": "Shipping decides.", "rating": rating} for rating in ratings))


def test_an_invalid_answer_is_asked_for_again_once_with_the_error():
    script = rating_replies("seven", "2")
    model = FakeStructuredChatModel(responder=script)
    prediction = ReasoningGenerator(model, LAMP3).invoke(REQUEST)
    assert model.call_count == 2
    assert (prediction.answer, prediction.valid, prediction.retried) == ("2", True, True)
    feedback = str(script.prompts[1][-1].content)
    assert "'seven'" in feedback and "1 to 5" in feedback
    assert script.prompts[1][:-1] == script.prompts[0]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [({}, ("eight", False)), ({"on_invalid": "fallback", "fallback_answer": "3"}, ("3", False))],
)
def test_after_the_retry_on_invalid_applies(policy, expected):
    task = LAMP3.model_copy(update=policy)
    model = FakeStructuredChatModel(responder=rating_replies("seven", "eight"))
    prediction = ReasoningGenerator(model, task).invoke(REQUEST)
    assert model.call_count == 2 and prediction.retried
    assert (prediction.answer, prediction.valid) == expected
    assert prediction.raw_answer == "eight"


def test_on_invalid_raise_raises_after_the_retry():
    task = LAMP3.model_copy(update={"on_invalid": "raise"})
    model = FakeStructuredChatModel(responder=rating_replies("seven"))
    with pytest.raises(InvalidAnswerError):
        ReasoningGenerator(model, task).invoke(REQUEST)
    assert model.call_count == 2


def test_invalid_retries_zero_makes_no_extra_call():
    model = FakeStructuredChatModel(responder=rating_replies("seven", "2"))
    prediction = ReasoningGenerator(model, LAMP3, invalid_retries=0).invoke(REQUEST)
    assert model.call_count == 1 and not prediction.valid and not prediction.retried


def test_a_valid_answer_costs_one_call():
    model = FakeStructuredChatModel(responder=rating_replies("4 stars"))  # normalised, so valid at once
    prediction = ReasoningGenerator(model, LAMP3).invoke(REQUEST)
    assert model.call_count == 1 and (prediction.answer, prediction.retried) == ("4", False)
    assert prediction.factors_used == ["Shipping"] and prediction.example_ids == ["h1"]


def test_the_invalid_answer_benchmark_measures_offline():
    from benchmarks.invalid_answers import measure
    from langchain_rpm.testing import demo_chat_model

    result = measure("lamp3", demo_chat_model(), history_queries=1, users=1, preset="default")
    assert result["queries"] == 2 and result["invalid"] == 0 and result["calls"] == 4  # 2 calls per query
