"""Write-through: after a user's own write in this process the query cache holds exactly what a read would give.

The write hands its new records to the query cache (``store/_write_window.Switched.written``), so the query
after it reads nothing. Each test compares the entry with a fresh read of the store (rows, their order,
vectors bit for bit, metadata, profile and manifest documents) and the answer with a fresh read's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import chromadb
import numpy as np
import pytest
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings
from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_rpm import RPM, RPMStore
from langchain_rpm._plans import run
from langchain_rpm.personalization import Personalizer
from langchain_rpm.store._query_cache import CachedContext
from langchain_rpm.store._write_window import as_chroma_returns
from langchain_rpm.store._writes import UserWrite, write_many_plan
from langchain_rpm.testing import DEMO_HISTORY, demo_chat_model, demo_rpm
from langchain_rpm.types import HistoryItem
from tests.support import concurrent_writers as writers
from tests.support.rpm_fakes import CountingEmbeddings

QUERY = "The strap broke on the second day."
ITEM = [HistoryItem(id="new-1", input="Arrived late and scratched.", response="2")]


@pytest.fixture
def gets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts Chroma ``get`` and ``query`` calls, and the ids each ``get`` asked for (``ids:N``)."""
    counts: Counter[str] = Counter()
    originals = {name: getattr(Collection, name) for name in ("get", "query")}

    def counting(name: str) -> Callable[..., object]:
        def wrapper(self: Collection, *args: object, **kwargs: object) -> object:
            counts[name] += 1
            if name == "get" and "embeddings" in (kwargs.get("include") or []):
                counts[f"ids:{len(kwargs.get('ids') or [])}"] += 1
            return originals[name](self, *args, **kwargs)

        return wrapper

    for name in originals:
        monkeypatch.setattr(Collection, name, counting(name))
    yield counts


def _served(rpm: RPM, user: str) -> CachedContext | None:
    backend = rpm.store.backend
    return backend.query_cache.lookup(user, backend.folder.generation(), backend.folder.erasures)


def _assert_a_read_gives(rpm: RPM, user: str, entry: CachedContext | None) -> None:
    """``entry`` is what a fresh read of ``user`` gives, and so is the answer."""
    cached = rpm.personalize(user, QUERY)
    rpm.store.backend.query_cache.clear()
    fresh = rpm.personalize(user, QUERY)
    read = rpm.store.backend.query_cache.previous(user)
    assert entry is not None and read is not None and entry.complete
    assert (entry.ids, entry.metadatas) == (read.ids, read.metadatas)
    assert (entry.profile_json, entry.manifest) == (read.profile_json, read.manifest)
    assert entry.vectors is not None and read.vectors is not None
    assert entry.vectors.shape == read.vectors.shape and (entry.vectors == read.vectors).all()
    assert cached.model_dump(exclude={"usage"}) == fresh.model_dump(exclude={"usage"})


@pytest.mark.parametrize("dim", [7, 16, 384])
def test_an_embedded_cosine_collection_gives_vectors_back_as_as_chroma_returns_says(tmp_path, dim):
    """Pins Chroma's own arithmetic on the installed version: a change of it fails here, not in a user's answer."""
    client = chromadb.PersistentClient(str(tmp_path), settings=Settings(anonymized_telemetry=False))
    collection = client.get_or_create_collection("probe-vectors", configuration={"hnsw": {"space": "cosine"}})
    rng = np.random.default_rng(dim)
    vectors = rng.normal(size=(60, dim)) * rng.uniform(0.01, 10.0, size=(60, 1))
    ids = [f"r{i}" for i in range(60)]
    collection.add(ids=ids[:30], embeddings=vectors[:30].tolist())
    for i in range(30, 60):  # one record per call, as a single item's write
        collection.add(ids=[ids[i]], embeddings=[vectors[i].tolist()])
    got = collection.get(ids=ids, include=["embeddings"])
    order = [ids.index(record_id) for record_id in got["ids"]]
    read = np.asarray(got["embeddings"], dtype=np.float64)
    assert (as_chroma_returns(vectors[order].tolist()).astype(np.float64) == read).all()
    if dim == 384:  # plain float32 rounding is not what comes back
        assert (vectors[order].astype(np.float32).astype(np.float64) != read).any()


def test_the_users_own_writes_are_written_through_bit_for_bit(gets):
    rpm = demo_rpm()
    rpm.personalize("ada", QUERY)
    for n in range(3):
        rpm.add_interactions("ada", [HistoryItem(id=f"new-{n}", input=f"Arrived late, box {n} torn.", response="2")])
        gets.clear()
        rpm.personalize("ada", QUERY)
        assert gets == Counter()
    _assert_a_read_gives(rpm, "ada", _served(rpm, "ada"))


