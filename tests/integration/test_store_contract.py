"""The store's contract, one suite over every backend: Chroma embedded, Chroma server, InMemoryStore, PostgresStore.

Isolation (adversarial ids), forget (nothing of the user left in the backend's storage), concurrent writers
(threads, asyncio tasks, processes / several clients: 0 lost, 0 duplicated), copy-on-write with rollback, and
resumable builds. The Chroma server is a real ``chroma run``; Postgres is a real PostgreSQL started by the
suite (:mod:`tests.support.postgres`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from langchain_rpm import RPM, RPMStore, create_profile_build_graph
from langchain_rpm._plans import run
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.testing import FakeStructuredChatModel
from langchain_rpm.types import Feature, ReasoningExample
from tests.support import concurrent_writers as writers
from tests.support.postgres import postgres_server  # noqa: F401 - the session fixture
from tests.support.rpm_fakes import CountingEmbeddings
from tests.unit.test_resume import CONFIG, INPUT, CountingResponder, N, SimulatedCrash

BACKENDS = [
    "chroma-embedded",
    pytest.param("chroma-server", marks=[pytest.mark.integration, pytest.mark.enable_socket]),
    "inmemory",
    pytest.param("postgres", marks=pytest.mark.integration),
]
ADVERSARIAL = ["ada", "Ada", "ada ", " ada", "ada/../bob", "a.b", "rpm", "heads", "examples", "ünï", "x" * 300, "*"]


@dataclass
class Backend:
    """One backend under test: how to open another store object on it, and how to look at its storage."""

    name: str
    open: Callable[[], RPMStore]
    target: list[str] | None  # arguments of tests.support.concurrent_writers for writer processes
    residue: Callable[[str], list[str]]  # where a marker is still found after forget


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Backend:
    name, namespace = request.param, f"c{uuid.uuid4().hex[:10]}"
    if name == "chroma-embedded":
        folder = tmp_path / "store"
        return Backend(
            name,
            lambda: RPMStore(folder, embeddings=CountingEmbeddings()),
            ["--store", str(folder)],
            lambda marker: _files_with(folder, marker),
        )
    if name == "chroma-server":
        server = request.getfixturevalue("chroma_server")

        def opener() -> RPMStore:
            return RPMStore.from_server(server.host, server.port, namespace=namespace, embeddings=CountingEmbeddings())

        return Backend(
            name,
            opener,
            ["--server", server.host, str(server.port), namespace],
            lambda marker: _chroma_records_with(opener(), marker),
        )
    if name == "inmemory":
        memory = InMemoryStore()
        return Backend(
            name,
            lambda: RPMStore.from_langgraph(memory, embeddings=CountingEmbeddings()),
            None,
            lambda marker: [repr(k) for k, v in memory._data.items() if marker in repr(v)],
        )
    pg = request.getfixturevalue("postgres_server")
    url = pg.database()
    return Backend(
        name,
        lambda: RPMStore.from_postgres(url, namespace=namespace, embeddings=CountingEmbeddings()),
        ["--postgres", url, namespace],
        lambda marker: _postgres_residue(url, pg.data, marker),
    )


def _files_with(folder: Path, marker: str, skip: tuple[str, ...] = ()) -> list[str]:
    data = marker.encode()
    return [
        str(p) for p in folder.rglob("*") if p.is_file() and not set(p.parts) & set(skip) and data in p.read_bytes()
    ]


def _chroma_records_with(store: RPMStore, marker: str) -> list[str]:  # a server's files are not ours to scan
    found = [
        *store.examples.get(include=["metadatas"])["metadatas"],
        *store.profiles.get(include=["documents"])["documents"],
        *store.profiles.get(include=["metadatas"])["metadatas"],  # a profile's JSON is kept here since 9991821
    ]
    return [str(x)[:80] for x in found if marker in str(x)]


def _postgres_residue(url: str, data: Path, marker: str) -> list[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT prefix, key FROM store WHERE value::text LIKE %s", (f"%{marker}%",)).fetchall()
        conn.execute("CHECKPOINT")  # the pages on disk, as a copy of the data folder would have them
    return [str(row) for row in rows] + _files_with(data, marker, skip=("pg_wal",))


def examples(user: str, count: int, marker: str = "") -> list[ReasoningExample]:
    return [
        ReasoningExample(
            item_id=f"i{i}",
            input=f"{marker} story {i} of {user}",
            features=[Feature(name=f"robots {i}")],
            reasoning=f"{marker} because",
            answer="sci-fi",
        )
        for i in range(count)
    ]


def test_every_read_is_scoped_to_one_user_whatever_the_id(backend):
    store = backend.open()
    for user in ADVERSARIAL:
        store.add_examples(user, examples(user, 2, marker=f"<{user}>"))
    for user in ADVERSARIAL:
        assert [ex.input.split(" story")[0] for ex in store.get_examples(user)] == [f"<{user}>"] * 2
        assert {hit.example.input for hit in store.search(user, "robots", k=50)} == {
            ex.input for ex in examples(user, 2, f"<{user}>")
        }
    with pytest.raises(ConfigurationError, match="user_id"):
        store.search("ada", "robots", where={"user_id": "bob"})
    assert store.delete_user("ada/../bob") == 2
    assert store.get_examples("ada/../bob") == [] and len(store.get_examples("ada")) == 2


def test_forget_leaves_nothing_of_the_user_in_the_backend(backend):
    store = backend.open()
    rpm = writers.make_rpm(store)
    marker = f"zq{uuid.uuid4().hex[:8]}"
    rpm.build_user(
        "ada", [{"id": f"m{i}", "input": f"{marker} robots rebel #{i}", "response": "sci-fi"} for i in range(3)]
    )
    rpm.build_user("bob", writers.BASE)
    before = backend.residue(marker)
    assert before and (backend.name != "postgres" or any("/base/" in hit for hit in before))  # the check can fail
    report = rpm.forget("ada")
    assert report.examples_removed == 3 and store.get_profile("ada") is None and store.search("ada", marker) == []
    assert backend.residue(marker) == []
    assert len(store.get_examples("bob")) == len(writers.BASE)


def test_concurrent_threads_and_tasks_lose_and_duplicate_nothing(backend):
    writers.make_rpm(backend.open()).build_user("ada", writers.BASE)
    reports = writers.in_threads(backend.open, "ada", 3, 4)
    figures = writers.audit(backend.open(), "ada", reports)
    assert figures["written"] == 12 and writers.consistent(figures), figures


async def test_concurrent_asyncio_tasks_lose_and_duplicate_nothing(backend):
    store = backend.open()
    writers.make_rpm(store).build_user("ada", writers.BASE)
    reports = await writers.in_tasks(store, "ada", 4, 3)
    figures = writers.audit(store, "ada", reports)
    assert figures["written"] == 12 and writers.consistent(figures), figures


def test_concurrent_processes_lose_and_duplicate_nothing(backend):
    if backend.target is None:
        pytest.skip("an InMemoryStore lives in one process")
    writers.make_rpm(backend.open()).build_user("ada", writers.BASE)
    reports = writers.in_processes(backend.target, "ada", 3, 3)
    figures = writers.audit(backend.open(), "ada", reports)
    assert figures["written"] == 9 and writers.consistent(figures), figures


def test_a_rebuild_that_fails_before_its_switch_leaves_the_previous_version_whole(backend, monkeypatch):
    store = backend.open()
    store.add_examples("ada", examples("ada", 3, marker="old"))
    before = store.get_examples("ada")

    def broken_switch(*args: Any) -> Any:
        raise RuntimeError("crash before the switch")
        yield  # pragma: no cover

    monkeypatch.setattr(store.backend, "switch_plan", broken_switch)
    with pytest.raises(RuntimeError, match="before the switch"):
        store.replace_user_examples("ada", examples("ada", 2, marker="new"))
    assert store.get_examples("ada") == before  # rolled back: the old version, whole and searchable
    assert {h.example.input for h in store.search("ada", "robots", k=10)} == {ex.input for ex in before}
    assert len(run(store.backend.record_ids_plan("ada"))) == 5  # the failed write's orphans
    monkeypatch.undo()
    store.replace_user_examples("ada", examples("ada", 2, marker="new"))
    assert [ex.reasoning for ex in store.get_examples("ada")] == ["new because"] * 2
    assert len(run(store.backend.record_ids_plan("ada"))) == 2  # the rebuild removed every orphan


def test_an_interrupted_build_resumes_without_paying_finished_items_again(backend):
    store = backend.open()
    responder = CountingResponder(crash_after=4)
    parts = RPM(FakeStructuredChatModel(responder=responder), "lamp2", store=store).components
    graph = create_profile_build_graph(parts).compile(checkpointer=InMemorySaver())
    with pytest.raises(SimulatedCrash):
        graph.invoke(INPUT, CONFIG)
    assert store.get_profile("ada") is None
    responder.crash_after = None
    out = graph.invoke(None, CONFIG)
    assert out["profile"]["num_items"] == N and len(store.get_examples("ada")) == N
    responder.assert_each_item_paid_once()


def _profile_of(user: str) -> Any:
    from langchain_rpm.types import UserProfile

    return lambda every, previous: UserProfile(
        user_id=user, task="lamp2", factors=[], num_items=len(every), num_features=0
    )


def test_a_group_commit_switches_each_user_whole_or_not_at_all(backend, monkeypatch):
    from langchain_rpm.store._writes import UserWrite, write_many_plan

    store = backend.open()
    users = [f"g{i}" for i in range(4)]
    for user in users:
        store.add_examples(user, examples(user, 2, marker="old"))
    group = [UserWrite(user, examples(user, 3, marker="new"), make_profile=_profile_of(user)) for user in users]

    def broken_switches(*args: Any) -> Any:
        raise RuntimeError("crash before the switches")
        yield  # pragma: no cover

    monkeypatch.setattr(store.backend, "switch_many_plan", broken_switches)
    with pytest.raises(RuntimeError, match="before the switches"):
        run(write_many_plan(store, group))
    assert all([ex.reasoning for ex in store.get_examples(user)] == ["old because"] * 2 for user in users)
    monkeypatch.undo()
    results = run(write_many_plan(store, group))
    for user, result in zip(users, results, strict=True):
        assert [ex.reasoning for ex in store.get_examples(user)] == ["new because"] * 3
        assert store.get_profile(user).num_items == 3 and result.profile.num_items == 3
        assert sorted(run(store.backend.record_ids_plan(user))) == sorted(result.ids)  # orphans and old gone
