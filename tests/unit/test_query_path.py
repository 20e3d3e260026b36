"""The direct query path answers as the inference graph does, and the store's round trips are counted, not timed.

Round trips are Chroma calls: every method of the Chroma collection and client classes is wrapped with a
counter, so a change that adds a read to a query or a user's write fails here whatever the machine's speed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from chromadb.api.models.Collection import Collection
from chromadb.api.rust import RustBindingsAPI

from langchain_rpm.agents.middleware import RPMMiddleware
from langchain_rpm.graphs.inference import prediction_from_state, query_input
from langchain_rpm.graphs.state import RPMContext
from langchain_rpm.personalization import Personalization
from langchain_rpm.testing import DEMO_HISTORY, demo_rpm
from langchain_rpm.types import HistoryItem, Usage

QUERY = "The strap broke on the second day."


class MyPersonalization(Personalization):
    """A caller's subclass (pickled as itself)."""


COLLECTION_CALLS = ("get", "query", "add", "upsert", "update", "delete", "count", "peek", "modify")
CLIENT_CALLS = ("get_collection", "get_or_create_collection", "create_collection", "delete_collection")


@pytest.fixture
def chroma_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts every Chroma collection and client call made while the test runs."""
    counts: Counter[str] = Counter()

    def counting(owner: type, name: str) -> None:
        original = getattr(owner, name)

        def wrapper(self: object, *args: object, **kwargs: object) -> object:
            counts[name] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    for name in COLLECTION_CALLS:
        counting(Collection, name)
    for name in CLIENT_CALLS:
        if hasattr(RustBindingsAPI, name):
            counting(RustBindingsAPI, name)
    yield counts


def _graph_prediction(rpm, user: str, query: str):
    state = rpm.inference_graph.invoke(query_input(query, None), context=RPMContext(user))
    return prediction_from_state(state, Usage())


def test_the_direct_path_gives_the_graphs_answer():
    rpm = demo_rpm()
    direct, graph = rpm.personalize("ada", QUERY), _graph_prediction(rpm, "ada", QUERY)
    assert direct.model_dump(exclude={"usage"}) == graph.model_dump(exclude={"usage"})
    assert direct.examples and direct.usage.llm_calls == 2
    assert "ada" in rpm.store.backend.query_cache  # the same answer again, from the query cache
    assert rpm.personalize("ada", QUERY).model_dump(exclude={"usage"}) == graph.model_dump(exclude={"usage"})


async def test_the_async_direct_path_gives_the_graphs_answer():
    rpm = demo_rpm()
    direct = await rpm.apersonalize("ada", QUERY)
    state = await rpm.inference_graph.ainvoke(query_input(QUERY, None), context=RPMContext("ada"))
    assert direct.model_dump(exclude={"usage"}) == prediction_from_state(state, Usage()).model_dump(exclude={"usage"})


def test_a_query_reads_nothing_after_the_users_own_write_nor_when_nothing_changed(chroma_calls):
    """After the user's own write in this process: no store call (the write's records, written through to the
    query cache; the kept ones were held). Round 5: one ``get`` (the new record); before it, two (every record).
    The answer is a fresh read's and the inference graph's."""
    rpm = demo_rpm()
    rpm.personalize("ada", QUERY)  # first query: opens the collections
    rpm.add_interactions("ada", [HistoryItem(id="new-1", input="Arrived late and scratched.", response="2")])
    chroma_calls.clear()
    after_write = rpm.personalize("ada", QUERY)
    assert chroma_calls == Counter()
    again = rpm.personalize("ada", QUERY)
    assert chroma_calls == Counter()  # the store's write generation stood: this process's read serves
    assert again.model_dump(exclude={"usage"}) == after_write.model_dump(exclude={"usage"})
    assert "new-1" in {hit.example.item_id for hit in after_write.examples}
    rpm.store.backend.query_cache.clear()
    fresh = rpm.personalize("ada", QUERY)
    assert chroma_calls == Counter(get=2)  # a fresh read: profile + manifest, then every record
    assert after_write.model_dump(exclude={"usage"}) == fresh.model_dump(exclude={"usage"})
    assert after_write.model_dump(exclude={"usage"}) == _graph_prediction(rpm, "ada", QUERY).model_dump(
        exclude={"usage"}
    )


async def test_an_async_query_reads_nothing_after_the_users_own_write_nor_when_nothing_changed(chroma_calls):
    rpm = demo_rpm()
    await rpm.apersonalize("ada", QUERY)
    await rpm.aadd_interactions("ada", [HistoryItem(id="new-1", input="Arrived late and scratched.", response="2")])
    chroma_calls.clear()
    after_write = await rpm.apersonalize("ada", QUERY)
    assert chroma_calls == Counter()
    await rpm.apersonalize("ada", QUERY)
    assert chroma_calls == Counter()
    rpm.store.backend.query_cache.clear()
    fresh = await rpm.apersonalize("ada", QUERY)
    assert after_write.model_dump(exclude={"usage"}) == fresh.model_dump(exclude={"usage"})


def test_a_query_after_another_users_write_in_this_process_reads_nothing(chroma_calls):
    """This process's write of another user is explained by its own commits: the user's entry stands (0 ``get``).

    Before: one ``get`` (profile + manifest), as the write moved the store's generation.
    """
    rpm = demo_rpm()
    before = rpm.personalize("ada", QUERY)
    rpm.build_user("bo", DEMO_HISTORY)
    rpm.add_interactions("bo", [HistoryItem(id="new-1", input="Arrived late and scratched.", response="2")])
    chroma_calls.clear()
    after = rpm.personalize("ada", QUERY)
    assert chroma_calls == Counter()
    assert after.model_dump(exclude={"usage"}) == before.model_dump(exclude={"usage"})
    assert after.model_dump(exclude={"usage"}) == _graph_prediction(rpm, "ada", QUERY).model_dump(exclude={"usage"})


async def test_an_async_query_after_another_users_write_in_this_process_reads_nothing(chroma_calls):
    rpm = demo_rpm()
    before = await rpm.apersonalize("ada", QUERY)
    await rpm.abuild_user("bo", DEMO_HISTORY)
    await rpm.aadd_interactions("bo", [HistoryItem(id="new-1", input="Arrived late and scratched.", response="2")])
    chroma_calls.clear()
    after = await rpm.apersonalize("ada", QUERY)
    assert chroma_calls == Counter()
    assert after.model_dump(exclude={"usage"}) == before.model_dump(exclude={"usage"})


def test_the_inference_graph_reads_the_store_as_the_direct_path_does(chroma_calls):
    """Its three nodes share one store read (the query cache): none after the user's own write in this process
    (round 5: one ``get``), nor after another user's write in this process."""
    rpm = demo_rpm()
    _graph_prediction(rpm, "ada", QUERY)  # opens the collections
    rpm.add_interactions("ada", [HistoryItem(id="new-1", input="Arrived late and scratched.", response="2")])
    chroma_calls.clear()
    graph = _graph_prediction(rpm, "ada", QUERY)
    assert chroma_calls == Counter()
    chroma_calls.clear()
    assert _graph_prediction(rpm, "ada", QUERY) == graph and chroma_calls == Counter()
    rpm.build_user("bo", DEMO_HISTORY)
    chroma_calls.clear()
    assert _graph_prediction(rpm, "ada", QUERY) == graph and chroma_calls == Counter()


