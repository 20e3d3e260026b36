"""A fault-injecting fake of the OpenAI chat-completions HTTP API, for tests.

Standard library only: a :class:`http.server.ThreadingHTTPServer` runs in a
background thread on ``127.0.0.1`` (a free port), and speaks enough of the
OpenAI wire protocol for ``openai`` / ``langchain_openai.ChatOpenAI``:

* ``POST /v1/chat/completions`` -- non-streaming answers (``stream: true`` is
  also answered, as one complete server-sent-events body);
* ``GET /v1/models`` -- a model list.

Correct answers come from a pluggable ``responder(request_json) -> dict`` that
returns ``{"content": str}`` or ``{"tool_calls": [{"name": str, "arguments":
dict}]}`` (a bare ``str`` is taken as content).  The server wraps that into a
full ``chat.completion`` object (ids, ``usage``, ``finish_reason`` ...).  The
:func:`default_responder` fills JSON schemas with deterministic placeholders,
so ``with_structured_output(..., method="function_calling")`` and
``method="json_schema"`` both get valid objects.

Faults are injected on chat completions only, either at random (per-fault
rates drawn from a seeded :class:`random.Random`) or deterministically with
:meth:`FaultServer.force`:

========================  ====================================================
kind                      what goes over the wire
========================  ====================================================
``"429"``                 HTTP 429, OpenAI error body, ``Retry-After: 0`` (and
                          ``retry-after-ms`` unless ``retry_after_ms=None``)
``"500"``                 HTTP 500, OpenAI error body (same retry headers)
``"slow"``                sleeps ``slow_seconds`` then answers correctly
``"truncated"``           200 + headers with the full ``Content-Length``, half
                          the body, then the connection is closed
``"truncated_json"``      200 with a JSON body cut in half (the
                          ``Content-Length`` matches what is sent)
``"invalid"``             200, well-formed completion whose tool-call
                          arguments / JSON content violate the schema
``"ok"``                  (force only) a correct answer, whatever the rates
========================  ====================================================

``rate_truncated`` picks ``"truncated"`` or ``"truncated_json"`` according to
``truncated_mode`` (``"close"``, ``"json"`` or ``"mixed"``).
"""

from __future__ import annotations

import contextlib
import copy
import http.server
import json
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from tests.support.openai_wire import (
    default_responder,
    digest,
    fill_schema,
    invalid_for_schema,
    last_user_text,
    response_schema,
    text_of,
    tool_schema,
)

__all__ = [
    "FAULT_KINDS",
    "FaultServer",
    "default_responder",
    "fill_schema",
    "invalid_for_schema",
]

log = logging.getLogger(__name__)

Responder = Callable[[dict[str, Any]], "dict[str, Any] | str"]

#: Every kind :meth:`FaultServer.force` accepts.
FAULT_KINDS = ("429", "500", "slow", "truncated", "truncated_json", "invalid", "ok")
_INJECTED_KINDS = FAULT_KINDS[:-1]


# --------------------------------------------------------------------------- #
# HTTP plumbing
# --------------------------------------------------------------------------- #
class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FaultServer/1.0"
    timeout = 30  # idle keep-alive connections are dropped after this many seconds
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm plus the
        # client's delayed ACK add ~40 ms to every answer.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fault-server: " + format, *args)

    # -- dispatch --------------------------------------------------------- #
    def do_GET(self) -> None:
        self._guard(self.server.owner._handle_get)

    def do_POST(self) -> None:
        self._guard(self.server.owner._handle_post)

    def _guard(self, fn: Callable[[_Handler], None]) -> None:
        try:
            fn(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError, OSError) as exc:
            # The client went away (e.g. it timed out on a "slow" answer).
            log.debug("fault-server: connection error while answering: %r", exc)
            self.close_connection = True

    # -- writing ---------------------------------------------------------- #
    def send_bytes(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        declared_length: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if declared_length is None else declared_length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), headers=headers)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: FaultServer) -> None:
        self.owner = owner
        self.conn_lock = threading.Lock()
        self.conns: dict[threading.Thread, socket.socket] = {}
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="fault-server-conn",
            daemon=True,
        )
        with self.conn_lock:
            self.conns[thread] = request
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.conn_lock:
                self.conns.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("fault-server: error on connection from %s", client_address, exc_info=True)


