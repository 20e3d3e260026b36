"""Bulk builds through the Batch API, against the loopback files + batches + chat server.

Phase sequencing (one batch per build phase for all users, not one per call), resume after a kill
(nothing submitted twice, finished replies replayed), fallback (expired batches, failed lines, refused
batches and timeouts go online for exactly the missing requests), and the stored state equal to an
online build's for the same replies.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openai
import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from langchain_rpm import RPM, RPMStore
from langchain_rpm.batch import BatchBuilder, BatchChatOpenAI, BatchCoordinator, BatchLedger, BatchSettings
from langchain_rpm.batch._jobs import input_file
from langchain_rpm.batch.model import batch_request
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.testing import demo_chat_model, demo_responder
from langchain_rpm.usage import UsageTracker
from tests.support.batch_server import BatchServer, structured_responder
from tests.support.batch_worker import batch_histories, batched_rpm
from tests.support.rpm_fakes import CountingEmbeddings

pytestmark = pytest.mark.enable_socket

USERS, ITEMS = 6, 4
FAST = {"poll_interval": 0.01, "collect_window": 0.1}
ROOT = Path(__file__).resolve().parents[2]


def phases(users: int, items: int) -> list[dict[str, int]]:
    """The batches of a default-preset lamp2 build of ``users`` x ``items``, in order: lines by output schema.

    1. extraction: one ``ExtractedFeatures`` line per item (``pack_size`` 1);
    2. Propose (PAS round 1): one ``ProposedFactors`` line per user;
    3. Assign (PAS round 1): one ``FactorAssignments`` line per user (a user's features here, at most 20,
       fit one call of ``assign_batch_size`` 20);
       no second round and no residual pass: the demo replies put every feature in a proposed factor, so
       round 1 covers them all (above ``coverage_target`` 0.95) and nothing is left over;
    4. reasoning: one ``ReasoningOutput`` line per item (lamp2 is a label task: no judge phase).
    """
    return [
        {"ExtractedFeatures": users * items},
        {"ProposedFactors": users},
        {"FactorAssignments": users},
        {"ReasoningOutput": users * items},
    ]


def lines_per_build(users: int, items: int) -> int:
    """Requests of one such build: two per item (extraction, reasoning), two per user (Propose, Assign)."""
    return sum(n for phase in phases(users, items) for n in phase.values())


@pytest.fixture
def server():
    with BatchServer(structured_responder(demo_responder)) as running:
        yield running


def snapshot(rpm: RPM) -> dict[str, Any]:
    """Every user's stored profile (factors, statistics, counts) and examples (features, reasoning)."""
    state: dict[str, Any] = {}
    for user in sorted(rpm.users()):
        profile = rpm.profile(user)
        assert profile is not None
        examples = sorted((e.model_dump() for e in rpm.store.get_examples(user)), key=lambda e: e["item_id"])
        kept = {"factors", "num_items", "num_features", "failed_items", "task", "preset", "model", "version"}
        state[user] = {"profile": profile.model_dump(mode="json", include=kept), "examples": examples}
    return state


def builder(server: BatchServer, folder: Path, **options: Any) -> BatchBuilder:
    return BatchBuilder(batched_rpm(server.base_url, folder / "store"), folder / "batch.sqlite", **{**FAST, **options})