def test_a_retrieval_reads_nothing_after_the_users_own_write_nor_until_another_write(chroma_calls):
    from langchain_rpm.personalization import Personalizer
    from langchain_rpm.retrievers import RPMRetriever

    rpm = demo_rpm()
    RPMRetriever.from_rpm(rpm, user_id="ada").invoke(QUERY)  # opens the collections
    rpm.add_interactions("ada", [HistoryItem(id="new-1", input="Arrived late and scratched.", response="2")])
    chroma_calls.clear()
    docs = RPMRetriever.from_rpm(rpm, user_id="ada").invoke(QUERY)
    assert docs and chroma_calls == Counter()
    chroma_calls.clear()
    found = Personalizer(rpm.components).invoke("ada", QUERY)
    assert found.examples and chroma_calls == Counter()
    assert [hit.example.item_id for hit in found.examples] == [doc.metadata["item_id"] for doc in docs]


def test_one_users_write_makes_a_fixed_number_of_store_calls(chroma_calls):
    """A build's commit and an added interaction, as counts of Chroma calls: the same with more users stored."""
    rpm = demo_rpm(user=None)
    rpm.build_user("warm", DEMO_HISTORY)  # opens the collections

    def build_calls(user: str) -> int:
        chroma_calls.clear()
        rpm.build_user(user, DEMO_HISTORY)
        return sum(chroma_calls.values())

    first = build_calls("ada")
    chroma_calls.clear()
    rpm.add_interactions("ada", [HistoryItem(id="new-1", input="Arrived late and scratched.", response="2")])
    update = sum(chroma_calls.values())
    for other in ("bob", "cy", "dee"):
        rpm.build_user(other, DEMO_HISTORY)
    assert first <= 7 and update <= 9, chroma_calls  # gets and two upserts each (measured: 7 and 9)
    assert build_calls("eve") == first  # three more users stored: not one call more


