"""Write locks and compaction for LangGraph stores (private); on ``PostgresStore``: advisory locks, ``VACUUM``.

A ``BaseStore`` offers no compare-and-set, so it cannot elect one writer by itself. On a ``PostgresStore``
(sync or async) each write of a user holds a Postgres *advisory lock* keyed by a digest of the namespace and
the user id (``pg_try_advisory_lock``, polled until ``lock_timeout``), on a connection of its own to the same
database: it serialises threads, tasks, processes and every client of one database, and a crashed writer's
lock goes with its session. Any other store (``InMemoryStore``, a custom one) gets the in-process per-user
lock, which is enough for an in-memory store and is all a store without locks allows: run one writer
process per store there.

Forgetting on Postgres runs ``VACUUM FULL`` on the store's tables (they are rewritten without the deleted
rows, their old files removed) and ``CHECKPOINT``; the write-ahead log keeps the rows until Postgres
recycles its segments, and backups or replicas keep their copies.

Example:
    >>> from langgraph.store.memory import InMemoryStore
    >>> coordinator_for_store(InMemoryStore(), "rpm", 1.0).kind
    'local'
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from langchain_rpm._plans import Plan
from langchain_rpm.errors import ConcurrentWriteError, ConfigurationError, StoreError, StoreLockTimeout
from langchain_rpm.store._locks import USER_LOCKS, Coordinator, Held, LocalCoordinator, TryUntil

TABLES = ("store", "store_vectors")  # the tables langgraph-checkpoint-postgres keeps items and vectors in


def open_postgres_store(url: str) -> Any:
    """A ``PostgresStore`` on ``url`` with its tables set up (one autocommit connection).

    Example:
        >>> open_postgres_store("postgresql://localhost/rpm")  # doctest: +SKIP
    """
    try:
        import psycopg
        from langgraph.store.postgres import PostgresStore
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise ConfigurationError(
            f"a Postgres store needs langgraph-checkpoint-postgres ({exc.name} is missing): "
            "pip install 'langchain-rpm[postgres]'"
        ) from None
    try:
        conn = psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(
            f"cannot connect to Postgres at {_redacted(url)}: {first}; check the URL and the server"
        ) from None
    store = PostgresStore(conn)
    store.setup()
    return store


def _redacted(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}" if ":" in credentials else url


def conninfo_of(store: Any) -> str | None:
    """The connection string of a ``PostgresStore``'s connection or pool (``None`` for other stores)."""
    if not type(store).__module__.startswith("langgraph.store.postgres"):
        return None
    conn = getattr(store, "conn", None)
    pooled = getattr(conn, "conninfo", None)
    if isinstance(pooled, str):
        return pooled
    info = getattr(conn, "info", None)
    if info is None:
        return None
    from psycopg.conninfo import make_conninfo

    return make_conninfo(info.dsn, password=info.password) if info.password else str(info.dsn)


def coordinator_for_store(store: Any, namespace: str, timeout: float) -> Coordinator:
    """Advisory locks on a ``PostgresStore``; the in-process per-user lock on any other store."""
    conninfo = conninfo_of(store)
    if conninfo is not None:
        return AdvisoryLockCoordinator(timeout, namespace, conninfo)
    return LocalCoordinator(timeout, f"langgraph-{id(store)}/{namespace}")


class AdvisoryLockCoordinator(Coordinator):
    """One writer per user across threads, tasks, processes and clients of one Postgres database."""

    kind = "postgres"

    def __init__(self, timeout: float, namespace: str, conninfo: str) -> None:
        """Lock users of ``namespace`` on the database at ``conninfo``."""
        super().__init__(timeout)
        self.namespace, self.conninfo = namespace, conninfo
        self.scope = f"postgres:{hashlib.sha256(conninfo.encode()).hexdigest()[:16]}/{namespace}"
        self._conn: Any = None
        self._mutex = threading.Lock()

    def connection(self) -> Any:
        """The coordinator's own autocommit connection (opened on first use, reopened if it broke)."""
        import psycopg

        with self._mutex:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.conninfo, autocommit=True)
            return self._conn

    def key(self, user_id: str) -> int:
        """The advisory lock key of a user: a signed 64-bit digest of the namespace and the id."""
        digest = hashlib.sha256(f"rpm-write\0{self.namespace}\0{user_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _try(self, key: int) -> bool:
        row = self.connection().execute("SELECT pg_try_advisory_lock(%s), pg_backend_pid()", (key,)).fetchone()
        self._pid = row[1]
        return bool(row[0])

    def acquire(self, user_id: str) -> Plan[Held]:
        """Hold the in-process lock, then the user's advisory lock."""
        started = time.monotonic()
        local = yield from USER_LOCKS.acquire((self.scope, user_id), timeout=self.timeout)
        held = Held(user_id, [local])
        key = self.key(user_id)
        try:
            left = max(0.0, self.timeout - (time.monotonic() - started))
            got = yield TryUntil(lambda: self._try(key), left)
        except BaseException:
            self.abandon(held)
            raise
        if not got:
            self.abandon(held)
            raise StoreLockTimeout(
                f"user {user_id!r}: another Postgres client held the user's write lock (advisory lock {key}) for "
                f"more than {self.timeout:g} s; retry later or pass a larger lock_timeout"
            )
        held.owner = f"{key}@{self._pid}"
        return held

    def verify(self, held: Held) -> Plan[None]:
        """The lock lives with its session: refuse the switch if the connection was lost meanwhile."""
        pid = self.connection().execute("SELECT pg_backend_pid()").fetchone()[0]
        if held.owner.split("@")[1] != str(pid):
            raise ConcurrentWriteError(
                f"user {held.user_id!r}: the Postgres session holding the write lock was lost; nothing was "
                "switched: retry the write"
            )
        return None
        yield  # pragma: no cover - a plan without plan I/O

    def release(self, held: Held) -> Plan[None]:
        """Unlock, then the in-process lock."""
        self.abandon(held)
        return None
        yield  # pragma: no cover - a plan without plan I/O

    def abandon(self, held: Held) -> None:
        """Unlock (a quick query) and release the in-process lock."""
        try:
            if held.owner:
                key = int(held.owner.split("@")[0])
                held.owner = ""
                self.connection().execute("SELECT pg_advisory_unlock(%s)", (key,))
        finally:
            super().abandon(held)

    def vacuum(self) -> list[str]:
        """``VACUUM FULL`` the store's tables and ``CHECKPOINT``; one line per fact."""
        conn = self.connection()
        present = [t for t in TABLES if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] is not None]
        for table in present:
            conn.execute(f'VACUUM FULL "{table}"')  # table names are constants above
        conn.execute("CHECKPOINT")
        return [f"Postgres tables rewritten without deleted rows (VACUUM FULL, CHECKPOINT): {', '.join(present)}"]


POSTGRES_KEPT = (
    "kept by Postgres: the write-ahead log (pg_wal) holds deleted rows until its segments are recycled "
    "(after checkpoints), and backups, replicas and WAL archives keep their own copies"
)


def compact_lines(store: Any, coordinator: Coordinator) -> list[str]:
    """Compact what the store allows and say what it keeps."""
    if isinstance(coordinator, AdvisoryLockCoordinator):
        return [*coordinator.vacuum(), POSTGRES_KEPT]
    if type(store).__name__ == "InMemoryStore":
        return ["InMemoryStore: deleted items are gone from its dictionaries (nothing to compact)"]
    return [f"not compacted: {type(store).__name__} keeps deleted items in its own storage until it compacts them"]
