"""Removing or correcting one history item: exact statistics, no LLM call for a removal, none of its text on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from langchain_rpm import RPM, RPMStore
from langchain_rpm.cli._cache import SQLiteCache
from langchain_rpm.embeddings import MiniLMEmbeddings
from langchain_rpm.errors import ConfigurationError, UnknownUserError
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.cli_run import run_main
from tests.support.rpm_fakes import CountingEmbeddings
from tests.unit.test_forget import MARKER, PaidCalls, marker_bytes

ADA = [
    {"id": "1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
    {"id": "2", "input": f"A wedding turns into a love story ({MARKER} two).", "response": "romance"},
    {"id": "3", "input": "A car chase ends in a fist fight.", "response": "action"},
    {"id": "4", "input": "Aliens land and a robot helps.", "response": "sci-fi"},
]


def _setup(folder: Path, layout: str = "shared", *, saver: Any = None, embeddings: Any = None) -> tuple[RPM, PaidCalls]:
    paid = PaidCalls()
    llm = FakeStructuredChatModel(responder=paid, cache=SQLiteCache(folder / "llm_cache.sqlite"))
    saver = saver or SqliteSaver(sqlite3.connect(folder / "checkpoints.sqlite", check_same_thread=False))
    store = RPMStore(folder, embeddings=embeddings or CountingEmbeddings(), layout=layout)
    rpm = RPM(llm, task="lamp2", store=store, checkpointer=saver)
    rpm.build_user("ada", ADA)
    rpm.build_user("bob", ADA[:1] + ADA[2:])
    rpm.personalize("ada", "A love story at a wedding.")  # retrieves item 2: its text in a generation prompt
    return rpm, paid


def _propensity(rpm: RPM, user: str) -> dict[str, dict[str, float]]:
    profile = rpm.profile(user)
    assert profile is not None
    return {f.name: dict(f.statistics.propensity) for f in profile.factors if f.statistics}


@pytest.mark.parametrize("layout", ["shared", "per_user"])
def test_removing_an_item_updates_statistics_pays_nothing_and_leaves_no_text(tmp_path, layout) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "store"
    rpm, paid = _setup(folder, layout)
    assert marker_bytes(folder) > 0
    before = {e.item_id: e for e in rpm.store.get_examples("ada")}
    version, calls = rpm.profile("ada").version, paid.count  # type: ignore[union-attr]
    report = rpm.remove_interactions("ada", ["2"])
    assert paid.count == calls, "a pure delete paid an LLM call"
    assert marker_bytes(folder) == 0, "the removed item's text is still on disk"
    assert report.removed == ("2",) and report.checkpoint_threads_removed >= 1 and report.cache_entries_removed >= 1
    profile = rpm.profile("ada")
    assert profile is not None and (profile.num_items, profile.version) == (3, version + 1)
    after = {e.item_id: e for e in rpm.store.get_examples("ada")}
    assert sorted(after) == ["1", "3", "4"]
    assert all(after[i].reasoning == before[i].reasoning for i in after)  # nobody else's reasoning re-run
    assert all(not p.get("romance") for p in _propensity(rpm, "ada").values())  # exact statistics, no stale label
    assert sum(f.statistics.history_size for f in profile.factors if f.statistics) == 3 * len(profile.factors)
    assert rpm.store.get_examples("bob") and rpm.personalize("ada", "Robots in space.").valid


async def test_a_correction_pays_only_for_the_corrected_item(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "store"
    rpm, paid = _setup(folder, saver=InMemorySaver())  # async: a sync SqliteSaver has no async API
    old = {e.item_id: e.reasoning for e in rpm.store.get_examples("ada")}
    calls = paid.count
    fixed = {"id": "4", "input": "Aliens land and a robot helps.", "response": "comedy"}
    profile = await rpm.acorrect_interactions("ada", [fixed])
    assert paid.count - calls == 2  # its features and its reasoning path, nothing else
    assert profile.num_items == 4
    examples = {e.item_id: e for e in rpm.store.get_examples("ada")}
    assert examples["4"].answer == "comedy"
    assert all(examples[i].reasoning == old[i] for i in ("1", "2", "3"))
    assert any(p.get("comedy") for p in _propensity(rpm, "ada").values())
    report = await rpm.aremove_interactions("ada", ["2"])
    assert report.removed == ("2",) and marker_bytes(folder) == 0


def test_bad_removals_are_refused_and_change_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rpm, _ = _setup(tmp_path / "store")
    version = rpm.profile("ada").version  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match=r"has no item\(s\) '9'"):
        rpm.remove_interactions("ada", ["2", "9"])
    with pytest.raises(ConfigurationError, match="forget the user instead"):
        rpm.remove_interactions("ada", ["1", "2", "3", "4"])
    with pytest.raises(UnknownUserError):
        rpm.remove_interactions("ghost", ["1"])
    assert rpm.profile("ada").version == version and len(rpm.store.get_examples("ada")) == 4  # type: ignore[union-attr]


def test_rpm_forget_item_on_the_cli(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "store"
    rpm, paid = _setup(folder, embeddings=MiniLMEmbeddings())  # the CLI's embeddings
    calls = paid.count
    del rpm
    result = run_main(capsys, "--store", folder, "forget", "ada", "--item", "2")
    assert result.status == 0, result.err
    assert result.out.startswith("removed item(s) '2' of user 'ada'")
    assert marker_bytes(folder) == 0 and paid.count == calls
    out = run_main(capsys, "--store", folder, "--json", "inspect", "ada").json()
    assert out["num_items"] == 3
    missing = run_main(capsys, "--store", folder, "forget", "ada", "--item", "77")
    assert missing.status == 2 and "has no item(s) '77'" in missing.errors[0]


def test_a_removal_without_compaction_says_the_text_may_still_be_on_disk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Seen: ``compact=False`` removed the item and said nothing of the text Chroma's files still held."""
    from langchain_rpm._corrections import remove_plan
    from langchain_rpm._plans import run
    from langchain_rpm.privacy import forget_user

    folder = tmp_path / "store"
    rpm, _ = _setup(folder, saver=InMemorySaver())
    removal = run(remove_plan(rpm.store, "ada", ["2"], compact=False))
    forgot = forget_user("bob", rpm.store, compact=False)
    for report in (removal, forgot):
        assert [line for line in report.lines() if line.startswith("not compacted")] == [
            "not compacted (compact=False): Chroma's files may still hold deleted text"
        ]
    assert marker_bytes(folder) > 0, "nothing was compacted, so the note is true"