def test_after_the_users_own_write_the_query_cache_holds_exactly_what_a_read_gives(monkeypatch):
    """The kept records are held (their ids are never rewritten) and the new one is written through: no examples
    ``get`` at all (round 5: one, of the new record; before: every record), and the whole entry is what a fresh
    read gives (rows, their order, vectors and metadata exactly), so the answer is the same.
    """
    from chromadb.api.models.Collection import Collection

    rpm = demo_rpm()
    rpm.personalize("ada", QUERY)
    rpm.add_interactions("ada", [HistoryItem(id="new-1", input="Arrived late and scratched.", response="2")])
    asked: list[int] = []
    original = Collection.get

    def counting(self: Collection, *args: object, **kwargs: object) -> object:
        if "embeddings" in (kwargs.get("include") or []):
            asked.append(len(kwargs.get("ids") or []))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "get", counting)
    after = rpm.personalize("ada", QUERY)
    assert asked == []
    cache = rpm.store.backend.query_cache
    kept = cache.previous("ada")
    cache.clear()
    fresh = rpm.personalize("ada", QUERY)
    read = cache.previous("ada")
    assert asked == [4]  # the fresh read: every record
    assert kept is not None and read is not None and kept.ids == read.ids and kept.metadatas == read.metadatas
    assert kept.vectors is not None and read.vectors is not None and (kept.vectors == read.vectors).all()
    assert kept.profile_json == read.profile_json and kept.manifest == read.manifest
    assert after.model_dump(exclude={"usage"}) == fresh.model_dump(exclude={"usage"})


def test_the_middleware_reads_once_per_new_message_and_nothing_for_a_kept_block(chroma_calls):
    """An agent's model calls of one turn share a message: on an embedded folder the kept block costs no read.
    Before round 9 each model call read the profile (one ``get``), and a new message read it twice over."""
    rpm = demo_rpm()
    middleware = RPMMiddleware(rpm)
    chroma_calls.clear()
    first = middleware.personal_block("ada", QUERY)
    assert chroma_calls["get"] == 2  # main: 3 (the profile, then profile and manifest, then the vectors)
    chroma_calls.clear()
    assert middleware.personal_block("ada", QUERY) == first
    assert chroma_calls == Counter()  # main: one get of the profile


def test_a_personalization_is_still_a_dataclass_with_its_fields():
    """Round 9 made the profile lazy; a caller's ``dataclasses.replace``/``fields``/``asdict`` keep working."""
    import dataclasses

    from langchain_rpm.personalization import Personalizer

    found = Personalizer(demo_rpm().components).invoke("ada", QUERY)
    assert [f.name for f in dataclasses.fields(found)] == ["user_id", "query", "profile", "features", "examples"]
    other = dataclasses.replace(found, query="Another question.")
    assert (other.query, other.user_id, other.profile, other.examples) == (
        "Another question.",
        found.user_id,
        found.profile,
        found.examples,
    )
    assert found.examples and dataclasses.asdict(found)["profile"].user_id == "ada"
    found.profile = None  # assignable, as before
    assert (found.has_profile, found.factors) == (False, [])
    assert dataclasses.replace(found).profile is None


def test_a_personalization_pickles_and_goes_through_pydantic_and_its_factors_follow_its_profile():
    """Round 9's lazy profile broke all three (a query context holds a lambda; pydantic saw the descriptor)."""
    import pickle

    from pydantic import TypeAdapter

    from langchain_rpm.personalization import Personalizer

    found = Personalizer(demo_rpm().components).invoke("ada", QUERY)
    assert pickle.loads(pickle.dumps(found)) == found
    adapter = TypeAdapter(Personalization)
    assert adapter.validate_json(adapter.dump_json(found)) == found
    assert adapter.validate_python(adapter.dump_python(found)).profile == found.profile
    assert found.factors and found.profile is not None
    found.profile.factors.clear()  # the caller's change to the parsed profile is what renders
    assert found.factors == []

    profile = Personalizer(demo_rpm().components).invoke("ada", QUERY).profile
    assert profile is not None and profile.factors
    given = MyPersonalization("ada", QUERY, profile)
    assert type(pickle.loads(pickle.dumps(given))) is MyPersonalization and given.factors
    profile.factors.clear()  # a profile object given to it: its factors, as they are now
    assert given.factors == []
