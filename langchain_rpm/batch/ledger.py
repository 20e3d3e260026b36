"""The batch ledger: what was sent to the Batch API and what came back, persisted in one SQLite file.

A run records every uploaded input file and the batch created from it *before* it waits on the
batch, and every line's reply (or error) once the batch ends. A killed run that is started again
with the same ledger therefore submits nothing twice: requests whose batch is still running are
polled again, requests whose batch finished are answered from the stored replies, and requests
whose line failed go online. One run at a time may use a ledger (a file lock guards it).

Example:
    >>> import tempfile, pathlib
    >>> ledger = BatchLedger(pathlib.Path(tempfile.mkdtemp()) / "batch.sqlite")
    >>> ledger.record_upload("file-1", ["req-a", "req-b"])
    >>> ledger.record_batch("file-1", "batch-1", "validating")
    >>> ledger.record_outcome("batch-1", "completed", {"req-a": {"choices": []}}, {"req-b": "server error"})
    >>> ledger.reply("req-a"), ledger.line("req-b").error
    ({'choices': []}, 'server error')
    >>> ledger.close()
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from langchain_rpm.errors import ConfigurationError
from langchain_rpm.privacy import BATCH_FILE, DEFAULT_BATCH_STATE, register_state_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    input_file_id TEXT PRIMARY KEY,
    batch_id TEXT UNIQUE,
    status TEXT NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS lines (
    custom_id TEXT PRIMARY KEY,
    input_file_id TEXT NOT NULL,
    reply TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS lines_by_file ON lines (input_file_id);
CREATE TABLE IF NOT EXISTS owners (
    custom_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (custom_id, owner)
);
"""


OPENED: set[Path] = set()
"""Every ledger file this process opened (``forget_user`` purges them by default)."""


@dataclass(frozen=True)
class LedgerLine:
    """One request as the ledger knows it: its input file, batch, and error (``None`` while pending)."""

    custom_id: str
    input_file_id: str
    batch_id: str | None
    finished: bool
    error: str | None


@dataclass(frozen=True)
class ForgottenLines:
    """What :meth:`BatchLedger.forget_owner` deleted: lines, and the provider's input files that held them."""

    lines: int
    input_files: tuple[str, ...]


def _forms(text: str) -> set[str]:
    """How ``text`` appears in a stored reply (JSON, ASCII-escaped, and once more inside a JSON string)."""
    once = json.dumps(text)[1:-1]
    return {text, json.dumps(text, ensure_ascii=False)[1:-1], once, json.dumps(once)[1:-1]}


@dataclass(frozen=True)
class OpenBatch:
    """An upload whose batch has not ended (``batch_id`` is ``None`` when the run died before creating it)."""

    input_file_id: str
    batch_id: str | None
    status: str


