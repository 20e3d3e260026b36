"""The process's view of an embedded Chroma folder: its client, its write lock, and others' writes.

An embedded ``PersistentClient`` keeps the vector index in memory: after another process writes to the
folder, a long-lived client reads ids its index has not loaded (``InternalError: Error finding id``), and
a write from a stale client can overwrite the index files (DESIGN §4). So each folder has

- ``rpm-write.lock``: a file lock (``filelock``) that one writer process holds at a time;
- ``rpm-write-token``: a random token every write replaces; a process that finds a token it did not
  write reopens Chroma before it reads or writes (:meth:`EmbeddedFolder.refresh`, a few microseconds
  when nothing changed);
- ``rpm-erase-token``: a random token every erase of a user (a forget) replaces, read when Chroma is
  reopened: :attr:`EmbeddedFolder.erasures` tells a process's query cache to drop what it kept of users
  who may be gone.

A write of this process is accounted for by a :class:`~langchain_rpm.store._write_window.WriteWindow`
(:meth:`EmbeddedFolder.open_window`): when every commit between the generations before and after it was
its own, the process's query caches (:meth:`EmbeddedFolder.watch`) keep serving the users it did not touch.

Example:
    >>> import tempfile
    >>> from langchain_rpm.store._records import default_client
    >>> folder = embedded_folder(default_client(tempfile.mkdtemp()))
    >>> before = folder.epoch
    >>> folder.refresh(); folder.epoch == before
    True
"""

from __future__ import annotations

import os
import threading
import uuid
import weakref
from collections.abc import Collection, Hashable, Sequence
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock

LOCK_FILE = "rpm-write.lock"
TOKEN_FILE = "rpm-write-token"
ERASE_FILE = "rpm-erase-token"
CHROMA_DATABASE = "chroma.sqlite3"  # an embedded Chroma's SQLite file (tests/unit/test_query_cache.py checks it)
_TOKEN_BYTES = 4096  # a token is 32 hex characters, written whole (os.replace): one read gets all of it


class Watcher(Protocol):
    """What a write of this process tells (a query cache): the generation moved only by its own commits."""

    def advance(
        self, before: Hashable, after: Hashable, touched: Collection[str], erasures: Hashable, switched: Sequence[Any]
    ) -> None:
        """Entries read under ``before`` of users not in ``touched`` stand under ``after``.

        ``switched``: what the write made current for the users it touched.
        """