async def online_build(server: BatchServer, folder: Path, histories: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    rpm = batched_rpm(server.base_url, folder / "online-store")
    tracker = UsageTracker()
    results = await rpm.abuild_users(histories, config={"callbacks": [tracker]})
    assert not [r for r in results.values() if isinstance(r, Exception)]
    return snapshot(rpm), tracker.usage


async def test_each_phase_goes_out_as_one_batch_for_all_users(server, tmp_path):
    histories = batch_histories(USERS, ITEMS)
    events: list[dict[str, Any]] = []
    batched = builder(server, tmp_path, on_progress=events.append)
    results = await batched.abuild_users(histories)
    assert all(r.num_items == ITEMS for r in results.values() if not isinstance(r, Exception)), results

    stats = server.stats
    # extraction [24], Propose [6], Assign [6], reasoning [24]: one batch per phase (see phases())
    assert [b["schemas"] for b in server.batches] == phases(USERS, ITEMS)
    assert [len(b["lines"]) for b in server.batches] == [USERS * ITEMS, USERS, USERS, USERS * ITEMS]
    assert stats["batches_created"] == stats["files_uploaded"] == 4
    assert stats["chat_requests"] == 0 and stats["batch_lines"] == 2 * USERS * ITEMS + 2 * USERS == 60
    usage = batched.usage
    assert usage is not None and (usage.batches, usage.lines, usage.online, usage.replayed) == (4, 60, 0, 0)

    statuses = {e["batch_id"]: [] for e in events if e["stage"] == "batch"}
    for event in events:
        if event["stage"] == "batch":
            statuses[event["batch_id"]].append((event["status"], event["completed"], event["total"]))
    assert len(statuses) == 4
    for batch, seen in zip(server.batches, statuses.values(), strict=True):
        total = len(batch["lines"])
        assert seen[0] == ("validating", 0, total) and seen[-1] == ("completed", total, total)
    assert any(e["stage"] == "extract" and e["user_id"] == "user-00" for e in events)  # build progress too


async def test_stored_state_and_tokens_equal_an_online_build_at_half_the_price(server, tmp_path):
    histories = batch_histories(USERS, ITEMS)
    expected, online_usage = await online_build(server, tmp_path, histories)
    online_calls = server.stats["chat_requests"]
    server.reset_stats()

    batched = builder(server, tmp_path)
    await batched.abuild_users(histories)
    assert snapshot(batched.rpm) == expected
    assert server.stats["chat_requests"] == 0 and server.stats["batch_lines"] == online_calls == 60
    usage = batched.usage
    assert usage is not None
    assert (usage.batch_tokens.input_tokens, usage.batch_tokens.output_tokens) == (
        online_usage.input_tokens,
        online_usage.output_tokens,
    )
    full = (online_usage.input_tokens * 0.15 + online_usage.output_tokens * 0.60) / 1e6
    assert usage.list_dollars() == pytest.approx(full) and usage.dollars() == pytest.approx(full / 2)


async def test_expired_batch_and_failed_lines_go_online_for_exactly_the_missing_requests(server, tmp_path):
    histories = batch_histories(USERS, ITEMS)
    expected, _ = await online_build(server, tmp_path, histories)
    server.reset_stats()

    server.expire_next(done=10)  # extraction: 14 of 24 lines expire
    server.fail_lines_next(0)  # Propose: all fine
    server.fail_lines_next(0)  # Assign: all fine
    server.fail_lines_next(5)  # reasoning: 5 lines fail
    batched = builder(server, tmp_path)
    await batched.abuild_users(histories)

    assert [b["status"] for b in server.batches] == ["expired", "completed", "completed", "completed"]
    online = sorted(json.dumps(r["messages"]) for r in server.requests)
    missing = sorted(json.dumps(body["messages"]) for body in server.unanswered)
    assert len(missing) == 14 + 5 and online == missing  # online calls are exactly the lines that did not come back
    assert snapshot(batched.rpm) == expected
    usage = batched.usage
    assert usage is not None and (usage.batches, usage.online, usage.online_tokens.llm_calls) == (4, 19, 19)


async def test_a_refused_batch_and_a_timed_out_batch_go_online(server, tmp_path):
    histories = batch_histories(2, 3)
    server.fail_next()  # the extraction batch fails validation
    batched = builder(server, tmp_path / "refused")
    await batched.abuild_users(histories)
    assert server.batches[0]["status"] == "failed"
    assert server.stats["chat_requests"] == 6 and batched.usage is not None and batched.usage.online == 6

    server.reset_stats()
    server.hold()  # nothing ends: every batch times out, is cancelled and goes online
    batched = builder(server, tmp_path / "timeout", timeout=0.05)
    results = await batched.abuild_users(histories)
    assert all(not isinstance(r, Exception) for r in results.values())
    # every phase (extraction 6, Propose 2, Assign 2, reasoning 6) is cancelled and answered online
    assert server.stats["batches_cancelled"] == 4 and server.stats["chat_requests"] == lines_per_build(2, 3) == 16
    assert server.stats["batch_lines"] == 0


async def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_a_killed_run_resumes_polling_and_replays_instead_of_paying_again(server, tmp_path):
    histories = batch_histories(USERS, ITEMS)
    server.hold()
    first = builder(server, tmp_path)
    run = asyncio.create_task(first.abuild_users(histories))
    await wait_for(lambda: server.stats["batch_polls"] >= 1)  # the extraction batch exists and is recorded
    run.cancel()  # the run dies while it waits on the batch
    with pytest.raises(asyncio.CancelledError):
        await run
    assert server.stats["batches_created"] == 1 and server.stats["batch_lines"] == 0

    server.release()
    second = builder(server, tmp_path)
    await second.abuild_users(histories)
    stats = server.stats
    assert stats["batches_created"] == 4  # the extraction batch was polled again, not submitted again
    assert stats["batch_lines"] == lines_per_build(USERS, ITEMS) and stats["chat_requests"] == 0
    assert second.usage is not None and (second.usage.resumed_batches, second.usage.batches) == (1, 3)
    built = snapshot(second.rpm)
    assert len(built) == USERS

    # The same builds again, into a fresh store: every reply comes from the ledger.
    third = BatchBuilder(batched_rpm(server.base_url, tmp_path / "store-3"), tmp_path / "batch.sqlite", **FAST)
    await third.abuild_users(histories)
    assert server.stats["batches_created"] == 4 and server.stats["batch_lines"] == stats["batch_lines"]
    assert server.stats["chat_requests"] == 0
    assert third.usage is not None and (third.usage.replayed, third.usage.batches) == (60, 0)
    assert snapshot(third.rpm) == built


async def test_a_run_killed_between_upload_and_record_adopts_its_batch(server, tmp_path):
    client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    model = server.chat_model(max_retries=0)
    ledger = BatchLedger(tmp_path / "batch.sqlite")
    with BatchCoordinator(client, ledger, settings=BatchSettings(**FAST)) as coordinator:
        batched = BatchChatOpenAI.from_model(model, coordinator)
        request = batch_request(batched, [HumanMessage("Robots in space.")], None, {})
        assert request is not None
    data = input_file({request.custom_id: request.body}, "/v1/chat/completions")
    file_id = client.files.create(file=("x.jsonl", data), purpose="batch").id
    ledger.record_upload(file_id, [request.custom_id])
    client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    # ... and the run died before recording the batch id.
    with BatchCoordinator(client, ledger, settings=BatchSettings(**FAST)) as coordinator:
        assert coordinator.usage.resumed_batches == 1
        answer = await BatchChatOpenAI.from_model(model, coordinator).ainvoke("Robots in space.")
    assert answer.content and server.stats["batches_created"] == 1 and server.stats["chat_requests"] == 0
    ledger.close()


class Verdict(BaseModel):
    answer: str


def test_the_batching_model_answers_like_the_online_one_sync_and_async(server, tmp_path):
    online = server.chat_model(max_retries=0)
    prompts = [f"Question {i}: robots or romance?" for i in range(5)]
    structured = online.with_structured_output(Verdict)
    expected = [structured.invoke(p) for p in prompts]
    server.reset_stats()
    with BatchCoordinator(online.root_client, tmp_path / "b.sqlite", settings=BatchSettings(**FAST)) as coordinator:
        batched = BatchChatOpenAI.from_model(online, coordinator).with_structured_output(Verdict)
        assert asyncio.run(batched.abatch(prompts)) == expected
        replies: list[Any] = [None] * 5

        def ask(i: int) -> None:
            replies[i] = batched.invoke(prompts[i] + " (sync)")

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert all(isinstance(r, Verdict) for r in replies)
    assert [len(b["lines"]) for b in server.batches] == [5, 5] and server.stats["chat_requests"] == 0


def test_bad_configurations_are_refused_in_one_line(server, tmp_path):
    with pytest.raises(ConfigurationError, match="ChatOpenAI"):
        BatchBuilder(RPM(demo_chat_model(), store=RPMStore(tmp_path / "s", embeddings=CountingEmbeddings())))
    with pytest.raises(ConfigurationError, match="poll_interval"):
        BatchSettings(poll_interval=0)
    ledger = BatchLedger(tmp_path / "b.sqlite")
    with pytest.raises(ConfigurationError, match="in use by another run"):
        BatchLedger(tmp_path / "b.sqlite")
    ledger.close()
    model = BatchChatOpenAI(model="fake", base_url=server.base_url, api_key="t", use_responses_api=True)
    with (
        BatchCoordinator(model.root_client, ledger.path) as coordinator,
        pytest.raises(ConfigurationError, match="Responses"),
    ):
        model.attach(coordinator)


def test_a_sigkilled_run_resumes_polling_instead_of_paying_again(server, tmp_path):
    command = [sys.executable, "-m", "tests.support.batch_worker", server.base_url]
    command += [str(tmp_path / "batch.sqlite"), str(tmp_path / "store"), "3", "3"]
    server.hold()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while server.stats["batch_polls"] < 1:  # the worker recorded its extraction batch and is polling it
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-2000:]
        time.sleep(0.01)
    process.kill()
    process.communicate()
    assert server.stats["batches_created"] == 1 and server.stats["batch_lines"] == 0

    server.release()
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    report = json.loads(rerun.stdout.splitlines()[-1])
    assert report["failed"] == {} and report["usage"]["resumed_batches"] == 1
    stats = server.stats
    assert stats["batches_created"] == 4 and stats["batch_lines"] == lines_per_build(3, 3) == 24
    assert stats["chat_requests"] == 0


