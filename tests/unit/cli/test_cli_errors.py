"""No hang and no traceback: every failure of `rpm` is one line naming the problem and what to do, exit 2."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from langchain_rpm import RPM
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.testing import demo_chat_model
from tests.support.cli_run import (
    ROOT,
    Result,
    clean_env,
    run_main,
    run_process,
    start_process,
    write_rows,
)
from tests.support.fault_server import FaultServer
from tests.support.rpm_fakes import edited_http_responder, rpm_http_responder
from tests.unit.conftest import MOVIE_HISTORY

pytestmark = pytest.mark.enable_socket

FAST = ("--structured-output", "function_calling")


@pytest.fixture
def built(tmp_path, capsys, server, rows):
    """A store with user 'ada' built."""
    store = tmp_path / "store"
    assert run_main(capsys, "--store", store, "--base-url", server.base_url, *FAST, "build", rows).status == 0
    return store


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def assert_one_error(result, *needles: str) -> None:
    assert result.status == 2, result.err
    assert len(result.errors) == 1, result.err
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in result.errors[0], result.errors[0]


@pytest.mark.parametrize(("flag", "value"), [("--concurrency", "0"), ("--k", "-3"), ("--concurrency", "many")])
def test_out_of_range_numbers_are_refused_at_once(tmp_path, server, rows, flag, value):
    """`--concurrency 0` hung forever on main; a subprocess with a timeout keeps this test from hanging too."""
    env = clean_env(OPENAI_BASE_URL=server.base_url)
    result = run_process("--store", tmp_path / "s", *FAST, "build", rows, flag, value, env=env, timeout=60)
    assert_one_error(result, f"argument {flag}: must be an integer >= 1")
    assert server.stats["chat_requests"] == 0


def test_the_api_refuses_zero_concurrency():
    with pytest.raises(ConfigurationError, match="max_concurrency must be an integer >= 1"):
        RPM(demo_chat_model(), max_concurrency=0)


def test_a_model_that_never_fits_the_schema_is_one_line_and_stores_nothing(capsys, built, tmp_path):
    new = write_rows(tmp_path / "bo.jsonl", [{"user_id": "bo", **item} for item in MOVIE_HISTORY])
    with FaultServer(rpm_http_responder, rate_invalid=1.0) as bad:
        result = run_main(capsys, "--store", built, "--base-url", bad.base_url, *FAST, "--no-cache", "build", new)
    assert_one_error(result, "user 'bo'", "did not fit the expected schema", "--structured-output")
    assert run_main(capsys, "--store", built, "--json", "users").json() == ["ada"]


@edited_http_responder
def _junk_features(call, request):
    """The OpenAI-wire fake, but every extraction reply names only non-words."""
    if call.get("name") in ("ExtractedFeatures", "FactorAwareFeatures"):
        return {"features": [{"feature_name": "{ {", "context": "]["}]}
    return None


def test_a_model_that_names_no_usable_feature_is_told_so_not_sent_to_the_schema_hint(capsys, built, tmp_path):
    new = write_rows(tmp_path / "bo.jsonl", [{"user_id": "bo", **item} for item in MOVIE_HISTORY])
    with FaultServer(_junk_features) as junk:
        result = run_main(capsys, "--store", built, "--base-url", junk.base_url, *FAST, "--no-cache", "build", new)
    assert_one_error(result, "user 'bo'", "named no usable feature", "stronger --model")
    assert "--structured-output" not in result.errors[0]
    assert run_main(capsys, "--store", built, "--json", "users").json() == ["ada"]


def test_a_model_that_cannot_be_reached_is_one_line(capsys, built, tmp_path):
    url = closed_port_url()
    asked = run_main(capsys, "--store", built, "--base-url", url, *FAST, "--no-cache", "ask", "ada", "A robot.")
    assert_one_error(asked, "cannot reach the model", "--base-url")
    more = write_rows(
        tmp_path / "more.jsonl", [{"user_id": "ada", "id": "n1", "input": "A kiss.", "response": "romance"}]
    )
    added = run_main(capsys, "--store", built, "--base-url", url, *FAST, "--no-cache", "add", more)
    assert_one_error(added, "user 'ada'", "cannot reach the model")
    assert run_main(capsys, "--store", built, "--json", "inspect", "ada").json()["version"] == 1


def test_a_store_path_that_is_a_file(tmp_path, capsys, server, rows):
    store = tmp_path / "store"
    store.write_text("not a folder")
    for command in (["build", rows], ["users"], ["inspect", "ada"], ["ask", "ada", "q"], ["forget", "ada"]):
        result = run_main(capsys, "--store", store, "--base-url", server.base_url, *FAST, *command)
        assert_one_error(result, f"--store {store}: is a file, not a folder")
    assert store.read_text() == "not a folder" and server.stats["chat_requests"] == 0


def run_read_only(store, *argv):
    """`rpm ARGV` with ``store`` read-only: file permissions, or a read-only bind mount for root (who ignores them)."""
    if os.geteuid() != 0:
        paths = [store, *store.rglob("*")]
        for path in paths:
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            return run_process(*argv)
        finally:
            for path in paths:
                path.chmod(path.stat().st_mode | 0o200)
    if shutil.which("unshare") is None:
        pytest.skip("root without unshare: no way to make a read-only folder here")
    mount = f'mount --bind "{store}" "{store}" && mount -o remount,ro,bind "{store}" "{store}" && exec "$@"'
    command = ["unshare", "-m", "sh", "-c", mount, "sh", sys.executable, "-m", "langchain_rpm.cli", *map(str, argv)]
    done = subprocess.run(command, capture_output=True, text=True, env=clean_env(), timeout=120, cwd=ROOT)
    if done.returncode != 2 and "mount" in done.stderr:
        pytest.skip(f"cannot mount read-only here: {done.stderr.strip()}")
    return Result(done.returncode, done.stdout, done.stderr)


def test_a_read_only_store(capsys, built, server, rows):
    for command in (["build", rows], ["users"], ["forget", "ada"]):
        result = run_read_only(built, "--store", built, "--base-url", server.base_url, *FAST, *command)
        assert_one_error(result, f"the store {built} is read-only", "--store")
    assert run_main(capsys, "--store", built, "--json", "users").json() == ["ada"]


def test_a_data_path_that_is_a_folder(tmp_path, capsys, server, built):
    result = run_main(capsys, "--store", built, "--base-url", server.base_url, *FAST, "build", tmp_path)
    assert_one_error(result, f"{tmp_path}: is a folder, not a file")


def test_a_long_input_warns_in_one_line_without_a_source_line(tmp_path, capsys, server):
    long = write_rows(tmp_path / "long.jsonl", [{"user_id": "ada", "input": "x" * 20_001, "response": "comedy"}])
    result = run_main(capsys, "--store", tmp_path / "s", "--base-url", server.base_url, *FAST, "build", long)
    assert result.status == 0, result.err
    warnings = [line for line in result.err_lines if line.startswith("warning:")]
    assert warnings == [f"warning: {long}:1: input of 20001 characters cut to 20000"]
    assert "warnings.warn" not in result.err and ".py:" not in result.err


@pytest.mark.parametrize("delay", [0.3, 2.5, 4.5])
def test_ctrl_c_is_one_line_and_exit_130(tmp_path, rows, delay):
    with FaultServer(rpm_http_responder, rate_slow=1.0, slow_seconds=2.0) as slow:
        env = clean_env(OPENAI_BASE_URL=slow.base_url, PYTHONPROFILEIMPORTTIME="1")
        process = start_process("--store", tmp_path / "s", *FAST, "build", rows, env=env)
        started = time.monotonic()
        _wait_until_our_code_runs(process)  # before it, SIGINT stops the interpreter's own start-up
        time.sleep(max(0.0, delay - (time.monotonic() - started)))  # importing, then model-call rounds 1 and 2
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    err = "".join(line for line in err.splitlines(keepends=True) if not line.startswith("import time:"))
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted"
    for noise in ("Traceback", "never awaited", "Event loop is closed", "Exception ignored"):
        assert noise not in err, err


def _wait_until_our_code_runs(process: subprocess.Popen[str]) -> None:
    """Wait until ``main()`` runs: ``PYTHONPROFILEIMPORTTIME`` lists ``langgraph.checkpoint.sqlite``, which the
    command first imports inside ``main``'s Ctrl-C handling. Seen under load: a SIGINT 0.3 s after start landed
    in ``site``'s imports of the interpreter's start-up (``tokenize``, ``importlib.util`` for a ``.pth`` file),
    before any line of ours ran, and the interpreter died of it (-2) or printed its traceback (1)."""
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("import time:") and line.rstrip().endswith("| langgraph.checkpoint.sqlite"):
            return
    raise AssertionError(f"process {process.pid} ended before the command's code ran")


def test_ctrl_c_while_the_command_is_still_loading_is_the_same_one_line_and_130(monkeypatch, capsys):
    """Under load a Ctrl-C could land while ``python -m langchain_rpm.cli`` imported its main: a traceback, not 130."""
    import runpy

    class InterruptedImport:
        def find_spec(self, name, path=None, target=None):
            if name == "langchain_rpm.cli._main":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "langchain_rpm.cli._main", raising=False)
    monkeypatch.setattr(sys, "meta_path", [InterruptedImport(), *sys.meta_path])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("langchain_rpm.cli.__main__", run_name="__main__")
    assert exit_.value.code == 130
    assert capsys.readouterr().err == "error: interrupted\n"


INTERRUPT_THE_LOAD = """
import sys

