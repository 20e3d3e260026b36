"""A build embeds its examples ahead of its commit, and every guarantee of the copy-on-write store still holds.

The commit (``finalize``) embeds only what was not embedded ahead, and every stored vector is its example's;
nothing is stored before the commit; a forget during the build leaves nothing once the build ends, whether
it then commits or fails; a checkpointed build that crashed commits exactly its examples on resume.
Real embedded Chroma stores throughout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks.fakes import history, packing_responder
from langchain_rpm import LAMP2, RPM, RPMStore
from langchain_rpm._plans import Call
from langchain_rpm.graphs import _commit
from langchain_rpm.graphs.build import BuildSteps
from langchain_rpm.store._ahead import AHEAD_MIN_BATCH
from langchain_rpm.store._io import ChromaCall
from langchain_rpm.store._reads import manifest_plan
from langchain_rpm.store._records import features_text
from langchain_rpm.testing import FakeStructuredChatModel, demo_responder
from langchain_rpm.types import ReasoningExample
from tests.support.rpm_fakes import CountingEmbeddings

N = 80  # embedded ahead in two batches (40, then 32); 8 are left to the commit


class SimulatedCrash(BaseException):
    """Not an ``Exception``: the per-item error handling does not swallow it."""


class Reasoning:
    """The demo responder; from reasoning call ``hold_at`` on, calls signal ``held`` and wait for ``release``
    (or the first one raises, with ``crash``)."""

    def __init__(self, hold_at: int | None = None, crash: bool = False) -> None:
        self.inner = packing_responder(demo_responder)
        self.hold_at, self.crash = hold_at, crash
        self.reasoning = 0
        self.held, self.release = threading.Event(), threading.Event()
        self._lock = threading.Lock()

    def __call__(self, messages: Any, schema: dict[str, Any]) -> dict[str, Any]:
        if "reasoning" in schema.get("properties", {}) and "features" not in schema.get("properties", {}):
            with self._lock:
                self.reasoning += 1
                at = self.reasoning
            if self.hold_at is not None and at >= self.hold_at:  # this call and every later one wait
                self.held.set()
                if self.crash and at == self.hold_at:
                    raise SimulatedCrash("crash in the reasoning phase")
                assert self.release.wait(60)
        return self.inner(messages, schema)


def make(tmp_path: Any, responder: Any, **options: Any) -> RPM:
    store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    return RPM(FakeStructuredChatModel(responder=responder), LAMP2, store=store, max_concurrency=4, **options)


def stored(rpm: RPM, user: str) -> dict[str, Any]:
    """Every example record of ``user`` in Chroma (current or not): id -> metadata."""
    got = rpm.store.examples.get(where={"user_id": user}, include=["metadatas"])
    return dict(zip(got["ids"], got["metadatas"], strict=True))


def manifest(rpm: RPM, user: str) -> list[str] | None:
    from langchain_rpm._plans import run

    return run(manifest_plan(rpm.store.backend, user))


def assert_exactly_committed(rpm: RPM, user: str, items: int) -> None:
    """The user's records are exactly those the manifest lists, one per item, and read back whole."""
    ids = manifest(rpm, user)
    assert ids is not None and len(ids) == items
    assert set(stored(rpm, user)) == set(ids), "a record outside the manifest was left behind"
    assert rpm.store.get_profile(user).num_items == items
    assert len({ex.item_id for ex in rpm.store.get_examples(user)}) == items
    got = rpm.store.examples.get(ids=ids, include=["embeddings", "metadatas"])
    for meta, vector in zip(got["metadatas"], got["embeddings"], strict=True):
        example = ReasoningExample.model_validate_json(meta["example"])
        expected = rpm.store.backend.embeddings.embed_documents([features_text(example.features) or example.input])
        assert vector == pytest.approx(expected[0], abs=1e-6), f"item {example.item_id} stored another vector"


def recorded(plan: Iterator[Any], log: list[Any]) -> Iterator[Any]:
    """``plan``, with every request it yields appended to ``log``."""
    reply: Any = None
    while True:
        try:
            request = plan.send(reply)
        except StopIteration as stop:
            return stop.value
        log.append(request)
        reply = yield request