class SlowToAsk(AsyncCallbackHandler):
    """Delays every model call whose prompt mentions ``marker`` (a build busy with other work)."""

    def __init__(self, marker: str, seconds: float) -> None:
        self.marker, self.seconds = marker, seconds

    async def on_chat_model_start(self, serialized: Any, messages: list[list[Any]], **kwargs: Any) -> None:
        if any(self.marker in str(m.content) for batch in messages for m in batch):
            await asyncio.sleep(self.seconds)


async def test_a_batch_waits_until_every_active_build_asks(server, tmp_path):
    histories = batch_histories(3, 2)
    # user-00 asks 1.2 s after the others, in every phase; the margins are wide so that load on a shared
    # machine (other users' asks arriving a few hundred ms apart) cannot pass for the slow user's delay
    slow = SlowToAsk("reader 0)", 1.2)
    batched = builder(server, tmp_path / "tracked")
    await batched.abuild_users(histories, config={"callbacks": [slow]})
    assert [b["schemas"] for b in server.batches] == phases(3, 2)  # [6, 3, 3, 6]: nobody was left behind

    server.reset_stats()
    impatient = builder(server, tmp_path / "impatient", collect_timeout=0.6)  # the hard limit still applies
    await impatient.abuild_users(histories, config={"callbacks": [slow]})
    sizes = [len(b["lines"]) for b in server.batches[4:]]
    # the first batch left without user-00's two items, so its phases went out in batches of their own
    assert sizes[0] == 4 and len(sizes) > 4 and sum(sizes) == lines_per_build(3, 2) == 18