class InterruptedImport:
    def find_spec(self, name, path=None, target=None):
        if name == "langchain_rpm.cli._main":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, InterruptedImport())
"""
WAYS_IN = {
    "python -m": "import runpy; runpy.run_module('langchain_rpm.cli', run_name='__main__', alter_sys=True)",
    "console script": "from importlib.metadata import entry_points; (rpm,) = entry_points(group='console_scripts', "
    "name='rpm'); sys.exit(rpm.load()())",
}


@pytest.mark.parametrize("way_in", sorted(WAYS_IN))
def test_ctrl_c_while_a_fresh_process_loads_the_command_is_one_line_and_130(way_in):
    """A fresh ``python -m langchain_rpm.cli`` imported ``cli.main`` (now ``cli._main``) in the package's ``__init__``, before
    ``__main__``'s guard, and the console script had no guard: a Ctrl-C there printed Python's traceback."""
    code = INTERRUPT_THE_LOAD + WAYS_IN[way_in]
    done = subprocess.run(
        [sys.executable, "-c", code, "--json", "users"], capture_output=True, text=True, env=clean_env(), cwd=ROOT
    )
    assert (done.returncode, done.stderr) == (130, '{"error": "interrupted", "exit_code": 130}\n')


LOSE_AN_INTERRUPT = """
import sys

