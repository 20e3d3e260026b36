"""Crash safety: a build killed at random points and re-run ends with the same stored state as an
uninterrupted build, without re-paying finished items; a rebuild that fails mid-write leaves the previous
version whole (copy-on-write)."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from langchain_rpm import RPM, RPMStore
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model

N = 24
ROOT = Path(__file__).resolve().parents[2]


def calls(store: Path) -> int:
    log = store / "calls.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def run_worker(store: Path, db: Path, kill_at_call: int | None) -> bool:
    """Run the worker; SIGKILL it once ``kill_at_call`` LLM calls were logged. True when it finished."""
    command = [sys.executable, "-m", "tests.support.crash_worker", str(store), str(db), str(N), "0.03"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while kill_at_call is not None and process.poll() is None and time.monotonic() < deadline:
        if calls(store) >= kill_at_call:
            process.kill()
            process.wait()
            return False
        time.sleep(0.005)
    _out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-2000:]
    return True


def snapshot(store_dir: Path) -> tuple[list, dict]:
    store = RPMStore(store_dir / "chroma", embeddings=CountingEmbeddings())
    examples = [e.model_dump() for e in store.get_examples("ada")]
    profile = store.get_profile("ada")
    assert profile is not None
    kept = profile.model_dump(exclude={"created_at", "updated_at", "cost"})  # cost: cache hits are free
    records = store.examples.get(include=[])["ids"]
    assert len(records) == len(set(records)) == len(examples)
    return examples, kept


def test_killed_builds_resume_to_the_same_state_without_repaying(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    assert run_worker(reference, reference / "cp.sqlite", None)
    expected_examples, expected_profile = snapshot(reference)
    uninterrupted_calls = len((reference / "calls.log").read_text().splitlines())
    assert uninterrupted_calls == 2 * N + 2  # + 1 Propose and 1 Assign call

    crashed = tmp_path / "crashed"
    crashed.mkdir()
    rng = random.Random(20261125)
    kills = 0
    # Kill at random points of the extraction, clustering and reasoning phases, then let it finish.
    for _ in range(4):
        target = min(2 * N + 2, calls(crashed) + rng.randint(1, N // 2))
        kills += 0 if run_worker(crashed, crashed / "cp.sqlite", target) else 1
    assert run_worker(crashed, crashed / "cp.sqlite", None)
    examples, profile = snapshot(crashed)
    assert examples == expected_examples
    assert profile == expected_profile  # same factors, statistics, counts and version
    paid = len((crashed / "calls.log").read_text().splitlines())
    print(f"\n{kills} kills; {paid} LLM calls in total vs {uninterrupted_calls} uninterrupted")
    assert kills >= 1
    # Finished calls are not paid again (the cache commits each reply); only calls in flight at a kill
    # (at most max_concurrency = 4 each time) can be repeated.
    assert paid <= uninterrupted_calls + 4 * kills


# -- copy-on-write rebuilds (issue 13.4) ---------------------------------------------------------------------
OLD = [
    {"id": "1", "input": "Robots rebel on a space station.", "response": "sci-fi"},
    {"id": "2", "input": "Aliens land and a robot helps.", "response": "sci-fi"},
    {"id": "3", "input": "A wedding turns into a love story.", "response": "romance"},
    {"id": "4", "input": "A car chase ends in a fist fight.", "response": "action"},
]
NEW = [{**item, "input": f"{item['input']} A kiss.", "response": "romance"} for item in OLD]


class InjectedFailure(Exception):
    """The store's connection dies in the middle of a write."""


class FailingCollection:
    """A collection whose write (``upsert`` or ``add``) number ``fail_at`` fails (the writes before it went through)."""

    def __init__(self, inner: Any, fail_at: int) -> None:
        self._inner, self.fail_at, self.writes = inner, fail_at, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _write(self, name: str, kwargs: dict[str, Any]) -> Any:
        self.writes += 1
        if self.writes == self.fail_at:
            raise InjectedFailure("connection lost")
        return getattr(self._inner, name)(**kwargs)

    def upsert(self, **kwargs: Any) -> Any:
        return self._write("upsert", kwargs)

    def add(self, **kwargs: Any) -> Any:
        return self._write("add", kwargs)


