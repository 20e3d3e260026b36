"""The batch coordinator: collects the requests of every build in flight and sends each phase as one batch.

A batching chat model hands each request to :meth:`BatchCoordinator.submit` under a stable
``custom_id`` and waits on the returned future. The coordinator sends what it has collected as one
batch when *every active build is waiting on a request* (builds register with :meth:`track`, and a
request in progress is marked with :meth:`busy`) and no request arrived for ``collect_window``
seconds (a pause of the whole process, such as a full garbage collection, does not count), or in any
case once the oldest request has waited ``collect_timeout`` seconds. Builds that run concurrently move
through the same phases together (extraction, each clustering step, judging, reasoning), so each phase
goes out as one batch for all users, whatever the build graph looks like.

A future resolves to the reply body of its line, or to ``None`` when that line must be sent online
(it failed, its batch expired or was refused). Identical requests share one line; a request the
ledger already answered is replayed; one whose batch an earlier run created waits on that batch.

Example:
    >>> import tempfile, pathlib, openai
    >>> client = openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    >>> with BatchCoordinator(client, pathlib.Path(tempfile.mkdtemp()) / "state.sqlite") as coordinator:
    ...     with coordinator.track("ada"):
    ...         coordinator.active_builds
    ['ada']
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, InvalidStateError
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

from langchain_rpm.batch._cost import BatchUsage, reply_tokens
from langchain_rpm.batch._jobs import BatchJob, BatchSettings, Outcome
from langchain_rpm.batch.ledger import BatchLedger
from langchain_rpm.privacy import current_owner
from langchain_rpm.types import TokenUsage

log = logging.getLogger(__name__)

Reply = dict[str, Any] | None
"""A line's reply body, or ``None``: send this request online."""

_BUILD: ContextVar[str | None] = ContextVar("rpm_batch_build", default=None)


@dataclass
class _Pending:
    body: dict[str, Any]
    futures: list[Future[Reply]] = field(default_factory=list)


def _settle(future: Future[Reply], reply: Reply) -> None:
    if not future.done():
        with contextlib.suppress(InvalidStateError):  # cancelled meanwhile by its waiter
            future.set_result(reply)


