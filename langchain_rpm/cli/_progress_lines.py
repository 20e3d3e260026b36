"""Build progress as plain lines, for output that is not a terminal (a pipe, a log file, CI).

Progress bars redraw in place, which a pipe cannot show: a piped ``rpm demo`` used to print nothing for
minutes. :func:`build_progress` picks bars on a terminal and these lines elsewhere. A stage prints a line
when it starts, at most every ``every`` seconds while it runs, and when it completes.

Example:
    >>> import io
    >>> from rich.console import Console
    >>> out = io.StringIO()
    >>> with PlainProgress(Console(file=out, width=80), users=1, every=0) as progress:
    ...     progress.event({"stage": "extract", "user_id": "u1", "done": 2, "total": 2})
    ...     progress.user_done()
    >>> "features 2/2" in out.getvalue() and "users 1/1" in out.getvalue()
    True
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from langchain_rpm.cli.render import BATCH_STATUS, BuildProgress, StageCounts, stage_progress


class PlainProgress:
    """The same events as :class:`~langchain_rpm.cli.render.BuildProgress`, printed as ``label done/total (s)``."""

    def __init__(self, console: Console, *, users: int, enabled: bool = True, every: float = 5.0) -> None:
        self._console = console
        self._enabled = enabled
        self._every = every
        self._users = users
        self._users_done = 0
        self._counts: StageCounts = {}
        self._printed: dict[str, float] = {}
        self._batches: dict[str, int] = {}
        self._started = time.monotonic()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _line(self, label: str, done: int, total: int, *, force: bool = False) -> None:
        now = time.monotonic()
        last = self._printed.get(label)
        if not self._enabled or (not force and last is not None and now - last < self._every):
            return
        self._printed[label] = now
        self._console.print(f"{label} {done}/{total} ({now - self._started:.0f} s)", soft_wrap=True)

    def event(self, event: dict[str, Any]) -> None:
        """Handle one ``{"stage", "user_id", "done", "total"}`` event (batch events print their status)."""
        stage = event.get("stage", "")
        if stage == "batch":
            self.batch(event)
        progress = stage_progress(self._counts, event)
        if progress is not None:
            label, done, total = progress
            self._line(label, done, total, force=done == total)

    def batch(self, event: dict[str, Any]) -> None:
        """A batch's status, one line each, numbered as the bars number them (``batch 1 completed (6 done)``)."""
        key = str(event.get("batch_id") or f"refused-{len(self._batches)}")  # a refused batch has no id
        number = self._batches.setdefault(key, len(self._batches) + 1)
        status = BATCH_STATUS.get(str(event.get("status")), str(event.get("status")))
        if self._enabled:
            done = int(event.get("completed") or 0)
            self._console.print(f"batch {number} {status} ({done} done)", soft_wrap=True)

    def user_done(self) -> None:
        """One more user finished."""
        self._users_done += 1
        self._line("users", self._users_done, self._users, force=True)


def build_progress(console: Console, *, users: int, enabled: bool = True) -> BuildProgress | PlainProgress:
    """Progress bars on a terminal, plain lines otherwise."""
    if console.is_terminal:
        return BuildProgress(console, users=users, enabled=enabled)
    return PlainProgress(console, users=users, enabled=enabled)
