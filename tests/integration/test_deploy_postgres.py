"""The deployment example (``langgraph.json``) runs its graphs on a real PostgresStore, its only database."""

from __future__ import annotations

import pytest
from langgraph.store.postgres import PostgresStore

from langchain_rpm.components import RPMComponents
from langchain_rpm.store import RPMStore
from tests.support.postgres import postgres_server  # noqa: F401 - the session fixture
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model
from tests.unit.conftest import MOVIE_HISTORY
from tests.unit.test_deploy import _graphs, _load


@pytest.mark.integration
def test_the_deployed_graphs_keep_users_in_the_servers_postgres_store(postgres_server, monkeypatch):  # noqa: F811
    for name in ("RPM_STORE_PATH", "RPM_CHROMA_HOST"):
        monkeypatch.delenv(name, raising=False)
    build_module, build = _load(_graphs()["rpm_profile_build"])
    infer_module, infer = _load(_graphs()["rpm_inference"])
    embeddings = CountingEmbeddings()
    store = RPMStore.from_graph(embeddings=embeddings)  # what the example makes without RPM_STORE_PATH
    parts = RPMComponents.create(rpm_fake_model(), "lamp2", store=store)
    for module in (build_module, infer_module):
        module.use_components(parts)
    with PostgresStore.from_conn_string(postgres_server.database()) as server_store:
        server_store.setup()
        graphs = build(), infer()
        for graph in graphs:
            graph.store = server_store  # what LangGraph Server does with the graphs it serves
        profile = graphs[0].invoke({"user_id": "ada", "history": MOVIE_HISTORY})["profile"]
        assert profile["num_items"] == len(MOVIE_HISTORY)
        out = graphs[1].invoke({"rpm_query": "A robot in love."}, {"configurable": {"user_id": "ada"}})
        assert out["rpm_examples"] and out["rpm_prediction"]["answer"]
        stored = RPMStore.from_langgraph(server_store, embeddings=embeddings)
        assert stored.coordinator.kind == "postgres" and len(stored.get_examples("ada")) == len(MOVIE_HISTORY)
    assert store.backend._fallback is None  # no embedded Chroma was ever opened: Postgres is the only database
