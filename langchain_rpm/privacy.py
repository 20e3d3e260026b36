"""Forgetting a user: every copy of their data the package made, and a report of what could not be removed.

RPM keeps a user's text in several places: the store's example records, profile and manifest (and,
until compacted, Chroma's own log, full-text index and free pages), the build checkpoints (each thread's
state holds the history, features and reasoning), and the LLM cache (prompts and replies).
:func:`forget_user` deletes all of them and compacts what it can:

- store: every example record of the user (current, superseded or orphaned by a failed write), the
  profile and the manifest, under the user's write lock; then :meth:`RPMStore.compact
  <langchain_rpm.store.RPMStore.compact>` (embedded stores);
- checkpoints: every thread whose checkpoints carry the user's tag (the facade puts
  ``{"rpm_user": owner_tag(user_id)}`` in the run metadata) or whose state has ``user_id`` equal to the
  user; SQLite checkpoint files are then vacuumed;
- LLM caches (:class:`~langchain_rpm.cli._cache.SQLiteCache`, or any cache with the same ``forget``
  method): entries recorded for the user (:func:`data_owner`) and entries whose prompt contains one of
  the user's texts; then vacuumed;
- Batch API ledgers (``docs/batch.md``): the lines the user's builds sent (recorded per owner) and
  those whose reply quotes the user's texts; then vacuumed. The provider's own batch files hold many
  users' requests each and cannot be split: the report lists them.
- this process's caches keyed by text of users' data rather than by user (output schemas naming factors or
  options, the callers built on them, the leak check's patterns of answers): emptied whole
  (:mod:`langchain_rpm._process_caches`). Another process's caches are emptied only by a forget run there.

This module knows none of those file formats: the CLI's cache and the batch ledger register how to
purge their files (:func:`register_state_file`) when they are imported, and the facade and the CLI
pass their caches, ledgers and checkpointer. A state file whose kind nobody registered is listed in
the report as kept.

Where a copy cannot be removed from here (a Chroma server's or Chroma Cloud's own storage, the vectors
Chroma leaves in its index files, a checkpointer that is not SQLite), the report says so.

Example:
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm()
    >>> report = forget_user("ada", rpm.store)
    >>> report.examples_removed > 0, rpm.store.get_profile("ada")
    (True, None)
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_rpm._history import check_user_id
from langchain_rpm._plans import Call, Plan, arun, run
from langchain_rpm._process_caches import empty_all
from langchain_rpm._purged import Purged, compacted_plan
from langchain_rpm.store._writes import delete_user_plan

if TYPE_CHECKING:
    from langchain_rpm.store import RPMStore

CHECKPOINTS_FILE = "checkpoints.sqlite"
CACHE_FILE = "llm_cache.sqlite"
BATCH_FILE = "batch.sqlite"
DEFAULT_BATCH_STATE = Path("~/.langchain_rpm") / BATCH_FILE
"""The Batch API ledger unless told otherwise (``langchain_rpm.batch.DEFAULT_STATE``)."""
_OWNER: ContextVar[str | None] = ContextVar("rpm_data_owner", default=None)

StateKind = Literal["cache", "batch"]
Purge = Callable[[Path, str, list[str]], tuple[int, list[str]]]
"""Deletes an owner's entries from one file: ``(path, owner_tag, texts) -> (entries removed, report lines)``;
the report lines say what was compacted first, then anything kept elsewhere (starting with ``kept``)."""


@dataclass(frozen=True)
class StateFile:
    """How to purge one kind of state file: its name in a state folder, its purge, its default paths."""

    file_name: str
    purge: Purge
    defaults: Callable[[], list[Path]] | None = None


_STATE_FILES: dict[StateKind, StateFile] = {}


def register_state_file(
    kind: StateKind, file_name: str, purge: Purge, defaults: Callable[[], list[Path]] | None = None
) -> None:
    """Let :func:`forget_user` purge files of ``kind`` (``"cache"``: LLM caches, ``"batch"``: batch ledgers).

    The module that owns the file format calls it when imported (``langchain_rpm.cli._cache``,
    ``langchain_rpm.batch.ledger``), so this module imports neither.

    Example:
        >>> import langchain_rpm.cli._cache  # the CLI's LLM cache registers itself on import
        >>> registered_state_file("cache").file_name
        'llm_cache.sqlite'
    """
    _STATE_FILES[kind] = StateFile(file_name, purge, defaults)


def registered_state_file(kind: StateKind) -> StateFile | None:
    """The registered handler of ``kind``, or ``None`` while its module is not imported."""
    return _STATE_FILES.get(kind)


def owner_tag(user_id: str) -> str:
    """The digest caches and checkpoints record for a user (never the id itself).

    Example:
        >>> owner_tag("ada") == owner_tag("ada") != owner_tag("bob")
        True
    """
    return hashlib.sha256(f"rpm-user:{user_id}".encode()).hexdigest()[:32]


@contextmanager
def data_owner(user_id: str) -> Iterator[None]:
    """Mark the LLM calls made inside as carrying ``user_id``'s data (caches record it for :func:`forget_user`).

    The facade sets it around every build and query; set it yourself around other calls that send a
    user's data through a cached model. Context variables follow threads that LangChain and LangGraph
    start and asyncio tasks.

    Example:
        >>> with data_owner("ada"):
        ...     current_owner() == owner_tag("ada")
        True
        >>> current_owner() is None
        True
    """
    token = _OWNER.set(owner_tag(check_user_id(user_id)))
    try:
        yield
    finally:
        _OWNER.reset(token)


def current_owner() -> str | None:
    """The :func:`owner_tag` set by the innermost :func:`data_owner`, or ``None``."""
    return _OWNER.get()


@dataclass(frozen=True)
class ForgetReport(Purged):
    """What :func:`forget_user` removed, compacted, and could not remove.

    Example:
        >>> print(ForgetReport("ada", examples_removed=3, profile_removed=True))
        forgot user 'ada'
        examples removed: 3
        profile removed: yes
        checkpoint threads removed: 0
        cached LLM replies removed: 0
        batch ledger replies removed: 0
    """

    user_id: str
    examples_removed: int = 0
    profile_removed: bool = False

    def lines(self) -> list[str]:
        """One line per fact (what the CLI prints)."""
        return [
            f"forgot user {self.user_id!r}",
            f"examples removed: {self.examples_removed}",
            f"profile removed: {'yes' if self.profile_removed else 'no (there was none)'}",
            *super().lines(),
        ]


def forget_plan(
    user_id: str,
    store: RPMStore,
    *,
    checkpointer: Any = None,
    caches: Sequence[Any] = (),
    folder: str | Path | None = None,
    compact: bool = True,
    batch_states: Sequence[str | Path] | None = None,
) -> Plan[ForgetReport]:
    """:func:`forget_user` as a plan (run with :func:`~langchain_rpm._plans.run` or ``arun``)."""
    user_id = check_user_id(user_id)
    tag = owner_tag(user_id)
    texts = [example.input for example in (yield from store.examples_plan(user_id))]
    had_profile = (yield from store.profile_plan(user_id)) is not None
    removed = yield from delete_user_plan(store, user_id)
    copies = yield from purge_plan(
        user_id, texts, owner=tag, checkpointer=checkpointer, caches=caches, folder=folder, batch_states=batch_states
    )
    return ForgetReport(user_id, removed, had_profile, **(yield from compacted_plan(store, copies, compact)))


def purge_plan(
    user_id: str,
    texts: Sequence[str],
    *,
    owner: str,
    checkpointer: Any = None,
    caches: Sequence[Any] = (),
    folder: str | Path | None = None,
    batch_states: Sequence[str | Path] | None = None,
) -> Plan[Purged]:
    """Delete the copies outside the store: the user's build threads, then cache and ledger entries.

    Cache and ledger entries go when they carry ``owner`` (an :func:`owner_tag`; pass a tag no entry
    has to match by text only) or quote one of ``texts`` (with the texts the deleted threads held).
    This process's caches keyed by text of users' data are emptied too, even when a purge step fails.
    :func:`forget_plan` and single-item removal (``langchain_rpm._corrections``) both purge through it.
    """
    try:
        threads, compacted, kept, texts = 0, list[str](), list[str](), list(texts)
        tag = owner_tag(user_id)
        if checkpointer is not None:
            found, more_texts, note = yield Call(_forget_threads, _aforget_threads, (checkpointer, user_id, tag))
            threads, texts = threads + found, texts + more_texts
            (compacted if note.startswith("checkpoints compacted") else kept).append(note)
        state = Path(folder) if folder is not None else None
        if state is not None and (state / CHECKPOINTS_FILE).exists():
            found, more_texts, note = yield Call(_forget_threads_in_file, args=(state / CHECKPOINTS_FILE, user_id, tag))
            threads, texts = threads + found, texts + more_texts
            compacted.append(note)
        entries = 0
        for cache in _given_caches(caches):
            entries += yield Call(cache.forget, args=(owner, texts))
            compacted.append(f"LLM cache compacted (SQLite VACUUM): {getattr(cache, 'path', type(cache).__name__)}")
        lines = 0
        for kind, path, handler in _state_files(caches, batch_states, state):
            if handler is None:
                kept.append(f"kept: {path} (no {kind} handler registered: import the module that wrote it)")
                continue
            found, notes = yield Call(handler.purge, args=(path, owner, texts))
            entries, lines = (entries + found, lines) if kind == "cache" else (entries, lines + found)
            compacted.append(notes[0])
            kept.extend(notes[1:])
        return Purged(
            checkpoint_threads_removed=threads,
            cache_entries_removed=entries,
            batch_lines_removed=lines,
            compacted=tuple(compacted),
            kept=tuple(kept),
        )
    finally:  # even when a step fails: this process's caches keyed by text (langchain_rpm._process_caches)
        empty_all(user_id)


def forget_user(
    user_id: str,
    store: RPMStore,
    *,
    checkpointer: Any = None,
    caches: Sequence[Any] = (),
    folder: str | Path | None = None,
    compact: bool = True,
    batch_states: Sequence[str | Path] | None = None,
) -> ForgetReport:
    """Delete every copy of ``user_id``'s data the package made and compact what holds it.

    Args:
        user_id: The user to forget.
        store: The store holding their examples and profile.
        checkpointer: A LangGraph checkpointer used for their builds (sync API here; ``aforget_user``
            for ``AsyncSqliteSaver``).
        caches: LLM caches to purge (objects with ``forget(owner_tag, texts) -> int``, e.g. ``SQLiteCache``).
        folder: A state folder as the CLI keeps it (``checkpoints.sqlite``, ``llm_cache.sqlite``,
            ``batch.sqlite``).
        compact: Compact Chroma's files afterwards (embedded stores).
        batch_states: Batch API ledgers (:class:`~langchain_rpm.batch.BatchLedger` files) the user's
            builds went through (default: ``~/.langchain_rpm/batch.sqlite`` and every ledger this
            process opened); their lines and replies are deleted, the provider's files are listed.

    Example:
        >>> from langchain_rpm.testing import demo_rpm
        >>> print(forget_user("ada", demo_rpm().store).lines()[1])
        examples removed: 3
    """
    options = {"checkpointer": checkpointer, "caches": caches, "folder": folder, "compact": compact}
    options |= {"batch_states": batch_states}
    return run(forget_plan(user_id, store, **options))


async def aforget_user(
    user_id: str,
    store: RPMStore,
    *,
    checkpointer: Any = None,
    caches: Sequence[Any] = (),
    folder: str | Path | None = None,
    compact: bool = True,
    batch_states: Sequence[str | Path] | None = None,
) -> ForgetReport:
    """Async :func:`forget_user` (async store clients, ``AsyncSqliteSaver``)."""
    options = {"checkpointer": checkpointer, "caches": caches, "folder": folder, "compact": compact}
    options |= {"batch_states": batch_states}
    return await arun(forget_plan(user_id, store, **options))


# -- checkpoints -------------------------------------------------------------------------------------------
def _threads_of(checkpoints: Iterable[Any], user_id: str, tag: str) -> tuple[set[str], list[str]]:
    """Thread ids holding the user's data, and the user's texts found in them."""
    threads: set[str] = set()
    texts: list[str] = []
    for checkpoint in checkpoints:
        values = checkpoint.checkpoint.get("channel_values") or {}
        if (checkpoint.metadata or {}).get("rpm_user") == tag or values.get("user_id") == user_id:
            threads.add(checkpoint.config["configurable"]["thread_id"])
            texts += [str(item.get("input")) for item in values.get("history") or [] if isinstance(item, dict)]
    return threads, texts


def _forget_threads(checkpointer: Any, user_id: str, tag: str) -> tuple[int, list[str], str]:
    threads, texts = _threads_of(list(checkpointer.list(None)), user_id, tag)
    for thread in threads:
        checkpointer.delete_thread(thread)
    return len(threads), texts, _compact_saver(checkpointer)


async def _aforget_threads(checkpointer: Any, user_id: str, tag: str) -> tuple[int, list[str], str]:
    threads, texts = _threads_of([c async for c in checkpointer.alist(None)], user_id, tag)
    for thread in threads:
        await checkpointer.adelete_thread(thread)
    conn = getattr(checkpointer, "conn", None)
    if type(checkpointer).__name__ == "AsyncSqliteSaver" and conn is not None:
        async with checkpointer.lock:
            await conn.commit()
            await conn.execute("VACUUM")
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(threads), texts, "checkpoints compacted (SQLite VACUUM)"
    return len(threads), texts, _compact_saver(checkpointer)


def _compact_saver(checkpointer: Any) -> str:
    name = type(checkpointer).__name__
    if name == "SqliteSaver":
        with checkpointer.lock:
            checkpointer.conn.commit()
            checkpointer.conn.execute("VACUUM")
            checkpointer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return "checkpoints compacted (SQLite VACUUM)"
    if name == "InMemorySaver":
        return "checkpoints compacted (in memory: nothing on disk)"
    return f"kept by {name}: deleted threads may stay in its storage until it is compacted (not done from here)"


def _forget_threads_in_file(path: Path, user_id: str, tag: str) -> tuple[int, list[str], str]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        found, texts, _ = _forget_threads(SqliteSaver(conn), user_id, tag)
    finally:
        conn.close()
    return found, texts, f"checkpoints compacted (SQLite VACUUM): {path}"


def _given_caches(caches: Sequence[Any]) -> list[Any]:
    """The caches passed in that can forget, each once."""
    return list({id(c): c for c in caches if callable(getattr(c, "forget", None))}.values())


def _state_files(
    caches: Sequence[Any], batch_states: Sequence[str | Path] | None, folder: Path | None
) -> list[tuple[StateKind, Path, StateFile | None]]:
    """The existing state files to purge, each with its kind and registered handler (``None``: nobody registered).

    Caches: the state folder's ``llm_cache.sqlite`` unless given as an object. Ledgers: those given
    (or the registered defaults), and the state folder's ``batch.sqlite``.
    """
    given = {Path(getattr(c, "path", "")).resolve() for c in _given_caches(caches) if getattr(c, "path", None)}
    found: list[tuple[StateKind, Path, StateFile | None]] = []
    if folder is not None and (folder / CACHE_FILE).is_file() and (folder / CACHE_FILE).resolve() not in given:
        found.append(("cache", (folder / CACHE_FILE).resolve(), registered_state_file("cache")))
    ledger = registered_state_file("batch")
    if batch_states is None:
        batch_states = ledger.defaults() if ledger is not None and ledger.defaults else [DEFAULT_BATCH_STATE]
    paths = [Path(p).expanduser() for p in batch_states] + ([folder / BATCH_FILE] if folder is not None else [])
    ledgers = {path.resolve(): path for path in paths if path.is_file()}
    return found + [("batch", path, ledger) for path in ledgers.values()]
