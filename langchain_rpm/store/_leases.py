"""Write leases on a Chroma server: one writer per user across clients, processes and machines.

A lease is a record ``lease-<digest of the user id>`` in the ``{namespace}_leases`` collection. Chroma's
``add`` keeps the first record of an id and ignores later ones (measured on ``chroma run`` 1.5.9 with
eight racing clients: all read back the same owner), so ``add`` then read-back elects one owner. A
lease expires ``lease_ttl`` seconds after it was taken, so a crashed writer blocks others only that
long; the owner re-reads its lease right before switching the user to the new version and gives up
(:class:`~langchain_rpm.errors.ConcurrentWriteError`, nothing switched) if it lost it; it deletes the
lease only while it is still its own. Expiry uses the clients' wall clocks: keep them in sync.

Example:
    >>> lease_id("ada") == lease_id("ada") != lease_id("bob")
    True
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from langchain_rpm._plans import Plan
from langchain_rpm.errors import ConcurrentWriteError, StoreLockTimeout
from langchain_rpm.store._folder import backend_key, is_local
from langchain_rpm.store._io import call
from langchain_rpm.store._locks import (
    _POLL_MAX,
    _POLL_START,
    USER_LOCKS,
    Coordinator,
    EmbeddedCoordinator,
    Held,
    LocalCoordinator,
    Wait,
)


class LeaseCoordinator(Coordinator):
    """A per-user lease record on the server (plus the in-process per-user lock)."""

    kind = "lease"

    def __init__(self, timeout: float, scope: str, ttl: float, leases: Callable[[], Plan[Any]]) -> None:
        """Leases of ``ttl`` seconds in the collection the ``leases`` plan returns."""
        super().__init__(timeout)
        self.scope, self.ttl, self._leases = scope, ttl, leases

    def acquire(self, user_id: str) -> Plan[Held]:
        """Hold the in-process lock, then win the user's lease record."""
        started = time.monotonic()
        key = yield from USER_LOCKS.acquire((self.scope, user_id), timeout=self.timeout)
        held = Held(user_id, [key], owner=uuid.uuid4().hex)
        try:
            leases = yield from self._leases()
            record_id, delay = lease_id(user_id), _POLL_START
            while True:
                now = time.time()
                claim = {"owner": held.owner, "expires": now + self.ttl}
                yield call(leases, "add", {"ids": [record_id], "embeddings": [[1.0]], "metadatas": [claim]})
                got = yield call(leases, "get", {"ids": [record_id], "include": ["metadatas"]})
                holder = (got.get("metadatas") or [None])[0]
                if holder is not None and holder.get("owner") == held.owner:
                    return held
                if holder is not None and float(holder.get("expires", 0)) < now:  # a crashed writer's lease
                    stale = {"ids": [record_id], "where": {"owner": holder["owner"]}}
                    yield call(leases, "delete", stale)
                    continue
                if time.monotonic() - started > self.timeout:
                    raise StoreLockTimeout(
                        f"user {user_id!r}: another client held the user's write lease for more than "
                        f"{self.timeout:g} s; retry later or pass a larger RPMStore(lock_timeout=...)"
                    )
                if holder is not None:
                    yield Wait(delay)
                    delay = min(2 * delay, _POLL_MAX)
        except BaseException:
            self.abandon(held)
            raise

    def verify(self, held: Held) -> Plan[None]:
        """Check the lease is still ours (it may have expired during a very long write)."""
        leases = yield from self._leases()
        got = yield call(leases, "get", {"ids": [lease_id(held.user_id)], "include": ["metadatas"]})
        holder = (got.get("metadatas") or [None])[0]
        if holder is None or holder.get("owner") != held.owner:
            raise ConcurrentWriteError(
                f"user {held.user_id!r}: the write lease expired before the write finished (it lasts "
                f"{self.ttl:g} s) and another writer may have taken it; nothing was switched: retry, or pass "
                "a larger RPMStore(lease_ttl=...)"
            )

    def release(self, held: Held) -> Plan[None]:
        """Delete our lease record (only if it is still ours), then the in-process lock."""
        try:
            leases = yield from self._leases()
            yield call(leases, "delete", {"ids": [lease_id(held.user_id)], "where": {"owner": held.owner}})
        finally:
            self.abandon(held)


def lease_id(user_id: str) -> str:
    """Record id of a user's write lease (a digest: no user id is part of an id)."""
    return "lease-" + hashlib.sha256(user_id.encode()).hexdigest()[:32]


def coordinator_for(store: Any, timeout: float, ttl: float) -> Coordinator:
    """The coordinator for ``store``'s client: embedded folder, in-memory client, or lease (anything else)."""
    if store.folder is not None:
        return EmbeddedCoordinator(timeout, store.folder)
    scope = f"{backend_key(store.client)}/{store.namespace}"
    if is_local(store.client):
        return LocalCoordinator(timeout, scope)  # an in-memory client: this process is the only one
    return LeaseCoordinator(timeout, scope, ttl, lambda: store.collection("leases"))
