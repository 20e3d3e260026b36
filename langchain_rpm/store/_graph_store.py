"""The graph's own store as the backend (private): ``runtime.store`` inside a graph run, else a fallback.

When no RPM store is configured, the build and inference nodes keep their records in the LangGraph
``BaseStore`` the graph was compiled with (``compile(store=...)``, or the store a LangGraph server gives
every deployment), through a :class:`~langchain_rpm.store._langgraph.LangGraphBackend` per store. Outside
a graph run, or in a graph compiled without a store, the fallback (the embedded Chroma store) is used.
Each call resolves the backend anew, so one object serves every graph and store it meets.

Example:
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> backend = GraphStoreBackend(DeterministicFakeEmbedding(size=8), fallback=lambda: "chroma backend")
    >>> backend.current()  # outside a graph run
    'chroma backend'
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from langchain_core.embeddings import Embeddings

from langchain_rpm._plans import Plan
from langchain_rpm.store._backend import Backend, Current, QueryContext, Records, Staged
from langchain_rpm.store._locks import Coordinator
from langchain_rpm.types import RetrievedExample, UserProfile


def graph_store() -> Any:
    """The ``BaseStore`` of the running graph, or ``None`` (no run, or a graph compiled without one)."""
    from langgraph.config import get_store

    try:
        return get_store()
    except (RuntimeError, KeyError, AttributeError):
        return None


class GraphStoreBackend:
    """Delegates every operation to the running graph's store, else to ``fallback()`` (made once)."""

    kind = "graph"

    def __init__(self, embeddings: Embeddings | None, fallback: Callable[[], Any], namespace: str = "rpm") -> None:
        """Embed with ``embeddings`` (default: MiniLM) in graph stores; ``fallback`` makes the other backend."""
        self._embeddings, self._make_fallback, self.namespace = embeddings, fallback, namespace
        self._fallback: Any = None
        self._stores: weakref.WeakKeyDictionary[Any, Backend] = weakref.WeakKeyDictionary()
        self._mutex = threading.Lock()

    def fallback(self) -> Any:
        """The backend used outside graph runs (created on first use)."""
        with self._mutex:
            if self._fallback is None:
                self._fallback = self._make_fallback()
            return self._fallback

    def current(self) -> Any:
        """The backend of this call: the running graph's store's, else the fallback."""
        store = graph_store()
        if store is None:
            return self.fallback()
        with self._mutex:
            backend = self._stores.get(store)
            if backend is None:
                from langchain_rpm.store._langgraph import LangGraphBackend

                if self._embeddings is None:
                    from langchain_rpm.embeddings import default_embeddings

                    self._embeddings = default_embeddings()
                backend = self._stores[store] = LangGraphBackend(store, self._embeddings, namespace=self.namespace)
            return backend

    @property
    def is_async(self) -> bool:
        """Whether the current backend is async-only."""
        return bool(self.current().is_async)

    @property
    def embeddings(self) -> Embeddings:
        """The current backend's embeddings."""
        return self.current().embeddings  # type: ignore[no-any-return]

    @property
    def embedding_model(self) -> str:
        """The current backend's embedding model."""
        return str(self.current().embedding_model)

    @property
    def embedding_dimension(self) -> int | None:
        """The current backend's embedding dimension."""
        return self.current().embedding_dimension  # type: ignore[no-any-return]

    @property
    def coordinator(self) -> Coordinator:
        """The current backend's write lock."""
        return self.current().coordinator  # type: ignore[no-any-return]

    def embed(self, texts: list[str], *, query: bool = False) -> Plan[list[list[float]]]:
        """Embed with the current backend."""
        return self.current().embed(texts, query=query)  # type: ignore[no-any-return]

    def search_plan(
        self, user_id: str, query: str | list[float], k: int, where: dict[str, Any] | None
    ) -> Plan[list[RetrievedExample]]:
        """Search the current backend."""
        return self.current().search_plan(user_id, query, k, where)  # type: ignore[no-any-return]

    def records_plan(self, user_id: str) -> Plan[Records]:
        """The current backend's records."""
        return self.current().records_plan(user_id)  # type: ignore[no-any-return]

    def profile_plan(self, user_id: str) -> Plan[UserProfile | None]:
        """The current backend's profile."""
        return self.current().profile_plan(user_id)  # type: ignore[no-any-return]

    def profile_context_plan(self, user_id: str) -> Plan[QueryContext]:
        """The current backend's profile and examples' key."""
        return self.current().profile_context_plan(user_id)  # type: ignore[no-any-return]

    def list_users_plan(self) -> Plan[list[str]]:
        """The current backend's users."""
        return self.current().list_users_plan()  # type: ignore[no-any-return]

    def current_plan(self, user_id: str) -> Plan[Current]:
        """The current backend's state of a user."""
        return self.current().current_plan(user_id)  # type: ignore[no-any-return]

    def query_context_plan(self, user_id: str) -> Plan[QueryContext]:
        """The current backend's query context."""
        return self.current().query_context_plan(user_id)  # type: ignore[no-any-return]

    def cached_query_context(self, user_id: str) -> QueryContext | None:
        """The current backend's cached query context."""
        return self.current().cached_query_context(user_id)  # type: ignore[no-any-return]

    def vectors_plan(self, user_id: str, ids: list[str]) -> Plan[list[list[float]]]:
        """Vectors on the current backend."""
        return self.current().vectors_plan(user_id, ids)  # type: ignore[no-any-return]

    def stage_plan(self, user_id: str, staged: Staged) -> Plan[None]:
        """Stage on the current backend."""
        return self.current().stage_plan(user_id, staged)  # type: ignore[no-any-return]

    def stage_many_plan(self, items: list[tuple[str, Staged]]) -> Plan[None]:
        """Group-stage on the current backend."""
        return self.current().stage_many_plan(items)  # type: ignore[no-any-return]

    def switch_many_plan(self, items: list[tuple[str, list[str], UserProfile | None]]) -> Plan[None]:
        """Group-switch on the current backend."""
        return self.current().switch_many_plan(items)  # type: ignore[no-any-return]

    def delete_many_plan(self, items: list[tuple[str, list[str]]]) -> Plan[None]:
        """Group-delete on the current backend."""
        return self.current().delete_many_plan(items)  # type: ignore[no-any-return]

    def switch_plan(self, user_id: str, ids: list[str], profile: UserProfile | None) -> Plan[None]:
        """Switch on the current backend."""
        return self.current().switch_plan(user_id, ids, profile)  # type: ignore[no-any-return]

    def record_ids_plan(self, user_id: str) -> Plan[list[str]]:
        """Record ids on the current backend."""
        return self.current().record_ids_plan(user_id)  # type: ignore[no-any-return]

    def delete_records_plan(self, user_id: str, ids: list[str]) -> Plan[None]:
        """Delete on the current backend."""
        return self.current().delete_records_plan(user_id, ids)  # type: ignore[no-any-return]

    def put_profile_plan(self, profile: UserProfile) -> Plan[None]:
        """Put a profile on the current backend."""
        return self.current().put_profile_plan(profile)  # type: ignore[no-any-return]

    def erase_plan(self, user_id: str) -> Plan[int]:
        """Erase a user on the current backend."""
        return self.current().erase_plan(user_id)  # type: ignore[no-any-return]

    def compact_plan(self) -> Plan[list[str]]:
        """Compact the current backend."""
        return self.current().compact_plan()  # type: ignore[no-any-return]
