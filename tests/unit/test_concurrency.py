"""Concurrent writers lose nothing: other users in parallel, one user from threads, tasks and processes;
queries racing a rebuild see one profile version; a writer refused by the lock says so."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from filelock import FileLock

from langchain_rpm import RPM, RPMStore
from langchain_rpm.errors import StoreLockTimeout
from tests.support import concurrent_writers as writers
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model
from tests.unit.conftest import MOVIE_HISTORY


def _history(user: int, n: int = len(MOVIE_HISTORY)) -> list[dict[str, str]]:
    return [{**item, "id": f"{item['id']}-{user}"} for item in MOVIE_HISTORY[:n]]


def test_concurrent_builds_of_different_users_lose_no_writes(tmp_path):
    store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    rpms = [RPM(rpm_fake_model(), task="lamp2", store=store) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        profiles = list(pool.map(lambda i: rpms[i].build_user(f"user-{i}", _history(i)), range(6)))
    assert all(p.num_items == len(MOVIE_HISTORY) for p in profiles)
    reopened = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    assert reopened.list_users() == [f"user-{i}" for i in range(6)]
    for i in range(6):
        assert {e.item_id for e in reopened.get_examples(f"user-{i}")} == {item["id"] for item in _history(i)}
    assert len(reopened.examples.get(include=[])["ids"]) == 6 * len(MOVIE_HISTORY)


def test_queries_racing_a_rebuild_see_one_consistent_profile(tmp_path):
    store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    writer = RPM(rpm_fake_model(), task="lamp2", store=store)
    reader = RPM(rpm_fake_model(), task="lamp2", store=store)
    writer.build_user("ada", _history(0, 3))
    versions: dict[int, set[str]] = {1: {f.name for f in store.get_profile("ada").factors}}
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[tuple[set[str], set[str]]] = []

    def rebuild() -> None:
        try:
            for n in range(4, len(MOVIE_HISTORY) + 1):
                profile = writer.build_user("ada", _history(0, n))
                versions[profile.version] = {f.name for f in profile.factors}
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def query() -> None:
        while not done.is_set():
            try:
                prediction = reader.personalize("ada", "Robots kiss during a car chase in space.")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return
            seen.append(({f.factor for f in prediction.features}, set(prediction.example_ids)))

    threads = [threading.Thread(target=rebuild), threading.Thread(target=query)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert seen, "the reader never completed a query"
    all_items = {item["id"] for item in _history(0)}
    for factors, example_ids in seen:
        # Factor-aware features were assigned against exactly one stored profile version.
        assert any(factors <= names for names in versions.values()), (factors, versions)
        assert example_ids <= all_items
    final = store.get_profile("ada")
    assert final.version == 1 + (len(MOVIE_HISTORY) - 3)
    assert {e.item_id for e in store.get_examples("ada")} == all_items


# -- many writers for ONE user (issue 13.3 and its acceptance test) -----------------------------------------
def _base_store(folder, **kwargs) -> RPMStore:
    store = RPMStore(folder, embeddings=CountingEmbeddings(), **kwargs)
    writers.make_rpm(store).build_user("ada", writers.BASE)
    return store


def test_four_threads_adding_for_one_user_lose_nothing(tmp_path):
    store = _base_store(tmp_path / "store")
    reports = writers.in_threads(lambda: RPMStore(tmp_path / "store", embeddings=CountingEmbeddings()), "ada", 4, 10)
    figures = writers.audit(RPMStore(tmp_path / "store", embeddings=CountingEmbeddings()), "ada", reports)
    assert figures["written"] == 40 and writers.consistent(figures), figures
    assert not store.folder.writer.locked() and not store.folder.file_lock.is_locked  # all given back


async def test_six_asyncio_tasks_adding_for_one_user_lose_nothing(tmp_path):
    store = _base_store(tmp_path / "store")
    reports = await writers.in_tasks(store, "ada", 6, 8)
    figures = writers.audit(store, "ada", reports)
    assert figures["written"] == 48 and writers.consistent(figures), figures


def test_three_processes_adding_for_one_user_lose_nothing_and_a_long_lived_reader_sees_it_all(tmp_path):
    folder = tmp_path / "store"
    reader = _base_store(folder)  # opened and used before the other processes write: its index is in memory
    assert len(reader.search("ada", "robots", k=10)) == len(writers.BASE)
    reports = writers.in_processes(["--store", str(folder)], "ada", 3, 6)
    figures = writers.audit(reader, "ada", reports)  # no "Error finding id": the reader reopened Chroma
    assert figures["written"] == 18 and writers.consistent(figures), figures
    fresh = writers.audit(RPMStore(folder, embeddings=CountingEmbeddings()), "ada", reports)
    assert fresh == figures


def test_a_writer_refused_by_the_lock_reports_it_and_stores_nothing(tmp_path):
    folder = tmp_path / "store"
    store = _base_store(folder)
    lock = FileLock(folder / "rpm-write.lock")
    with lock:  # another process is writing (this one, holding the embedded store's file lock)
        reports = writers.in_processes(["--store", str(folder)], "ada", 1, 3, timeout=0.3)
    assert reports[0]["written"] == [] and "write lock of the embedded store" in reports[0]["refused"]
    assert "lock_timeout" in reports[0]["refused"]
    figures = writers.audit(store, "ada", reports)
    assert figures["refused"] == 1 and figures["written"] == 0 and writers.consistent(figures), figures
    store.folder.writer.acquire()  # another writer of this process holds the lock
    try:
        with pytest.raises(StoreLockTimeout, match="another writer in this process"):
            RPMStore(folder, embeddings=CountingEmbeddings(), lock_timeout=0.05).save_profile(store.get_profile("ada"))
    finally:
        store.folder.writer.release()


def test_threads_tasks_and_processes_writing_for_one_user_at_once_lose_nothing(tmp_path):
    """The acceptance test: every kind of writer on one embedded folder at the same time."""
    folder = tmp_path / "store"
    reader = _base_store(folder)

    def make() -> RPMStore:
        return RPMStore(folder, embeddings=CountingEmbeddings())

    with ThreadPoolExecutor(max_workers=3) as pool:
        processes = pool.submit(writers.in_processes, ["--store", str(folder)], "ada", 2, 4)
        threads = pool.submit(writers.in_threads, make, "ada", 2, 4)
        tasks = pool.submit(lambda: asyncio.run(writers.in_tasks(make(), "ada", 2, 4)))
        reports = processes.result() + threads.result() + tasks.result()
    figures = writers.audit(reader, "ada", reports)
    assert figures["writers"] == 6 and figures["written"] == 24 and writers.consistent(figures), figures
