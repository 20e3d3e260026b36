"""RPM on LangGraph's store: the graph's ``runtime.store``, a ``BaseStore`` passed as ``store=``, and the
embedding model recorded with each user's data."""

from __future__ import annotations

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.store.memory import InMemoryStore

from langchain_rpm import RPM, RPMContext, RPMRetriever, RPMState, RPMStore, add_rpm_nodes, create_profile_build_graph
from langchain_rpm.errors import ConfigurationError, EmbeddingMismatchError
from langchain_rpm.store import as_rpm_store
from langchain_rpm.testing import demo_chat_model
from tests.unit.conftest import MOVIE_HISTORY

EMBEDDINGS = DeterministicFakeEmbedding(size=8)


class ChatState(MessagesState, RPMState):
    pass


def test_nodes_without_an_rpm_store_keep_their_records_in_the_graphs_store():
    memory = InMemoryStore()
    parts = RPM(demo_chat_model(), "lamp2").components
    parts.store = RPMStore.from_graph(embeddings=EMBEDDINGS)  # the default, with small embeddings
    out = create_profile_build_graph(parts).compile(store=memory).invoke({"user_id": "cy", "history": MOVIE_HISTORY})
    assert out["profile"]["num_items"] == len(MOVIE_HISTORY)
    seen = RPMStore.from_langgraph(memory, embeddings=EMBEDDINGS)
    assert seen.get_profile("cy") is not None and len(seen.get_examples("cy")) == len(MOVIE_HISTORY)
    host = StateGraph(ChatState)
    add_rpm_nodes(host, parts, after=START)
    chat = host.compile(store=memory)
    result = chat.invoke({"messages": [("human", "Aliens invade a space station.")]}, context=RPMContext("cy"))
    assert result["rpm_examples"] and result["rpm_prediction"]["answer"]
    other = InMemoryStore()  # another graph's store does not see cy
    assert RPMStore.from_langgraph(other, embeddings=EMBEDDINGS).get_profile("cy") is None


def test_a_base_store_is_accepted_wherever_a_store_is():
    memory = InMemoryStore()
    rpm = RPM(demo_chat_model(), "lamp2", store=as_rpm_store(RPMStore.from_langgraph(memory, embeddings=EMBEDDINGS)))
    rpm.build_user("bo", MOVIE_HISTORY[:2])
    assert rpm.personalize("bo", "Robots on a space station.").answer
    docs = RPMRetriever.from_rpm(rpm, user_id="bo", k=2).invoke("Robots on a space station.")
    assert {doc.metadata["item_id"] for doc in docs} == {item["id"] for item in MOVIE_HISTORY[:2]}
    assert RPM(demo_chat_model(), "lamp2", store=memory).store.backend.kind == "langgraph"
    with pytest.raises(TypeError, match="RPMStore or a LangGraph BaseStore"):
        as_rpm_store("postgres://nowhere")


def test_another_embedding_model_is_refused_in_one_line():
    memory = InMemoryStore()
    RPMStore.from_langgraph(memory, embeddings=EMBEDDINGS).add_examples("ada", [], profile_version=1)
    rpm = RPM(demo_chat_model(), "lamp2", store=RPMStore.from_langgraph(memory, embeddings=EMBEDDINGS))
    rpm.build_user("ada", MOVIE_HISTORY[:2])
    other = RPMStore.from_langgraph(memory, embeddings=DeterministicFakeEmbedding(size=16))
    with pytest.raises(EmbeddingMismatchError, match="dimension 8") as caught:
        other.search("ada", "robots")
    assert "\n" not in str(caught.value)
    with pytest.raises(EmbeddingMismatchError):
        other.add_examples("ada", rpm.store.get_examples("ada")[:1])


def test_a_namespace_that_langgraph_would_refuse_is_refused_at_once():
    with pytest.raises(ConfigurationError, match="namespace"):
        RPMStore.from_langgraph(InMemoryStore(), embeddings=EMBEDDINGS, namespace="a.b")
    with pytest.raises(ConfigurationError, match="index"):
        RPMStore.from_langgraph(InMemoryStore(), embeddings=EMBEDDINGS, search="index")


def test_where_narrows_a_langgraph_search_like_chromas():
    store = RPMStore.from_langgraph(InMemoryStore(), embeddings=EMBEDDINGS)
    rpm = RPM(demo_chat_model(), "lamp2", store=store)
    rpm.build_user("ada", MOVIE_HISTORY)
    answers = {item["id"]: item["response"] for item in MOVIE_HISTORY}
    some = next(iter(answers.values()))
    hits = store.search("ada", "robots", k=10, where={"answer": some})
    assert hits and all(hit.example.answer == some for hit in hits)
    assert len(hits) == sum(1 for answer in answers.values() if answer == some)
    either = store.search("ada", "robots", k=10, where={"$or": [{"answer": some}, {"item_id": {"$in": ["m2"]}}]})
    assert {hit.example.item_id for hit in either} >= {hit.example.item_id for hit in hits}
