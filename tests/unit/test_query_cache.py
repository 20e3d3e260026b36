"""The per-user query cache: a repeated query reads nothing, yet every write (this process, another store
object, another process) and every forget is seen by the very next query; no entry serves another user."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from langchain_rpm import RPMStore
from langchain_rpm._plans import run
from langchain_rpm.errors import UnknownUserError
from langchain_rpm.personalization import Personalizer
from langchain_rpm.privacy import forget_user
from langchain_rpm.store._query_cache import CachedContext, QueryCache
from tests.support import concurrent_writers as writers
from tests.support.rpm_fakes import CountingEmbeddings

QUERY = "Robots and a kiss in space."


def _store(folder) -> RPMStore:
    return RPMStore(folder, embeddings=CountingEmbeddings())


def _item_ids(store: RPMStore, user: str) -> set[str]:
    found = Personalizer(writers.make_rpm(store).components).invoke(user, QUERY, k=50, retrieval="query")
    return {hit.example.item_id for hit in found.examples}


def test_a_repeated_query_is_served_from_the_cache(tmp_path):
    store = _store(tmp_path / "store")
    writers.make_rpm(store).build_user("ada", writers.BASE)
    first = _item_ids(store, "ada")
    assert "ada" in store.backend.query_cache
    assert _item_ids(store, "ada") == first == {item["id"] for item in writers.BASE}


def test_another_process_write_is_seen_by_the_next_query(tmp_path):
    folder = tmp_path / "store"
    store = _store(folder)
    writers.make_rpm(store).build_user("ada", writers.BASE)
    before = _item_ids(store, "ada")  # cached now
    reports = writers.in_processes(["--store", str(folder)], "ada", 1, 2)
    assert _item_ids(store, "ada") == before | set(reports[0]["written"])
    assert store.get_profile("ada").num_items == len(writers.BASE) + 2


def test_a_write_through_another_store_object_is_seen_by_the_next_query(tmp_path):
    folder = tmp_path / "store"
    reader, writer = _store(folder), _store(folder)
    writers.make_rpm(writer).build_user("ada", writers.BASE)
    before = _item_ids(reader, "ada")
    writers.make_rpm(writer).add_interactions("ada", writers.items("other", 1))
    assert _item_ids(reader, "ada") == before | {"other-000"}


async def test_an_async_query_sees_a_write_made_after_it_was_cached(tmp_path):
    store = _store(tmp_path / "store")
    rpm = writers.make_rpm(store)
    await rpm.abuild_user("ada", writers.BASE)
    personalizer = Personalizer(rpm.components)
    await personalizer.ainvoke("ada", QUERY)
    await rpm.aadd_interactions("ada", writers.items("late", 1))
    found = await personalizer.ainvoke("ada", QUERY, k=50, retrieval="query")
    assert "late-000" in {hit.example.item_id for hit in found.examples}


def test_forget_drops_the_users_entry_at_once(tmp_path):
    store = _store(tmp_path / "store")
    rpm = writers.make_rpm(store)
    rpm.build_user("ada", writers.BASE)
    rpm.build_user("bo", writers.BASE)
    _item_ids(store, "ada")
    assert "ada" in store.backend.query_cache
    rpm.forget("ada")
    assert "ada" not in store.backend.query_cache
    with pytest.raises(UnknownUserError):
        Personalizer(rpm.components).invoke("ada", QUERY)
    assert _item_ids(store, "bo") == {item["id"] for item in writers.BASE}


def test_a_read_that_raced_a_forget_is_not_kept():
    cache = QueryCache()
    assert cache.lookup("ada", "g1") is None  # a query looks up, then reads the store...
    cache.drop("ada")  # ...while a forget deletes the user and drops the entry
    cache.store("ada", "g1", CachedContext("{}"))  # what the query read (maybe before the delete)
    assert "ada" not in cache


def test_entries_are_kept_per_user_and_only_under_a_known_generation():
    cache = QueryCache(size=1)
    cache.lookup("ada", "g1")
    cache.store("ada", "g1", CachedContext(None, [[1.0, 0.0]], [{"user_id": "ada", "example": "{}"}], "ada"))
    assert cache.lookup("bo", "g1") is None  # another user's entry is never served
    cache.store("bo", "g1", CachedContext(None, user_id="bo"))
    assert "ada" not in cache and "bo" in cache  # size 1: the least recently queried user went
    cache.store("cy", None, CachedContext(None, user_id="cy"))  # no generation (a server): nothing kept
    assert "cy" not in cache
    assert cache.lookup("bo", "g2") is None  # a write moved the generation: not served as it is...
    assert cache.previous("bo") is not None  # ...but kept, for a query that finds the manifest unchanged
    assert cache.lookup("bo", None) is None and "bo" not in cache  # no generation (a server): nothing kept


def test_an_entry_is_kept_across_a_write_only_for_the_manifest_it_was_read_for():
    entry = CachedContext.of("ada", "{}", [[1.0, 0.0]], [{"user_id": "ada", "example": "{}"}], '{"ids": ["a"]}')
    kept = entry.reused('{"v": 2}', '{"ids": ["a"]}')
    assert kept is not None and kept.profile_json == '{"v": 2}' and kept.vectors is entry.vectors
    assert entry.reused("{}", '{"ids": ["b"]}') is None  # the user's own write: new record ids, read again
    assert CachedContext("{}").reused("{}", '{"ids": []}') is None  # not read by the manifest: read again


def test_another_users_write_keeps_the_users_examples_but_not_their_profile(tmp_path):
    folder = tmp_path / "store"
    reader, writer = _store(folder), _store(folder)
    writers.make_rpm(writer).build_user("ada", writers.BASE)
    before = _item_ids(reader, "ada")
    writers.make_rpm(writer).build_user("bo", writers.items("bo", 2))  # moves the generation
    profile = writer.get_profile("ada")
    run(writer.backend.put_profile_plan(profile.model_copy(update={"num_items": 99})))  # ada's manifest stands
    found = Personalizer(writers.make_rpm(reader).components).invoke("ada", QUERY, k=50, retrieval="query")
    assert found.profile is not None and found.profile.num_items == 99
    assert {hit.example.item_id for hit in found.examples} == before


def test_a_user_forgotten_through_another_store_object_is_not_served_from_a_kept_entry(tmp_path):
    folder = tmp_path / "store"
    reader, writer = _store(folder), _store(folder)
    writers.make_rpm(writer).build_user("ada", writers.BASE)
    _item_ids(reader, "ada")
    writers.make_rpm(writer).forget("ada")
    with pytest.raises(UnknownUserError):
        Personalizer(writers.make_rpm(reader).components).invoke("ada", QUERY)
    writers.make_rpm(writer).build_user("ada", writers.items("again", 2))  # rebuilt: new records
    assert _item_ids(reader, "ada") == {"again-000", "again-001"}


def test_users_queried_in_turn_each_get_their_own_examples(tmp_path):
    store = _store(tmp_path / "store")
    rpm = writers.make_rpm(store)
    rpm.build_user("ada", writers.BASE)
    rpm.build_user("bo", writers.items("bo", 3))
    for _ in range(2):
        assert _item_ids(store, "ada") == {item["id"] for item in writers.BASE}
        assert _item_ids(store, "bo") == {f"bo-{i:03d}" for i in range(3)}


def test_the_cache_off_reads_every_time(tmp_path):
    store = _store(tmp_path / "store")
    writers.make_rpm(store).build_user("ada", writers.BASE)
    store.backend.query_cache.size = 0
    assert _item_ids(store, "ada") == {item["id"] for item in writers.BASE}
    assert "ada" not in store.backend.query_cache
    asyncio.run(Personalizer(writers.make_rpm(store).components).ainvoke("ada", QUERY))
    assert "ada" not in store.backend.query_cache


def test_a_commit_that_was_never_announced_is_seen_by_the_next_query(tmp_path):
    """A writer killed after Chroma committed but before it replaced the write token, or a plain Chroma client."""
    store = _store(tmp_path / "store")
    writers.make_rpm(store).build_user("ada", writers.BASE)
    _item_ids(store, "ada")
    profile = store.get_profile("ada")
    changed = profile.model_copy(update={"num_items": 99})
    run(store.backend.put_profile_plan(changed))  # straight to Chroma: no lock, no new write token
    found = Personalizer(writers.make_rpm(store).components).invoke("ada", QUERY)
    assert found.profile is not None and found.profile.num_items == 99


def test_chroma_still_counts_its_commits_in_the_sqlite_header(tmp_path):
    """The generation relies on it: SQLite's file change counter moves with every commit to Chroma's database."""
    store = _store(tmp_path / "store")
    before = store.backend.folder.generation()[2]
    writers.make_rpm(store).build_user("ada", writers.BASE)
    assert len(before) == 4 and store.backend.folder.generation()[2] != before


@pytest.mark.parametrize("where", ["another store object", "another process"])
def test_a_user_forgotten_elsewhere_leaves_this_process_at_its_next_query(tmp_path, where):
    """Seen: bo's kept vectors and metadata stayed in this process's memory after a forget elsewhere."""
    folder = tmp_path / "store"
    store = _store(folder)
    rpm = writers.make_rpm(store)
    rpm.build_user("ada", writers.BASE)
    rpm.build_user("bo", writers.BASE)
    _item_ids(store, "bo")
    _item_ids(store, "ada")
    if where == "another process":
        code = (
            "import sys; from langchain_rpm import RPMStore; from langchain_rpm.privacy import forget_user; "
            "from tests.support.rpm_fakes import CountingEmbeddings; "
            "forget_user('bo', RPMStore(sys.argv[1], embeddings=CountingEmbeddings()), compact=False)"
        )
        subprocess.run([sys.executable, "-c", code, str(folder)], cwd=writers.ROOT, check=True, timeout=300)
    else:
        forget_user("bo", _store(folder), compact=False)
    assert "bo" in store.backend.query_cache
    assert _item_ids(store, "ada") == {item["id"] for item in writers.BASE}  # another user's query
    assert "bo" not in store.backend.query_cache
