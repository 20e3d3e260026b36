"""Items in windows of packs per graph task give the stored state of one task per pack; commits that race.

The facade without a checkpointer runs ``packs_per_task=max_concurrency``; a graph compiled with a
checkpointer keeps one task per pack (``tests/unit/test_resume.py``). Two writers racing for one user
(``graphs/_commit.py``): an added update keeps the factors another writer committed meanwhile, and a
re-clustered update does not drop the items another writer added while it ran.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langchain_rpm import RPM, RPMStore, create_profile_build_graph
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder
from tests.unit.conftest import MOVIE_HISTORY

HISTORY = MOVIE_HISTORY + [
    {"id": f"x{i}", "input": text, "response": answer}
    for i, (text, answer) in enumerate(
        [("A robot falls in love.", "romance"), ("Aliens fight a war.", "action"), ("A kiss in space.", "romance")] * 3
    )
]


def stored_state(store: RPMStore, user: str) -> tuple[Any, Any]:
    profile = store.get_profile(user)
    assert profile is not None
    skip = {"created_at", "updated_at"}
    return profile.model_dump(exclude=skip), [e.model_dump() for e in store.get_examples(user)]


def build(tmp_path, name: str, packs_per_task: int, *, sync: bool, pack_size: int = 1) -> tuple[Any, Any]:
    store = RPMStore(tmp_path / name, embeddings=CountingEmbeddings())
    parts = RPM(FakeStructuredChatModel(responder=rpm_responder), "lamp2", store=store, pack_size=pack_size)
    graph = create_profile_build_graph(parts.components, packs_per_task=packs_per_task).compile()
    payload = {"user_id": "ada", "history": HISTORY}
    out = graph.invoke(payload) if sync else None
    return stored_state(store, "ada") if out is not None else (graph, store)


@pytest.mark.parametrize("pack_size", [1, 2])
def test_windows_of_packs_store_what_one_task_per_pack_stores(tmp_path, pack_size):
    one = build(tmp_path, "one", 1, sync=True, pack_size=pack_size)
    for window in (3, 100):
        assert build(tmp_path, f"w{window}", window, sync=True, pack_size=pack_size) == one


async def test_async_windows_store_what_one_task_per_pack_stores(tmp_path):
    one = build(tmp_path, "one", 1, sync=True)
    graph, store = build(tmp_path, "async", 4, sync=False)
    await graph.ainvoke({"user_id": "ada", "history": HISTORY})
    assert stored_state(store, "ada") == one


def test_facade_stores_the_same_with_and_without_windows(tmp_path):
    states = []
    for concurrency in (1, 8):
        store = RPMStore(tmp_path / f"c{concurrency}", embeddings=CountingEmbeddings())
        rpm = RPM(FakeStructuredChatModel(responder=rpm_responder), "lamp2", store=store, max_concurrency=concurrency)
        rpm.build_user("ada", HISTORY)
        states.append(stored_state(store, "ada"))
    assert states[0] == states[1]


def test_packs_per_task_must_be_positive(store):
    parts = RPM(FakeStructuredChatModel(responder=rpm_responder), "lamp2", store=store).components
    with pytest.raises(ConfigurationError, match="packs_per_task"):
        create_profile_build_graph(parts, packs_per_task=0)


class RaceResponder:
    """``rpm_responder`` that runs ``race()`` once, when the reasoning call of the item ``trigger`` arrives."""

    def __init__(self, trigger: str) -> None:
        self.trigger, self.race, self.fired = trigger, None, threading.Event()

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        human = str(messages[-1].content) if messages else ""
        reasoning = "features" not in schema.get("properties", {}) and "reasoning" in str(schema).lower()
        if reasoning and self.trigger in human and self.race is not None and not self.fired.is_set():
            self.fired.set()
            self.race()
        return rpm_responder(messages, schema)


def racing_rpms(tmp_path, trigger: str, **settings: Any) -> tuple[RPM, RPM, RaceResponder]:
    store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    responder = RaceResponder(trigger)
    first = RPM(FakeStructuredChatModel(responder=responder), "lamp2", store=store, **settings)
    other = RPM(FakeStructuredChatModel(responder=rpm_responder), "lamp2", store=store, recluster_threshold=0.0)
    return first, other, responder


def test_an_added_update_keeps_factors_another_writer_committed_meanwhile(tmp_path):
    first, other, responder = racing_rpms(tmp_path, "A robot arrives late.")
    first.build_user("ada", MOVIE_HISTORY[:3])  # factors: Science themes, Romance
    # While the update below reasons, another writer re-clusters with an action item: "Action" appears.
    responder.race = lambda: other.add_interactions(
        "ada", [{"id": "o1", "input": "A car chase.", "response": "action"}]
    )
    profile = first.add_interactions("ada", [{"id": "n1", "input": "A robot arrives late.", "response": "sci-fi"}])
    assert responder.fired.is_set()
    used = {f.factor for e in first.store.get_examples("ada") for f in e.features}
    assert "Action" in used and used <= {f.name for f in profile.factors}
    assert {e.item_id for e in first.store.get_examples("ada")} == {"m1", "m2", "m3", "o1", "n1"}


def test_a_reclustered_update_keeps_items_another_writer_added_meanwhile(tmp_path):
    first, other, responder = racing_rpms(tmp_path, "A fist fight in space.", recluster_threshold=0.0)
    first.build_user("ada", MOVIE_HISTORY[:3])
    responder.race = lambda: other.add_interactions(
        "ada", [{"id": "o1", "input": "A car chase.", "response": "action"}]
    )
    base = first.store.get_profile("ada")
    assert base is not None
    profile = first.add_interactions("ada", [{"id": "n1", "input": "A fist fight in space.", "response": "action"}])
    assert responder.fired.is_set()
    stored = {e.item_id for e in first.store.get_examples("ada")}
    assert stored == {"m1", "m2", "m3", "o1", "n1"} and profile.num_items == 5
    assert profile.version == base.version + 2  # the other writer's version, then this one
    used = {f.factor for e in first.store.get_examples("ada") for f in e.features}
    assert used <= {f.name for f in profile.factors}
