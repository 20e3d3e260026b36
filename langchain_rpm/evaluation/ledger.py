"""The run ledger: every finished prediction and user build, one JSON line each, so a run can resume.

``results_dir/predictions.jsonl`` is append-only; each line is a :class:`LedgerRecord` keyed by
``(kind, run, task, method, user, query)`` and the latest line per key wins. A prediction that failed
(``error`` set) is not "done", so a resumed run retries it. A half-written last line (a killed run)
is skipped with a warning.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "predictions.jsonl"
    >>> Ledger(path).append(LedgerRecord(kind="prediction", task="lamp2", method="rpm", user="u", query="q"))
    >>> Ledger(path).done("lamp2", "rpm", "u", "q")
    True
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from langchain_rpm.evaluation.cost import Spend
from langchain_rpm.evaluation.method import ProfileBuild

__all__ = ["Ledger", "LedgerRecord"]

logger = logging.getLogger(__name__)


class LedgerRecord(BaseModel):
    """One finished unit of work: a prediction, a method's user build, or a shared profile build."""

    kind: Literal["prediction", "build", "profile"]
    run: int = Field(default=0, ge=0, description="Which of the run's repetitions (0-based).")
    task: str
    method: str = ""
    user: str
    query: str = ""
    prediction: str = ""
    gold: str = ""
    error: str | None = None
    digest: str = ""
    spend: Spend = Field(default_factory=Spend)

    @property
    def key(self) -> tuple[str, int, str, str, str, str]:
        """What identifies a record: kind, run, task, method, user and query."""
        return (self.kind, self.run, self.task, self.method, self.user, self.query)


class Ledger:
    """The append-only JSON-lines record of a run; the latest record per key wins.

    Example:
        >>> import tempfile, pathlib
        >>> ledger = Ledger(pathlib.Path(tempfile.mkdtemp()) / "predictions.jsonl")
        >>> ledger.append(LedgerRecord(kind="prediction", task="lamp2", method="rpm", user="u", query="q"))
        >>> ledger.done("lamp2", "rpm", "u", "q")
        True
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[tuple[str, int, str, str, str, str], LedgerRecord] = {}
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        self._torn = bool(text) and not text.endswith("\n")  # a killed run left half a line
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = LedgerRecord.model_validate_json(line)
            except ValidationError:
                logger.warning("%s: line %d is not a ledger record (an interrupted write?); ignored", path, number)
                continue
            self.records[record.key] = record

    def append(self, record: LedgerRecord) -> None:
        """Persist ``record`` (one line, flushed) and index it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(("\n" if self._torn else "") + record.model_dump_json() + "\n")
        self._torn = False
        self.records[record.key] = record

    def get(
        self, kind: str, task: str, method: str, user: str, query: str = "", *, run: int = 0
    ) -> LedgerRecord | None:
        """The latest record with this key, if any."""
        return self.records.get((kind, run, task, method, user, query))

    def done(self, task: str, method: str, user: str, query: str, *, run: int = 0) -> bool:
        """Whether this prediction finished without error."""
        record = self.get("prediction", task, method, user, query, run=run)
        return record is not None and record.error is None

    def profiles(self, task: str, *, run: int = 0) -> dict[str, ProfileBuild]:
        """Shared profile builds of ``task`` in ``run`` recorded so far, by user."""
        return {
            r.user: ProfileBuild(digest=r.digest, spend=r.spend)
            for r in self.records.values()
            if r.kind == "profile" and r.task == task and r.run == run
        }