class BatchCoordinator:
    """Collects requests into batches, follows them, and answers each waiting call by ``custom_id``.

    Args:
        client: A blocking ``openai.OpenAI`` client (a ``ChatOpenAI``'s ``root_client``).
        state: The ledger file (or an open :class:`BatchLedger`, which the caller closes); a re-run
            with the same file resumes instead of paying again.
        settings: Poll interval, timeout and collection rule (:class:`BatchSettings`).
        on_progress: Receives ``{"stage": "batch", "batch_id", "status", "completed", "failed", "total"}``
            events, from the coordinator's threads.
    """

    def __init__(
        self,
        client: openai.OpenAI,
        state: str | Path | BatchLedger,
        *,
        settings: BatchSettings | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Open the ledger, resume the batches an earlier run left running, and start collecting."""
        self.client = client
        self.settings = settings or BatchSettings()
        self._owns_ledger = not isinstance(state, BatchLedger)
        self.ledger = state if isinstance(state, BatchLedger) else BatchLedger(state)
        self.on_progress = on_progress
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._queued: dict[str, _Pending] = {}
        self._sent: dict[str, _Pending] = {}
        self._first_queued = self._last_arrival = 0.0
        self._active: Counter[str] = Counter()
        self._waiting: Counter[str] = Counter()
        self._jobs: list[BatchJob] = []
        self._usage = BatchUsage()
        self._closed = False
        self._resume_open_batches()
        self._dispatcher = threading.Thread(target=self._dispatch, name="rpm-batch-dispatcher", daemon=True)
        self._dispatcher.start()

    # -- builds --------------------------------------------------------------------------------------------
    @contextmanager
    def track(self, build: str) -> Iterator[None]:
        """Mark the code inside (and the tasks it starts) as build ``build``; batches wait for it to ask."""
        token = _BUILD.set(build)
        with self._cond:
            self._active[build] += 1
        try:
            yield
        finally:
            _BUILD.reset(token)
            with self._cond:
                self._active[build] -= 1
                if self._active[build] <= 0:
                    del self._active[build]
                self._cond.notify_all()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Mark the current build as waiting on a request (batched or online) while inside."""
        build = _BUILD.get()
        if build is None:
            yield
            return
        with self._cond:
            self._waiting[build] += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._waiting[build] -= 1

    @property
    def active_builds(self) -> list[str]:
        """The builds registered with :meth:`track` right now."""
        with self._cond:
            return sorted(self._active)

    @property
    def usage(self) -> BatchUsage:
        """What this run sent, resumed, replayed and paid so far."""
        with self._cond:
            return self._usage.model_copy(deep=True)

    # -- requests ------------------------------------------------------------------------------------------
    def submit(self, custom_id: str, body: dict[str, Any]) -> Future[Reply]:
        """Queue a chat-completions request body; the future resolves to its reply body or ``None`` (go online)."""
        future: Future[Reply] = Future()
        owner = current_owner()
        with self._cond:
            if self._stop.is_set():
                future.cancel()
                return future
            if owner is not None:  # whose text the line holds, so forget_user can delete it
                self.ledger.record_owner(custom_id, owner)
            pending = self._queued.get(custom_id) or self._sent.get(custom_id)
            if pending is not None:
                pending.futures.append(future)
                self._usage.shared += 1
                return future
            reply = self.ledger.reply(custom_id)
            line = None if reply is not None else self.ledger.line(custom_id)
            if reply is not None or (line is not None and line.finished):
                self._usage.replayed += reply is not None
                future.set_result(reply)  # replayed, or a line that failed before: online
            elif line is not None:
                self._sent[custom_id] = _Pending(body, [future])  # its batch, resumed, answers it
            else:
                now = time.monotonic()
                self._first_queued = self._first_queued if self._queued else now
                self._last_arrival = now
                self._queued[custom_id] = _Pending(body, [future])
                self._cond.notify_all()
        return future

    def record_online(self, tokens: TokenUsage) -> None:
        """Count a request that went online, with the tokens its reply reported."""
        with self._cond:
            self._usage.online += 1
            self._usage.online_tokens = self._usage.online_tokens + tokens

    # -- batches -------------------------------------------------------------------------------------------
    def _job(self) -> BatchJob:
        job = BatchJob(self.client, self.ledger, self.settings, stop=self._stop, emit=self._emit, done=self._done)
        self._jobs = [j for j in self._jobs if j.thread is None or j.thread.is_alive()] + [job]
        return job

    def _resume_open_batches(self) -> None:
        for open_batch in self.ledger.open_batches():
            batch_id = open_batch.batch_id or self._adopt(open_batch.input_file_id)
            if batch_id is None:
                self.ledger.forget(open_batch.input_file_id)
                continue
            self._usage.resumed_batches += 1
            self._job().resume(batch_id, self.ledger.custom_ids(open_batch.input_file_id))

    def _adopt(self, input_file_id: str) -> str | None:
        """The batch an earlier run created from ``input_file_id`` just before it died, if any."""
        try:
            for seen, batch in enumerate(self.client.batches.list(limit=100)):
                if batch.input_file_id == input_file_id:
                    self.ledger.record_batch(input_file_id, batch.id, batch.status)
                    return batch.id
                if seen >= 1000:
                    break
        except openai.APIError as exc:
            log.warning("could not list batches to find the one made from %s: %s", input_file_id, exc)
        return None

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                lines = self._next_batch()
                if lines is None:
                    return
                chunks = self._chunks(lines)
                self._usage.batches += len(chunks)
                self._usage.lines += len(lines)
            for chunk in chunks:
                self._job().submit(chunk)

    def _next_batch(self) -> dict[str, dict[str, Any]] | None:
        """Wait (holding the condition) until the queued requests should go out; ``None`` once closed.

        A pause of the whole process (a full garbage collection holds every thread; so can the machine's load)
        is not quiet: nobody could ask during it. When the dispatcher wakes later than it asked by more than
        half the window, the quiet starts again from that moment.
        """
        window, limit = self.settings.collect_window, self.settings.collect_timeout
        quiet_from = wake_at = 0.0
        while not self._stop.is_set():
            if not self._queued:
                self._cond.wait()
                wake_at = 0.0
                continue
            now = time.monotonic()
            if wake_at and now - wake_at > window / 2:
                quiet_from = now
            settled = all(self._waiting[build] > 0 for build in self._active)
            quiet, held = now - max(self._last_arrival, quiet_from), now - self._first_queued
            if held >= limit or (settled and quiet >= window):
                taken, self._queued = self._queued, {}
                self._sent.update(taken)
                return {custom_id: pending.body for custom_id, pending in taken.items()}
            timeout = max(0.001, min(limit - held, window - quiet) if settled else limit - held)
            wake_at = now + timeout
            self._cond.wait(timeout)
        return None

    def _chunks(self, lines: dict[str, dict[str, Any]]) -> list[dict[str, dict[str, Any]]]:
        chunks: list[dict[str, dict[str, Any]]] = [{}]
        size = 0
        for custom_id, body in lines.items():
            line_size = len(json.dumps(body)) + len(custom_id) + 80
            if chunks[-1] and (
                len(chunks[-1]) >= self.settings.max_lines or size + line_size > self.settings.max_bytes
            ):
                chunks.append({})
                size = 0
            chunks[-1][custom_id] = body
            size += line_size
        return chunks

    def _done(self, ids: list[str], outcome: Outcome) -> None:
        with self._cond:
            if self._closed:
                return
            if outcome.batch_id is not None:
                self.ledger.record_outcome(outcome.batch_id, outcome.status, outcome.replies, outcome.errors)
            for body in outcome.replies.values():
                self._usage.batch_tokens = self._usage.batch_tokens + reply_tokens(body)
            for custom_id in ids:
                pending = self._sent.pop(custom_id, None)
                for future in pending.futures if pending else []:
                    _settle(future, outcome.replies.get(custom_id))
            self._cond.notify_all()

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_progress is not None:
            try:
                self.on_progress(event)
            except Exception:  # a broken progress display must not stop the batches
                log.exception("batch progress callback failed")

    # -- lifecycle -----------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop collecting and polling; calls still waiting are cancelled. Running batches stay in the ledger."""
        with self._cond:
            if self._stop.is_set():
                return
            self._stop.set()
            waiting = [*self._queued.values(), *self._sent.values()]
            self._queued, self._sent = {}, {}
            self._cond.notify_all()
        for pending in waiting:
            for future in pending.futures:
                future.cancel()
        self._dispatcher.join(timeout=10)
        for job in self._jobs:
            if job.thread is not None:
                job.thread.join(timeout=10)
        with self._cond:
            self._closed = True
        if self._owns_ledger:
            self.ledger.close()

    def __enter__(self) -> BatchCoordinator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
