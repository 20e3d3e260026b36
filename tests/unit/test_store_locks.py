"""The store's write locks: per-user locks that prune themselves, cancellation safety, leases that expire."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings

from langchain_rpm import RPMStore
from langchain_rpm._plans import arun, run
from langchain_rpm.errors import StoreLockTimeout
from langchain_rpm.store._leases import lease_id
from langchain_rpm.store._locks import USER_LOCKS, KeyedLocks
from langchain_rpm.store._records import default_client
from tests.support import concurrent_writers as writers
from tests.support.rpm_fakes import CountingEmbeddings


class ForwardingClient:
    """Any Chroma client the store does not recognise (as a server client would be): it gets leases."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_keyed_locks_serialise_one_key_and_keep_no_entry_once_free():
    locks, inside, most = KeyedLocks(), [0], [0]
    guard = threading.Lock()

    def work(key: str) -> None:
        held = run(locks.acquire(key, timeout=5))
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.01)
        with guard:
            inside[0] -= 1
        locks.release(held)

    threads = [threading.Thread(target=work, args=("ada",)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1 and locks.size() == 0


async def test_a_cancelled_waiter_leaves_nothing_held():
    locks = KeyedLocks()
    held = await arun(locks.acquire("ada", timeout=5))
    waiter = asyncio.ensure_future(arun(locks.acquire("ada", timeout=5)))
    await asyncio.sleep(0.02)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    locks.release(held)
    assert locks.size() == 0
    locks.release(await arun(locks.acquire("ada", timeout=0.1)))  # free again
    with pytest.raises(StoreLockTimeout):
        held = await arun(locks.acquire("bob", timeout=1))
        try:
            await arun(locks.acquire("bob", timeout=0.05))
        finally:
            locks.release(held)
    assert locks.size() == 0


def test_an_in_memory_client_serialises_one_users_writers_in_process():
    client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))

    def make() -> RPMStore:
        return RPMStore(client=client, embeddings=CountingEmbeddings(), namespace="eph")

    assert make().coordinator.kind == "local"
    writers.make_rpm(make()).build_user("ada", writers.BASE)
    reports = writers.in_threads(make, "ada", 4, 5)
    figures = writers.audit(make(), "ada", reports)
    assert figures["written"] == 20 and writers.consistent(figures), figures
    assert USER_LOCKS.size() == 0


def test_a_lease_blocks_other_clients_until_released_or_expired(tmp_path):
    client = ForwardingClient(default_client(tmp_path / "chroma"))
    store = RPMStore(client=client, embeddings=CountingEmbeddings(), lock_timeout=0.2, lease_ttl=30)
    other = RPMStore(client=client, embeddings=CountingEmbeddings(), lock_timeout=0.2, lease_ttl=30)
    assert store.coordinator.kind == "lease"
    held = run(store.coordinator.acquire("ada"))
    USER_LOCKS.release(held.keys.pop())  # as if the holder were another process: only its lease record remains
    with pytest.raises(StoreLockTimeout, match="write lease"):
        other.save_profile(writers.make_rpm(store).store.get_profile("ada") or _profile("ada"))
    run(store.coordinator.release(held))
    other.save_profile(_profile("ada"))  # released: the other client writes
    leases = client.get_collection("rpm_leases")
    leases.add(ids=[lease_id("ada")], embeddings=[[1.0]], metadatas=[{"owner": "crashed", "expires": time.time() - 1}])
    other.save_profile(_profile("ada", version=2))  # an expired lease is taken over
    assert other.get_profile("ada").version == 2 and leases.get(ids=[lease_id("ada")])["ids"] == []


def _profile(user: str, version: int = 1) -> Any:
    from langchain_rpm.types import UserProfile

    return UserProfile(user_id=user, task="lamp2", factors=[], num_items=0, num_features=0, version=version)