def test_a_pause_of_the_whole_process_does_not_pass_for_the_quiet_before_a_batch(server, tmp_path, monkeypatch):
    """CI on b0adbfd: one phase of a bulk build went out in two batches. The collect window is wall-clock time, and a
    pause of the whole process (a full garbage collection late in a long run holds every thread) counted as quiet:
    the dispatcher woke after it, saw the build waiting on its first request, and sent that one alone."""
    from langchain_rpm.batch import _coordinator

    paused = [0.0]
    clock = time.monotonic
    monkeypatch.setattr(_coordinator, "time", SimpleNamespace(monotonic=lambda: clock() + paused[0]))
    model = server.chat_model(max_retries=0)
    settings = BatchSettings(poll_interval=0.01, collect_window=1.0)  # wide margins: a loaded machine lags
    with BatchCoordinator(model.root_client, tmp_path / "b.sqlite", settings=settings) as coordinator:
        batched = BatchChatOpenAI.from_model(model, coordinator)
        first, second = (batch_request(batched, [HumanMessage(text)], None, {}) for text in ("Robots?", "Romance?"))
        assert first is not None and second is not None
        with coordinator.track("ada"), coordinator.busy():
            answers = [coordinator.submit(first.custom_id, first.body)]
            time.sleep(0.05)
            paused[0] = 5.0  # the process stood still for 5 s: nobody could ask meanwhile
            time.sleep(1.45)  # the dispatcher woke (at 1 s) and saw 6 s without a request; it waits until 2 s
            answers.append(coordinator.submit(second.custom_id, second.body))
            assert all(answer.result(timeout=30) for answer in answers)
    assert [len(batch["lines"]) for batch in server.batches] == [2]


