"""LLM faults: a 200-item build through the real ChatOpenAI client against a fault-injecting server.

Every item ends up stored exactly once or reported failed (never both, never twice), and re-running the
same build with the checkpointer completes the failed ones without re-paying finished items.
"""

from __future__ import annotations

import pytest
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver

from langchain_rpm import RPM, RPMStore
from tests.support.crash_worker import history
from tests.support.fault_server import FaultServer
from tests.support.rpm_fakes import CountingEmbeddings, rpm_http_responder

pytestmark = pytest.mark.enable_socket


def client(server: FaultServer, *, max_retries: int) -> ChatOpenAI:
    return ChatOpenAI(model="fake", base_url=server.base_url, api_key="test", max_retries=max_retries, timeout=2.0)


def test_200_item_build_under_faults_stores_or_reports_every_item_once(tmp_path):
    items = history(200)
    with FaultServer(
        rpm_http_responder,
        seed=7,
        rate_429=0.06,
        rate_500=0.06,
        rate_truncated=0.04,
        rate_invalid=0.08,
        rate_slow=0.01,
        slow_seconds=3.0,
    ) as server:
        store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
        saver = InMemorySaver()
        rpm = RPM(
            client(server, max_retries=1),
            task="lamp2",
            store=store,
            method="function_calling",
            checkpointer=saver,
            max_concurrency=8,
            max_retries=1,
        )
        first = rpm.build_user("ada", items)
        stats_first = server.stats
        stored = [e.item_id for e in store.get_examples("ada")]
        failed = [f.item_id for f in first.failed_items]
        print(f"\nfirst run: {len(stored)} stored, {len(failed)} failed, injected {stats_first['injected']}")
        assert len(stored) == len(set(stored))
        assert not set(stored) & set(failed)
        assert sorted(stored + failed) == sorted(i["id"] for i in items)
        assert sum(stats_first["injected"].values()) > 20  # the faults really happened
        assert all(f.error for f in first.failed_items)

        # Re-run the same build: only failed items are retried; finished ones cost nothing.
        server.set_rates(rate_429=0, rate_500=0, rate_truncated=0, rate_invalid=0, rate_slow=0)
        server.reset_stats()
        second = rpm.build_user("ada", items)
        retried = server.stats["chat_requests"]
        print(f"re-run: {retried} requests for {len(failed)} failed items, {len(second.failed_items)} still failed")
        assert second.failed_items == []
        assert second.num_items == 200
        assert retried <= 2 * len(failed) + 1  # extraction + reasoning per failed item, one clustering call
        ids = store.examples.get(include=[])["ids"]
        assert len(ids) == len(set(ids)) == 200


def test_schema_invalid_replies_are_retried_with_the_error_fed_back(tmp_path):
    with FaultServer(rpm_http_responder) as server:
        rpm = RPM(
            client(server, max_retries=0),
            task="lamp2",
            store=RPMStore(tmp_path, embeddings=CountingEmbeddings()),
            method="function_calling",
            max_retries=2,
        )
        server.force("invalid", 2)
        profile = rpm.build_user("ada", history(1))
        assert profile.num_items == 1 and not profile.failed_items
        retry_prompt = server.requests[1]["messages"][-1]["content"]
        assert "could not be used" in retry_prompt and "validation error" in retry_prompt.lower()


def test_an_item_that_keeps_failing_is_reported_and_the_rest_is_built(tmp_path):
    with FaultServer(rpm_http_responder) as server:
        rpm = RPM(
            client(server, max_retries=0),
            task="lamp2",
            store=RPMStore(tmp_path, embeddings=CountingEmbeddings()),
            method="function_calling",
            max_retries=1,
            max_concurrency=1,
        )
        server.force("500", 1)  # the first item's extraction: no client retries left
        profile = rpm.build_user("ada", history(3))
        assert [f.item_id for f in profile.failed_items] == ["item-000"]
        assert profile.failed_items[0].stage == "extract"
        assert "500" in profile.failed_items[0].error or "Internal" in profile.failed_items[0].error
        assert profile.num_items == 2


def test_reliability_report_script_runs_small():
    from benchmarks.reliability import fault_scenario

    row = fault_scenario("500 server error", {"rate_500": 0.2}, items=12, seed=1)
    assert row["every_item_once"] and row["duplicates"] == 0
    assert row["rerun_stored"] == 12 and row["rerun_failed"] == 0