def _state(store: RPMStore) -> tuple[Any, list[tuple[str, str, str]], set[str]]:
    examples = [(e.item_id, e.input, e.answer) for e in store.get_examples("ada")]
    found = {h.example.input for h in store.search("ada", "robots wedding chase kiss", k=50)}
    return store.get_profile("ada"), examples, found


# The second batch of new examples fails (half of them written), or the first profiles write (all written).
@pytest.mark.parametrize(("kind", "fail_at"), [("examples", 2), ("profiles", 1)])
def test_a_rebuild_that_fails_mid_write_leaves_the_previous_profile_whole(tmp_path, kind, fail_at):
    store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    rpm = RPM(rpm_fake_model(), task="lamp2", store=store)
    rpm.build_user("ada", OLD)
    before = _state(store)
    assert before[1] == [(i["id"], i["input"], i["response"]) for i in OLD]
    store._batch = 2  # four new records: two writes (adds) of the examples
    store.handles[kind] = FailingCollection(getattr(store, kind), fail_at)
    with pytest.raises(InjectedFailure):
        rpm.build_user("ada", NEW)
    after = _state(store)
    assert after[0].model_dump() == before[0].model_dump()  # the previous profile, version and statistics
    assert after[1:] == before[1:]  # ... its examples, all of them searchable, none of the new ones
    store.handles.pop(kind)
    profile = rpm.build_user("ada", NEW)  # the next rebuild switches, then drops the previous version
    assert profile.version == before[0].version + 1
    assert _state(store)[1] == [(i["id"], i["input"], i["response"]) for i in NEW]
    assert len(store.examples.get(where={"user_id": "ada"}, include=[])["ids"]) == len(NEW)


def _group_worker(folder: Path, marker: str, kill_at: int | None = None) -> int:
    command = [sys.executable, "-m", "tests.support.group_crash_worker", str(folder), marker]
    command += [str(kill_at)] if kill_at is not None else []
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, -9), done.stderr[-2000:]
    return done.returncode


def _versions(folder: Path) -> dict[str, str]:
    """Each user's stored version marker; asserts examples and profile belong to one and the same version."""
    from tests.support.group_crash_worker import USERS

    store = RPMStore(folder, embeddings=CountingEmbeddings())
    seen = {}
    for user in USERS:
        stored, profile = store.get_examples(user), store.get_profile(user)
        assert profile is not None and len(stored) == 2, (user, stored)
        assert {ex.reasoning for ex in stored} == {profile.model}, (user, profile.model, stored)  # whole, one version
        assert {h.example.reasoning for h in store.search(user, "f0", k=5)} == {profile.model}
        seen[user] = profile.model
    return seen


def test_a_group_commit_killed_at_any_write_leaves_each_user_whole_old_or_new(tmp_path):
    """SIGKILL before the 2nd staging add, the 1st and 2nd of three switch upserts, and a delete."""
    seeded = tmp_path / "seeded"
    assert _group_worker(seeded, "old") == 0
    outcomes = []
    for kill_at in (2, 4, 5, 8):
        folder = tmp_path / f"kill-{kill_at}"
        shutil.copytree(seeded, folder)
        assert _group_worker(folder, "new", kill_at) == -9
        outcomes.append(sorted(_versions(folder).values()))
    assert outcomes[0] == outcomes[1] == ["old"] * 6  # killed before any switch: every user still old
    assert outcomes[2] == ["new"] * 2 + ["old"] * 4  # killed between switches: two users new, four old
    assert outcomes[3] == ["new"] * 6  # killed while deleting superseded records: every user new
    assert _group_worker(tmp_path / "kill-5", "again") == 0  # the next group commit repairs everything
    assert sorted(_versions(tmp_path / "kill-5").values()) == ["again"] * 6
    store = RPMStore(tmp_path / "kill-5", embeddings=CountingEmbeddings())
    assert len(store.examples.get(include=[])["ids"]) == 12  # orphans and superseded records are gone
