"""An async group commit computes each user's profile in an event-loop turn of its own (a counting guard).

A bulk build's group commit runs on the event loop between its Chroma calls; the users' ``make_profile``
calls are CPU. Run back to back they held the loop for the whole group while the build's other users
waited with finished model calls. The guard counts loop turns, it times nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_rpm._plans import arun, run
from langchain_rpm.store import RPMStore
from langchain_rpm.store._writes import UserWrite, write_many_plan
from langchain_rpm.types import ReasoningExample, UserProfile
from tests.unit.test_group_commit import _write

USERS = [f"u{i}" for i in range(8)]


def _writes(seen: list[int], turns: list[int]) -> list[UserWrite]:
    """One write per user (``test_group_commit._write``) whose ``make_profile`` notes the loop turn it runs in."""

    def noting(write: UserWrite) -> UserWrite:
        made = write.make_profile
        assert made is not None

        def make_profile(every: list[ReasoningExample], previous: UserProfile | None) -> UserProfile:
            seen.append(turns[0])
            return made(every, previous)

        return replace(write, make_profile=make_profile)

    return [noting(_write(user)) for user in USERS]


async def test_an_async_group_commit_computes_each_users_profile_in_a_loop_turn_of_its_own(tmp_path):
    store = RPMStore(tmp_path, embeddings=DeterministicFakeEmbedding(size=8))
    turns, seen = [0], []

    async def count_turns() -> None:
        while True:
            turns[0] += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_turns())
    try:
        results = await arun(write_many_plan(store, _writes(seen, turns)))
    finally:
        counter.cancel()
    assert len(seen) == len(USERS)
    assert len(set(seen)) == len(USERS), f"users prepared in the same loop turn: {seen}"
    assert [result.profile.user_id for result in results if result.profile] == USERS
    assert store.list_users() == USERS
    assert [ex.input for ex in store.get_examples("u3")] == ["u3 0", "u3 1", "u3 2"]


def test_the_sync_group_commit_is_unchanged_by_the_turns(tmp_path):
    store = RPMStore(tmp_path, embeddings=DeterministicFakeEmbedding(size=8))
    seen: list[int] = []
    results = run(write_many_plan(store, _writes(seen, [0])))
    assert len(seen) == len(USERS) and store.list_users() == USERS
    assert [len(result.ids) for result in results] == [3] * len(USERS)
    assert [ex.input for ex in store.get_examples("u5")] == ["u5 0", "u5 1", "u5 2"]
