"""End to end with a real LLM: build + personalize through ChatOpenAI against the local llama.cpp server.

The model (SmolLM2-135M) is tiny: the assertions check that every stage runs on real model output and that
everything stored and returned is schema-valid, not that the answers are good.
"""

from __future__ import annotations

import pytest

from langchain_rpm import LAMP3, RPM, Prediction, RPMStore, UserProfile
from langchain_rpm.cli.local_llm import local_chat_model
from langchain_rpm.embeddings import default_embeddings

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]

HISTORY = [
    {"id": "1", "input": "Sturdy, but it arrived two weeks late.", "response": "2"},
    {"id": "2", "input": "Cheap plastic, broke in a day.", "response": "1"},
    {"id": "3", "input": "Fast delivery and solid build quality.", "response": "5"},
]


async def test_build_and_personalize_with_the_local_llm(local_llm_server, tmp_path):
    store = RPMStore(tmp_path / "store", embeddings=default_embeddings())
    rpm = RPM(local_chat_model(local_llm_server), task=LAMP3, store=store, method="function_calling", k=2)
    profile = await rpm.abuild_user("ada", HISTORY)
    assert isinstance(profile, UserProfile)
    assert profile.num_items + len(profile.failed_items) == len(HISTORY)
    assert profile.num_items >= 1, profile.failed_items
    assert profile.model == "smollm2-135m-instruct"
    stored = store.get_examples("ada")
    assert len(stored) == profile.num_items
    assert all(example.answer in LAMP3.answer_space() and example.reasoning for example in stored)

    # The profile survives reopening the persistent store (a new client on the same folder).
    reopened = RPM(
        local_chat_model(local_llm_server),
        task=LAMP3,
        store=RPMStore(tmp_path / "store", embeddings=default_embeddings()),
        method="function_calling",
        k=2,
    )
    prediction = await reopened.apersonalize("ada", "Great product, but shipping took a month.")
    assert isinstance(prediction, Prediction)
    assert prediction.usage.llm_calls >= 2
    assert prediction.usage.input_tokens > 0
    assert prediction.answer if prediction.valid else prediction.raw_answer is not None
    assert set(prediction.example_ids) <= {e.item_id for e in stored}
    print("local LLM prediction:", prediction.answer, "valid:", prediction.valid)


def test_sync_personalize_with_the_local_llm(local_llm_server, tmp_path):
    rpm = RPM(
        local_chat_model(local_llm_server),
        task=LAMP3,
        store=RPMStore(tmp_path / "s", embeddings=default_embeddings()),
        method="function_calling",
    )
    profile = rpm.build_user("bo", HISTORY[:2])
    assert profile.num_items + len(profile.failed_items) == 2
    prediction = rpm.personalize("bo", "Broke after a week.")
    assert isinstance(prediction.reasoning, str)
