"""Crash safety: a build killed at random points and re-run ends with the same stored state as an
uninterrupted build, without re-paying finished items."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from langchain_rpm import RPMStore
from tests.support.rpm_fakes import CountingEmbeddings

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
