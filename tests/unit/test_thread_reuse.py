"""One checkpointer thread reused across requests: results never cross users and never go stale (issue 13.1)."""

from __future__ import annotations

from langgraph.checkpoint.memory import InMemorySaver

from langchain_rpm import RPM, RPMStore, create_profile_build_graph
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model

ADA = [
    {"id": "1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
    {"id": "2", "input": "Aliens land and a robot helps.", "response": "sci-fi"},
]
BOB = [
    {"id": "1", "input": "A wedding turns into a love story.", "response": "romance"},
    {"id": "2", "input": "A kiss at the wedding.", "response": "romance"},
]
THREAD = {"configurable": {"thread_id": "shared-thread"}}


def _rpm(tmp_path, **kwargs) -> RPM:
    return RPM(
        rpm_fake_model(), task="lamp2", store=RPMStore(tmp_path / "s", embeddings=CountingEmbeddings()), **kwargs
    )


def test_a_second_user_on_a_used_thread_gets_none_of_the_first_users_data(tmp_path):
    rpm = _rpm(tmp_path)
    graph = create_profile_build_graph(rpm.components).compile(checkpointer=InMemorySaver())
    graph.invoke({"user_id": "ada", "history": ADA}, THREAD)
    out = graph.invoke({"user_id": "bob", "history": BOB}, THREAD)
    assert out["profile"]["user_id"] == "bob"
    stored = rpm.store.get_examples("bob")
    assert [e.input for e in stored] == [item["input"] for item in BOB]
    text = " ".join(e.model_dump_json() for e in stored)
    assert "Robot" not in text and "Aliens" not in text and "sci-fi" not in text
    factors = {f.name for f in rpm.store.get_profile("bob").factors}
    assert factors and "Science themes" not in factors, factors
    assert {e.input for e in rpm.store.get_examples("ada")} == {item["input"] for item in ADA}


def test_an_item_whose_text_or_answer_changed_is_recomputed_on_the_same_thread(tmp_path):
    rpm = _rpm(tmp_path)
    graph = create_profile_build_graph(rpm.components).compile(checkpointer=InMemorySaver())
    graph.invoke({"user_id": "ada", "history": ADA}, THREAD)
    edited = [ADA[0], {"id": "2", "input": "A car chase ends in a fist fight.", "response": "action"}]
    graph.invoke({"user_id": "ada", "history": edited}, THREAD)
    by_id = {e.item_id: e for e in rpm.store.get_examples("ada")}
    assert by_id["2"].input == edited[1]["input"] and by_id["2"].answer == "action"
    assert {f.name for f in by_id["2"].features} == {"car chase", "fist fight"}
    assert "robot" not in by_id["2"].reasoning.lower()
    relabelled = [ADA[0], {**ADA[1], "response": "action"}]
    graph.invoke({"user_id": "ada", "history": relabelled}, THREAD)
    assert {e.item_id: e.answer for e in rpm.store.get_examples("ada")} == {"1": "sci-fi", "2": "action"}


def test_the_facade_with_one_thread_id_stores_the_second_users_profile(tmp_path):
    rpm = _rpm(tmp_path, checkpointer=InMemorySaver())
    first = rpm.build_user("ada", ADA, config=THREAD)
    second = rpm.build_user("bob", BOB, config=THREAD)
    assert (first.user_id, second.user_id) == ("ada", "bob")
    stored = rpm.store.get_profile("bob")
    assert stored is not None and stored.user_id == "bob" and stored.num_items == len(BOB)
    assert [e.input for e in rpm.store.get_examples("bob")] == [item["input"] for item in BOB]
    assert {f.name for e in rpm.store.get_examples("bob") for f in e.features} <= {"wedding", "love story", "kiss"}
    assert "Science themes" not in {f.name for f in stored.factors}
    assert rpm.users() == ["ada", "bob"]