class BatchLedger:
    """Batch ids, line ownership and replies in one SQLite file; safe to share between threads.

    Args:
        path: The SQLite file (its folder is created). ``<path>.lock`` keeps other runs out.
    """

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the ledger and take its lock."""
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        OPENED.add(self.path.resolve())
        self._file_lock = FileLock(str(self.path) + ".lock", thread_local=False)  # closed from any thread
        try:
            self._file_lock.acquire(timeout=0)
        except Timeout:
            raise ConfigurationError(
                f"batch state {self.path} is in use by another run: wait for it, or give another state file"
            ) from None
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA secure_delete=ON")  # forgotten replies are zeroed, not left in free pages
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the file and release the lock."""
        with self._lock:
            self._db.close()
        self._file_lock.release()

    # -- reads ---------------------------------------------------------------------------------------------
    def reply(self, custom_id: str) -> dict[str, Any] | None:
        """The stored reply body of ``custom_id``, or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT reply FROM lines WHERE custom_id = ?", (custom_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] is not None else None

    def line(self, custom_id: str) -> LedgerLine | None:
        """Where ``custom_id`` stands, or ``None`` when it was never submitted."""
        with self._lock:
            row = self._db.execute(
                "SELECT l.input_file_id, b.batch_id, b.finished, l.error FROM lines l "
                "JOIN batches b ON b.input_file_id = l.input_file_id WHERE l.custom_id = ?",
                (custom_id,),
            ).fetchone()
        if row is None:
            return None
        return LedgerLine(custom_id, row[0], row[1], bool(row[2]), row[3])

    def open_batches(self) -> list[OpenBatch]:
        """Uploads whose batch has not ended, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT input_file_id, batch_id, status FROM batches WHERE finished = 0 ORDER BY rowid"
            ).fetchall()
        return [OpenBatch(*row) for row in rows]

    def custom_ids(self, input_file_id: str) -> list[str]:
        """The requests of one upload."""
        with self._lock:
            rows = self._db.execute(
                "SELECT custom_id FROM lines WHERE input_file_id = ? ORDER BY rowid", (input_file_id,)
            ).fetchall()
        return [row[0] for row in rows]

    # -- writes --------------------------------------------------------------------------------------------
    def record_upload(self, input_file_id: str, custom_ids: list[str]) -> None:
        """An input file was uploaded for these requests (written before the batch is created)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO batches (input_file_id, status) VALUES (?, 'uploaded')", (input_file_id,)
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO lines (custom_id, input_file_id) VALUES (?, ?)",
                [(cid, input_file_id) for cid in custom_ids],
            )

    def record_batch(self, input_file_id: str, batch_id: str, status: str) -> None:
        """The batch created from ``input_file_id``."""
        with self._lock:
            self._db.execute(
                "UPDATE batches SET batch_id = ?, status = ? WHERE input_file_id = ?", (batch_id, status, input_file_id)
            )

    def record_status(self, batch_id: str, status: str) -> None:
        """The batch's latest status."""
        with self._lock:
            self._db.execute("UPDATE batches SET status = ? WHERE batch_id = ?", (status, batch_id))

    def record_outcome(
        self, batch_id: str, status: str, replies: dict[str, dict[str, Any]], errors: dict[str, str]
    ) -> None:
        """The batch ended: each of its lines' reply body or error, in one transaction."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            found = self._db.execute("SELECT input_file_id FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
            if found is None:
                return
            mine = "WHERE custom_id = ? AND input_file_id = ?"
            self._db.executemany(
                f"UPDATE lines SET reply = ?, error = NULL {mine}",
                [(json.dumps(body), cid, found[0]) for cid, body in replies.items()],
            )
            self._db.executemany(f"UPDATE lines SET error = ? {mine}", [(e, c, found[0]) for c, e in errors.items()])
            self._db.execute("UPDATE batches SET status = ?, finished = 1 WHERE batch_id = ?", (status, batch_id))

    def record_owner(self, custom_id: str, owner: str) -> None:
        """``custom_id`` carries the data of ``owner`` (a :func:`~langchain_rpm.privacy.owner_tag`)."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO owners VALUES (?, ?)", (custom_id, owner))

    def forget_owner(self, owner: str, texts: Sequence[str] = ()) -> ForgottenLines:
        """Delete the lines ``owner`` asked for and those whose reply quotes one of ``texts``; then compact.

        Shared lines (another user sent the identical request) go too: they hold this user's text.
        Returns how many lines were deleted and the provider's input files that held them.

        Example:
            >>> import tempfile, pathlib
            >>> ledger = BatchLedger(pathlib.Path(tempfile.mkdtemp()) / "batch.sqlite")
            >>> ledger.record_upload("file-1", ["req-a", "req-b"])
            >>> ledger.record_owner("req-a", "ada-tag")
            >>> ledger.forget_owner("ada-tag"), ledger.custom_ids("file-1")
            (ForgottenLines(lines=1, input_files=('file-1',)), ['req-b'])
            >>> ledger.close()
        """
        needles = {form for text in texts if len(text.strip()) >= 12 for form in _forms(text)}
        with self._lock:
            ids = {row[0] for row in self._db.execute("SELECT custom_id FROM owners WHERE owner = ?", (owner,))}
            if needles:
                for custom_id, reply, error in self._db.execute("SELECT custom_id, reply, error FROM lines"):
                    if any(needle in f"{reply or ''}{error or ''}" for needle in needles):
                        ids.add(custom_id)
            marks = [(custom_id,) for custom_id in ids]
            self._db.execute("BEGIN")
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS forget_ids (custom_id TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM forget_ids")
            self._db.executemany("INSERT OR IGNORE INTO forget_ids VALUES (?)", marks)
            files = self._db.execute(
                "SELECT DISTINCT input_file_id FROM lines WHERE custom_id IN (SELECT custom_id FROM forget_ids) "
                "ORDER BY input_file_id"
            ).fetchall()
            removed = self._db.execute("DELETE FROM lines WHERE custom_id IN (SELECT custom_id FROM forget_ids)")
            count = removed.rowcount
            self._db.execute("DELETE FROM owners WHERE custom_id IN (SELECT custom_id FROM forget_ids)")
            self._db.execute("DELETE FROM owners WHERE owner = ?", (owner,))
            self._db.execute("DELETE FROM forget_ids")
            self._db.execute("COMMIT")
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return ForgottenLines(count, tuple(row[0] for row in files))

    def forget(self, input_file_id: str) -> None:
        """Drop an upload that never became a batch (its requests count as never submitted)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM lines WHERE input_file_id = ?", (input_file_id,))
            self._db.execute("DELETE FROM batches WHERE input_file_id = ?", (input_file_id,))


def purge_ledger(path: Path, owner: str, texts: list[str]) -> tuple[int, list[str]]:
    """Delete ``owner``'s lines from the ledger at ``path``; the notes: what was compacted, then what the provider keeps.

    How :func:`~langchain_rpm.privacy.forget_user` reaches a ledger (registered when this module is imported).
    """
    ledger = BatchLedger(path)  # a run using it right now is refused in one line (its lock)
    try:
        forgotten = ledger.forget_owner(owner, texts)
    finally:
        ledger.close()
    notes = [f"batch ledger compacted (SQLite VACUUM): {path}"]
    if forgotten.input_files:
        files = ", ".join(forgotten.input_files)
        notes.append(
            f"kept by the Batch API provider: the input files {files} (and their batches' output files) hold "
            "this user's requests next to other users'; a batch file cannot be split: delete them with "
            "`client.files.delete(ID)` once no run needs them"
        )
    return forgotten.lines, notes


def _default_ledgers() -> list[Path]:
    """The default ledger and every ledger this process opened."""
    return [DEFAULT_BATCH_STATE.expanduser(), *sorted(OPENED)]


register_state_file("batch", BATCH_FILE, purge_ledger, _default_ledgers)
