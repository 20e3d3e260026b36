"""`rpm build --batch-api` and `rpm forget` against the loopback files + batches + chat server, through the real CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from langchain_rpm.testing import demo_responder
from tests.support.batch_server import BatchServer, structured_responder
from tests.support.cli_run import run_main, write_rows

pytestmark = pytest.mark.enable_socket

ROWS = [
    {"user_id": user, "id": f"{user}-{n}", "input": f"Story {n}: {text} told by {user}marker.", "response": tag}
    for user in ("ada", "bo")
    for n, (text, tag) in enumerate(
        [("a robot in space", "sci-fi"), ("a wedding and a kiss", "romance"), ("a fight and a chase", "action")]
    )
]


@pytest.fixture
def server():
    with BatchServer(structured_responder(demo_responder)) as running:
        yield running


def rpm(capsys, server, store, *args):
    return run_main(capsys, "--store", store, "--base-url", server.base_url, "--model", "gpt-4o-mini", *args)


def ledger_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_build_through_the_batch_api_equals_an_online_build(tmp_path, capsys, server):
    rows = write_rows(tmp_path / "rows.jsonl", ROWS)
    online = rpm(capsys, server, tmp_path / "online", "--json", "build", rows)
    assert online.status == 0, online.err
    server.reset_stats()

    store = tmp_path / "store"
    result = rpm(capsys, server, store, "build", rows, "--batch-api", "--batch-poll", "0.01")
    assert result.status == 0, result.err
    stats = server.stats
    assert stats["chat_requests"] == 0 and stats["batches_created"] == 4  # extract, Propose, Assign, reason
    requests = 2 * len(ROWS) + 2 * 2  # per item: extraction, reasoning; per user: Propose, Assign
    assert "2/2 users built" in result.out
    head = rf"batch API: 4 batch\(es\), (\d+) lines, 0 replayed from {re.escape(str(store / 'batch.sqlite'))}, 0 online"
    found = re.search(head + r"; cost \$[0-9.]+ at batch prices \(\$[0-9.]+ at list prices\)", result.out)
    lines = stats["batch_lines"]
    assert found and int(found.group(1)) == lines <= requests, result.out  # identical requests share a line
    assert all(f"batch {n} completed" in result.err for n in range(1, 5)), result.err  # each batch's state
    for user in ("ada", "bo"):
        batched = rpm(capsys, server, store, "--json", "inspect", user).json()
        expected = rpm(capsys, server, tmp_path / "online", "--json", "inspect", user).json()
        for key in ("factors", "num_items", "num_features", "failed_items", "task_spec"):
            assert batched[key] == expected[key], key

    # --json: the batch summary; a rerun into another store with this ledger is answered from it (nothing paid)
    again = rpm(capsys, server, tmp_path / "rerun", "--json", "build", rows, "--batch-api", "--batch-state", store / "batch.sqlite", "--batch-poll", "0.01")  # fmt: skip
    assert again.status == 0, again.err
    summary = again.json()["batch"]  # nothing sent or paid; every distinct line replayed
    assert (summary["batches"], summary["lines"], summary["cost_usd"]) == (0, 0, 0.0)
    # An identical request hits the LLM cache once its twin's replayed reply is in it; one submitted before
    # that is replayed from the ledger too (the coordinator shares only lines queued or sent), so a loaded
    # machine may replay a line twice (seen once: 16 replays of 15 lines).
    assert lines <= summary["replayed"] <= requests, summary
    assert server.stats["batches_created"] == 4 and server.stats["chat_requests"] == 0


def test_forget_removes_the_users_batch_lines_and_prints_the_report(tmp_path, capsys, server):
    rows = write_rows(tmp_path / "rows.jsonl", ROWS)
    store = tmp_path / "store"
    assert rpm(capsys, server, store, "build", rows, "--batch-api", "--batch-poll", "0.01").status == 0
    ledger = store / "batch.sqlite"
    before = ledger_bytes(ledger)
    assert b"adamarker" in before and b"bomarker" in before  # the replies quote the inputs

    result = run_main(capsys, "--store", store, "forget", "ada")
    assert result.status == 0, result.err
    out = result.out.splitlines()
    assert out[:2] == ["forgot user 'ada'", "examples removed: 3"]
    assert "batch ledger replies removed: 8" in out  # 3 extractions, Propose, Assign, 3 reasoning paths
    assert f"batch ledger compacted (SQLite VACUUM): {ledger}" in out
    assert any(line.startswith("kept by the Batch API provider: the input files file-") for line in out)
    after = ledger_bytes(ledger)
    assert b"adamarker" not in after and b"bomarker" in after

    report = run_main(capsys, "--store", store, "--json", "forget", "bo").json()
    # 7: the one line bo shared with ada (an identical request) went with ada
    assert (report["user_id"], report["batch_lines_removed"], report["examples_removed"]) == ("bo", 7, 3)
    assert b"bomarker" not in ledger_bytes(ledger)


def test_batch_api_needs_an_openai_model(tmp_path, capsys):
    rows = write_rows(tmp_path / "rows.jsonl", ROWS)
    result = run_main(capsys, "--store", tmp_path / "s", "build", rows, "--batch-api", "--local")
    assert result.status == 2 and result.errors[0].startswith("error: --batch-api needs an OpenAI model"), result.err
    assert "model server" not in result.err and not (tmp_path / "s" / "chroma.sqlite3").exists()  # nothing started
