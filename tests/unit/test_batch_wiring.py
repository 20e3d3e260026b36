"""The Batch API wired into the facade and into forgetting a user.

``RPM.build_users(..., batch_api=True)`` / ``abuild_users`` go through :class:`BatchBuilder` (stored
state equal to an online build's), models that cannot batch are refused in one line before anything
is sent, and ``forget_user`` deletes the user's lines from the batch ledger, so no byte of their text
is left in the ledger file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langchain_openai import ChatOpenAI

from langchain_rpm import RPM, RPMStore
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.privacy import forget_user
from langchain_rpm.testing import demo_chat_model, demo_responder
from tests.support.batch_server import BatchServer, structured_responder
from tests.support.batch_worker import batch_histories, batched_rpm
from tests.support.rpm_fakes import CountingEmbeddings
from tests.unit.test_batch import phases, snapshot

pytestmark = pytest.mark.enable_socket

FAST = {"poll_interval": 0.01, "collect_window": 0.1}


@pytest.fixture
def server():
    with BatchServer(structured_responder(demo_responder)) as running:
        yield running


def ledger_bytes(path: Path) -> bytes:
    """The ledger's raw bytes on disk: the database file and whatever its WAL still holds."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def test_the_facade_builds_through_batches_sync_and_async_like_an_online_build(server, tmp_path):
    histories = batch_histories(3, 2)
    online = batched_rpm(server.base_url, tmp_path / "online")
    results = online.build_users(histories)
    assert not [r for r in results.values() if isinstance(r, Exception)]
    expected = snapshot(online)
    server.reset_stats()

    events: list[dict[str, Any]] = []
    rpm = batched_rpm(server.base_url, tmp_path / "sync")
    state = tmp_path / "batch.sqlite"
    built = rpm.build_users(histories, batch_api=True, batch_state=state, on_progress=events.append, **FAST)
    assert all(not isinstance(r, Exception) for r in built.values()), built
    assert snapshot(rpm) == expected
    assert [b["schemas"] for b in server.batches] == phases(3, 2) and server.stats["chat_requests"] == 0
    assert {e["status"] for e in events if e["stage"] == "batch"} >= {"validating", "completed"}
    assert next(e for e in events if e["stage"] == "batch_cost")["batches"] == 4
    assert any(e["stage"] == "extract" for e in events)  # the builds' own events too
    assert state.is_file()

    arpm = batched_rpm(server.base_url, tmp_path / "async")
    again = await arpm.abuild_users(histories, batch_api=True, batch_state=tmp_path / "other.sqlite", **FAST)
    assert all(not isinstance(r, Exception) for r in again.values())
    assert snapshot(arpm) == expected and len(server.batches) == 8 and server.stats["chat_requests"] == 0


def test_models_and_options_that_cannot_batch_are_refused_in_one_line(server, tmp_path):
    store = RPMStore(tmp_path / "s", embeddings=CountingEmbeddings())
    histories = batch_histories(1, 1)
    with pytest.raises(ConfigurationError, match=r"batch_api needs an OpenAI chat model .*got FakeStructuredChatModel"):
        RPM(demo_chat_model(), store=store).build_users(histories, batch_api=True, batch_state=tmp_path / "b.sqlite")
    responses = ChatOpenAI(model="fake", base_url=server.base_url, api_key="t", use_responses_api=True)
    with pytest.raises(ConfigurationError, match="Responses API"):
        RPM(responses, store=store).build_users(histories, batch_api=True, batch_state=tmp_path / "b.sqlite")
    with pytest.raises(ConfigurationError, match=r"batch options \['batch_state', 'poll_interval'\] need batch_api"):
        RPM(demo_chat_model(), store=store).build_users(histories, batch_state=tmp_path / "b", poll_interval=1)
    assert server.stats["requests"] == 0 and store.list_users() == []  # nothing was sent, nothing stored


def test_forget_removes_the_users_lines_from_the_batch_ledger(server, tmp_path):
    histories = batch_histories(2, 3)
    rpm = batched_rpm(server.base_url, tmp_path / "store")
    state = tmp_path / "batch.sqlite"
    rpm.build_users(histories, batch_api=True, batch_state=state, **FAST)
    # the replies quote the inputs ("... (as told by reader 0)"): the ledger holds each user's text
    mine, theirs = b"reader 0)", b"reader 1)"
    before = ledger_bytes(state)
    assert mine in before and theirs in before

    report = forget_user("user-00", rpm.store, batch_states=[state])
    assert report.batch_lines_removed == 8  # 3 extractions, Propose, Assign, 3 reasoning paths
    assert f"batch ledger compacted (SQLite VACUUM): {state}" in report.compacted
    assert any(line.startswith("kept by the Batch API provider: the input files file-") for line in report.kept)
    assert "batch ledger replies removed: 8" in report.lines()
    after = ledger_bytes(state)
    assert mine not in after and theirs in after  # the other user's lines stay
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT COUNT(*) FROM lines WHERE reply IS NOT NULL").fetchone()[0] == 8

    # A rebuild of the forgotten user pays again (nothing is replayed from the ledger for them).
    server.reset_stats()
    rebuilt = batched_rpm(server.base_url, tmp_path / "store-2")
    rebuilt.build_users({"user-00": histories["user-00"]}, batch_api=True, batch_state=state, **FAST)
    assert server.stats["batch_lines"] == 8
