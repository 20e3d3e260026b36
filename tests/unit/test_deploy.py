"""langgraph.json: every graph it names loads from its file, compiles and runs (LangGraph Server layout)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph.state import CompiledStateGraph

from tests.unit.conftest import MOVIE_HISTORY

ROOT = Path(__file__).resolve().parents[2]


def _load(spec: str) -> Any:
    """Load ``./path/to/file.py:attr`` the way the server does: by file path, as a fresh module."""
    path, attr = spec.rsplit(":", 1)
    file = (ROOT / path).resolve()
    module_spec = importlib.util.spec_from_file_location(f"_lg_{file.stem}_{abs(hash(spec))}", file)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module, getattr(module, attr)


def _graphs() -> dict[str, str]:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    assert tuple(int(part) for part in config["python_version"].split(".")) >= (3, 11)  # numbers, not text
    return config["graphs"]


def test_langgraph_json_names_the_two_graphs():
    assert set(_graphs()) == {"rpm_inference", "rpm_profile_build"}


@pytest.mark.parametrize("name", ["rpm_profile_build", "rpm_inference"])
def test_each_graph_loads_and_compiles(name, rpm):
    module, factory = _load(_graphs()[name])
    assert module._components_for.cache_info().currsize == 0  # importing built nothing
    module.use_components(rpm.components)
    graph = factory({"configurable": {}})
    assert isinstance(graph, CompiledStateGraph)
    assert graph.name == name
    assert graph.get_graph().nodes  # the graph renders (what the server's UI asks for)


def test_deployed_graphs_build_and_answer(rpm):
    graphs = _graphs()
    build_module, build = _load(graphs["rpm_profile_build"])
    infer_module, infer = _load(graphs["rpm_inference"])
    build_module.use_components(rpm.components)
    infer_module.use_components(rpm.components)
    profile = build().invoke({"user_id": "ada", "history": MOVIE_HISTORY})["profile"]
    assert profile["num_items"] == len(MOVIE_HISTORY)
    out = infer().invoke({"rpm_query": "A robot in love."}, {"configurable": {"user_id": "ada"}})
    assert out["rpm_prediction"]["answer"] == rpm.personalize("ada", "A robot in love.").answer


# ChatOpenAI's constructor creates (never connects) a socket to probe socket options; pytest-socket
# blocks it and langchain-openai carries on.
@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket:UserWarning")
def test_environment_configuration(monkeypatch, tmp_path):
    deploy, _ = _load(_graphs()["rpm_inference"])

    monkeypatch.setenv("RPM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")  # ChatOpenAI is only constructed, never called
    monkeypatch.setenv("RPM_TASK", "lamp3")
    monkeypatch.setenv("RPM_K", "2")
    monkeypatch.setenv("RPM_STORE_PATH", str(tmp_path / "store"))
    monkeypatch.setattr(deploy, "_override", None)
    deploy._components_for.cache_clear()
    try:
        parts = deploy.components()
        assert deploy.components() is parts  # created once per configuration
        assert parts.task.name == "lamp3" and parts.settings.k == 2
        assert type(parts.llm).__name__ == "ChatOpenAI" and parts.model_name == "gpt-4o-mini"
        assert (tmp_path / "store").is_dir()
        assert isinstance(deploy.inference(), CompiledStateGraph)
    finally:
        deploy._components_for.cache_clear()
