"""A LangChain LLM cache in one SQLite file, committed on every update.

Set it on a chat model (``ChatOpenAI(..., cache=SQLiteCache(path))``) or globally
(``langchain_core.globals.set_llm_cache``): a re-run build pays nothing for calls already made, and
because each reply is committed as soon as it arrives, a build killed midway loses at most the calls
in flight. (``langchain-community``'s SQLite cache does the same through SQLAlchemy; this keeps the
dependency list short.) Prompts carry :data:`~langchain_rpm.prompts.PROMPT_VERSION` implicitly: the
cache key is the full prompt text, so a prompt change never serves a stale reply.

Cached prompts hold users' histories, so each entry records whose data it carries: the digest of the
user a build or query runs for (:func:`langchain_rpm.privacy.data_owner`, set by the :class:`~langchain_rpm.RPM`
facade), recorded when the reply is stored and whenever another user's run reuses it.
:meth:`SQLiteCache.forget` deletes a user's entries (and entries whose prompt contains the user's texts)
and compacts the file, so no byte of them is left on disk. A reply that fails its output schema is
evicted by the structured call that got it (:mod:`langchain_rpm._cache_watch`), so a retry asks the model again.

Example:
    >>> import tempfile, pathlib
    >>> from langchain_core.outputs import Generation
    >>> cache = SQLiteCache(pathlib.Path(tempfile.mkdtemp()) / "llm.sqlite")
    >>> cache.update("prompt", "model", [Generation(text="hi")])
    >>> cache.lookup("prompt", "model")[0].text
    'hi'
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.load import Serializable, dumps, loads
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, Generation

from langchain_rpm._cache_watch import note_use
from langchain_rpm.privacy import CACHE_FILE, current_owner, register_state_file


class SQLiteCache(BaseCache):
    """LLM cache keyed by (prompt, model parameters), stored in SQLite (WAL), thread-safe; entries know their users."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA secure_delete=ON")  # deleted entries are zeroed, not left in free pages
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS llm_cache (prompt TEXT, llm TEXT, idx INTEGER, value TEXT, "
            "PRIMARY KEY (prompt, llm, idx))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS llm_cache_owner (entry TEXT, owner TEXT, PRIMARY KEY (entry, owner))"
        )
        self._db.create_function("rpm_entry", 2, _entry, deterministic=True)

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The cached generations for ``(prompt, llm_string)``, or ``None``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT value FROM llm_cache WHERE prompt = ? AND llm = ? ORDER BY idx", (prompt, llm_string)
            ).fetchall()
            if rows:
                self._own(prompt, llm_string)
                note_use(self, prompt, llm_string)
        return [_load(value) for (value,) in rows] or None

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations for ``(prompt, llm_string)`` (committed at once)."""
        rows: Sequence[tuple[str, str, int, str]] = [
            (prompt, llm_string, i, dumps(generation)) for i, generation in enumerate(return_val)
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, ?)", rows)
            self._own(prompt, llm_string)
            self._db.execute("COMMIT")
        note_use(self, prompt, llm_string)

    def evict(self, prompt: str, llm_string: str) -> int:
        """Delete one entry (a reply that failed validation must not be served again); returns 1 if it existed.

        Example:
            >>> import tempfile, pathlib
            >>> cache = SQLiteCache(pathlib.Path(tempfile.mkdtemp()) / "llm.sqlite")
            >>> cache.update("prompt", "model", [Generation(text="not JSON")])
            >>> cache.evict("prompt", "model"), cache.lookup("prompt", "model")
            (1, None)
        """
        with self._lock:
            self._db.execute("BEGIN")
            found = self._db.execute("DELETE FROM llm_cache WHERE prompt = ? AND llm = ?", (prompt, llm_string))
            self._db.execute("DELETE FROM llm_cache_owner WHERE entry = ?", (_entry(prompt, llm_string),))
            self._db.execute("COMMIT")
        return int(found.rowcount > 0)

    def _own(self, prompt: str, llm_string: str) -> None:
        owner = current_owner()
        if owner is not None:
            self._db.execute("INSERT OR IGNORE INTO llm_cache_owner VALUES (?, ?)", (_entry(prompt, llm_string), owner))

    def forget(self, owner: str, texts: Iterable[str] = ()) -> int:
        """Delete ``owner``'s entries and those whose prompt contains one of ``texts``; then compact the file.

        ``owner`` is an :func:`~langchain_rpm.privacy.owner_tag`. Returns the number of entries deleted.

        Example:
            >>> import tempfile, pathlib
            >>> from langchain_rpm.privacy import data_owner, owner_tag
            >>> cache = SQLiteCache(pathlib.Path(tempfile.mkdtemp()) / "llm.sqlite")
            >>> with data_owner("ada"):
            ...     cache.update("ada's prompt", "model", [Generation(text="hi")])
            >>> cache.update("bob's prompt", "model", [Generation(text="hey")])
            >>> cache.forget(owner_tag("ada")), cache.lookup("ada's prompt", "model")
            (1, None)
            >>> cache.lookup("bob's prompt", "model")[0].text
            'hey'
        """
        needles = sorted({form for text in texts for form in _forms(text)})
        with self._lock:
            entries = {e for (e,) in self._db.execute("SELECT entry FROM llm_cache_owner WHERE owner = ?", (owner,))}
            for needle in needles:
                found = self._db.execute(
                    "SELECT DISTINCT prompt, llm FROM llm_cache WHERE instr(prompt, ?) > 0", (needle,)
                )
                entries.update(_entry(prompt, llm) for prompt, llm in found)
            self._db.execute("BEGIN")
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS forget_entries (entry TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM forget_entries")
            self._db.executemany("INSERT OR IGNORE INTO forget_entries VALUES (?)", [(e,) for e in entries])
            removed = self._db.execute(
                "SELECT COUNT(DISTINCT rpm_entry(prompt, llm)) FROM llm_cache "
                "WHERE rpm_entry(prompt, llm) IN (SELECT entry FROM forget_entries)"
            ).fetchone()[0]
            self._db.execute("DELETE FROM llm_cache WHERE rpm_entry(prompt, llm) IN (SELECT entry FROM forget_entries)")
            self._db.execute("DELETE FROM llm_cache_owner WHERE entry IN (SELECT entry FROM forget_entries)")
            self._db.execute("DELETE FROM forget_entries")
            self._db.execute("COMMIT")
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(removed)

    def clear(self, **kwargs: Any) -> None:
        """Delete every cached reply."""
        with self._lock:
            self._db.execute("DELETE FROM llm_cache")
            self._db.execute("DELETE FROM llm_cache_owner")

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()


def _entry(prompt: str, llm_string: str) -> str:
    """The digest that names one cached entry (its prompt and model parameters)."""
    return hashlib.sha256(json.dumps([prompt, llm_string]).encode()).hexdigest()[:32]


def _forms(text: str) -> set[str]:
    """How ``text`` can appear inside a cached prompt (as is, JSON-escaped, ASCII-escaped); short texts skipped."""
    if len(text.strip()) < 12:
        return set()
    return {text, json.dumps(text, ensure_ascii=False)[1:-1], json.dumps(text)[1:-1]}


_ALLOWED: list[type[Serializable]] = [Generation, ChatGeneration, AIMessage, AIMessageChunk]  # what chat models return


def _load(value: str) -> Any:
    return loads(value, allowed_objects=_ALLOWED)


def purge_cache_file(path: Path, owner: str, texts: list[str]) -> tuple[int, list[str]]:
    """Forget ``owner`` in the cache file at ``path`` (how :func:`~langchain_rpm.privacy.forget_user` reaches it)."""
    cache = SQLiteCache(path)
    try:
        removed = cache.forget(owner, texts)
    finally:
        cache.close()
    return removed, [f"LLM cache compacted (SQLite VACUUM): {path}"]


register_state_file("cache", CACHE_FILE, purge_cache_file)
