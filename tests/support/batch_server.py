"""A loopback fake of the OpenAI files + batches API, on top of :class:`FaultServer`'s chat completions.

:class:`BatchServer` is a :class:`~tests.support.fault_server.FaultServer` (same responders, same
``chat.completion`` rendering, same faults for online calls) that also speaks:

* ``POST /v1/files`` (multipart upload, ``purpose=batch``), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``;
* ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET /v1/batches`` (list), ``POST /v1/batches/{id}/cancel``.

A batch is ``validating`` when created and ends at its ``polls_to_finish``-th poll (unless the
server is :meth:`held <BatchServer.hold>`). Its lines are answered then, by the responder, exactly
as the same request online would be. What happens to the next batches can be scripted:
:meth:`expire_next` (the batch expires with only its first lines done), :meth:`fail_lines_next` (its
last lines fail with status 500), :meth:`invalid_lines_next` (its last lines get schema-invalid
replies), :meth:`fail_next` (the whole batch fails validation).

:func:`structured_responder` adapts an RPM responder ``(messages, json_schema) -> dict`` (such as
``langchain_rpm.testing.demo_responder``) to both ways ``ChatOpenAI`` asks for structure: a tool call
(``method="function_calling"``) or a JSON-schema ``response_format`` (the default).
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.utils.json_schema import dereference_refs

from tests.support.fault_server import FaultServer, _Handler
from tests.support.openai_wire import response_schema, selected_tool

SchemaResponder = Callable[[list[BaseMessage], dict[str, Any]], dict[str, Any]]


def structured_responder(responder: SchemaResponder) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A FaultServer responder answering tool calls and ``response_format`` schemas with ``responder``."""

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        messages = convert_to_messages(
            [{"role": m["role"], "content": m.get("content") or ""} for m in request["messages"]]
        )
        tool = selected_tool(request)
        if tool is not None:
            arguments = responder(messages, tool.get("parameters") or {})
            return {"tool_calls": [{"name": tool["name"], "arguments": arguments}]}
        schema = response_schema(request)
        if schema is not None:  # a response_format schema keeps its $defs; tools arrive inlined
            return {"content": json.dumps(responder(messages, dereference_refs(schema)))}
        return {"content": "ok"}

    return respond


