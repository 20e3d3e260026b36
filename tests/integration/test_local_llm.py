"""The embedded local LLM (SmolLM2-135M on our OpenAI-compatible server over ``cyllama``): startup, chat, structured output, shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from langchain_rpm.cli._local_llm import (
    MODEL_PATH_ENV,
    LocalLLMServer,
    LocalLLMServerError,
    LocalModelNotFoundError,
    find_local_model,
    local_chat_model,
)

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]

ROOT = Path(__file__).resolve().parents[2]


class Feature(BaseModel):
    name: str
    context: str
    factor: str


class Features(BaseModel):
    """Response-influential features of an input."""

    features: list[Feature]


class Answer(BaseModel):
    """Reasoning, then the answer."""

    reasoning: str
    answer: str


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _eventually(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _process_gone(pid: int) -> bool:
    """True once ``pid`` has exited. A zombie that no parent has reaped yet counts once all its threads are gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/status").read_text(errors="replace")
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return True
    return "zombie" in state.lower() and len(threads) <= 1


def test_find_local_model_honours_the_env_override(tmp_path, monkeypatch):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv(MODEL_PATH_ENV, str(gguf))
    assert find_local_model() == gguf
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path / "missing.gguf"))
    with pytest.raises(LocalModelNotFoundError, match=MODEL_PATH_ENV):
        find_local_model()


def test_server_answers_a_chat(local_llm_server):
    reply = local_chat_model(local_llm_server, max_tokens=24).invoke("Say hello in one short sentence.")
    assert isinstance(reply.content, str) and reply.content.strip()
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] > 0


def test_structured_output_via_function_calling_is_schema_valid(local_llm_server):
    llm = local_chat_model(local_llm_server, max_tokens=256)
    structured = llm.with_structured_output(Features, method="function_calling", include_raw=True)
    out = structured.invoke(
        [
            ("system", "You list response-influential features of a movie description."),
            ("human", "Movie: A retired hitman seeks revenge after gangsters kill his dog."),
        ]
    )
    assert out["parsing_error"] is None
    assert isinstance(out["parsed"], Features)
    usage = out["raw"].usage_metadata
    assert usage is not None and usage["input_tokens"] > 0 and usage["output_tokens"] > 0

    answer = llm.with_structured_output(Answer, method="function_calling").invoke(
        "Is 'Jaws' a comedy or a thriller? Reason briefly, then answer."
    )
    assert isinstance(answer, Answer)


async def test_concurrent_requests_are_queued_not_dropped(local_llm_server):
    llm = local_chat_model(local_llm_server, max_tokens=8)
    replies = await llm.abatch(["Count to three.", "Name a colour."], config={"max_concurrency": 2})
    assert len(replies) == 2
    assert all(r.usage_metadata and r.usage_metadata["output_tokens"] > 0 for r in replies)


def test_second_server_gets_another_port_and_stop_frees_everything(local_llm_server):
    second = LocalLLMServer(startup_timeout=120)
    with second:
        assert second.running
        assert second.port != local_llm_server.port
        assert second.base_url == f"http://127.0.0.1:{second.port}/v1"
        pid, port = second.pid, second.port
        assert pid is not None and _port_open(port)
    assert not second.running
    assert _eventually(lambda: _process_gone(pid))
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nothing left in its process group
    assert not _port_open(port)
    with pytest.raises(LocalLLMServerError):
        _ = second.port
    assert local_llm_server.running  # the other server is untouched


def test_startup_failure_reports_the_log_tail(tmp_path):
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not a gguf file")
    with pytest.raises(LocalLLMServerError, match="log tail"):
        LocalLLMServer(bogus, startup_timeout=60).start()


_CHILD = textwrap.dedent(
    """
    import sys, time
    from langchain_rpm.cli._local_llm import LocalLLMServer, install_signal_handlers
    install_signal_handlers()
    with LocalLLMServer(startup_timeout=120) as server:
        print(server.pid, server.port, server.log_path.parent, flush=True)
        while True:
            time.sleep(0.1)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_server_dies_with_its_parent(signum):
    """SIGTERM runs ``__exit__`` via ``install_signal_handlers``; even SIGKILL leaves no orphan (stdin watchdog)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _CHILD], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line, f"the child never reported a server: {parent.communicate(timeout=10)[1][-2000:]}"
        pid_text, port_text, log_dir = line.split()
        pid, port = int(pid_text), int(port_text)
        assert _port_open(port)
        parent.send_signal(signum)
        code = parent.wait(timeout=30)
        if signum == signal.SIGTERM:
            assert code == 128 + signal.SIGTERM
        assert _eventually(lambda: _process_gone(pid)), "the llama.cpp server outlived its parent"
        assert _eventually(lambda: not _port_open(port)), f"port {port} still open"
        assert _eventually(lambda: not Path(log_dir).exists()), "the temporary log folder was left behind"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
