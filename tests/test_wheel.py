"""The README's install path works today: a built wheel carries its data files and runs the quickstart elsewhere.

``python -m build --wheel --no-isolation`` builds the wheel with this environment's setuptools (no download); the
wheel is installed with ``pip --no-deps`` into a fresh virtual environment, whose dependencies come from this
environment's site-packages through a ``.pth`` line (the same versions, nothing downloaded). A ``.pth`` line only
adds a folder to ``sys.path`` — it does not run that folder's own ``.pth`` files — so this checkout's editable
install is not visible there: the test checks that ``langchain_rpm`` is imported from the fresh environment, then
runs the README's quickstart snippet there, from an empty folder with an empty HOME.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_FILES = (
    "langchain_rpm/py.typed",
    "langchain_rpm/data/minilm-l6-v2-vocab.txt",
    "langchain_rpm/data/demo/goqa.json",
)


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out, source = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("src") / "langchain-rpm"
    skip = shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", ".mypy_cache", ".ruff_cache"
    )
    shutil.copytree(ROOT, source, ignore=skip)  # build a copy: the checkout gets no build/ or egg-info
    _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, source, cwd=source, timeout=600)
    (built,) = out.glob("langchain_rpm-*.whl")
    return built


def test_the_wheel_carries_its_data_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(DATA_FILES) <= names
    assert {
        f"langchain_rpm/data/demo/lamp{n}_{kind}.json" for n in (2, 3, 5) for kind in ("questions", "outputs")
    } <= names
    assert not any(name.startswith(("tests/", "notebooks/", "benchmarks/")) for name in names)


@pytest.mark.timeout(900)
def test_the_readme_quickstart_runs_from_the_wheel_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip())
    (site / "dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel, cwd=tmp_path
    )
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "ORT_DISABLE_TELEMETRY": "1"}
    where = _run(python, "-c", "import langchain_rpm; print(langchain_rpm.__file__)", cwd=work, env=env)
    assert where.startswith(str(site)), f"langchain_rpm came from {where}, not from the installed wheel"
    quickstart = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)[0]
    (work / "quickstart.py").write_text(quickstart)
    out = _run(python, "quickstart.py", cwd=work, env=env).splitlines()
    assert out[-1] == "2", out  # prediction.usage.llm_calls: factor-aware extraction + generation
    assert "Answer:" in "\n".join(out)
