"""Running the real ``rpm`` entry point in tests: in-process (``main([...])``) or as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_rpm import cli

ROOT = Path(__file__).resolve().parents[2]
MODEL_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "RPM_MODEL", "RPM_STORE_PATH", "RPM_DEBUG")


@dataclass
class Result:
    """Exit status and the two streams of one ``rpm`` run."""

    status: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def errors(self) -> list[str]:
        """The ``error: ...`` lines on stderr."""
        return [line for line in self.err_lines if line.startswith("error:")]

    def json(self) -> Any:
        return json.loads(self.out)


def run_main(capsys: Any, *argv: str) -> Result:
    """``rpm ARGV...`` in this process, through :func:`langchain_rpm.cli.main`."""
    status = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return Result(status, out, err)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any model or store configuration, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if key not in MODEL_ENV}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def run_process(*argv: str, env: dict[str, str] | None = None, timeout: float = 120, code: str | None = None) -> Result:
    """``python -m langchain_rpm.cli ARGV...`` (or ``python -c CODE ARGV...``) as a subprocess."""
    command = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "langchain_rpm.cli", *argv]
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        timeout=timeout,
        cwd=ROOT,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def start_process(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m langchain_rpm.cli ARGV...`` started in the background, Ctrl-C-able (SIGINT as in a shell)."""
    return subprocess.Popen(
        [sys.executable, "-m", "langchain_rpm.cli", *(str(arg) for arg in argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or clean_env(),
        cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background job ignores SIGINT
    )


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` as JSONL."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path
