"""Counting guards of the query's own CPU (issue 21 item 2): work done per query is counted, never timed."""

from __future__ import annotations

import builtins
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, TypeAdapter

from langchain_rpm import LAMP3, FeatureExtractor, RPMRetriever
from langchain_rpm.agents.middleware import RPMMiddleware
from langchain_rpm.agents.tools import create_rpm_tool
from langchain_rpm.graphs.inference import query_input
from langchain_rpm.graphs.state import RPMContext
from langchain_rpm.personalization import Personalizer
from langchain_rpm.stages import clustering
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.testing import FakeStructuredChatModel, demo_rpm
from langchain_rpm.types import Factor, FactorStatistics, Prediction, UserProfile

FACTORS = [
    Factor(name="Quality", features=["taste", "texture"], statistics=FactorStatistics(support=2, coverage=2)),
    Factor(name="Delivery", features=["late arrival"], statistics=FactorStatistics(support=5, coverage=5)),
    Factor(name="Price", features=["cheap", "good value"], statistics=FactorStatistics(support=3, coverage=3)),
]
QUERY = "The strap broke on the second day."
UNFIT = [  # the model chose no factor for any of them: each is soft-assigned to the closest
    {"feature_name": "tasty", "context": "tastes of lemon", "factors": []},
    {"feature_name": "colour", "context": "bright red", "factors": []},
    {"feature_name": "bargain", "context": "cheap for the size", "factors": []},
    {"feature_name": "arrival", "context": "arrived late", "factors": []},
]