# --------------------------------------------------------------------------- #
# The server
# --------------------------------------------------------------------------- #
class FaultServer:
    """Fake OpenAI chat-completions server with injectable faults.

    Example::

        with FaultServer(seed=1) as server:
            llm = ChatOpenAI(base_url=server.base_url, api_key="test", model="fake", max_retries=3)
            server.force("429", n=2)
            llm.invoke("hi")  # the openai client retries twice, then gets the answer
            assert server.stats["injected"]["429"] == 2
            assert server.stats["success"] == 1

    Stats semantics: ``requests`` counts every HTTP request, ``chat_requests``
    the chat completions, ``success`` the correct answers sent with no fault,
    ``injected[kind]`` each injected fault (a "slow" answer is counted there
    only, whether or not the client was still waiting for it).
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        seed: int = 0,
        rate_429: float = 0.0,
        rate_500: float = 0.0,
        rate_slow: float = 0.0,
        slow_seconds: float = 2.0,
        rate_truncated: float = 0.0,
        rate_invalid: float = 0.0,
        truncated_mode: str = "close",
        retry_after_ms: float | None = 1.0,
        models: Iterable[str] = ("fake",),
        max_recorded: int = 1000,
    ) -> None:
        self.responder: Responder = responder or default_responder
        self.slow_seconds = float(slow_seconds)
        if truncated_mode not in ("close", "json", "mixed"):
            raise ValueError("truncated_mode must be 'close', 'json' or 'mixed'")
        self.truncated_mode = truncated_mode
        self.retry_after_ms = retry_after_ms
        self.models = tuple(models)
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rates: dict[str, float] = {}
        self.set_rates(
            rate_429=rate_429,
            rate_500=rate_500,
            rate_slow=rate_slow,
            rate_truncated=rate_truncated,
            rate_invalid=rate_invalid,
        )
        self._forced: deque[str] = deque()
        self._requests: deque[dict[str, Any]] = deque(maxlen=max_recorded)
        self._errors: list[str] = []
        self._stats = self._empty_stats()
        self._counter = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- configuration ---------------------------------------------------- #
    def set_rates(self, **rates: float) -> None:
        """Change fault rates, e.g. ``set_rates(rate_500=0.1)``; unspecified rates are kept."""
        with self._lock:
            new = dict(self._rates)
            for key, value in rates.items():
                kind = key.removeprefix("rate_")
                if kind not in ("429", "500", "slow", "truncated", "invalid"):
                    raise TypeError(f"unknown rate {key!r}")
                value = float(value)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{key} must be within [0, 1], got {value}")
                new[kind] = value
            if sum(new.values()) > 1.0 + 1e-9:
                raise ValueError(f"fault rates add up to more than 1: {new}")
            self._rates = new

    def force(self, kind: str | int, n: int = 1) -> None:
        """Make the next ``n`` chat-completion requests get fault ``kind`` (queued after earlier forces)."""
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        with self._lock:
            self._forced.extend([kind] * int(n))

    def clear_forced(self) -> None:
        with self._lock:
            self._forced.clear()

    # -- observation ------------------------------------------------------ #
    @staticmethod
    def _empty_stats() -> dict[str, Any]:
        return {
            "requests": 0,  # every HTTP request
            "chat_requests": 0,  # POST /v1/chat/completions
            "models_requests": 0,  # GET /v1/models
            "success": 0,  # correct answers sent with no fault injected ("slow" ones are not counted here)
            "bad_requests": 0,  # 4xx not injected (bad JSON, unknown path ...)
            "responder_errors": 0,  # the responder raised -> HTTP 500 (not injected)
            "injected": dict.fromkeys(_INJECTED_KINDS, 0),
        }

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot (deep copy) of the counters."""
        with self._lock:
            return copy.deepcopy(self._stats)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Parsed JSON bodies of the chat-completion requests received (most recent last, bounded)."""
        with self._lock:
            return copy.deepcopy(list(self._requests))

    @property
    def errors(self) -> list[str]:
        """Tracebacks of responder exceptions."""
        with self._lock:
            return list(self._errors)

    def reset_stats(self) -> None:
        """Zero the counters and forget recorded requests (forced faults and the RNG are kept)."""
        with self._lock:
            self._stats = self._empty_stats()
            self._requests.clear()
            self._errors.clear()

    def _bump(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    def _bump_injected(self, kind: str) -> None:
        with self._lock:
            self._stats["injected"][kind] += 1

    # -- lifecycle -------------------------------------------------------- #
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FaultServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` -- pass as ``base_url`` to ``ChatOpenAI`` / ``openai.OpenAI``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, drop open connections and join the threads (bounded by ``timeout``)."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()  # wakes "slow" sleepers
        deadline = time.monotonic() + timeout
        httpd.shutdown()
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        with httpd.conn_lock:
            conns = dict(httpd.conns)
        for sock in conns.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblocks handlers waiting on keep-alive reads
        for conn_thread in conns:
            conn_thread.join(max(0.0, deadline - time.monotonic()))
        httpd.server_close()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def chat_model(self, **kwargs: Any) -> Any:
        """A ``langchain_openai.ChatOpenAI`` pointed at this server (kwargs override the defaults)."""
        from langchain_openai import ChatOpenAI

        params: dict[str, Any] = {"base_url": self.base_url, "api_key": "test", "model": self.models[0]}
        params.update(kwargs)
        return ChatOpenAI(**params)

    # -- fault choice ----------------------------------------------------- #
    def _next_fault(self) -> str:
        with self._lock:
            if self._forced:
                kind = self._forced.popleft()
            else:
                u = self._rng.random()
                kind = "ok"
                acc = 0.0
                for name in ("429", "500", "slow", "truncated", "invalid"):
                    acc += self._rates[name]
                    if u < acc:
                        kind = name
                        break
            if kind == "truncated" and (
                self.truncated_mode == "json" or (self.truncated_mode == "mixed" and self._rng.random() < 0.5)
            ):
                kind = "truncated_json"
            return kind

    # -- request handling ------------------------------------------------- #
    def _error_body(self, message: str, type_: str, code: str | None) -> dict[str, Any]:
        return {"error": {"message": message, "type": type_, "param": None, "code": code}}

    def _retry_headers(self) -> dict[str, str]:
        headers = {"Retry-After": "0"}
        if self.retry_after_ms is not None:
            headers["retry-after-ms"] = str(self.retry_after_ms)
        return headers

    def _handle_get(self, h: _Handler) -> None:
        self._bump("requests")
        path = h.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            self._bump("models_requests")
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fault-server"} for m in self.models]
            h.send_json(200, {"object": "list", "data": data})
            return
        self._bump("bad_requests")
        h.send_json(404, self._error_body(f"Unknown path {path}", "invalid_request_error", "not_found"))

    def _handle_post(self, h: _Handler) -> None:
        self._bump("requests")
        raw = h.read_body()
        path = h.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._bump("bad_requests")
            h.send_json(404, self._error_body(f"Unknown path {path}", "invalid_request_error", "not_found"))
            return
        self._bump("chat_requests")
        try:
            request = json.loads(raw or b"null")
            if not isinstance(request, dict):
                raise ValueError("request body is not a JSON object")
        except ValueError as exc:
            self._bump("bad_requests")
            h.send_json(400, self._error_body(f"Invalid JSON body: {exc}", "invalid_request_error", None))
            return
        with self._lock:
            self._requests.append(request)
            self._counter += 1
            serial = self._counter

        kind = self._next_fault()
        if kind != "ok":
            self._bump_injected(kind)
        if kind == "429":
            h.send_json(
                429,
                self._error_body(
                    "Rate limit reached for requests (injected by FaultServer).", "requests", "rate_limit_exceeded"
                ),
                headers=self._retry_headers(),
            )
            return
        if kind == "500":
            h.send_json(
                500,
                self._error_body(
                    "The server had an error while processing your request (injected by FaultServer).",
                    "server_error",
                    None,
                ),
                headers=self._retry_headers(),
            )
            return
        if kind == "slow" and self._stopping.wait(self.slow_seconds):
            h.close_connection = True  # server is stopping: drop the request
            return

        try:
            answer = self._answer(request, invalid=(kind == "invalid"))
        except Exception:
            import traceback

            with self._lock:
                self._errors.append(traceback.format_exc())
            self._bump("responder_errors")
            h.send_json(500, self._error_body("FaultServer responder raised", "server_error", "responder_error"))
            return

        body, content_type = self._render(request, answer, serial)
        headers = {"x-request-id": f"req_fault_{serial}"}
        if kind == "truncated":
            h.close_connection = True
            h.send_bytes(
                200, body[: len(body) // 2], content_type=content_type, headers=headers, declared_length=len(body)
            )
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if kind == "truncated_json":
            h.send_bytes(200, body[: len(body) // 2], content_type=content_type, headers=headers)
            return
        # Count before writing: the client may look at ``stats`` as soon as it has the answer.
        if kind == "ok":
            self._bump("success")
        h.send_bytes(200, body, content_type=content_type, headers=headers)

    def _answer(self, request: dict[str, Any], *, invalid: bool) -> dict[str, Any]:
        answer = self.responder(request)
        if isinstance(answer, str):
            answer = {"content": answer}
        if not isinstance(answer, dict) or not ("content" in answer or "tool_calls" in answer):
            raise TypeError(f"responder must return {{'content': ...}} or {{'tool_calls': [...]}}, got {answer!r}")
        if not invalid:
            return answer
        seed = last_user_text(request)
        if answer.get("tool_calls"):
            calls = []
            for call in answer["tool_calls"]:
                schema = tool_schema(request, call["name"]) or {"type": "object", "properties": {}}
                calls.append({"name": call["name"], "arguments": invalid_for_schema(schema, seed)})
            return {"tool_calls": calls}
        schema = response_schema(request)
        if schema is not None:
            return {"content": json.dumps(invalid_for_schema(schema, seed))}
        return {"content": '{"answer": "not valid JSON'}

    def _render(self, request: dict[str, Any], answer: dict[str, Any], serial: int) -> tuple[bytes, str]:
        model = str(request.get("model") or self.models[0])
        created = int(time.time())
        completion_id = f"chatcmpl-fault{serial:08d}"
        tool_calls = [
            {
                "id": "call_" + digest(str(serial), str(i), call["name"])[:24],
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": call["arguments"]
                    if isinstance(call["arguments"], str)
                    else json.dumps(call["arguments"]),
                },
            }
            for i, call in enumerate(answer.get("tool_calls") or [])
        ]
        content = None if tool_calls else str(answer.get("content") or "")
        finish_reason = "tool_calls" if tool_calls else "stop"

        prompt_chars = sum(len(text_of((m or {}).get("content"))) for m in request.get("messages") or [])
        prompt_chars += len(json.dumps(request.get("tools") or []))
        completion_chars = len(content or "") + sum(
            len(c["function"]["name"]) + len(c["function"]["arguments"]) for c in tool_calls
        )
        prompt_tokens = max(1, prompt_chars // 4)
        completion_tokens = max(1, completion_chars // 4)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

        if request.get("stream"):
            return self._render_stream(request, completion_id, created, model, content, tool_calls, usage), (
                "text/event-stream"
            )

        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fault_server",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage,
        }
        return json.dumps(payload).encode(), "application/json"

    @staticmethod
    def _render_stream(
        request: dict[str, Any],
        completion_id: str,
        created: int,
        model: str,
        content: str | None,
        tool_calls: list[dict[str, Any]],
        usage: dict[str, int],
    ) -> bytes:
        base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        chunks = [chunk({"role": "assistant", "content": "" if content is not None else None})]
        if tool_calls:
            for i, call in enumerate(tool_calls):
                chunks.append(chunk({"tool_calls": [{"index": i, **call}]}))
        elif content:
            half = len(content) // 2
            chunks.extend(chunk({"content": piece}) for piece in (content[:half], content[half:]) if piece)
        chunks.append(chunk({}, "tool_calls" if tool_calls else "stop"))
        if (request.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": usage})
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return text.encode()