def commit_requests(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    log: list[Any] = []
    finalize = BuildSteps.finalize
    monkeypatch.setattr(
        BuildSteps, "finalize", lambda self, state, config: recorded(finalize(self, state, config), log)
    )
    return log


@pytest.mark.parametrize("use_async", [False, True])
def test_the_commit_embeds_only_what_was_not_embedded_ahead(tmp_path, monkeypatch, use_async):
    """Counting guard: on main the commit embedded all N examples."""
    log = commit_requests(monkeypatch)
    rpm = make(tmp_path, Reasoning())
    items = history(N)
    profile = asyncio.run(rpm.abuild_user("ada", items)) if use_async else rpm.build_user("ada", items)
    added = sum(len(r.kwargs["ids"]) for r in log if isinstance(r, ChromaCall) and r.method == "add")
    embedded = sum(len(r.args[0]) for r in log if isinstance(r, Call) and "embed_documents" in str(r.fn))
    assert profile.num_items == N
    assert added == N and embedded < AHEAD_MIN_BATCH, (added, embedded)
    assert_exactly_committed(rpm, "ada", N)


def test_a_forget_during_the_build_then_a_commit_leaves_only_the_committed_version(tmp_path):
    responder = Reasoning(hold_at=50)  # the first batch (40) is embedded before the forget, the second after
    rpm = make(tmp_path, responder)
    build = threading.Thread(target=rpm.build_user, args=("ada", history(N)))
    build.start()
    assert responder.held.wait(60)
    assert stored(rpm, "ada") == {}, "a record was stored before the commit"
    rpm.forget("ada")
    assert stored(rpm, "ada") == {}
    responder.release.set()
    build.join(60)
    assert not build.is_alive()
    assert_exactly_committed(rpm, "ada", N)


@pytest.mark.parametrize("forget", [False, True])
def test_a_failed_commit_leaves_the_previous_version_or_after_a_forget_nothing(tmp_path, monkeypatch, forget):
    """A rebuild whose commit fails leaves the previous version whole and nothing else; after a forget, nothing."""
    responder = Reasoning(hold_at=50)
    rpm = make(tmp_path, responder)
    responder.release.set()
    rpm.build_user("ada", history(N))
    before = stored(rpm, "ada")
    responder.held.clear()
    responder.release.clear()
    responder.reasoning = 0

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the profile could not be computed")

    monkeypatch.setattr(_commit, "profile_over", broken)
    outcome: list[BaseException] = []
    rebuild = threading.Thread(target=lambda: _catch(outcome, rpm.build_user, "ada", history(N, start=1000)))
    rebuild.start()
    assert responder.held.wait(60)
    assert stored(rpm, "ada") == before
    if forget:
        rpm.forget("ada")
    responder.release.set()
    rebuild.join(60)
    assert len(outcome) == 1 and "could not be computed" in str(outcome[0])
    if forget:
        assert stored(rpm, "ada") == {} and rpm.store.get_profile("ada") is None and manifest(rpm, "ada") is None
        assert rpm.store.backend.client.get_collection("rpm_profiles").get(where={"user_id": "ada"})["ids"] == []
    else:
        assert stored(rpm, "ada") == before
        assert_exactly_committed(rpm, "ada", N)


def _catch(outcome: list[BaseException], fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception as exc:
        outcome.append(exc)


def test_a_checkpointed_build_that_crashed_while_embedding_ahead_commits_exactly_its_examples(tmp_path):
    responder = Reasoning(hold_at=70, crash=True)
    responder.release.set()
    rpm = make(tmp_path, responder, checkpointer=InMemorySaver())
    with pytest.raises(SimulatedCrash):
        rpm.build_user("ada", history(N))
    assert stored(rpm, "ada") == {} and rpm.store.get_profile("ada") is None
    responder.hold_at = None
    profile = rpm.build_user("ada", history(N))  # the same request: resumed from the checkpoint
    assert profile.num_items == N
    assert_exactly_committed(rpm, "ada", N)
    state = rpm.build_graph.get_state({"configurable": {"thread_id": _thread(rpm, "ada")}}).values
    committed = {ex.item_id: ex.model_dump(mode="json") for ex in rpm.store.get_examples("ada")}  # as checkpointed
    assert set(committed) == set(state["examples"])
    for item_id, example in state["examples"].items():
        assert committed[item_id]["reasoning"] == example["reasoning"]
        assert committed[item_id]["features"] == example["features"]


def _thread(rpm: RPM, user: str) -> str:
    threads = {c.config["configurable"]["thread_id"] for c in rpm.build_graph.checkpointer.list(None)}
    assert len(threads) == 1
    return threads.pop()


def test_a_rebuilds_read_under_the_lock_asks_for_no_metadata_of_the_records_it_replaces(tmp_path, monkeypatch):
    """Counting guard: on main the commit's read of a rebuild fetched the metadata of every record of the user."""
    log = commit_requests(monkeypatch)
    rpm = make(tmp_path, Reasoning())
    rpm.build_user("ada", history(N))
    log.clear()
    rpm.build_user("ada", history(N, start=1000))
    reads = [r for r in log if isinstance(r, ChromaCall) and r.method == "get" and r.fn.__self__.name == "rpm_examples"]
    assert reads, [
        (type(r).__name__, getattr(r, "method", None), getattr(getattr(r, "fn", None), "__self__", None)) for r in log
    ]
    assert all("metadatas" not in r.kwargs.get("include", ["metadatas"]) for r in reads), [r.kwargs for r in reads]
    assert_exactly_committed(rpm, "ada", N)
