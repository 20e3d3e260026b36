from __future__ import annotations

import pytest

from langchain_rpm import RPM, RPMStore
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model

MOVIE_HISTORY = [
    {"id": "m1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
    {"id": "m2", "input": "Aliens land in space and a robot helps.", "response": "sci-fi"},
    {"id": "m3", "input": "A wedding turns into a love story.", "response": "romance"},
    {"id": "m4", "input": "A car chase ends in a fist fight.", "response": "action"},
    {"id": "m5", "input": "A love story set in space.", "response": "romance"},
    {"id": "m6", "input": "Explosions and a chase through space.", "response": "action"},
]


@pytest.fixture
def embeddings() -> CountingEmbeddings:
    return CountingEmbeddings()


@pytest.fixture
def store(tmp_path, embeddings) -> RPMStore:
    return RPMStore(tmp_path / "store", embeddings=embeddings)


@pytest.fixture
def llm() -> FakeStructuredChatModel:
    return rpm_fake_model()


@pytest.fixture
def rpm(llm, store) -> RPM:
    return RPM(llm, task="lamp2", store=store, k=3)