@pytest.fixture
def stems(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts whose word stems are computed (the soft assignment's work), in order."""
    seen: list[str] = []
    original = clustering._stems

    def counting(text: str) -> set[str]:
        seen.append(text)
        return original(text)

    monkeypatch.setattr(clustering, "_stems", counting)
    return seen


def _extract(factors: list[Factor]) -> list[Any]:
    model = FakeStructuredChatModel(responder=lambda messages, schema: {"features": UNFIT})
    return FeatureExtractor(model, LAMP3).invoke({"text": "Tasty, cheap, late.", "factors": factors})


def test_a_replys_unfit_features_share_one_reading_of_the_factors(stems):
    features = _extract(FACTORS)
    assert [(f.factor, f.soft_assigned) for f in features] == [
        ("Quality", True),
        ("Delivery", True),  # no shared stem: the most support
        ("Price", True),
        ("Delivery", True),
    ]
    assert features == [f.model_copy(update={"factor": clustering.closest_factor(f, FACTORS)}) for f in features]
    stems.clear()
    _extract(FACTORS)
    # each factor's vocabulary once per reply, plus each feature's own words (main: 4 x 3 + 4 = 16)
    assert len(stems) == len(FACTORS) + len(UNFIT)


def test_a_single_factor_is_the_closest_without_reading_any_words(stems):
    features = _extract(FACTORS[:1])
    assert {(f.factor, f.soft_assigned) for f in features} == {("Quality", True)}
    assert stems == []  # main: 2 per feature


@pytest.fixture
def matrix_norms(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The shapes of the 2-D arrays whose row norms numpy computes (the ranking's per-row work)."""
    shapes: list[tuple[int, ...]] = []
    original = np.linalg.norm

    def counting(x: Any, *args: Any, **kwargs: Any) -> Any:
        if np.ndim(x) == 2:
            shapes.append(np.shape(x))
        return original(x, *args, **kwargs)

    monkeypatch.setattr(np.linalg, "norm", counting)
    return shapes


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_repeated_query_ranks_without_measuring_the_examples_again(matrix_norms, mode):
    rpm = demo_rpm()
    first = rpm.personalize("ada", QUERY)
    assert len(matrix_norms) == 1 and first.example_ids  # the first query reads and ranks the user's examples
    matrix_norms.clear()
    for _ in range(3):
        again = rpm.personalize("ada", QUERY) if mode == "sync" else await rpm.apersonalize("ada", QUERY)
        assert (again.answer, again.example_ids) == (first.answer, first.example_ids)
    assert matrix_norms == []  # main: one norm of the whole example matrix per query


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_querys_answer_is_normalized_once(monkeypatch, mode):
    rpm = demo_rpm()
    expected = rpm.personalize("ada", QUERY)
    seen: list[object] = []
    original = TaskSpec.normalize

    def counting(self: TaskSpec, answer: object, options: Any = None) -> str:
        seen.append(answer)
        return original(self, answer, options)

    monkeypatch.setattr(TaskSpec, "normalize", counting)
    got = rpm.personalize("ada", QUERY) if mode == "sync" else await rpm.apersonalize("ada", QUERY)
    assert (got.answer, got.valid, got.raw_answer) == (expected.answer, True, expected.raw_answer)
    assert seen == [expected.raw_answer]  # main: twice (the retry check, then the prediction's)


def test_a_repeated_query_looks_at_the_stores_files_without_python_file_objects(monkeypatch):
    rpm = demo_rpm()
    first = rpm.personalize("ada", QUERY)
    folder = str(rpm.store.backend.folder.folder)
    opened: list[str] = []
    original = io.open

    def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file).startswith(folder):
            opened.append(Path(file).name)
        return original(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting)
    monkeypatch.setattr(builtins, "open", counting)
    assert rpm.personalize("ada", QUERY).example_ids == first.example_ids
    assert opened == []  # main: the write token and Chroma's database file, a Python file object each


@pytest.fixture
def profiles_parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stored profiles' JSON documents parsed into whole ``UserProfile`` objects, in order."""
    seen: list[str] = []
    original = UserProfile.model_validate_json

    def counting(json_data: Any, *args: Any, **kwargs: Any) -> UserProfile:
        seen.append(json_data)
        return original(json_data, *args, **kwargs)

    monkeypatch.setattr(UserProfile, "model_validate_json", counting)
    return seen


def _updated_three_times() -> Any:
    """The demo user, queried once, then updated three times: each update leaves a drift record on the profile."""
    rpm = demo_rpm()
    rpm.personalize("ada", QUERY)
    for n in range(3):
        rpm.add_interactions("ada", [{"id": f"new-{n}", "input": f"Strap {n} snapped at once.", "response": "2"}])
    assert len(rpm.profile("ada").drift) == 3
    return rpm


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_query_after_the_users_own_write_parses_the_factors_not_the_drift_history(profiles_parsed, mode):
    rpm = _updated_three_times()
    rpm.add_interactions("ada", [{"id": "new-3", "input": "The strap broke again.", "response": "1"}])
    profiles_parsed.clear()
    got = rpm.personalize("ada", QUERY) if mode == "sync" else await rpm.apersonalize("ada", QUERY)
    assert profiles_parsed == []  # main: the whole profile, drift records included, once per query
    state = rpm.inference_graph.invoke(query_input(QUERY, None), context=RPMContext("ada"))
    graph = Prediction.model_validate(state["rpm_prediction"])
    assert (got.answer, got.example_ids, got.factors_used) == (graph.answer, graph.example_ids, graph.factors_used)
    found = Personalizer(rpm.components).invoke("ada", QUERY)  # the routine that hands the profile out: whole
    assert found.profile == rpm.profile("ada") and len(found.profile.drift) == 4


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_query_after_the_users_own_write_measures_only_the_new_records(matrix_norms, mode):
    rpm = demo_rpm()
    rpm.personalize("ada", QUERY)
    matrix_norms.clear()  # the write and the query: the write's new record is measured, once
    rpm.add_interactions("ada", [{"id": "new-0", "input": "The strap broke on day two.", "response": "1"}])
    got = rpm.personalize("ada", QUERY) if mode == "sync" else await rpm.apersonalize("ada", QUERY)
    assert matrix_norms == [(1, 16)]  # main: [(4, 16)], every row of the user's examples again
    backend = rpm.store.backend
    entry = backend.query_cache.lookup("ada", backend.folder.generation(), backend.folder.erasures)
    assert entry is not None and np.array_equal(entry.norms, np.linalg.norm(entry.vectors, axis=1))
    rpm.store.backend.query_cache.clear()  # the same query over a fresh read: the same hits, the same scores
    again = rpm.personalize("ada", QUERY)
    assert (again.answer, again.example_ids, again.examples) == (got.answer, got.example_ids, got.examples)


@pytest.fixture
def json_parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every JSON text pydantic parses (models and type adapters), in order."""
    seen: list[str] = []
    model_original, adapter_original = BaseModel.model_validate_json.__func__, TypeAdapter.validate_json  # type: ignore[attr-defined]

    def model_counting(cls: type[BaseModel], json_data: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(json_data))
        return model_original(cls, json_data, *args, **kwargs)

    def adapter_counting(self: TypeAdapter[Any], json_data: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(json_data))
        return adapter_original(self, json_data, *args, **kwargs)

    monkeypatch.setattr(BaseModel, "model_validate_json", classmethod(model_counting))
    monkeypatch.setattr(TypeAdapter, "validate_json", adapter_counting)
    return seen


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_no_query_reads_through_the_drift_history(json_parsed, mode):
    """After the own write and repeated: a query parses the factors' JSON alone, not the profile holding them."""
    rpm = _updated_three_times()
    json_parsed.clear()
    for _ in range(2):  # the first query after the write, then a repeated one
        rpm.personalize("ada", QUERY) if mode == "sync" else await rpm.apersonalize("ada", QUERY)
    assert json_parsed and not [text for text in json_parsed if '"drift"' in text]  # main: the profile, each query


SURFACES: dict[str, Any] = {
    "retriever": lambda rpm: RPMRetriever(components=rpm.components, user_id="ada").invoke(QUERY),
    "tool, examples": lambda rpm: create_rpm_tool(rpm, mode="examples").invoke(
        {"query": QUERY}, config={"configurable": {"user_id": "ada"}}
    ),
    "tool, answer": lambda rpm: create_rpm_tool(rpm).invoke(
        {"query": QUERY}, config={"configurable": {"user_id": "ada"}}
    ),
    "middleware": lambda rpm: RPMMiddleware(rpm).personal_block("ada", QUERY),
    "inference graph": lambda rpm: rpm.inference_graph.invoke(query_input(QUERY, None), context=RPMContext("ada")),
}


@pytest.mark.parametrize("surface", list(SURFACES))
def test_no_query_surface_reads_through_the_drift_history(json_parsed, surface):
    """The retriever, the tool, the middleware and the graph read what a query needs of a profile: its factors."""
    rpm = _updated_three_times()
    rpm.personalize("ada", QUERY)  # the query cache holds the user's read
    json_parsed.clear()
    assert SURFACES[surface](rpm)
    assert json_parsed and not [text for text in json_parsed if '"drift"' in text]  # main: the whole profile