def _schema_name(body: dict[str, Any]) -> str:
    """The output schema a request asks for (its ``response_format`` or first tool), to tell phases apart."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return str((fmt.get("json_schema") or {}).get("name"))
    tools = body.get("tools") or []
    return str(tools[0]["function"]["name"]) if tools else "text"


class BatchServer(FaultServer):
    """FaultServer plus the files and batches endpoints (see the module docstring)."""

    def __init__(self, responder: Any = None, *, polls_to_finish: int = 1, **options: Any) -> None:
        super().__init__(responder, **options)
        self.polls_to_finish = polls_to_finish
        self._files: dict[str, dict[str, Any]] = {}
        self._batches: dict[str, dict[str, Any]] = {}
        self._scripted: deque[tuple[str, int]] = deque()
        self._unanswered: list[dict[str, Any]] = []
        self._released = threading.Event()
        self._released.set()

    # -- scripting ------------------------------------------------------------------------------------------
    def hold(self) -> None:
        """Keep every batch ``in_progress`` until :meth:`release`."""
        self._released.clear()

    def release(self) -> None:
        """Let held batches end at their next poll."""
        self._released.set()

    def expire_next(self, done: int = 0) -> None:
        """The next batch expires with only its first ``done`` lines answered."""
        with self._lock:
            self._scripted.append(("expire", done))

    def fail_lines_next(self, failed: int = 1) -> None:
        """The next batch completes with its last ``failed`` lines failed (status 500)."""
        with self._lock:
            self._scripted.append(("fail_lines", failed))

    def invalid_lines_next(self, invalid: int = 1) -> None:
        """The next batch completes, its last ``invalid`` lines answered with schema-invalid replies."""
        with self._lock:
            self._scripted.append(("invalid_lines", invalid))

    def fail_next(self) -> None:
        """The next batch fails validation (no line is answered)."""
        with self._lock:
            self._scripted.append(("failed", 0))

    @property
    def unanswered(self) -> list[dict[str, Any]]:
        """Request bodies of the lines that expired, failed or were cancelled, in order."""
        with self._lock:
            return copy.deepcopy(self._unanswered)

    @property
    def batches(self) -> list[dict[str, Any]]:
        """Every batch created, oldest first (copies), with its ``lines`` (custom ids) and ``schemas`` (counts)."""
        with self._lock:
            return copy.deepcopy(list(self._batches.values()))

    # -- stats -------------------------------------------------------------------------------------------------
    @staticmethod
    def _empty_stats() -> dict[str, Any]:
        stats = FaultServer._empty_stats()
        stats.update(files_uploaded=0, batches_created=0, batch_lines=0, batch_polls=0, batches_cancelled=0)
        return stats

    # -- routing -----------------------------------------------------------------------------------------------
    def _handle_get(self, h: _Handler) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        parts = path.split("/")[1:]  # ["v1", "files", id, "content"]
        if parts[:2] == ["v1", "files"] and len(parts) in (3, 4):
            self._bump("requests")
            self._send_file(h, parts[2], content=len(parts) == 4)
        elif parts[:2] == ["v1", "batches"] and len(parts) == 3:
            self._bump("requests")
            self._poll(h, parts[2])
        elif parts == ["v1", "batches"]:
            self._bump("requests")
            with self._lock:
                data = [self._public(b) for b in reversed(self._batches.values())]
            first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
            h.send_json(200, {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False})
        else:
            super()._handle_get(h)

    def _handle_post(self, h: _Handler) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        parts = path.split("/")[1:]
        if parts == ["v1", "files"]:
            self._bump("requests")
            self._upload(h)
        elif parts == ["v1", "batches"]:
            self._bump("requests")
            self._create(h, json.loads(h.read_body() or b"{}"))
        elif parts[:2] == ["v1", "batches"] and len(parts) == 4 and parts[3] == "cancel":
            self._bump("requests")
            h.read_body()
            self._cancel(h, parts[2])
        else:
            super()._handle_post(h)

    def _not_found(self, h: _Handler, what: str) -> None:
        self._bump("bad_requests")
        h.send_json(404, self._error_body(f"No such {what}", "invalid_request_error", "not_found"))

    # -- files -------------------------------------------------------------------------------------------------
    def _upload(self, h: _Handler) -> None:
        raw = h.read_body()
        header = f"Content-Type: {h.headers.get('Content-Type')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
        filename, data = fields["file"]
        with self._lock:
            file_id = f"file-{len(self._files) + 1:04d}"
            self._files[file_id] = self._file_object(file_id, filename or "upload.jsonl", data, "batch")
            self._stats["files_uploaded"] += 1
            public = {k: v for k, v in self._files[file_id].items() if k != "data"}
        h.send_json(200, public)

    @staticmethod
    def _file_object(file_id: str, filename: str, data: bytes, purpose: str) -> dict[str, Any]:
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "data": data,
        }

    def _send_file(self, h: _Handler, file_id: str, *, content: bool) -> None:
        with self._lock:
            found = self._files.get(file_id)
        if found is None:
            self._not_found(h, f"file {file_id}")
        elif content:
            h.send_bytes(200, found["data"], content_type="application/octet-stream")
        else:
            h.send_json(200, {k: v for k, v in found.items() if k != "data"})

    # -- batches -----------------------------------------------------------------------------------------------
    def _create(self, h: _Handler, request: dict[str, Any]) -> None:
        with self._lock:
            source = self._files.get(str(request.get("input_file_id")))
        if source is None:
            self._not_found(h, "input file")
            return
        with self._lock:
            lines = [json.loads(line) for line in source["data"].decode().splitlines() if line.strip()]
            batch_id = f"batch_{len(self._batches) + 1:04d}"
            script = self._scripted.popleft() if self._scripted else ("complete", 0)
            self._batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": request.get("endpoint"),
                "input_file_id": source["id"],
                "completion_window": request.get("completion_window", "24h"),
                "status": "validating",
                "created_at": int(time.time()),
                "metadata": request.get("metadata"),
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "output_file_id": None,
                "error_file_id": None,
                "errors": None,
                "lines": [line["custom_id"] for line in lines],
                "schemas": dict(Counter(_schema_name(line["body"]) for line in lines)),
                "_input": lines,
                "_script": script,
                "_polls": 0,
            }
            self._stats["batches_created"] += 1
            public = self._public(self._batches[batch_id])
        h.send_json(200, public)

    @staticmethod
    def _public(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if not k.startswith("_") and k not in ("lines", "schemas")}

    def _on_batch(self, h: _Handler, batch_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Apply ``change`` to the batch (holding the lock) and answer with it, or 404."""
        if batch_id not in self._batches:
            self._not_found(h, f"batch {batch_id}")
            return
        with self._lock:
            batch = self._batches[batch_id]
            change(batch)
            public = self._public(batch)
        h.send_json(200, public)

    def _poll(self, h: _Handler, batch_id: str) -> None:
        def advance(batch: dict[str, Any]) -> None:
            self._stats["batch_polls"] += 1
            batch["_polls"] += 1
            if batch["status"] in ("completed", "expired", "failed", "cancelled"):
                return
            if batch["status"] == "cancelling":
                self._finish(batch, ("cancelled", 0))
            elif self._released.is_set() and batch["_polls"] >= self.polls_to_finish:
                self._finish(batch, batch["_script"])
            else:
                batch["status"] = "in_progress"

        self._on_batch(h, batch_id, advance)

    def _cancel(self, h: _Handler, batch_id: str) -> None:
        def cancel(batch: dict[str, Any]) -> None:
            if batch["status"] in ("validating", "in_progress", "finalizing"):
                batch["status"] = "cancelling"
                self._stats["batches_cancelled"] += 1

        self._on_batch(h, batch_id, cancel)

    def _finish(self, batch: dict[str, Any], script: tuple[str, int]) -> None:
        """End ``batch`` as scripted, answering its lines (called holding the lock)."""
        kind, count = script
        lines = batch["_input"]
        if kind == "failed":
            self._unanswered.extend(line["body"] for line in lines)
            batch["status"] = "failed"
            batch["errors"] = {"object": "list", "data": [{"code": "invalid_request", "message": "scripted failure"}]}
            return
        answered = {"expire": count, "cancelled": 0, "fail_lines": len(lines) - count}.get(kind, len(lines))
        output, errors = [], []
        for index, line in enumerate(lines):
            if index < answered:
                invalid = kind == "invalid_lines" and index >= len(lines) - count
                try:
                    output.append(self._answer_line(line, index, invalid=invalid))
                    continue
                except Exception:  # as online: a responder that raises is a 500 for that line
                    self._errors.append(traceback.format_exc())
                    self._stats["responder_errors"] += 1
            self._unanswered.append(line["body"])
            if kind == "fail_lines" or index < answered:
                why = "scripted line failure" if index >= answered else "BatchServer responder raised"
                error = self._error_body(why, "server_error", None)
                errors.append(
                    {"custom_id": line["custom_id"], "response": {"status_code": 500, "body": error}, "error": None}
                )
            else:
                code = "batch_expired" if kind == "expire" else "batch_cancelled"
                errors.append(
                    {"custom_id": line["custom_id"], "response": None, "error": {"code": code, "message": kind}}
                )
        batch["status"] = {"expire": "expired", "cancelled": "cancelled"}.get(kind, "completed")
        batch["request_counts"] = {"total": len(lines), "completed": len(output), "failed": len(errors)}
        for key, rows in (("output_file_id", output), ("error_file_id", errors)):
            if rows:
                file_id = f"file-{len(self._files) + 1:04d}"
                data = "".join(json.dumps(row) + "\n" for row in rows).encode()
                self._files[file_id] = self._file_object(file_id, f"{batch['id']}_{key}.jsonl", data, "batch_output")
                batch[key] = file_id

    def _answer_line(self, line: dict[str, Any], index: int, *, invalid: bool = False) -> dict[str, Any]:
        self._stats["batch_lines"] += 1
        self._counter += 1
        answer = self._answer(line["body"], invalid=invalid)
        body, _ = self._render(line["body"], answer, self._counter)
        response = {"status_code": 200, "request_id": f"req_batch_{self._counter}", "body": json.loads(body)}
        return {"id": f"batch_req_{index}", "custom_id": line["custom_id"], "response": response, "error": None}
