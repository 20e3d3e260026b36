"""The RPM graphs for LangGraph Server (``langgraph dev`` / ``langgraph up``), configured from the environment.

Deployment wiring, not library code: ``langgraph.json`` at the repository root points at the two
factories below (``./examples/langgraph_server/graphs.py:inference``); the server calls a
factory with the run's config and gets a compiled graph (it adds its own checkpointer and store).
By default the graphs keep users' examples and profiles in that store (``runtime.store``: the server's
Postgres), so the deployment's only database is the server's; exact cosine search over each user's
stored vectors needs no ``store.index`` block in ``langgraph.json``.
Importing this module is cheap: the model, embeddings and store are created on first use, once per
configuration, and shared by later calls.

Environment:
    ``RPM_MODEL``: chat model, resolved by :func:`langchain_rpm.models.resolve_chat_model` (default
    ``gpt-4o-mini``, honouring ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``; ``provider:model`` names go
    through ``init_chat_model``). ``RPM_METHOD``: structured-output method (``function_calling`` for
    llama.cpp servers). ``RPM_TASK``: task preset (default ``lamp2``). ``RPM_PRESET``: ``default`` or
    ``paper``. ``RPM_K``: examples per query (default: the preset's, 3). Where examples live: the
    server's store by default; ``RPM_STORE_PATH``: an embedded Chroma folder instead; or
    ``RPM_CHROMA_HOST`` (+ ``RPM_CHROMA_PORT``, default 8000) for a Chroma server.

Runs pass the user as context (``{"user_id": ...}``) or in ``config["configurable"]["user_id"]``.
:func:`use_components` swaps in your own components (tests, a custom embedding model).

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm import RPMStore
    >>> from langchain_rpm.components import RPMComponents
    >>> use_components(RPMComponents.create(FakeStructuredChatModel(), "lamp3",
    ...     store=RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))))
    >>> sorted(inference().get_graph().nodes)
    ['__end__', '__start__', 'rpm_extract', 'rpm_generate', 'rpm_retrieve']
    >>> use_components(None)
"""

from __future__ import annotations

import functools
import os
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from langchain_rpm.components import RPMComponents
from langchain_rpm.graphs import create_inference_graph, create_profile_build_graph

_override: RPMComponents | None = None


def use_components(components: RPMComponents | None) -> None:
    """Serve these components instead of the environment's (``None`` goes back to the environment)."""
    global _override
    _override = components


def settings() -> dict[str, Any]:
    """The environment configuration, as read now.

    Example:
        >>> sorted(settings())
        ['chroma_host', 'chroma_port', 'k', 'method', 'model', 'preset', 'store_path', 'task']
    """
    return {
        "model": os.environ.get("RPM_MODEL") or None,
        "method": os.environ.get("RPM_METHOD") or None,
        "task": os.environ.get("RPM_TASK") or "lamp2",
        "preset": os.environ.get("RPM_PRESET") or "default",
        "k": int(os.environ["RPM_K"]) if os.environ.get("RPM_K") else None,
        "store_path": os.environ.get("RPM_STORE_PATH") or None,
        "chroma_host": os.environ.get("RPM_CHROMA_HOST") or None,
        "chroma_port": int(os.environ.get("RPM_CHROMA_PORT") or 8000),
    }


@functools.lru_cache(maxsize=4)
def _components_for(
    model: str | None,
    method: str | None,
    task: str,
    preset: str,
    k: int | None,
    store_path: str | None,
    chroma_host: str | None,
    chroma_port: int,
) -> RPMComponents:
    from langchain_rpm.store import RPMStore

    if chroma_host:
        store = RPMStore.from_server(chroma_host, chroma_port)
    else:
        store = RPMStore(store_path) if store_path else RPMStore.from_graph()  # the server's own store
    overrides = {} if k is None else {"k": k}
    return RPMComponents.create(model, task, store=store, method=method, preset=preset, **overrides)


def components() -> RPMComponents:
    """The components the graphs run with: :func:`use_components`' or the environment's (cached)."""
    return _override if _override is not None else _components_for(**settings())


def inference(config: RunnableConfig | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Graph factory: the compiled personalized-inference graph (input ``{"rpm_query": ...}``)."""
    return create_inference_graph(components()).compile(name="rpm_inference")


def profile_build(config: RunnableConfig | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Graph factory: the compiled profile-build graph (input ``{"user_id": ..., "history": [...]}``)."""
    return create_profile_build_graph(components()).compile(name="rpm_profile_build")
