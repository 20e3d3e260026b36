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
    # the profile's cost adds the update's calls to the build's, stage by stage
    assert profile.cost.calls_by_stage == {
        stage: calls + (len(NEW_ITEMS) if stage in ("extract", "reason") else 0)
        for stage, calls in before.cost.calls_by_stage.items()
    }
    assert profile.cost.input_tokens > before.cost.input_tokens
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


async def test_async_update_soft_assigns_unfit_features_to_the_closest_factor(rpm, llm, store):
    await rpm.abuild_user("ada", MOVIE_HISTORY[:3])  # factors: Science themes (m1, m2), Romance (m3)
    llm.reset()
    # "late delivery" belongs to none of the user's factors: no word in common with either, so it goes to the
    # factor with more support (Science themes), marked soft-assigned; below the threshold, no re-clustering.
    profile = await rpm.aadd_interactions("ada", [{"id": "x", "input": "A robot arrives late.", "response": "sci-fi"}])
    assert llm.call_count == 2
    example = next(e for e in store.get_examples("ada") if e.item_id == "x")
    assert [(f.name, f.factor, f.soft_assigned) for f in example.features] == [
        ("robots", "Science themes", False),
        ("late delivery", "Science themes", True),
    ]
    assert profile.factor("Other") is None
    assert profile.factor("Science themes").statistics.support == 3
    assert profile.unfit_features == 1


def test_recluster_happens_only_past_the_threshold(store, llm):
    rpm = RPM(llm, task="lamp2", store=store, recluster_threshold=0.2)
    rpm.build_user("ada", MOVIE_HISTORY[:2])  # features: robots, outer space, aliens (Science themes)
    llm.reset()
    profile = rpm.add_interactions(
        "ada", [{"id": "w", "input": "A wedding, a kiss, a love story.", "response": "romance"}]
    )
    # 3 new features fit no factor: 3 / (5 + 3) > 0.2 -> Propose-Assign-Select again over all features
    # (1 Propose + 1 Assign call for 6 unique features) on top of the new item's 2 calls.
    assert llm.call_count == 2 + 2
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
    assert llm.call_count == 2 * len(MOVIE_HISTORY) + 2  # + 1 Propose and 1 Assign call
    llm.reset()
    again = RPM(llm, task="lamp2", store=RPMStore(tmp_path / "b", embeddings=CountingEmbeddings()))
    profile = again.build_user("ada", MOVIE_HISTORY)
    assert llm.call_count == 0
    assert profile.cost.llm_calls == 0 and profile.cost.by_stage == {}  # cache hits spend nothing
    assert profile.factors == first.store.get_profile("ada").factors
