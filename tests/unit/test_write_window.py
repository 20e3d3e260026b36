"""A write of this process keeps other users' query-cache entries only when every commit in it was its own.

The shortcut (``store/_write_window.py``) must stay as safe as reading again: a commit that was not the
write's own (a plain Chroma client writing at the same time, inside one of our calls or between two), a
write of another process or a forget leave the next query reading the store, and it sees what they wrote.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
from chromadb.api.models.Collection import Collection

from langchain_rpm._plans import run
from langchain_rpm.personalization import Personalizer
from langchain_rpm.store._records import default_client
from langchain_rpm.store._write_window import COMMITS_PER_WRITE, WriteWindow
from langchain_rpm.testing import DEMO_HISTORY, demo_rpm
from langchain_rpm.types import HistoryItem

QUERY = "The strap broke on the second day."
ITEM = [HistoryItem(id="new-1", input="Arrived late and scratched.", response="2")]


def _profile_items(rpm, user: str) -> int:
    found = Personalizer(rpm.components).invoke(user, QUERY)
    assert found.profile is not None
    return found.profile.num_items


@pytest.fixture
def gets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()
    original = Collection.get

    def counting(self: Collection, *args: object, **kwargs: object) -> object:
        counts["get"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "get", counting)
    yield counts


@pytest.mark.parametrize("where", ["inside the write's upsert", "between the write's calls"])
def test_a_plain_chroma_write_during_another_users_write_is_seen_by_the_next_query(monkeypatch, gets, where):
    """ada's profile changed by a lockless client while bo's write runs: ada's entry must not be carried over."""
    rpm = demo_rpm()
    rpm.build_user("bo", DEMO_HISTORY)
    assert _profile_items(rpm, "ada") == len(DEMO_HISTORY)  # ada's entry is cached now
    changed = rpm.store.get_profile("ada").model_copy(update={"num_items": 99})
    backend, done = rpm.store.backend, []
    owner, method = (Collection, "upsert") if where.startswith("inside") else (WriteWindow, "_expect")
    original = getattr(owner, method)

    def foreign_then_ours(self: object, *args: object, **kwargs: object) -> object:
        if not done:  # the write's first upsert, or the check before its first request under the lock
            done.append(True)
            run(backend.put_profile_plan(changed))  # straight to Chroma: no lock, no token, no window
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, foreign_then_ours)
    rpm.add_interactions("bo", ITEM)
    monkeypatch.setattr(owner, method, original)
    assert done
    assert _profile_items(rpm, "ada") == 99


def test_another_users_write_keeps_the_entry_and_the_answer(gets):
    rpm = demo_rpm()
    rpm.build_user("bo", DEMO_HISTORY)
    before = Personalizer(rpm.components).invoke("ada", QUERY, k=50)
    rpm.add_interactions("bo", ITEM)
    gets.clear()
    after = Personalizer(rpm.components).invoke("ada", QUERY, k=50)
    assert gets == Counter() and after == before


def test_the_users_own_write_is_served_as_it_was_stored(gets):
    rpm = demo_rpm()
    before = _profile_items(rpm, "ada")
    rpm.add_interactions("ada", ITEM)
    gets.clear()
    assert _profile_items(rpm, "ada") == before + 1 and gets == Counter()  # all from the write (round 5: 1 get)


def test_a_plain_chroma_write_after_the_users_own_write_is_seen_by_the_next_query(monkeypatch):
    """A lockless write of ada's profile after the write's last call, before it gave its locks back."""
    from langchain_rpm.store._folder import EmbeddedFolder

    rpm = demo_rpm()
    _profile_items(rpm, "ada")
    backend, done, original = rpm.store.backend, [], EmbeddedFolder.announce_write

    def foreign_then_announce(self: EmbeddedFolder) -> None:
        if not done:
            done.append(True)
            changed = rpm.store.get_profile("ada").model_copy(update={"num_items": 99})
            run(backend.put_profile_plan(changed))
        original(self)

    monkeypatch.setattr(EmbeddedFolder, "announce_write", foreign_then_announce)
    rpm.add_interactions("ada", ITEM)
    monkeypatch.setattr(EmbeddedFolder, "announce_write", original)
    assert done and _profile_items(rpm, "ada") == 99


