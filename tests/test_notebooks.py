"""Every notebook under ``notebooks/`` executes top to bottom without errors (offline, with the demo model).

The kernel talks to this process over ZMQ on loopback TCP, so these tests re-enable sockets.
A notebook that needs a real LLM reads ``RPM_NOTEBOOK_BASE_URL``; it is removed here so CI runs offline.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 600


@pytest.mark.enable_socket
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RPM_NOTEBOOK_BASE_URL", raising=False)
    monkeypatch.setenv("RPM_STORE_PATH", str(tmp_path / "store"))  # never touch the user's default store
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the failing cell and traceback, on any error
