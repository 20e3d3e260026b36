"""The Chroma side of :class:`~langchain_rpm.store.RPMStore`: server constructors, collections, client (private).

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
from typing import Any, Self, TypeVar

from langchain_rpm.errors import ConfigurationError
from langchain_rpm.plans import Plan
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
        if not isinstance(self.backend, ChromaBackend):
            raise ConfigurationError(
                f"this store keeps its records in a LangGraph BaseStore ({self.backend.kind} backend), not in "
                "Chroma: Chroma collections and clients do not exist here; use the store's methods instead"
            )
        return self.backend

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
        return self.backend.folder if isinstance(self.backend, ChromaBackend) else None

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
        """Open collections (see :mod:`~langchain_rpm.store.handles`)."""
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
