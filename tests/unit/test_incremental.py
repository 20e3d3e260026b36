"""Incremental updates and caching: LLM calls are paid only for what changed."""

from __future__ import annotations

import pytest
from langchain_core.caches import InMemoryCache

from langchain_rpm import RPM, RPMStore
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model
from tests.unit.conftest import MOVIE_HISTORY

NEW_ITEMS = [
    {"id": "n1", "input": "Robots kiss in space.", "response": "romance"},
    {"id": "n2", "input": "A chase with explosions.", "response": "action"},
]


def test_adding_k_items_costs_only_their_calls(rpm, llm, store):
    rpm.build_user("ada", MOVIE_HISTORY)
    before = store.get_profile("ada")
    llm.reset()
    profile = rpm.add_interactions("ada", NEW_ITEMS)
    assert llm.call_count == 2 * len(NEW_ITEMS)  # one factor-aware extraction + one reasoning path each
    assert profile.version == before.version + 1
    assert profile.num_items == len(MOVIE_HISTORY) + 2
    assert {f.name for f in profile.factors} == {f.name for f in before.factors}
    assert {e.item_id for e in store.get_examples("ada")} == {i["id"] for i in MOVIE_HISTORY + NEW_ITEMS}


def test_statistics_after_an_update_equal_a_full_rebuild(tmp_path):
    def fresh(name):
        return RPM(rpm_fake_model(), task="lamp2", store=RPMStore(tmp_path / name, embeddings=CountingEmbeddings()))

    incremental, full = fresh("inc"), fresh("full")
    incremental.build_user("ada", MOVIE_HISTORY)
    updated = incremental.add_interactions("ada", NEW_ITEMS)
    rebuilt = full.build_user("ada", MOVIE_HISTORY + NEW_ITEMS)
    assert {f.name: f.statistics for f in updated.factors} == {f.name: f.statistics for f in rebuilt.factors}


async def test_async_update_and_unfit_features_go_to_other(rpm, llm, store):
    await rpm.abuild_user("ada", MOVIE_HISTORY[:3])
    llm.reset()
    # "late delivery" belongs to a factor the user does not have yet -> Other, below the threshold.
    profile = await rpm.aadd_interactions("ada", [{"id": "x", "input": "A robot arrives late.", "response": "sci-fi"}])
    assert llm.call_count == 2
    other = profile.factor("Other")
    assert other is not None and other.statistics.support == 1
    assert profile.unfit_features == 1


def test_recluster_happens_only_past_the_threshold(store, llm):
    rpm = RPM(llm, task="lamp2", store=store, recluster_threshold=0.2)
    rpm.build_user("ada", MOVIE_HISTORY[:2])  # features: robots, outer space, aliens (Science themes)
    llm.reset()
    profile = rpm.add_interactions(
        "ada", [{"id": "w", "input": "A wedding, a kiss, a love story.", "response": "romance"}]
    )
    # 3 new features fit no factor: 3 / (4 + 3) > 0.2 -> one clustering call on top of 2 item calls.
    assert llm.call_count == 2 + 1
    assert profile.unfit_features == 0
    assert "Romance" in {f.name for f in profile.factors}
    assert all(f.factor == "Romance" for f in next(e for e in store.get_examples("ada") if e.item_id == "w").features)


def test_adding_an_existing_item_id_is_refused(rpm, store):
    rpm.build_user("ada", MOVIE_HISTORY)
    with pytest.raises(ValueError, match=r"already has item id\(s\) \['m1'\]"):
        rpm.add_interactions("ada", [MOVIE_HISTORY[0]])
    assert store.get_profile("ada").version == 1


def test_cached_rebuild_makes_zero_llm_calls(tmp_path):
    llm = rpm_fake_model(cache=InMemoryCache())
    first = RPM(llm, task="lamp2", store=RPMStore(tmp_path / "a", embeddings=CountingEmbeddings()))
    first.build_user("ada", MOVIE_HISTORY)
    assert llm.call_count == 2 * len(MOVIE_HISTORY) + 1
    llm.reset()
    again = RPM(llm, task="lamp2", store=RPMStore(tmp_path / "b", embeddings=CountingEmbeddings()))
    profile = again.build_user("ada", MOVIE_HISTORY)
    assert llm.call_count == 0
    assert profile.factors == first.store.get_profile("ada").factors