def test_the_batch_benchmark_runs_at_tiny_sizes(tmp_path):
    from benchmarks import batch as benchmark

    report = benchmark.main(["--users", "2", "--items", "2", "--collect-window", "0.1", "--out", str(tmp_path)])
    assert report["online"]["http_calls"] == lines_per_build(2, 2) == 12
    assert [b["schemas"] for b in report["batched"]["batches"]] == phases(2, 2)
    assert report["batched"]["dollars"] == pytest.approx(report["batched"]["list_dollars"] / 2)
    assert (
        (tmp_path / "batch.md").read_text().startswith("# Batch API benchmark\n\nCommand: `python -m benchmarks.batch")
    )


async def test_invalid_replies_are_retried_through_the_next_batch(server, tmp_path):
    histories = batch_histories(USERS, ITEMS)
    expected, _ = await online_build(server, tmp_path, histories)
    server.reset_stats()
    server.invalid_lines_next(3)  # three extraction replies fail the schema: RPM retries them with the error
    batched = builder(server, tmp_path)
    await batched.abuild_users(histories)
    stats = server.stats
    assert stats["chat_requests"] == 0 and stats["batch_lines"] == lines_per_build(USERS, ITEMS) + 3 == 63
    retries = [b for b in server.batches[1:] if b["schemas"].get("ExtractedFeatures")]
    assert sum(b["schemas"]["ExtractedFeatures"] for b in retries) == 3  # sent again in a later batch
    assert snapshot(batched.rpm) == expected


def test_an_llm_cache_is_shared_by_online_and_batched_calls(server, tmp_path):
    online = server.chat_model(max_retries=0, cache=InMemoryCache())
    first = online.invoke("Robots in space?")
    with BatchCoordinator(online.root_client, tmp_path / "b.sqlite", settings=BatchSettings(**FAST)) as coordinator:
        batched = BatchChatOpenAI.from_model(online, coordinator)
        assert batched.invoke("Robots in space?").content == first.content  # a hit: nothing sent
        second = batched.invoke("A love story?")  # a miss: one batch line, which fills the cache
    assert online.invoke("A love story?").content == second.content
    assert server.stats["chat_requests"] == 1 and server.stats["batch_lines"] == 1


async def test_updates_of_stored_profiles_go_through_batches_too(server, tmp_path):
    histories = batch_histories(3, 4)
    first = {user: items[:3] for user, items in histories.items()}
    new = {user: items[3:] for user, items in histories.items()}
    await builder(server, tmp_path).abuild_users(first)
    server.reset_stats()
    updated = await builder(server, tmp_path).abuild_users(new, mode="update")
    assert all(not isinstance(r, Exception) and r.num_items == 4 for r in updated.values()), updated
    # the new items only: their extraction against the stored factors, then their reasoning paths
    assert [b["schemas"] for b in server.batches[4:]] == [{"FactorAwareFeatures": 3}, {"ReasoningOutput": 3}]
    assert server.stats["chat_requests"] == 0
