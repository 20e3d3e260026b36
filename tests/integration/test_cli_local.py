"""The CLI with the embedded local LLM: the llama.cpp server never outlives the command."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_build(tmp_path) -> tuple[subprocess.Popen[str], int]:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"user_id": "ada", "input": f"Review {i}: sturdy but late.", "response": str(1 + i % 5)}) + "\n"
            for i in range(20)
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langchain_rpm.cli",
            "--store",
            str(tmp_path / "s"),
            "--local",
            "--task",
            "lamp3",
            "build",
            str(rows),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        if match:
            port = int(match.group(1))
            assert port_open(port)
            return process, port
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError("the CLI never reported its local LLM server")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_killing_the_cli_midway_stops_the_local_server(tmp_path, signum):
    process, port = start_build(tmp_path)
    time.sleep(1.0)  # mid-build
    process.send_signal(signum)
    process.wait(timeout=30)
    deadline = time.monotonic() + 15
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not port_open(port), f"the local LLM server still listens on {port} after {signum!r}"
