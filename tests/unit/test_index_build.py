"""Examples collections made in this process build a cheaper vector index; searches stay exact where they were.

An embedded ``add`` holds the interpreter while Chroma inserts into its HNSW index, stalling an async
build's event loop; since round 8 of issue 21 in-process examples collections are made with
``ef_construction`` 40 and ``ef_search`` 400 instead of Chroma's 100 and 100 (``store/_handles.EMBEDDED_INDEX``):
a cheaper build, and a wider search that more than wins back its recall.
"""

from __future__ import annotations

from pathlib import Path

import chromadb
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_rpm.store import RPMStore
from langchain_rpm.store._handles import EMBEDDED_INDEX
from tests.unit.test_store import example, history, profile

CHROMA_DEFAULT = 100


def _hnsw(collection: chromadb.Collection) -> dict[str, object]:
    return dict((collection.configuration_json or {}).get("hnsw") or {})


@pytest.mark.parametrize("layout", ["shared", "per_user"])
def test_an_embedded_folder_makes_its_examples_collections_with_the_cheaper_index(tmp_path: Path, layout: str) -> None:
    store = RPMStore(tmp_path, embeddings=DeterministicFakeEmbedding(size=8), layout=layout)  # type: ignore[arg-type]
    store.replace_user_examples("ada", history("ada", 3))
    store.save_profile(profile("ada"))
    examples = _hnsw(store.examples_collection("ada"))
    assert (examples["ef_construction"], examples["ef_search"]) == (40, 400)  # before round 8: (100, 100)
    assert examples["space"] == "cosine"
    assert _hnsw(store.profiles)["ef_construction"] == CHROMA_DEFAULT  # fetched by id only: left as it was


def test_an_in_memory_client_does_too_and_a_collection_an_earlier_version_made_keeps_its_index(
    tmp_path: Path,
) -> None:
    memory = RPMStore(client=chromadb.EphemeralClient(), embeddings=DeterministicFakeEmbedding(size=8))
    memory.replace_user_examples("ada", history("ada", 2))
    assert _hnsw(memory.examples_collection("ada"))["ef_construction"] == EMBEDDED_INDEX["ef_construction"]

    client = chromadb.PersistentClient(path=str(tmp_path))
    earlier = client.create_collection("rpm_examples", configuration={"hnsw": {"space": "cosine"}})
    store = RPMStore(client=client, embeddings=DeterministicFakeEmbedding(size=8))
    store.replace_user_examples("ada", history("ada", 3))
    assert store.examples_collection("ada").id == earlier.id
    assert _hnsw(store.examples_collection("ada"))["ef_construction"] == CHROMA_DEFAULT
    assert [ex.item_id for ex in store.get_examples("ada")] == ["0", "1", "2"]


def test_a_user_past_the_exact_limit_is_searched_through_the_cheaper_index_with_the_exact_answer(
    tmp_path: Path,
) -> None:
    """Above ``exact_search_limit`` a search is Chroma's filtered HNSW query: it must find what exact ranking finds."""
    embeddings = DeterministicFakeEmbedding(size=32)
    items = [example(f"{i}", f"feature {i % 37} of topic {i % 11}", answer=f"a{i % 5}") for i in range(400)]
    exact = RPMStore(tmp_path / "exact", embeddings=embeddings)
    indexed = RPMStore(tmp_path / "indexed", embeddings=embeddings, exact_search_limit=50)
    for store in (exact, indexed):
        store.replace_user_examples("ada", items)
        store.replace_user_examples("bob", items[:60])  # another user in the same collection: filtered out
    assert _hnsw(indexed.examples_collection("ada"))["ef_search"] == EMBEDDED_INDEX["ef_search"]
    for query in ["feature 3 of topic 3", "feature 20 of topic 9", "topic 4", "feature 36"]:
        want = [hit.example.item_id for hit in exact.search("ada", query, k=8)]
        got = [hit.example.item_id for hit in indexed.search("ada", query, k=8)]
        assert got == want, query
