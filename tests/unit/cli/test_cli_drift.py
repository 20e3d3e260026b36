"""`rpm inspect` shows the recent window and the drift log; `rpm refresh --dry-run` spends nothing, then it pays."""

from __future__ import annotations

import pytest

from scripts.drift_users import drift_user
from tests.support.cli_run import run_main, write_rows

pytestmark = pytest.mark.enable_socket


def run(capsys, server, store, *args):
    return run_main(
        capsys, "--store", store, "--base-url", server.base_url, "--structured-output", "function_calling", *args
    )


def test_inspect_shows_the_drift_log_and_refresh_plans_before_paying(tmp_path, capsys, server):
    items = [{"user_id": "bo", **item} for item in drift_user(0, n_items=40, switch_at=24, kind="topic")]
    store = tmp_path / "store"
    first, later = write_rows(tmp_path / "a.jsonl", items[:24]), write_rows(tmp_path / "b.jsonl", items[24:])
    assert run(capsys, server, store, "build", first, "--task", "lamp3").status == 0
    assert run(capsys, server, store, "add", later).status == 0
    shown = run(capsys, server, store, "inspect", "bo").out
    assert "Recent window: the 12 newest items since 2024-01-29" in shown
    assert "Drift monitor (1 decisions, newest last):" in shown and "-> reported" in shown
    server.reset_stats()
    planned = run(capsys, server, store, "refresh", "bo", "--dry-run")
    assert planned.status == 0 and server.stats["chat_requests"] == 0
    assert planned.out.startswith("user bo: incremental over") and "at most" in planned.out
    done = run(capsys, server, store, "--json", "refresh", "bo")
    assert done.status == 0 and done.json()["calls"] == server.stats["chat_requests"] > 0
    assert "-> incremental (added Romance" in run(capsys, server, store, "inspect", "bo").out
    assert run(capsys, server, store, "--json", "refresh", "bo").json()["plan"]["action"] == "none"
