"""A small OpenAI-compatible chat server on loopback over :class:`~langchain_rpm.cli._local_runtime.LocalRuntime`.

``cyllama``'s own server ignores ``tools`` and ``response_format``, so this one (standard library only) serves
what ``ChatOpenAI`` sends for RPM's structured calls:

- a *named* ``tool_choice`` (``with_structured_output(..., method="function_calling")``): the reply is a tool
  call whose arguments are decoded under a grammar built from that tool's JSON schema;
- ``response_format`` ``json_schema`` (the schema's grammar) and ``json_object`` (any JSON object);
- plain chat otherwise; ``usage`` in every reply; ``stream=true`` answered as one chunk.

It serves one generation at a time; further requests wait. Run it as
``python -m langchain_rpm.cli._local_openai --model FILE --port N``; it exits when its standard input closes
(its parent died or stopped it), so an orphan never lingers.

Example:
    >>> chat_messages([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    [{'role': 'user', 'content': 'hi'}]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_rpm.cli._local_runtime import Abandoned, LocalRuntime, schema_grammar

_DEFAULT_MAX_TOKENS = 512


class RequestError(ValueError):
    """A request this server cannot serve (answered with HTTP 400)."""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def chat_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """OpenAI chat messages as ``role``/``content`` text pairs (tool calls and results rendered as JSON text)."""
    out = []
    for message in messages:
        role = str(message.get("role", "user"))
        content = _text(message.get("content"))
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            content += f"\n{function.get('name', '')}({function.get('arguments', '')})"
        if role == "tool":
            role = "user"
        elif role == "developer":
            role = "system"
        out.append({"role": role, "content": content.strip() if role != "system" else content})
    return out


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return None
    name = (choice.get("function") or {}).get("name")
    for tool in body.get("tools") or []:
        function = tool.get("function") or {}
        if function.get("name") == name:
            return dict(function)
    raise RequestError(f"tool_choice names {name!r}, which is not among the request's tools")


def _response_schema(body: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    fmt = body.get("response_format") or {}
    kind = fmt.get("type", "text")
    if kind == "json_schema":
        return True, (fmt.get("json_schema") or {}).get("schema") or {}
    if kind == "json_object":
        return True, None
    if kind != "text":
        raise RequestError(f"response_format type {kind!r} is not supported (text, json_object, json_schema)")
    return False, None


def complete(
    runtime: LocalRuntime, model_name: str, body: dict[str, Any], abandoned: Callable[[], bool] = lambda: False
) -> dict[str, Any]:
    """Answer one ``/v1/chat/completions`` request body with a ``chat.completion`` object."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list")
    tool = _forced_tool(body)
    wants_json, schema = _response_schema(body)
    grammar = None
    if tool is not None:
        grammar = schema_grammar(tool.get("parameters") or {"type": "object"})
    elif wants_json:
        grammar = schema_grammar(schema)
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or _DEFAULT_MAX_TOKENS
    result = runtime.generate(
        runtime.render(chat_messages(messages)),
        grammar=grammar,
        max_tokens=int(max_tokens),
        temperature=float(body.get("temperature") or 0.0),
        seed=int(body.get("seed") or 0),
        abandoned=abandoned,
    )
    message: dict[str, Any] = {"role": "assistant", "content": result.text}
    finish = result.finish_reason
    if tool is not None:
        call = {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function"}
        call["function"] = {"name": tool["name"], "arguments": result.text}  # type: ignore[assignment]
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls" if finish == "stop" else finish
    usage = {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage,
    }


def _as_stream(reply: dict[str, Any]) -> bytes:
    choice = reply["choices"][0]
    delta = dict(choice["message"])
    for index, call in enumerate(delta.get("tool_calls") or []):
        call["index"] = index
    chunk = dict(reply, object="chat.completion.chunk")
    chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": choice["finish_reason"], "logprobs": None}]
    return f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: HTTPStatus, message: str) -> None:
        body = {"error": {"message": message, "type": "invalid_request_error", "code": status.value}}
        self._send(status.value, json.dumps(body).encode())

    def _client_gone(self) -> bool:
        """Whether the client closed its connection (it timed out while its request waited for the model)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            model = {"id": self.server.model_name, "object": "model", "owned_by": "local", "created": 0}
            self._send(200, json.dumps({"object": "list", "data": [model]}).encode())
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")
            return
        started = time.monotonic()
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            reply = complete(self.server.runtime, self.server.model_name, body, self._client_gone)
        except Abandoned:
            self.close_connection = True
            return
        except (RequestError, ValueError, TypeError, KeyError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        usage, finish = reply["usage"], reply["choices"][0]["finish_reason"]
        self.log_message(
            "served: %d prompt + %d completion tokens, %s, %.1f s",
            usage["prompt_tokens"], usage["completion_tokens"], finish, time.monotonic() - started,
        )  # fmt: skip
        if body.get("stream"):
            self._send(200, _as_stream(reply), "text/event-stream")
        else:
            self._send(200, json.dumps(reply).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], runtime: LocalRuntime, model_name: str) -> None:
        super().__init__(address, _Handler)
        self.runtime = runtime
        self.model_name = model_name


def _exit_when_stdin_closes(remove: str | None) -> None:
    def watch() -> None:
        try:
            sys.stdin.buffer.read()
        finally:
            if remove:  # a parent killed by SIGKILL cannot remove our temporary folder itself
                shutil.rmtree(remove, ignore_errors=True)
            os._exit(0)

    threading.Thread(target=watch, name="rpm-parent-watchdog", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """Load the model, then serve until stdin closes or the process is signalled."""
    parser = argparse.ArgumentParser(prog="python -m langchain_rpm.cli._local_openai")
    parser.add_argument("--model", required=True, help="GGUF file")
    parser.add_argument("--model-alias", default="local")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--watch-stdin", action="store_true", help="exit when standard input closes")
    parser.add_argument("--remove-on-exit", default=None, help="a folder to remove when standard input closes")
    args = parser.parse_args(argv)
    if args.watch_stdin:
        _exit_when_stdin_closes(args.remove_on_exit)
    started = time.monotonic()
    runtime = LocalRuntime(args.model, n_ctx=args.n_ctx, n_threads=args.threads)
    server = _Server((args.host, args.port), runtime, args.model_alias)
    print(f"loaded {args.model} in {time.monotonic() - started:.1f} s; serving on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
