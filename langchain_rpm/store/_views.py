"""Constructors and the Chroma side of :class:`~langchain_rpm.store.RPMStore` (private).

These work when the store's backend is Chroma (the default); on a LangGraph store they say so in one line.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.store import RPMStore
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
    >>> store.namespace, store.layout, store.examples.name
    ('rpm', 'shared', 'rpm_examples')
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Literal, Self, TypeVar

from langchain_core.embeddings import Embeddings

from langchain_rpm._plans import Plan
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.store._backend import Backend
from langchain_rpm.store._chroma import ChromaBackend

T = TypeVar("T")


class ChromaView:
    """Chroma-only attributes of the store, read through its :class:`ChromaBackend`."""

    backend: Backend

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - RPMStore defines it
        raise NotImplementedError

    @property
    def chroma(self) -> ChromaBackend:
        """The Chroma backend (``ConfigurationError`` on a store kept in a LangGraph ``BaseStore``)."""
        backend = self.backend
        if backend.kind == "graph":  # the graph's store: outside graph runs, its embedded fallback
            backend = backend.fallback()  # type: ignore[attr-defined]
        if not isinstance(backend, ChromaBackend):
            raise ConfigurationError(
                f"this store keeps its records in a LangGraph BaseStore ({self.backend.kind} backend), not in "
                "Chroma: Chroma collections and clients do not exist here; use the store's methods instead"
            )
        return backend

    @classmethod
    def from_server(cls, host: str = "localhost", port: int = 8000, *, ssl: bool = False, **kwargs: Any) -> Self:
        """A store on a Chroma server (``chroma run``) through a sync ``chromadb.HttpClient``.

        ``kwargs`` go to the constructor (``embeddings``, ``namespace``, ...).

        Example:
            >>> store = RPMStore.from_server("127.0.0.1", 8000)  # doctest: +SKIP
        """
        import chromadb
        from chromadb.config import Settings

        client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=Settings(anonymized_telemetry=False))
        return cls(client=client, **kwargs)

    @classmethod
    async def afrom_server(cls, host: str = "localhost", port: int = 8000, *, ssl: bool = False, **kwargs: Any) -> Self:
        """A store on a Chroma server through ``chromadb.AsyncHttpClient`` (use the ``a*`` methods).

        Example:
            >>> store = await RPMStore.afrom_server("127.0.0.1", 8000)  # doctest: +SKIP
            >>> await store.alist_users()  # doctest: +SKIP
            []
        """
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        client = await chromadb.AsyncHttpClient(host=host, port=port, ssl=ssl, settings=settings)
        return cls(client=client, **kwargs)

    @property
    def client(self) -> Any:
        """The Chroma client in use (for an embedded folder: reopened when another process wrote)."""
        return self.chroma.client

    @property
    def folder(self) -> Any:
        """The embedded folder's shared state (``None`` for a server or a LangGraph store)."""
        try:
            return self.chroma.folder
        except ConfigurationError:
            return None

    @property
    def namespace(self) -> str:
        """Prefix of the store's collections (or namespaces)."""
        return str(getattr(self.backend, "namespace", "rpm"))

    @property
    def layout(self) -> str:
        """``"shared"`` or ``"per_user"`` (Chroma)."""
        return self.chroma.layout

    @property
    def exact_search_limit(self) -> int:
        """Most examples of one user ranked exactly (Chroma)."""
        return self.chroma.exact_search_limit

    @property
    def handles(self) -> OrderedDict[Hashable, Any]:
        """Open collections (see :mod:`~langchain_rpm.store._handles`)."""
        return self.chroma.handles

    @property
    def _batch(self) -> int | None:
        return self.chroma.max_batch

    @_batch.setter
    def _batch(self, size: int | None) -> None:
        self.chroma.max_batch = size

    def collection(self, kind: str, user_id: str | None = None, *, create: bool = True) -> Plan[Any]:
        """The ``examples``, ``profiles`` or ``leases`` collection, as a plan (created on first use).

        In the ``per_user`` layout ``examples`` is the user's own collection; with ``create=False`` the
        plan returns ``None`` for a user who has none yet (reads never create collections).
        """
        return self.chroma.collection(kind, user_id, create=create)

    def batch_size(self) -> Plan[int]:
        """The client's max batch size, as a plan (asked once)."""
        return self.chroma.batch_size()

    def _run(self, plan: Plan[T], name: str, *, method: bool = True) -> T:  # pragma: no cover - RPMStore's
        raise NotImplementedError

    def _collection(self, kind: str, user_id: str | None, name: str) -> Any:
        return self._run(self.chroma.collection(kind, user_id, create=user_id is None), name, method=False)

    @property
    def examples(self) -> Any:
        """The examples collection (shared layout; per user: :meth:`examples_collection`)."""
        if self.chroma.layout == "per_user":
            raise ConfigurationError("this store keeps one collection per user: use store.examples_collection(user)")
        return self._collection("examples", None, "examples")

    def examples_collection(self, user_id: str) -> Any:
        """The collection holding ``user_id``'s examples (in the shared layout: everyone's), or ``None``."""
        return self._collection("examples", user_id, "examples")

    @property
    def profiles(self) -> Any:
        """The profiles collection."""
        return self._collection("profiles", None, "profiles")


