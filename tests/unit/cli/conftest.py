"""Fixtures of the `rpm` CLI tests: no model configuration from the environment, a fake model server, rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli_run import MODEL_ENV, write_rows
from tests.support.fault_server import FaultServer
from tests.support.rpm_fakes import rpm_http_responder
from tests.unit.conftest import MOVIE_HISTORY


@pytest.fixture(autouse=True)
def no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No model or store configuration leaks in from the environment."""
    for name in MODEL_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """A loopback OpenAI-compatible fake that answers RPM's calls."""
    with FaultServer(rpm_http_responder) as fake:
        yield fake


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    """A JSONL file of user 'ada''s six movie rows (LaMP-2 tags)."""
    return write_rows(tmp_path / "rows.jsonl", [{"user_id": "ada", **item} for item in MOVIE_HISTORY])
