"""End to end with a real LLM: build + personalize through ChatOpenAI against the local llama.cpp server.

The model (SmolLM2-135M) is tiny: the assertions check that every stage runs on real model output, under
both presets, that everything stored and returned is schema-valid, and that answers with a finite answer
set are valid by construction (llama.cpp constrains decoding with the tool schema, whose answer field is an
enum), not that the answers are good. The invalid-answer rate is printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import pytest

from langchain_rpm import GLOBAL_OPINION_QA, LAMP2, LAMP3, RPM, RPMStore
from langchain_rpm.cli._local_llm import local_chat_model
from langchain_rpm.embeddings import default_embeddings
from langchain_rpm.testing import demo_chat_model

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]

HISTORY = [
    {"id": "1", "input": "Sturdy, but it arrived two weeks late.", "response": "2"},
    {"id": "2", "input": "Cheap plastic, broke in a day.", "response": "1"},
    {"id": "3", "input": "Fast delivery and solid build quality.", "response": "5"},
]
QUERY = "Great product, but shipping took a month."
# The builds below run on movies: on product reviews SmolLM2-135M copies the extraction prompt's worked example
# (a LaMP-3 review feature) into every feature, which the build rightly refuses to store (no usable feature).
MOVIES = [
    {"id": "m1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
    {"id": "m2", "input": "A wedding in Tuscany turns into a love story.", "response": "romance"},
    {"id": "m3", "input": "Aliens land in a small town and the army hunts them.", "response": "sci-fi"},
]
MOVIE_QUERY = "An android crew takes over a starship."


def _check_build(rpm: RPM, user: str, history: list[dict[str, str]], preset: str) -> None:
    profile = rpm.profile(user)
    assert profile is not None and profile.preset == preset
    assert profile.model == "smollm2-135m-instruct"
    assert profile.num_items + len(profile.failed_items) == len(history)
    assert profile.num_items >= 1, profile.failed_items
    stored = rpm.store.get_examples(user)
    assert {e.item_id for e in stored} == {item["id"] for item in history} - {f.item_id for f in profile.failed_items}
    by_id = {item["id"]: item for item in history}
    for example in stored:
        assert example.answer == by_id[example.item_id]["response"]  # the gold, normalised, never the model's
        assert example.reasoning.strip() and example.features
    leaks = sum(example.leak for example in stored)
    print(f"[{preset}] stored {len(stored)} reasoning paths, {leaks} flagged as naming their answer")


def _check_prediction(prediction, task, stored_ids: set[str], options=None) -> None:
    print(f"prediction {prediction.answer!r} valid={prediction.valid} retried={prediction.retried}")
    assert prediction.valid, f"an enum answer came back invalid: {prediction.raw_answer!r}"
    assert prediction.answer in task.answer_space(options) and prediction.raw_answer.strip() == prediction.answer
    assert prediction.reasoning.strip()
    assert prediction.usage.llm_calls >= 2 and prediction.usage.input_tokens > 0
    assert prediction.example_ids and set(prediction.example_ids) <= stored_ids


async def test_paper_preset_builds_and_answers_async(local_llm_server, tmp_path):
    history = MOVIES[:2]  # the paper's factor construction makes one assignment call per feature
    store = RPMStore(tmp_path / "store", embeddings=default_embeddings())
    rpm = RPM(local_chat_model(local_llm_server), task=LAMP2, store=store, method="function_calling", preset="paper")
    await rpm.abuild_user("ada", history)
    _check_build(rpm, "ada", history, "paper")
    prediction = await rpm.apersonalize("ada", MOVIE_QUERY)
    _check_prediction(prediction, LAMP2, {e.item_id for e in store.get_examples("ada")})
    assert len(prediction.example_ids) == min(3, len(history))  # K = 3


def test_default_preset_builds_and_answers_sync_from_a_reopened_store(local_llm_server, tmp_path):
    llm = local_chat_model(local_llm_server)
    rpm = RPM(
        llm, task=LAMP2, store=RPMStore(tmp_path / "s", embeddings=default_embeddings()), method="function_calling"
    )
    history = MOVIES[:2]  # each item costs SmolLM2 an extraction and a reasoning call, with their retries
    rpm.build_user("bo", history)
    _check_build(rpm, "bo", history, "default")
    # The profile survives reopening the persistent store (a new client on the same folder).
    reopened = RPM(
        llm, task=LAMP2, store=RPMStore(tmp_path / "s", embeddings=default_embeddings()), method="function_calling"
    )
    prediction = reopened.personalize("bo", MOVIE_QUERY)
    _check_prediction(prediction, LAMP2, {e.item_id for e in rpm.store.get_examples("bo")})


@pytest.mark.parametrize(
    ("task", "history", "query", "options"),
    [
        (
            LAMP2,
            [
                {"id": "m1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
                {"id": "m2", "input": "A wedding turns into a love story.", "response": "romance"},
            ],
            "An android crew takes over a starship.",
            None,
        ),
        (
            GLOBAL_OPINION_QA,
            [
                {
                    "id": "q1",
                    "input": "Should the state provide for everyone?",
                    "response": "Agree",
                    "options": ["Agree", "Disagree"],
                }
            ],
            "How often do you attend religious services?",
            ["Weekly", "Monthly", "Rarely", "Never"],
        ),
        (LAMP3, HISTORY, QUERY, None),
    ],
    ids=["labels", "per-query-options", "ratings"],
)
def test_label_and_option_answers_are_valid_by_construction(local_llm_server, tmp_path, task, history, query, options):
    """Built with the demo model (no local-LLM calls), answered by SmolLM2 under the enum schema."""
    store = RPMStore(tmp_path / "s", embeddings=default_embeddings())
    llm = local_chat_model(local_llm_server)
    rpm = RPM(llm, task=task, store=store, method="function_calling", build_model=demo_chat_model())
    rpm.build_user("cy", history)
    prediction = rpm.personalize("cy", query, options=options)
    _check_prediction(prediction, task, {item["id"] for item in history}, options)
