"""Every notebook under ``notebooks/`` executes top to bottom offline, and its committed outputs are current.

The notebooks are committed *with* their outputs (run offline with the deterministic demo model), so a reader on
the web sees every result. This test executes each one and compares the outputs with the committed ones, after
masking what legitimately changes between runs (temporary paths, memory addresses, timings, image bytes).
After a change that alters an output on purpose, regenerate them:

    RPM_UPDATE_NOTEBOOKS=1 .venv/bin/python -m pytest tests/test_notebooks.py

The kernel talks to this process over ZMQ on loopback TCP, so these tests re-enable sockets. A notebook that needs
a real LLM reads ``RPM_NOTEBOOK_BASE_URL`` (or ``OPENAI_API_KEY``); both are removed here so the run is offline.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 600
UPDATE = os.environ.get("RPM_UPDATE_NOTEBOOKS") == "1"

VOLATILE = [
    (re.compile(r"(/private)?/(tmp|var/folders)/[^\s'\")\],]+"), "<tmp>"),
    (re.compile(r"0x[0-9a-f]{6,}"), "0x<address>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(s|ms|seconds)\b"), "<time>"),
    (re.compile(r"\b\d+:\d\d:\d\d\b"), "<elapsed>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?"), "<timestamp>"),
]
"""What may differ between two honest runs: (pattern, replacement)."""


TIMING_HEADER = re.compile(r"^(s|ms|seconds)(/\w+)?$")
"""A Markdown table column of wall-clock times (the evaluation report's ``s/query``)."""


def _mask_timing_columns(text: str) -> str:
    lines, timed = text.split("\n"), []
    for n, line in enumerate(lines):
        cells = line.split("|")
        if not line.startswith("|"):
            timed = []
        elif not timed:
            timed = [i for i, cell in enumerate(cells) if TIMING_HEADER.match(cell.strip())]
        elif not set(line) <= set("|- :"):
            lines[n] = "|".join(" <time> " if i in timed else cell for i, cell in enumerate(cells))
    return "\n".join(lines)


def masked(text: str) -> str:
    """``text`` with the volatile parts replaced by placeholders.

    >>> masked("saved to /tmp/rpm-eval-abc/run.json in 1.25 s")
    'saved to <tmp> in <time>'
    >>> masked("| method | s/query |\\n| --- | --- |\\n| rpm | 0.36 |")
    '| method | s/query |\\n| --- | --- |\\n| rpm | <time> |'
    """
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return _mask_timing_columns(text)


def visible_outputs(notebook: Any) -> list[list[str]]:
    """Per code cell, what a reader sees: streams, text results, and a placeholder for each image."""
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        shown = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                head = f"{output.name}: "
                if shown and shown[-1].startswith(head):  # a kernel splits one print stream where timing says
                    shown[-1] += masked(output.text)
                else:
                    shown.append(head + masked(output.text))
            elif output.output_type in ("execute_result", "display_data"):
                data = output.get("data", {})
                text = data.get("text/markdown") or data.get("text/plain") or ""
                images = sorted(kind for kind in data if kind.startswith("image/"))
                shown.append(f"{images or ''}{masked(text)}")
            elif output.output_type == "error":
                shown.append(f"error: {output.ename}: {output.evalue}")
        cells.append(shown)
    return cells


def _execute(path: Path) -> Any:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the failing cell and traceback, on any error
    return notebook


@pytest.mark.enable_socket
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_offline_and_its_committed_outputs_are_current(
    path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("RPM_NOTEBOOK_BASE_URL", "RPM_NOTEBOOK_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RPM_STORE_PATH", str(tmp_path / "store"))  # never touch the user's default store
    monkeypatch.setenv("MPLBACKEND", "Agg")
    committed = nbformat.read(path, as_version=4)
    executed = _execute(path)
    if UPDATE:
        nbformat.write(executed, path)
        return
    assert all(cell.get("outputs") for cell in committed.cells if cell.cell_type == "code" and cell.source.strip()), (
        f"{path.name} is committed without outputs: RPM_UPDATE_NOTEBOOKS=1 pytest tests/test_notebooks.py"
    )
    assert visible_outputs(executed) == visible_outputs(committed), (
        f"{path.name}: the committed outputs are stale: RPM_UPDATE_NOTEBOOKS=1 pytest tests/test_notebooks.py"
    )
