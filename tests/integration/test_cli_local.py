"""The CLI with the embedded local LLM: the model server never outlives the command."""

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


def _as_in_a_terminal() -> None:
    """In the child: SIGINT's default disposition, as a shell gives a foreground command. A suite started in the
    background (``nohup make test &``) ignores SIGINT, and a child would inherit that and shrug off Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_build(tmp_path) -> tuple[subprocess.Popen[str], int]:
    """Start `rpm build --local` and return once the build has started: its first progress line (piped stderr
    gets plain lines) came after the line naming the server."""
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
        preexec_fn=_as_in_a_terminal,
    )
    assert process.stderr is not None
    port = None
    deadline = time.monotonic() + 180
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        if match:
            port = int(match.group(1))
        elif port is not None and re.match(r"(features|factors|reasoning paths) \d+/\d+", line):
            assert port_open(port)
            return process, port
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"the CLI never reported its server and a started build: {''.join(seen)[-2000:]}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_killing_the_cli_midway_stops_the_local_server(tmp_path, signum):
    process, port = start_build(tmp_path)  # mid-build
    process.send_signal(signum)
    process.wait(timeout=30)
    deadline = time.monotonic() + 15
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not port_open(port), f"the local LLM server still listens on {port} after {signum!r}"
