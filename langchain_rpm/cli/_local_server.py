"""The server process that serves the bundled local model on loopback, as a context manager.

The child runs :mod:`langchain_rpm.cli._local_openai` (an OpenAI-compatible server over ``cyllama``'s prebuilt
llama.cpp). See :mod:`langchain_rpm.cli._local_llm` for what was measured and how shutdown is guaranteed (own
process group, an ``atexit`` hook, and a watchdog in the child that exits when its parent dies).

Example:
    >>> server = LocalLLMServer(startup_timeout=60)
    >>> server.running
    False
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
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from langchain_rpm.cli._local_model import INSTALL_HINT, LOCAL_MODEL_NAME, find_local_model
from langchain_rpm.errors import LocalLLMServerError

logger = logging.getLogger(__name__)

_STOP_GRACE_S = 5.0
_LOG_TAIL_CHARS = 4000


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never via a proxy


class LocalLLMServer:
    """A subprocess serving the local model on ``127.0.0.1`` with an OpenAI-compatible API, as a context manager.

    Args:
        model_path: GGUF file to serve. Defaults to :func:`find_local_model`.
        n_ctx: Context window in tokens (capped at the model's trained context). 2048 overflows on generation
            prompts that carry several examples.
        port: TCP port. ``None`` picks a free one.
        startup_timeout: Seconds to wait for ``GET /v1/models`` to answer.
        extra_args: Further arguments for :mod:`langchain_rpm.cli._local_openai`.
        n_threads: Generation threads. ``None`` means one: on a shared 2-core machine two threads ran 5-10x
            slower whenever the other core was busy.
        host: Listen address. Keep it on loopback: the server has no authentication.
        log_dir: Folder for ``llama-server.log``. ``None`` uses a temporary folder that is removed on stop.
        model_name: The name the server answers to (what :func:`local_chat_model` sends).

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
        model_name: str = LOCAL_MODEL_NAME,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.n_ctx = n_ctx
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.n_threads = n_threads
        self.host = host
        self.model_name = model_name
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
            LocalLLMServerError: ``cyllama`` is missing, the process died, or it did not answer in time.
        """
        with self._lock:
            if self.running:
                return self
            self._cleanup()
            if importlib.util.find_spec("cyllama") is None:
                raise LocalLLMServerError(f"the local LLM needs the cyllama runtime: {INSTALL_HINT}")
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
            sys.executable, "-m", "langchain_rpm.cli._local_openai", "--watch-stdin",
            "--model", str(model_path),
            "--model-alias", self.model_name,
            "--host", self.host,
            "--port", str(port),
            "--n-ctx", str(self.n_ctx),
            "--threads", str(self.n_threads or 1),
        ]  # fmt: skip
        if self._own_log_dir is not None:
            command += ["--remove-on-exit", str(self._own_log_dir)]
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