def _default_embeddings() -> Embeddings:
    from langchain_rpm.embeddings import default_embeddings

    return default_embeddings()


class LangGraphConstructors:
    """Stores kept in a LangGraph ``BaseStore``: given, opened from a Postgres URL, or the running graph's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - RPMStore defines it
        raise NotImplementedError

    @classmethod
    def from_langgraph(
        cls,
        store: Any,
        *,
        embeddings: Embeddings | None = None,
        namespace: str = "rpm",
        lock_timeout: float = 120.0,
        search: Literal["exact", "index"] = "exact",
    ) -> Self:
        """A store keeping its records in a LangGraph ``BaseStore`` (``InMemoryStore``, ``PostgresStore``, ...).

        ``search="index"`` ranks with the store's own semantic search (its ``index`` must be configured,
        with these same embeddings); the default ranks exactly over the user's stored vectors. See
        :mod:`~langchain_rpm.store._langgraph` and ``docs/store.md``.

        Example:
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> from langgraph.store.memory import InMemoryStore
            >>> from langchain_rpm.store import RPMStore
            >>> store = RPMStore.from_langgraph(InMemoryStore(), embeddings=DeterministicFakeEmbedding(size=8))
            >>> store.backend.kind, store.list_users()
            ('langgraph', [])
        """
        from langchain_rpm.store._langgraph import LangGraphBackend

        if embeddings is None:
            from langchain_rpm.embeddings import default_embeddings

            embeddings = default_embeddings()
        backend = LangGraphBackend(store, embeddings, namespace=namespace, lock_timeout=lock_timeout, search=search)
        return cls(backend=backend)

    @classmethod
    def from_graph(cls, *, embeddings: Embeddings | None = None, namespace: str = "rpm") -> Self:
        """The running graph's own store (``runtime.store``) inside graph runs, else the embedded default.

        The default store of :class:`~langchain_rpm.RPM` and the graph factories: compile a graph with
        ``store=InMemoryStore()`` (or deploy it on a LangGraph server) and its nodes keep their records there.

        Example:
            >>> from langchain_rpm.store import RPMStore
            >>> RPMStore.from_graph().backend.kind
            'graph'
        """
        from langchain_rpm.store._graph_store import GraphStoreBackend

        def fallback() -> Any:
            return ChromaBackend(embeddings=embeddings or _default_embeddings(), namespace=namespace)

        return cls(backend=GraphStoreBackend(embeddings, fallback, namespace))

    @classmethod
    def from_postgres(cls, url: str, **kwargs: Any) -> Self:
        """A store on LangGraph's ``PostgresStore`` at ``url`` (``postgresql://...``; tables set up on first use).

        Needs ``langgraph-checkpoint-postgres`` (the ``postgres`` extra). ``kwargs`` go to
        :meth:`from_langgraph`.

        Example:
            >>> store = RPMStore.from_postgres("postgresql://localhost/rpm")  # doctest: +SKIP
        """
        from langchain_rpm.store._postgres import open_postgres_store

        return cls.from_langgraph(open_postgres_store(url), **kwargs)
