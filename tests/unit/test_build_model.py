"""Build cheap, answer strong (the paper's Table 10): one model writes the memory, another answers."""

from __future__ import annotations

from langchain_rpm import RPM
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import rpm_responder
from tests.unit.conftest import MOVIE_HISTORY


async def test_the_build_model_builds_and_the_answer_model_answers(store):
    cheap = FakeStructuredChatModel(responder=rpm_responder, model="cheap-builder")
    strong = FakeStructuredChatModel(responder=rpm_responder, model="strong-answerer")
    rpm = RPM(strong, "lamp2", store=store, build_model=cheap)
    profile = await rpm.abuild_user("ada", MOVIE_HISTORY)
    assert strong.call_count == 0 and cheap.call_count == profile.cost.llm_calls
    assert profile.cost.llm_calls >= 2 * len(MOVIE_HISTORY)  # extraction and reasoning per item, at least
    prediction = rpm.personalize("ada", "A robot falls in love.")
    assert cheap.call_count == profile.cost.llm_calls and strong.call_count == prediction.usage.llm_calls == 2
    assert (profile.model, prediction.model) == ("cheap-builder", "strong-answerer")
