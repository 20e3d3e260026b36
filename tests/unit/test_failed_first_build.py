"""Orphans of a failed first build stay invisible; stores written before manifests read as before.

A user's first build that stored its example records and then failed before the switch (manifest and profile
in one upsert) leaves records no manifest lists. Reads used to fall back to the older-format rule (every record
with the user's id) and showed them. What tells the two apart: a record carrying a commit token was written by
a version that always switches an exact manifest (tokens and exact manifests came in the same change), so
without an exact manifest listing it, such a record is an orphan. Records of older versions carry no token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from langchain_rpm import RPM, RPMStore
from langchain_rpm._plans import run
from langchain_rpm.store._records import manifest_id
from langchain_rpm.types import Feature, ReasoningExample, UserProfile
from tests.support.older_stores import rewrite_as_before_manifests
from tests.unit.conftest import MOVIE_HISTORY


def _example(item_id: str, marker: str) -> ReasoningExample:
    return ReasoningExample(
        item_id=item_id,
        input=f"{marker} robots {item_id}",
        features=[Feature(name=f"robots {item_id}", factor="Theme")],
        reasoning=f"{marker} because",
        answer="sci-fi",
    )


def _switch_fails_once(monkeypatch: pytest.MonkeyPatch, store: RPMStore) -> None:
    """The next switch (manifest + profile upsert) raises, as a crash between staging and switching would."""

    def broken(*args: Any) -> Iterator[Any]:
        monkeypatch.undo()
        raise RuntimeError("crash before the switch")
        yield  # pragma: no cover

    monkeypatch.setattr(store.backend, "switch_plan", broken)


def _records(store: RPMStore, user_id: str) -> list[str]:
    return list(run(store.backend.record_ids_plan(user_id)))


def test_a_first_build_that_failed_before_its_switch_shows_nothing(rpm: RPM, monkeypatch: pytest.MonkeyPatch) -> None:
    store = rpm.store
    _switch_fails_once(monkeypatch, store)
    with pytest.raises(RuntimeError, match="before the switch"):
        rpm.build_user("ada", MOVIE_HISTORY)
    assert len(_records(store, "ada")) == len(MOVIE_HISTORY)  # the staged records are there, unlisted
    assert store.get_profile("ada") is None
    assert store.get_examples("ada") == []
    assert store.search("ada", "robots in space", k=10) == []
    assert run(store.backend.current_plan("ada")).records == {}  # what the next write keeps
    # The next write adds to what is current: the orphans are not taken into its manifest.
    store.add_examples("ada", [_example("late", "new")])
    assert [ex.item_id for ex in store.get_examples("ada")] == ["late"]
    assert len(_records(store, "ada")) == 1  # its switch made the orphans obsolete: deleted


def test_forget_deletes_the_orphans_of_a_failed_first_build(rpm: RPM, monkeypatch: pytest.MonkeyPatch) -> None:
    store = rpm.store
    _switch_fails_once(monkeypatch, store)
    with pytest.raises(RuntimeError, match="before the switch"):
        rpm.build_user("ada", MOVIE_HISTORY)
    report = rpm.forget("ada")
    assert report.examples_removed == len(MOVIE_HISTORY) and not report.profile_removed
    assert _records(store, "ada") == []
    assert not [p for p in store.folder.folder.rglob("*") if p.is_file() and b"Robots rebel" in p.read_bytes()]


async def test_async_reads_hide_the_orphans_too(rpm: RPM, monkeypatch: pytest.MonkeyPatch) -> None:
    store = rpm.store
    _switch_fails_once(monkeypatch, store)
    with pytest.raises(RuntimeError, match="before the switch"):
        await rpm.abuild_user("ada", MOVIE_HISTORY)
    assert await store.aget_examples("ada") == []
    assert await store.asearch("ada", "robots in space", k=10) == []


def test_a_store_written_before_manifests_keeps_its_records_beside_a_failed_rebuilds_orphans(
    store: RPMStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records without a token (no manifest, a profile) are current; the failed write's tokened ones are not."""
    store.add_examples("bob", [_example(str(n), "old") for n in range(3)])
    rewrite_as_before_manifests(store, "bob")
    store.profiles.delete(ids=[manifest_id("bob")])  # an older version wrote no manifest ...
    store.save_profile(
        UserProfile(user_id="bob", task="lamp2", factors=[], num_items=3, num_features=3)
    )  # ... a profile
    older = store.get_examples("bob")
    assert [ex.reasoning for ex in older] == ["old because"] * 3
    _switch_fails_once(monkeypatch, store)
    with pytest.raises(RuntimeError, match="before the switch"):
        store.replace_user_examples("bob", [_example(str(n), "new") for n in range(1, 5)])
    assert len(_records(store, "bob")) == 7
    assert store.get_examples("bob") == older
    assert {hit.example.reasoning for hit in store.search("bob", "robots", k=10)} == {"old because"}
    store.replace_user_examples("bob", [_example("9", "new")])  # a rebuild that switches deletes every other record
    assert [ex.item_id for ex in store.get_examples("bob")] == ["9"] and len(_records(store, "bob")) == 1