async def test_an_async_write_is_written_through(gets):
    rpm = demo_rpm()
    await rpm.apersonalize("ada", QUERY)
    await rpm.aadd_interactions("ada", ITEM)
    gets.clear()
    await rpm.apersonalize("ada", QUERY)
    assert gets == Counter()
    _assert_a_read_gives(rpm, "ada", _served(rpm, "ada"))


def test_a_rebuild_is_written_through_with_only_its_new_records(gets):
    rpm = demo_rpm()
    rpm.personalize("ada", QUERY)
    rpm.build_user("ada", [*DEMO_HISTORY[:2], *ITEM])
    gets.clear()
    rpm.personalize("ada", QUERY)
    assert gets == Counter()
    entry = _served(rpm, "ada")
    assert entry is not None and len(entry.ids) == 3
    _assert_a_read_gives(rpm, "ada", entry)


def test_an_imported_user_is_written_through_with_the_vectors_chroma_keeps(gets):
    """An import keeps its exact float64 vectors in metadata; the query ranks Chroma's stored ones, as a read."""
    rpm = demo_rpm()
    document = rpm.store.export_user("ada")
    rpm.personalize("ada", QUERY)
    rpm.store.import_user(document, replace=True)
    gets.clear()
    entry = _served(rpm, "ada")
    assert entry is not None and all("vector" in meta for meta in entry.metadatas)
    _assert_a_read_gives(rpm, "ada", entry)


def test_a_group_commit_writes_through_only_users_already_held(gets):
    """Nothing new is kept for a user no query read (a bulk build keeps no rows alive); a held user's entry is whole."""
    rpm = demo_rpm()
    rpm.build_user("bo", DEMO_HISTORY)
    rpm.personalize("ada", QUERY)
    examples = {user: rpm.store.get_examples(user) for user in ("ada", "bo")}
    same = lambda every, previous: previous  # noqa: E731 - the profile as it is: a switch all the same
    run(write_many_plan(rpm.store, [UserWrite(user, examples[user][:2], make_profile=same) for user in examples]))
    assert "bo" not in rpm.store.backend.query_cache
    gets.clear()
    rpm.personalize("ada", QUERY)
    assert gets == Counter()
    _assert_a_read_gives(rpm, "ada", _served(rpm, "ada"))


def test_a_user_grown_past_the_exact_search_limit_is_read_and_searched_as_a_read_would(tmp_path, gets):
    """The entry would hold 4 rows; the store ranks at most 3 exactly, so the query reads and asks Chroma's index."""
    store = RPMStore(tmp_path / "store", embeddings=DeterministicFakeEmbedding(size=16), exact_search_limit=3)
    rpm = RPM(demo_chat_model(), task="lamp3", store=store)
    rpm.build_user("ada", DEMO_HISTORY)
    rpm.personalize("ada", QUERY)
    rpm.add_interactions("ada", ITEM)
    gets.clear()
    after = rpm.personalize("ada", QUERY)
    assert gets["query"] == 1  # Chroma's filtered search, as without the cache
    rpm.store.backend.query_cache.clear()
    assert rpm.personalize("ada", QUERY).model_dump(exclude={"usage"}) == after.model_dump(exclude={"usage"})


def test_a_record_another_process_wrote_is_read_not_lost(tmp_path, gets):
    """Another process adds to ada (unexplained here), then this process's write: the entry misses that record,
    so the query reads it, and only it (the profile and manifest, and the held and written rows, are kept)."""
    folder = tmp_path / "store"
    store = RPMStore(folder, embeddings=CountingEmbeddings())
    rpm = writers.make_rpm(store)
    rpm.build_user("ada", writers.BASE)
    Personalizer(rpm.components).invoke("ada", QUERY)
    written = writers.in_processes(["--store", str(folder)], "ada", 1, 1)[0]["written"]
    rpm.add_interactions("ada", writers.items("here", 1))
    gets.clear()
    found = Personalizer(rpm.components).invoke("ada", QUERY, k=50)
    assert gets == Counter({"get": 1, "ids:1": 1})
    items = {hit.example.item_id for hit in found.examples}
    assert items == {item["id"] for item in writers.BASE} | set(written) | {"here-000"}


def test_a_long_example_is_written_through_as_a_read_gives_it(gets):
    """An example's JSON over 4,096 bytes (Chroma Cloud's cap on one metadata value): whatever metadata the
    store keeps it in, the entry holds what a read returns (one function builds both)."""
    rpm = demo_rpm()
    rpm.personalize("ada", QUERY)
    long_input = "Arrived late, the box torn and the strap scratched. " * 120  # ~6,000 bytes
    rpm.add_interactions("ada", [HistoryItem(id="long-1", input=long_input, response="2")])
    gets.clear()
    rpm.personalize("ada", QUERY)
    assert gets == Counter()
    _assert_a_read_gives(rpm, "ada", _served(rpm, "ada"))
