"""The store and the retriever against a real Chroma server (``chroma run``), sync and async clients.

The store tests and LangChain's standard retriever tests are the unit suite's, rerun here on the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings

from langchain_rpm.components import RPMComponents
from langchain_rpm.retrievers import RPMRetriever
from langchain_rpm.store import RPMStore
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
    async def astore(self, request, chroma_server, prefix) -> RPMStore:
        if request.param == "HttpClient":  # a sync client: the async methods run its calls in threads
            return RPMStore(
                client=http_client(chroma_server), embeddings=CountingEmbeddings(), namespace=prefix + "rpm"
            )
        store = await RPMStore.afrom_server(
            chroma_server.host, chroma_server.port, embeddings=CountingEmbeddings(), namespace=prefix + "rpm"
        )
        assert store.is_async
        return store


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
