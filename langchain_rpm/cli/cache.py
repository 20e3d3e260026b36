"""A LangChain LLM cache in one SQLite file, committed on every update.

Set it on a chat model (``ChatOpenAI(..., cache=SQLiteCache(path))``) or globally
(``langchain_core.globals.set_llm_cache``): a re-run build pays nothing for calls already made, and
because each reply is committed as soon as it arrives, a build killed midway loses at most the calls
in flight. (``langchain-community``'s SQLite cache does the same through SQLAlchemy; this keeps the
dependency list short.) Prompts carry :data:`~langchain_rpm.prompts.PROMPT_VERSION` implicitly: the
cache key is the full prompt text, so a prompt change never serves a stale reply.

Example:
    >>> import tempfile, pathlib
    >>> from langchain_core.outputs import Generation
    >>> cache = SQLiteCache(pathlib.Path(tempfile.mkdtemp()) / "llm.sqlite")
    >>> cache.update("prompt", "model", [Generation(text="hi")])
    >>> cache.lookup("prompt", "model")[0].text
    'hi'
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.load import Serializable, dumps, loads
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, Generation


class SQLiteCache(BaseCache):
    """LLM cache keyed by (prompt, model parameters), stored in SQLite (WAL), thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS llm_cache (prompt TEXT, llm TEXT, idx INTEGER, value TEXT, "
            "PRIMARY KEY (prompt, llm, idx))"
        )

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The cached generations for ``(prompt, llm_string)``, or ``None``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT value FROM llm_cache WHERE prompt = ? AND llm = ? ORDER BY idx", (prompt, llm_string)
            ).fetchall()
        return [_load(value) for (value,) in rows] or None

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations for ``(prompt, llm_string)`` (committed at once)."""
        rows: Sequence[tuple[str, str, int, str]] = [
            (prompt, llm_string, i, dumps(generation)) for i, generation in enumerate(return_val)
        ]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, ?)", rows)

    def clear(self, **kwargs: Any) -> None:
        """Delete every cached reply."""
        with self._lock:
            self._db.execute("DELETE FROM llm_cache")

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()


_ALLOWED: list[type[Serializable]] = [Generation, ChatGeneration, AIMessage, AIMessageChunk]  # what chat models return


def _load(value: str) -> Any:
    return loads(value, allowed_objects=_ALLOWED)