class EmbeddedFolder:
    """The process's view of one embedded Chroma folder: its client, write lock and write token."""

    def __init__(self, folder: Path, client: Any) -> None:
        """Track ``folder``, opened by ``client`` (a ``PersistentClient``)."""
        self.folder = folder
        self.client = client
        self._paths = {name: str(folder / name) for name in (TOKEN_FILE, ERASE_FILE, CHROMA_DATABASE)}
        self.epoch = 0  # bumped whenever this process reopens Chroma on the folder
        self.writer = threading.Lock()  # one writer of this process at a time
        self.file_lock = FileLock(folder / LOCK_FILE, thread_local=False)
        self._mutex = threading.Lock()
        self._opening = threading.Lock()
        self._descriptor: int | None = None  # Chroma's database, kept open (see _database)
        self._closer: weakref.finalize[Any, Any] | None = None
        self._known = self._read_token()
        self.erasures = self._read_token(ERASE_FILE)  # the last erase's token this process has seen
        self._watchers: weakref.WeakSet[Any] = weakref.WeakSet()

    def watch(self, watcher: Watcher) -> None:
        """Tell ``watcher`` of every write of this process whose commits are all its own (:meth:`explain`)."""
        self._watchers.add(watcher)

    def explain(
        self, before: tuple[int, str, bytes], commits: bytes, touched: Collection[str], switched: Sequence[Any] = ()
    ) -> None:
        """Tell the watchers a write moved the generation from ``before`` by its own commits only (up to ``commits``).

        The caller holds both locks and has announced its token; watchers keep what they read of users not
        in ``touched``.
        """
        with self._mutex:
            after = (self.epoch, self._known, self._commits())
            if after[2] != commits or after[0] != before[0]:
                return  # a commit that was not this write's, or a reopen: nothing is carried over
            watchers, erasures = list(self._watchers), self.erasures
        for watcher in watchers:
            watcher.advance(before, after, touched, erasures, switched)

    def _read_token(self, name: str = TOKEN_FILE) -> str:
        """A token file's text (``""`` without one): a bare descriptor, no Python file object (every query reads it)."""
        try:
            descriptor = os.open(self._paths[name], os.O_RDONLY)
        except FileNotFoundError:
            return ""
        try:
            return os.read(descriptor, _TOKEN_BYTES).decode()
        finally:
            os.close(descriptor)

    def refresh(self) -> None:
        """Reopen Chroma if another process wrote since this process last looked (cheap when none did)."""
        with self._mutex:
            token = self._read_token()
            if token != self._known:
                self._reopen(token)

    def generation(self) -> tuple[int, str, bytes]:
        """The folder's write generation: this process's reopen count, the last write's token, Chroma's commits.

        Every write through RPM, by any process or store object, replaces the token; the third part is the
        change counter SQLite keeps in the header of Chroma's database file (bumped by every commit in its
        rollback-journal mode), so a write that never announced itself (a writer killed after its commit, a
        plain Chroma client) moves the generation too. Two small reads, no file lock. An unchanged
        generation means nothing was written since (what :mod:`~langchain_rpm.store._query_cache` relies on).
        """
        self.refresh()
        with self._mutex:
            return self.epoch, self._known, self._commits()

    def commits(self) -> bytes:
        """SQLite's file change counter of Chroma's database (moved by every commit; ``b""`` without a file)."""
        return self._commits()

    def _commits(self) -> bytes:
        descriptor = self._database()
        try:
            return b"" if descriptor is None else os.pread(descriptor, 4, 24)  # the header's file change counter
        except OSError:
            return b""

    def _database(self) -> int | None:
        """A read-only descriptor of Chroma's database, opened once and kept (``None`` while there is no file).

        Closing any descriptor of a file drops every POSIX lock this process holds on it, Chroma's own SQLite
        locks included (SQLite's "how to corrupt" notes, 2.2): a descriptor opened and closed per read could
        free the locks of a commit in flight on another thread. So it stays open until this folder object goes,
        and is replaced only when its file was unlinked (a folder deleted and made again).
        """
        with self._opening:
            descriptor = self._descriptor
            if descriptor is not None and os.fstat(descriptor).st_nlink > 0:
                return descriptor
            try:
                fresh = os.open(self._paths[CHROMA_DATABASE], os.O_RDONLY)
            except OSError:
                return None
            if self._closer is not None:
                self._closer()  # the unlinked file's descriptor: no live database's locks are on it
            self._descriptor, self._closer = fresh, weakref.finalize(self, os.close, fresh)
            return fresh

    def reopen(self) -> None:
        """Reopen Chroma now; the caller holds :attr:`writer` (no write of this process is then in flight).

        Readers use :func:`~langchain_rpm.store._locks.reopen_plan`, which waits for the writer lock.
        """
        with self._mutex:
            self._reopen(self._read_token())

    def _reopen(self, token: str) -> None:
        import chromadb
        from chromadb.api.shared_system_client import SharedSystemClient

        settings = self.client.get_settings()
        # Chroma shares one in-memory system per folder in a process; drop it so the new client loads the
        # files (older client objects keep working on their stale copy until they are let go).
        SharedSystemClient._identifier_to_system.pop(self.client._identifier, None)
        SharedSystemClient._identifier_to_refcount.pop(self.client._identifier, None)
        self.client = chromadb.PersistentClient(path=str(self.folder), settings=settings)
        self.epoch += 1
        self._known = token
        self.erasures = self._read_token(ERASE_FILE)  # an erase announces itself before its write token

    def announce_write(self) -> None:
        """Publish a new write token (under the file lock), so other processes reopen before they read."""
        token, scratch = self._scratch(TOKEN_FILE)
        with self._mutex:  # this process never takes its own token for another's write
            os.replace(scratch, self.folder / TOKEN_FILE)
            self._known = token

    def announce_erase(self) -> None:
        """Publish a new erase token before a user's records go (under the file lock; the write token follows)."""
        token, scratch = self._scratch(ERASE_FILE)
        with self._mutex:
            os.replace(scratch, self.folder / ERASE_FILE)
            self.erasures = token

    def _scratch(self, name: str) -> tuple[str, Path]:
        token = uuid.uuid4().hex
        scratch = self.folder / f"{name}.{token}"
        scratch.write_text(token)
        return token, scratch


_FOLDERS: weakref.WeakValueDictionary[str, EmbeddedFolder] = weakref.WeakValueDictionary()
_FOLDERS_LOCK = threading.Lock()


def embedded_folder(client: Any) -> EmbeddedFolder | None:
    """The shared :class:`EmbeddedFolder` of a ``PersistentClient`` (``None`` for any other client)."""
    get_settings = getattr(type(client), "get_settings", None)  # on the type: proxies forward everything
    if get_settings is None or not hasattr(client, "_identifier"):
        return None
    settings = client.get_settings()
    if not settings.is_persistent or not str(settings.chroma_api_impl).endswith("RustBindingsAPI"):
        return None
    folder = Path(settings.persist_directory).resolve()
    with _FOLDERS_LOCK:
        state = _FOLDERS.get(str(folder))
        if state is None:
            state = _FOLDERS[str(folder)] = EmbeddedFolder(folder, client)
        return state


def is_local(client: Any) -> bool:
    """Whether ``client`` runs Chroma in this process (persistent or in-memory)."""
    get_settings = getattr(type(client), "get_settings", None)
    return get_settings is not None and str(client.get_settings().chroma_api_impl).endswith("RustBindingsAPI")


def backend_key(client: Any) -> str:
    """Who shares the per-user locks: the server address (same server, same locks) or the client object."""
    get_settings = getattr(type(client), "get_settings", None)
    if get_settings is not None and not is_local(client):
        settings = client.get_settings()
        where = f"{settings.chroma_server_host}:{settings.chroma_server_http_port}"
        return f"{where}/{getattr(client, 'tenant', '')}/{getattr(client, 'database', '')}"
    return f"client-{id(client)}"