import langchain_rpm.cli._commands as commands

prepare = commands.prepare


class Interrupted:
    def __del__(self):
        raise KeyboardInterrupt  # what a Ctrl-C becomes where Python can only print it


def prepare_then_lose_a_ctrl_c(args):
    Interrupted()
    return prepare(args)


commands.prepare = prepare_then_lose_a_ctrl_c
from langchain_rpm.cli import main

sys.exit(main())
"""


def test_a_ctrl_c_python_could_only_print_still_stops_the_command_before_its_model_calls(tmp_path, server, rows):
    """CI, round 10: a SIGINT landed in pydantic-core building a validator, a callback that cannot raise. Python
    printed "Exception ignored in: 'cls_name' ... KeyboardInterrupt" and went on: the build ran to the end, exit 0."""
    result = run_process(
        "--store", tmp_path / "s", "--base-url", server.base_url, *FAST, "build", rows, code=LOSE_AN_INTERRUPT
    )
    assert result.status == 130, result.err
    assert result.err.strip().splitlines()[-1] == "error: interrupted"
    assert "Exception ignored" not in result.err and "Traceback" not in result.err, result.err
    assert server.stats["chat_requests"] == 0  # stopped before the first model call


def test_a_kept_ctrl_c_is_raised_when_the_block_ends_and_other_unraisable_errors_still_reach_the_hook(monkeypatch):
    from langchain_rpm.cli._interrupts import kept_interrupts

    class Interrupted:
        def __del__(self):
            raise KeyboardInterrupt

    class Broken:
        def __del__(self):
            raise ValueError("still printed")

    seen: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: seen.append(info.exc_value))
    with pytest.raises(KeyboardInterrupt), kept_interrupts():
        Interrupted()
        Broken()
    assert [type(error) for error in seen] == [ValueError]
    with kept_interrupts():  # the kept interrupt was raised once: the next command starts clean
        pass
