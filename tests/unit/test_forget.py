"""Forgetting a user removes every copy the package made: no byte of their text is left under the store folder,
and rebuilding them pays every LLM call again (issue 13.2)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver

from langchain_rpm import RPM, RPMStore
from langchain_rpm.cli._cache import SQLiteCache
from langchain_rpm.testing import FakeStructuredChatModel
from langchain_rpm.types import Feature, ReasoningExample
from tests.support.rpm_fakes import CountingEmbeddings, rpm_responder

MARKER = "Qz7xMarkerVw3k"
ADA = [
    {"id": "1", "input": f"Robots rebel on a space station ({MARKER} one).", "response": "sci-fi"},
    {"id": "2", "input": f"A wedding turns into a love story ({MARKER} two).", "response": "romance"},
    {"id": "3", "input": f"A car chase ends in a fist fight ({MARKER} three).", "response": "action"},
]
BOB = [
    {"id": "1", "input": "Aliens land and a robot helps.", "response": "sci-fi"},
    {"id": "2", "input": "A kiss at the wedding.", "response": "romance"},
]


def marker_bytes(folder: Path) -> int:
    """Occurrences of the marker in every file under ``folder`` (Chroma's, the caches', the checkpoints')."""
    return sum(path.read_bytes().count(MARKER.encode()) for path in folder.rglob("*") if path.is_file())


class PaidCalls:
    """``rpm_responder`` counting the calls that reached the model (cache misses)."""

    def __init__(self) -> None:
        self.count, self._lock = 0, threading.Lock()

    def __call__(self, messages: list[Any], schema: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.count += 1
        return rpm_responder(messages, schema)


def _setup(folder: Path, layout: str = "shared") -> tuple[RPM, PaidCalls, SqliteSaver]:
    paid = PaidCalls()
    llm = FakeStructuredChatModel(responder=paid, cache=SQLiteCache(folder / "llm_cache.sqlite"))
    saver = SqliteSaver(sqlite3.connect(folder / "checkpoints.sqlite", check_same_thread=False))
    store = RPMStore(folder, embeddings=CountingEmbeddings(), layout=layout)
    return RPM(llm, task="lamp2", store=store, checkpointer=saver), paid, saver


def _fill(rpm: RPM) -> None:
    rpm.build_user("ada", ADA)
    rpm.build_user("bob", BOB)
    rpm.personalize("ada", f"Robots kiss in space ({MARKER} query).")
    rpm.personalize("bob", "Robots kiss in space.")
    # A feature that quotes the user's text: it is the document Chroma indexes for full-text search.
    extra = ReasoningExample(
        item_id="4",
        input=f"Quoted ({MARKER} four).",
        features=[Feature(name=f"{MARKER} quote")],
        reasoning="r",
        answer="sci-fi",
    )
    rpm.store.add_examples("ada", [extra])


@pytest.mark.parametrize("layout", ["shared", "per_user"])
def test_forget_leaves_no_byte_of_the_users_text_and_a_rebuild_pays_again(tmp_path, layout):
    folder = tmp_path / "store"
    rpm, paid, _ = _setup(folder, layout)
    _fill(rpm)
    first_build = 2 * len(ADA) + 2  # extract + reason per item, one Propose and one Assign call (default preset)
    assert marker_bytes(folder) > 0
    bob_before = rpm.store.get_examples("bob")
    report = rpm.forget("ada")
    assert marker_bytes(folder) == 0, "the forgotten user's text is still on disk"
    assert (report.examples_removed, report.profile_removed) == (len(ADA) + 1, True)
    assert report.checkpoint_threads_removed == 1 and report.cache_entries_removed >= first_build + 1
    assert any("vectors of deleted records" in line for line in report.kept)  # said, not hidden
    assert rpm.store.get_examples("bob") == bob_before and rpm.users() == ["bob"]
    assert rpm.personalize("bob", "Aliens and a robot.").answer == "sci-fi"
    before = paid.count
    rpm.build_user("ada", ADA)  # nothing cached or checkpointed is left to reuse
    assert paid.count - before == first_build


@pytest.mark.parametrize("layout", ["shared", "per_user"])
def test_the_cli_route_forgets_by_state_folder(tmp_path, layout):
    from langchain_rpm.privacy import forget_user

    folder = tmp_path / "store"
    rpm, _, saver = _setup(folder, layout)
    _fill(rpm)
    saver.conn.close()
    report = forget_user("ada", RPMStore(folder, embeddings=CountingEmbeddings(), layout=layout), folder=folder)
    assert report.checkpoint_threads_removed == 1 and report.cache_entries_removed > 0
    assert marker_bytes(folder) == 0
    assert report.lines()[:2] == ["forgot user 'ada'", "examples removed: 4"]
    assert RPMStore(folder, embeddings=CountingEmbeddings(), layout=layout).list_users() == ["bob"]


def test_forget_refuses_a_bad_user_id(tmp_path):
    from langchain_rpm.privacy import forget_user

    store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    with pytest.raises(ValueError, match="user id must not be empty"):
        forget_user("", store)


def test_compaction_removes_index_folders_of_deleted_collections(tmp_path):
    """A deleted collection's HNSW folder, saved again after the delete with heap bytes in it, is removed;
    live indexes stay (seen in 3 of 10 per-user forgets before the fix)."""
    folder = tmp_path / "store"
    rpm, _, _ = _setup(folder, "per_user")
    _fill(rpm)
    live = {path.name for path in folder.iterdir() if (path / "header.bin").exists()}
    orphan = folder / "5ffad833-34a1-4f93-b947-3f317e000181"
    orphan.mkdir()
    (orphan / "header.bin").write_bytes(b"\0" * 40)
    (orphan / "length.bin").write_bytes(f'{{"input": "{MARKER}"}}'.encode())
    lines = rpm.store.compact()
    assert not orphan.exists() and "index folders of deleted collections removed: 1" in lines
    assert live <= {path.name for path in folder.iterdir()}
    assert rpm.personalize("ada", "Robots in space.").example_ids


def _index_files(folder: Path) -> dict[str, tuple[bytes, bytes]]:
    """Each HNSW index's header and ``data_level0.bin``."""
    return {
        path.parent.name: ((path.parent / "header.bin").read_bytes(), path.read_bytes())
        for path in folder.glob("*/data_level0.bin")
    }


def test_reads_after_a_forget_that_emptied_the_store_leave_its_index_files_as_compacted(tmp_path):
    """Chroma creates a new HNSW index for a collection with no live record each time it opens it, and writes the
    new index's capacity from uninitialised memory (CI on b0adbfd: a forgotten input's bytes in ``data_level0.bin``
    after a forget). The compaction keeps one record without user data in each collection, so the index it zeroed is
    loaded, never created again. Before: the first read after the forget rewrote both indexes."""
    folder = tmp_path / "store"
    rpm, _, _ = _setup(folder)
    rpm.build_user("ada", ADA)
    rpm.forget("ada")
    compacted = _index_files(folder)
    assert len(compacted) == 2  # examples and profiles
    assert rpm.store.get_examples("ada") == [] and rpm.store.search("ada", "robots", k=3) == []
    assert rpm.users() == [] and rpm.store.get_profile("ada") is None
    again = RPMStore(folder, embeddings=CountingEmbeddings())
    assert again.list_users() == [] and again.search("ada", "robots", k=3) == []
    assert _index_files(folder) == compacted
    rpm.build_user("bob", BOB)  # the kept record takes no part in a build or a read
    assert rpm.users() == ["bob"] and len(rpm.store.get_examples("bob")) == len(BOB)
    assert len(rpm.store.search("bob", "robots", k=10)) == len(BOB)


def test_forget_empties_the_process_caches_keyed_by_text_of_the_users_data(rpm):
    """Output schemas naming a user's factors, the callers built on them, the compiled patterns of their answers:
    keyed by that text, not by the user, so a forget empties them whole (main: they kept ada's factor names)."""
    from langchain_rpm.prompts.extraction import factor_aware_schemas
    from langchain_rpm.prompts.generation import _answer_schema
    from langchain_rpm.stages._leaks import _conclusion_patterns, find_leak
    from tests.unit.conftest import MOVIE_HISTORY

    rpm.build_user("ada", MOVIE_HISTORY)
    assert find_leak(rpm.task, "Robots, so the answer is sci-fi.", "sci-fi")  # as the build checks each path
    rpm.personalize("ada", "A robot falls in love in space.", options=["sci-fi", "romance", "action"])
    names = tuple(dict.fromkeys(f.name for f in rpm.profile("ada").factors))
    extractor, generator = rpm.components.query_extractor, rpm.components.generator
    assert names in extractor._aware and generator._callers
    caches = (factor_aware_schemas, _answer_schema, _conclusion_patterns)
    assert [cache.cache_info().currsize > 0 for cache in caches] == [True, True, True]
    from langchain_rpm.prompts.extraction import _DYNAMIC_SCHEMAS
    from langchain_rpm.prompts.generation import _SCHEMAS

    assert any(names[0] in text for text in _DYNAMIC_SCHEMAS.values()) and any(
        "romance" in str(t) for t in _SCHEMAS.values()
    )
    rpm.forget("ada")
    assert [cache.cache_info().currsize for cache in caches] == [0, 0, 0]
    assert not extractor._aware and not generator._callers
    # the schema texts of the classes dropped above, which live until a garbage collection (eb1cdff kept them)
    assert len(_DYNAMIC_SCHEMAS) == 0 and len(_SCHEMAS) == 0
