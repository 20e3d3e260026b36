"""Group commit: many users' writes coalesce into max-size upserts (embedded Chroma), each user still whole."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from chromadb.api.models.Collection import Collection

from langchain_rpm._plans import arun, run
from langchain_rpm.errors import ConcurrentWriteError
from langchain_rpm.store import RPMStore
from langchain_rpm.store._commit_queue import group_commits, queue_for
from langchain_rpm.store._writes import UserWrite, group_commit_plan, write_many_plan
from langchain_rpm.types import Feature, ReasoningExample, UserProfile
from tests.support.crash_worker import history
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model
from tests.unit.test_query_path import chroma_calls  # noqa: F401  (the Chroma call counter fixture)


class CountingCollection:
    """A collection that counts its writes (``upsert`` and ``add``) and forwards everything."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.writes = inner, 0

    def upsert(self, **kwargs: Any) -> Any:
        self.writes += 1
        return self.inner.upsert(**kwargs)

    def add(self, **kwargs: Any) -> Any:
        self.writes += 1
        return self.inner.add(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _write(user: str) -> UserWrite:
    items = [
        ReasoningExample(
            item_id=str(i), input=f"{user} {i}", features=[Feature(name=f"f{i}")], reasoning="r", answer="a"
        )
        for i in range(3)
    ]
    profile = UserProfile(user_id=user, task="lamp2", factors=[], num_items=3, num_features=0)
    return UserWrite(user, items, make_profile=lambda every, previous: profile)


def test_fifty_users_cost_a_few_max_size_upserts_not_a_hundred(tmp_path):
    store = RPMStore(tmp_path, embeddings=CountingEmbeddings())
    store._batch = 100  # 150 new records: 2 adds of examples; 100 manifest + profile records: 1 upsert
    counted = {kind: CountingCollection(getattr(store, kind)) for kind in ("examples", "profiles")}
    store.handles.update(counted)
    results = run(write_many_plan(store, [_write(f"u{i:02d}") for i in range(50)]))
    assert (counted["examples"].writes, counted["profiles"].writes) == (2, 1)
    assert len(results) == 50 and store.list_users() == [f"u{i:02d}" for i in range(50)]
    assert [ex.input for ex in store.get_examples("u07")] == ["u07 0", "u07 1", "u07 2"]
    assert store.search("u07", "f1", k=1)[0].example.input == "u07 1"


# -- the commit queue: bulk builds coalesce their users' writes ------------------------------------------
def _bulk_rpm(folder: Any) -> Any:
    from langchain_rpm import RPM

    return RPM(rpm_fake_model(delay=0.01), task="lamp2", store=RPMStore(folder, embeddings=CountingEmbeddings()))


def _stored(store: RPMStore, user: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    profile = store.get_profile(user)
    assert profile is not None
    kept = profile.model_dump(mode="json", exclude={"created_at", "updated_at", "cost"})
    return [ex.model_dump(mode="json") for ex in store.get_examples(user)], kept


HISTORIES = {f"user-{u:02d}": history(6 + u % 3) for u in range(12)}


async def test_a_bulk_build_stores_what_one_by_one_builds_store_in_fewer_group_commits(tmp_path, monkeypatch):
    one_by_one = _bulk_rpm(tmp_path / "one")
    for user, items in HISTORIES.items():
        await one_by_one.abuild_user(user, items)
    bulk = _bulk_rpm(tmp_path / "bulk")
    switches = _count_switches(bulk.store, monkeypatch)
    built = await bulk.abuild_users(HISTORIES)
    assert not [r for r in built.values() if isinstance(r, Exception)]
    for user in HISTORIES:
        assert _stored(bulk.store, user) == _stored(one_by_one.store, user)
        assert built[user].num_items == len(HISTORIES[user])
    assert sum(switches) == len(HISTORIES) and len(switches) < len(HISTORIES), switches  # users coalesced


def test_the_sync_bulk_build_coalesces_too_and_matches_one_by_one(tmp_path, monkeypatch):
    one_by_one = _bulk_rpm(tmp_path / "one")
    for user, items in HISTORIES.items():
        one_by_one.build_user(user, items)
    bulk = _bulk_rpm(tmp_path / "bulk")
    switches = _count_switches(bulk.store, monkeypatch)
    built = bulk.build_users(HISTORIES)
    assert not [r for r in built.values() if isinstance(r, Exception)]
    assert all(_stored(bulk.store, user) == _stored(one_by_one.store, user) for user in HISTORIES)
    assert sum(switches) == len(HISTORIES) and len(switches) < len(HISTORIES), switches


def _count_switches(store: RPMStore, monkeypatch: Any) -> list[int]:
    """Users switched per ``switch_many_plan`` call (one call per group commit)."""
    sizes: list[int] = []
    original = store.backend.switch_many_plan

    def counting(items: Any) -> Any:
        sizes.append(len(items))
        return original(items)

    monkeypatch.setattr(store.backend, "switch_many_plan", counting)
    return sizes


def test_a_writer_of_one_user_racing_the_group_commit_loses_nothing(tmp_path):
    store = RPMStore(tmp_path, embeddings=CountingEmbeddings())
    users = [f"g{i}" for i in range(6)]
    for user in users:
        store.add_examples(user, [_example(user, "base")])
    start = threading.Barrier(2)

    def racer() -> None:
        start.wait()
        for i in range(6):
            store.add_examples("g3", [_example("g3", f"racer-{i}")])

    thread = threading.Thread(target=racer)
    thread.start()
    start.wait()
    for round_ in range(3):
        group = [UserWrite(u, [_example(u, f"group-{round_}")], replace=False) for u in users]
        with group_commits(store) as queue:
            run(queue_for(store).commit_plan(group[0]))  # through the queue, then a direct group commit
            run(write_many_plan(store, group[1:]))
        assert queue.group_sizes == [1]
    thread.join()
    items = {ex.item_id for ex in store.get_examples("g3")}
    assert items == {"base", *(f"racer-{i}" for i in range(6)), *(f"group-{r}" for r in range(3))}
    assert all(
        {ex.item_id for ex in store.get_examples(u)} == {"base", "group-0", "group-1", "group-2"}
        for u in users
        if u != "g3"
    )


def _example(user: str, item: str) -> ReasoningExample:
    return ReasoningExample(
        item_id=item, input=f"{user} {item}", features=[Feature(name=item)], reasoning="r", answer="a"
    )


def test_a_user_whose_own_part_fails_does_not_stop_the_group(tmp_path):
    store = RPMStore(tmp_path, embeddings=CountingEmbeddings())
    store.add_examples("bad", [_example("bad", "old")])
    good, bad = _write("good"), UserWrite("bad", [_example("bad", "new")], expected_version=7)
    results = run(group_commit_plan(store, [good, bad]))
    assert isinstance(results[1], ConcurrentWriteError) and not isinstance(results[0], Exception)
    assert [ex.item_id for ex in store.get_examples("bad")] == ["old"] and store.get_profile("good") is not None


async def test_queued_writers_each_get_their_own_result_and_a_cancelled_one_is_withdrawn(tmp_path):
    store = RPMStore(tmp_path, embeddings=CountingEmbeddings())
    with group_commits(store) as queue:
        results = await asyncio.gather(*(arun(queue.commit_plan(_write(f"q{i}"))) for i in range(8)))
    assert [r.profile.user_id for r in results] == [f"q{i}" for i in range(8)]
    assert sum(queue.group_sizes) == 8 and max(queue.group_sizes) > 1, queue.group_sizes
    assert store.list_users() == [f"q{i}" for i in range(8)]


# -- round trips: counted, not timed (extends test_query_path's count of one user's write) ---------------
def _seeded(folder: Any, users: list[str]) -> RPMStore:
    store = RPMStore(folder, embeddings=CountingEmbeddings())
    run(write_many_plan(store, [_write(user) for user in users]))
    return store


def test_one_users_rebuild_makes_five_store_calls_and_a_group_of_ten_the_same_five(tmp_path, chroma_calls):  # noqa: F811
    users = [f"r{i}" for i in range(10)]
    store = _seeded(tmp_path, [*users, "solo"])
    chroma_calls.clear()
    run(write_many_plan(store, [_write("solo")]))
    single = Counter(chroma_calls)
    # manifest + profile in one get, every record (id) of the user in one; the staging add (new ids) and the
    # switch upsert; one delete of the superseded records
    assert single == Counter(get=2, add=1, upsert=1, delete=1), single
    chroma_calls.clear()
    run(write_many_plan(store, [_write(user) for user in users]))
    assert Counter(chroma_calls) == single, chroma_calls  # ten users: the same calls, not ten times
    assert all(len(store.get_examples(user)) == 3 for user in users)


def test_staged_records_are_added_under_ids_no_earlier_write_used(tmp_path):
    """Staging uses Chroma's ``add``, which silently keeps a record whose id exists: every id must be new."""
    store = _seeded(tmp_path, ["ada", "bob"])
    seen = set(store.examples.get(include=[])["ids"])
    for _ in range(3):  # the same items rewritten, alone and in a group
        written = [r.ids for r in run(write_many_plan(store, [_write("ada")]))]
        written += [r.ids for r in run(write_many_plan(store, [_write("ada"), _write("bob")]))]
        fresh = {record_id for ids in written for record_id in ids}
        assert len(fresh) == sum(map(len, written)) and not fresh & seen
        seen |= fresh
    assert [ex.input for ex in store.get_examples("ada")] == ["ada 0", "ada 1", "ada 2"]


async def test_a_queued_commit_frees_its_users_slot_so_the_next_user_builds_and_joins_its_group(tmp_path, monkeypatch):
    bulk = _bulk_rpm(tmp_path)
    switches = _count_switches(bulk.store, monkeypatch)
    histories = {user: HISTORIES[user] for user in ("user-00", "user-01", "user-02")}
    built = await bulk.abuild_users(histories, users_in_flight=1)
    assert not [r for r in built.values() if isinstance(r, Exception)]
    # one user builds at a time, yet the first users' commits wait (holding no slot) for the last one's
    assert switches == [3], switches


def test_one_users_write_reads_the_same_rows_whatever_other_users_store(tmp_path, monkeypatch):
    rows: list[int] = []
    original = Collection.get

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        got = original(self, *args, **kwargs)
        rows.append(len(got["ids"]))
        return got

    read = []
    for others in (1, 30):
        store = _seeded(tmp_path / str(others), [*(f"o{i}" for i in range(others)), "me"])
        monkeypatch.setattr(Collection, "get", counting)
        rows.clear()
        run(write_many_plan(store, [_write("me")]))
        monkeypatch.setattr(Collection, "get", original)
        read.append(list(rows))
    assert read[0] == read[1] == [2, 3], read  # the user's manifest + profile, then the user's 3 records
