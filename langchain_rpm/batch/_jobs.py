"""One batch's life on the wire: JSONL input, upload, create, poll until it ends, download, per-line outcomes.

A :class:`BatchJob` runs in a daemon thread with the ``openai`` client's blocking calls (a handful per
batch: one upload, one create, the polls, two downloads), records each step in the
:class:`~langchain_rpm.batch.ledger.BatchLedger` before it goes on, and reports an :class:`Outcome`:
the reply body of every line that came back with status 200, and an error for every other line
(failed, expired, cancelled, or never sent). A run that is closing stops polling and leaves the batch
running; the ledger knows it, so the next run picks it up.

Example:
    >>> data = input_file({"req-1": {"model": "gpt-4o-mini", "messages": []}}, "/v1/chat/completions")
    >>> json.loads(data)["custom_id"], json.loads(data)["url"]
    ('req-1', '/v1/chat/completions')
    >>> parse_results('{"custom_id": "req-1", "response": {"status_code": 200, "body": {"id": "x"}}, "error": null}')
    ({'req-1': {'id': 'x'}}, {})
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import openai
from openai.types import Batch

from langchain_rpm.batch.ledger import BatchLedger
from langchain_rpm.errors import ConfigurationError

log = logging.getLogger(__name__)

TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
"""Batch statuses after which nothing changes."""

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class BatchSettings:
    """How batches are collected, sent and waited on.

    Args:
        poll_interval: Seconds between two polls of a running batch.
        timeout: Seconds after which a batch that has not ended is cancelled; its unfinished lines go
            online (``None``: wait for the provider's completion window, after which it expires).
        collect_window: Seconds without a new request before a batch goes out (once every active
            build is waiting on a request).
        collect_timeout: Most seconds a request waits to be sent, even while some build is busy.
        max_lines: Most requests per batch (OpenAI: 50,000).
        max_bytes: Most bytes per input file (OpenAI: 200 MB).
        completion_window: The provider's completion window.
        endpoint: The endpoint every line calls.

    Example:
        >>> BatchSettings(poll_interval=0.01).poll_interval
        0.01
    """

    poll_interval: float = 30.0
    timeout: float | None = None
    collect_window: float = 1.0
    collect_timeout: float = 30.0
    max_lines: int = 50_000
    max_bytes: int = 190_000_000
    completion_window: Literal["24h"] = "24h"
    endpoint: Literal["/v1/chat/completions"] = "/v1/chat/completions"

    def __post_init__(self) -> None:
        """Refuse settings that cannot work, in one line."""
        for name in ("poll_interval", "collect_window", "collect_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"batch setting {name} must be > 0 seconds, got {getattr(self, name)!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigurationError(f"batch setting timeout must be > 0 seconds or None, got {self.timeout!r}")
        if self.max_lines < 1 or self.max_bytes < 1:
            raise ConfigurationError("batch settings max_lines and max_bytes must be >= 1")


@dataclass
class Outcome:
    """How a batch ended: reply bodies and errors by ``custom_id``."""

    batch_id: str | None
    status: str
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def input_file(lines: Mapping[str, dict[str, Any]], endpoint: str) -> bytes:
    """The JSONL input file of a batch: one ``{"custom_id", "method", "url", "body"}`` per request."""
    rows = (
        json.dumps({"custom_id": cid, "method": "POST", "url": endpoint, "body": body}) for cid, body in lines.items()
    )
    return ("\n".join(rows) + "\n").encode()


def parse_results(text: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Reply bodies (status 200) and errors (anything else) of an output or error file."""
    replies: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for raw in text.splitlines():
        if not raw.strip():
            continue
        row = json.loads(raw)
        custom_id = str(row.get("custom_id"))
        response = row.get("response") or {}
        body = response.get("body")
        if row.get("error") is None and response.get("status_code") == 200 and isinstance(body, dict):
            replies[custom_id] = body
        else:
            error = row.get("error") or (body or {}).get("error") or {"status_code": response.get("status_code")}
            errors[custom_id] = json.dumps(error)[:500]
    return replies, errors


def progress(batch: Batch) -> dict[str, Any]:
    """The progress event of a batch: ``{"stage": "batch", "batch_id", "status", "completed", "failed", "total"}``."""
    counts = batch.request_counts
    return {
        "stage": "batch",
        "batch_id": batch.id,
        "status": batch.status,
        "completed": counts.completed if counts else 0,
        "failed": counts.failed if counts else 0,
        "total": counts.total if counts else 0,
    }


class BatchJob:
    """One batch, submitted or resumed, followed in a daemon thread until it ends or the run closes.

    Args:
        client: A blocking ``openai.OpenAI`` client.
        ledger: Where each step is recorded before the next.
        settings: Poll interval, timeout and endpoint.
        stop: Set when the run closes (polling stops; the batch keeps running at the provider).
        emit: Receives progress events.
        done: Receives the request ids and the outcome once the batch ended (not when the run closed).
    """

    def __init__(
        self,
        client: openai.OpenAI,
        ledger: BatchLedger,
        settings: BatchSettings,
        *,
        stop: threading.Event,
        emit: Emit,
        done: Callable[[list[str], Outcome], None],
    ) -> None:
        """Prepare a job (nothing happens until :meth:`submit` or :meth:`resume`)."""
        self.client = client
        self.ledger = ledger
        self.settings = settings
        self.stop = stop
        self.emit = emit
        self.done = done
        self.thread: threading.Thread | None = None

    def submit(self, lines: dict[str, dict[str, Any]]) -> None:
        """Upload ``lines`` and create their batch, then follow it (in the job's thread)."""
        self._start(self._submit, lines)

    def resume(self, batch_id: str, ids: list[str]) -> None:
        """Follow a batch an earlier run created for requests ``ids`` (in the job's thread)."""
        self._start(self._resume, batch_id, ids)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        def guarded() -> None:
            try:
                target(*args)
            except Exception:  # e.g. the ledger closed under a job stuck in a call past the run's end
                log.exception("batch job stopped")

        self.thread = threading.Thread(target=guarded, name="rpm-batch-job", daemon=True)
        self.thread.start()

    def _submit(self, lines: dict[str, dict[str, Any]]) -> None:
        ids = list(lines)
        file_id: str | None = None
        try:
            data = input_file(lines, self.settings.endpoint)
            file_id = self.client.files.create(file=("rpm-batch.jsonl", data, "application/jsonl"), purpose="batch").id
            self.ledger.record_upload(file_id, ids)
            batch = self.client.batches.create(
                input_file_id=file_id,
                endpoint=self.settings.endpoint,
                completion_window=self.settings.completion_window,
                metadata={"created_by": "langchain-rpm"},
            )
        except Exception as exc:  # the provider refused the batch: every line goes online
            log.warning("batch submission failed (%d requests go online): %s", len(ids), exc)
            if file_id is not None:
                self.ledger.forget(file_id)
            self.emit({"stage": "batch", "batch_id": None, "status": "failed", "completed": 0, "failed": len(ids)})
            self.done(ids, Outcome(None, "failed", errors=dict.fromkeys(ids, f"not submitted: {exc}"[:500])))
            return
        self.ledger.record_batch(file_id, batch.id, batch.status)
        self._follow(batch, ids)

    def _resume(self, batch_id: str, ids: list[str]) -> None:
        try:
            batch = self.client.batches.retrieve(batch_id)
        except openai.NotFoundError:
            batch = Batch.model_construct(id=batch_id, status="failed", request_counts=None)
        except Exception as exc:
            log.warning("batch %s: could not be retrieved, polling again: %s", batch_id, exc)
            batch = Batch.model_construct(id=batch_id, status="in_progress", request_counts=None)
        self._follow(batch, ids)

    def _follow(self, batch: Batch, ids: list[str]) -> None:
        try:
            ended = self._poll(batch)
            if ended is None:
                return  # the run is closing; the ledger resumes this batch next time
            outcome = self._outcome(ended)
        except Exception as exc:  # never leave callers waiting: a broken batch sends its lines online
            log.warning("batch %s: %s (its unfinished lines go online)", batch.id, exc)
            outcome = Outcome(batch.id, "failed")
        for custom_id in ids:
            if custom_id not in outcome.replies and custom_id not in outcome.errors:
                outcome.errors[custom_id] = f"no result (batch {outcome.status})"
        self.done(ids, outcome)

    def _poll(self, batch: Batch) -> Batch | None:
        deadline = None if self.settings.timeout is None else time.monotonic() + self.settings.timeout
        last: dict[str, Any] = {}
        while True:
            event = progress(batch)
            if event != last:
                self.emit(event)
                self.ledger.record_status(batch.id, batch.status)
                last = event
            if batch.status in TERMINAL:
                return batch
            if deadline is not None and time.monotonic() > deadline and batch.status != "cancelling":
                log.warning("batch %s: timed out after %.0f s, cancelling it", batch.id, self.settings.timeout)
                batch = self.client.batches.cancel(batch.id)
                deadline = None
                continue
            if self.stop.wait(self.settings.poll_interval):
                return None
            try:
                batch = self.client.batches.retrieve(batch.id)
            except openai.NotFoundError:
                return Batch.model_construct(id=batch.id, status="failed", request_counts=batch.request_counts)
            except (openai.APIError, OSError) as exc:  # a poll that fails is tried again at the next interval
                log.warning("batch %s: poll failed, trying again: %s", batch.id, exc)

    def _outcome(self, batch: Batch) -> Outcome:
        outcome = Outcome(batch.id, batch.status)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                replies, errors = parse_results(self.client.files.content(file_id).text)
                outcome.replies.update(replies)
                outcome.errors.update(errors)
        return outcome