def test_a_write_through_another_store_object_keeps_the_readers_other_users(gets):
    """Store objects of one process share the folder: a write of either is explained to both caches."""
    from langchain_rpm import RPM, RPMStore
    from langchain_rpm.testing import demo_chat_model

    reader = demo_rpm()
    store = RPMStore(reader.store.backend.folder.folder, embeddings=reader.store.embeddings)
    writer = RPM(demo_chat_model(), task="lamp3", store=store)
    writer.build_user("bo", DEMO_HISTORY)
    _profile_items(reader, "ada")
    writer.add_interactions("bo", ITEM)
    writer.add_interactions("ada", ITEM)
    gets.clear()
    assert _profile_items(reader, "ada") == len(DEMO_HISTORY) + 1 and gets == Counter()  # written through
    writer.add_interactions("bo", [HistoryItem(id="new-2", input="Too small.", response="1")])
    gets.clear()
    assert _profile_items(reader, "ada") == len(DEMO_HISTORY) + 1 and gets == Counter()


def test_a_forget_in_this_process_drops_every_entry(gets):
    rpm = demo_rpm()
    rpm.build_user("bo", DEMO_HISTORY)
    _profile_items(rpm, "ada")
    _profile_items(rpm, "bo")
    rpm.forget("bo")
    assert "bo" not in rpm.store.backend.query_cache
    gets.clear()
    _profile_items(rpm, "ada")
    assert gets["get"] >= 1  # the erase token moved: nothing was carried over


def test_chroma_commits_each_write_call_of_ours_at_least_twice(tmp_path):
    """What the window's check relies on: a foreign commit inside one of our calls shows as one more.

    Our writes upsert new records and delete existing ones; measured here on the installed Chroma, in
    collections of several sizes, each such call commits COMMITS_PER_WRITE times (more when Chroma flushes).
    """
    client = default_client(str(tmp_path / "c"))
    folder = tmp_path / "c" / "chroma.sqlite3"
    collection = client.get_or_create_collection("probe-records", metadata={"hnsw:space": "cosine"})
    collection.add(ids=["seed"], embeddings=[[1.0] * 8], metadatas=[{"user_id": "u"}])

    def counter() -> int:
        return int.from_bytes(folder.read_bytes()[24:28], "big")

    rnd, live, moves = random.Random(7), [], Counter()
    for step in range(60):
        before = counter()
        if step % 3 == 2 and live:
            gone = rnd.sample(live, min(len(live), rnd.choice([1, 2, 5])))
            live = [x for x in live if x not in gone]
            collection.delete(ids=gone)
        else:
            ids = [f"r{step}-{i}" for i in range(rnd.choice([1, 3, 30]))]
            live += ids
            collection.upsert(ids=ids, embeddings=np.random.rand(len(ids), 8).tolist(), metadatas=[{"u": 1}] * len(ids))
        moves[counter() - before] += 1
    assert min(moves) >= COMMITS_PER_WRITE and moves[COMMITS_PER_WRITE] > 40, moves


def test_what_a_write_hands_to_the_query_cache_is_what_it_stored():
    """The profile and manifest written through must be the stored documents (a change of the switch's format
    fails here); the rows are compared with a read in ``test_write_through.py``."""
    from langchain_rpm.store._records import manifest_id, profile_id, stored_texts

    rpm = demo_rpm()
    _profile_items(rpm, "ada")
    rpm.add_interactions("ada", ITEM)
    backend = rpm.store.backend
    served = backend.query_cache.lookup("ada", backend.folder.generation(), backend.folder.erasures)
    profiles = run(backend.collection("profiles"))
    documents = stored_texts(
        profiles.get(ids=[profile_id("ada"), manifest_id("ada")], include=["documents", "metadatas"])
    )
    assert served is not None and served.complete
    assert (served.profile_json, served.manifest) == (documents[profile_id("ada")], documents[manifest_id("ada")])
