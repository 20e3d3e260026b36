"""The store and the retriever against a real Chroma server (``chroma run``), sync and async clients.

The store tests and LangChain's standard retriever tests are the unit suite's, rerun here on the server;
the whole flow on ``AsyncHttpClient``; many clients writing for one user under the per-user lease.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings

from langchain_rpm._plans import run
from langchain_rpm.components import RPMComponents
from langchain_rpm.retrievers import RPMRetriever
from langchain_rpm.store import RPMStore
from langchain_rpm.store._leases import lease_id
from tests.support.rpm_fakes import CountingEmbeddings
from tests.unit.test_rpm_retriever import QUERY, built_rpm
from tests.unit.test_rpm_retriever import TestRPMRetrieverStandard as _RetrieverStandardTests
from tests.unit.test_store import TestStore as _StoreTests

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings(anonymized_telemetry=False)


def http_client(server: Any) -> Any:
    return chromadb.HttpClient(host=server.host, port=server.port, settings=SETTINGS)


class TestStoreOnServer(_StoreTests):
    """Every store test, on the server through ``HttpClient``; the async ones also through ``AsyncHttpClient``."""

    @pytest.fixture
    def client(self, chroma_server) -> Any:
        return http_client(chroma_server)

    @pytest.fixture
    def prefix(self) -> str:
        return f"t{uuid.uuid4().hex[:12]}-"

    @pytest.fixture(params=["HttpClient", "AsyncHttpClient"])
    async def astore(self, request, chroma_server, prefix, layout) -> RPMStore:
        options = {"embeddings": CountingEmbeddings(), "namespace": prefix + "rpm", "layout": layout}
        if request.param == "HttpClient":  # a sync client: the async methods run its calls in threads
            return RPMStore(client=http_client(chroma_server), **options)
        store = await RPMStore.afrom_server(chroma_server.host, chroma_server.port, **options)
        assert store.is_async
        return store


class TestStorePerUserOnServer(TestStoreOnServer):
    """Every store test on the server with one collection per user (Chroma's multi-tenant advice)."""

    @pytest.fixture
    def layout(self) -> str:
        return "per_user"


class TestRPMRetrieverStandardOnServer(_RetrieverStandardTests):
    """LangChain's standard retriever tests with the examples on the server."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _built(cls, chroma_server) -> None:
        store = RPMStore.from_server(
            chroma_server.host, chroma_server.port, embeddings=CountingEmbeddings(), namespace="standard"
        )
        rpm = built_rpm(store)
        cls.params = {"components": rpm.components, "user_id": "ada"}


async def test_retriever_with_an_async_http_client_matches_the_sync_one(chroma_server):
    namespace = f"r{uuid.uuid4().hex[:12]}"
    rpm = built_rpm(
        RPMStore.from_server(
            chroma_server.host, chroma_server.port, embeddings=CountingEmbeddings(), namespace=namespace
        )
    )
    astore = await RPMStore.afrom_server(
        chroma_server.host, chroma_server.port, embeddings=CountingEmbeddings(), namespace=namespace
    )
    sync_retriever = RPMRetriever.from_rpm(rpm, user_id="ada")
    async_parts = RPMComponents.create(rpm.components.llm, "lamp2", store=astore)
    async_retriever = RPMRetriever(components=async_parts, user_id="ada", k=3)
    for kwargs in ({}, {"k": 1}, {"user_id": "bob"}, {"retrieval": "query"}):
        assert await async_retriever.ainvoke(QUERY, **kwargs) == sync_retriever.invoke(QUERY, **kwargs)
    with pytest.raises(TypeError, match="is async"):
        async_retriever.invoke(QUERY)


def test_retrieval_benchmark_runs_small(tmp_path):
    """The benchmark script end to end at a tiny size (embedded and server), so it does not rot."""
    out = tmp_path / "results"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "retrieval.py"),
        *("--users", "20", "--per-user", "5", "--queries", "20", "--db", str(tmp_path / "db")),
        *("--out", str(out)),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "retrieval.json").read_text())
    assert results["config"]["users"] == 20 and results["config"]["records"] == 100
    assert {"embedded", "server"} <= set(results["latency_ms"])
    assert (out / "retrieval.md").read_text().startswith("# Retrieval benchmark")


# -- the whole flow on AsyncHttpClient, and many writers for one user (issue 13.5, 13.3) ---------------------
async def test_the_whole_flow_runs_on_an_async_http_client(chroma_server):
    from langchain_rpm import RPM
    from langchain_rpm.privacy import ForgetReport
    from tests.support.rpm_fakes import rpm_fake_model
    from tests.unit.conftest import MOVIE_HISTORY

    store = await RPMStore.afrom_server(
        chroma_server.host, chroma_server.port, embeddings=CountingEmbeddings(), namespace=f"a{uuid.uuid4().hex[:12]}"
    )
    assert store.is_async and store.coordinator.kind == "lease"
    rpm = RPM(rpm_fake_model(), task="lamp2", store=store)
    built = await rpm.abuild_user("ada", MOVIE_HISTORY[:4])
    await rpm.abuild_user("bob", MOVIE_HISTORY[:2])
    updated = await rpm.aadd_interactions("ada", MOVIE_HISTORY[4:])
    assert (built.num_items, updated.num_items, updated.version) == (4, len(MOVIE_HISTORY), 2)
    prediction = await rpm.apersonalize("ada", "Robots kiss during a car chase in space.")
    assert prediction.answer and set(prediction.example_ids) <= {item["id"] for item in MOVIE_HISTORY}
    with pytest.raises(TypeError, match="is async"):
        rpm.build_user("carol", MOVIE_HISTORY[:1])
    report = await rpm.aforget("ada")
    assert isinstance(report, ForgetReport) and report.examples_removed == len(MOVIE_HISTORY)
    assert any("Chroma server" in line for line in report.kept)  # what a client cannot compact, said
    assert await store.aget_profile("ada") is None and await store.aget_examples("ada") == []
    assert await store.alist_users() == ["bob"] and len(await store.aget_examples("bob")) == 2


def test_clients_in_threads_and_processes_writing_for_one_user_lose_nothing(chroma_server):
    from tests.support import concurrent_writers as writers

    namespace = f"c{uuid.uuid4().hex[:12]}"

    def make() -> RPMStore:
        return RPMStore(client=http_client(chroma_server), embeddings=CountingEmbeddings(), namespace=namespace)

    writers.make_rpm(make()).build_user("ada", writers.BASE)
    target = ["--server", chroma_server.host, str(chroma_server.port), namespace]
    with ThreadPoolExecutor(max_workers=2) as pool:
        threads = pool.submit(writers.in_threads, make, "ada", 3, 5)
        processes = pool.submit(writers.in_processes, target, "ada", 3, 5)
        reports = threads.result() + processes.result()
    figures = writers.audit(make(), "ada", reports)
    assert figures["written"] == 30 and writers.consistent(figures), figures


def test_a_client_refused_by_another_clients_lease_reports_it(chroma_server):
    from tests.support import concurrent_writers as writers

    namespace = f"l{uuid.uuid4().hex[:12]}"
    store = RPMStore(client=http_client(chroma_server), embeddings=CountingEmbeddings(), namespace=namespace)
    writers.make_rpm(store).build_user("ada", writers.BASE)
    held = run(store.coordinator.acquire("ada"))  # another client is writing for ada
    try:
        target = ["--server", chroma_server.host, str(chroma_server.port), namespace]
        reports = writers.in_processes(target, "ada", 1, 2, timeout=0.5)
    finally:
        run(store.coordinator.release(held))
    assert reports[0]["written"] == [] and "write lease" in reports[0]["refused"]
    figures = writers.audit(store, "ada", reports)
    assert figures["refused"] == 1 and writers.consistent(figures), figures
    # A crashed writer's lease expires: the next writer takes it over instead of waiting forever.
    leases = store.client.get_collection(f"{namespace}_leases")
    stale = {"owner": "crashed-writer", "expires": time.time() - 1}
    leases.add(ids=[lease_id("ada")], embeddings=[[1.0]], metadatas=[stale])
    assert writers.write(writers.make_rpm(store), "ada", "after-crash", 1)["refused"] is None


def test_layouts_benchmark_runs_small(tmp_path):
    """``python -m benchmarks.layouts`` end to end at a tiny size (two real servers), so it does not rot."""
    from benchmarks import layouts

    report = layouts.main(["--users", "6", "--per-user", "2", "--queries", "4", "--out", str(tmp_path)])
    assert [row["layout"] for row in report["layouts"]] == ["shared", "per_user"]
    assert all(row["ingest_records_per_s"] > 0 and row["disk_mib"] > 0 for row in report["layouts"])
    assert (tmp_path / "layouts.md").read_text().startswith("# Store layouts on a Chroma server")
